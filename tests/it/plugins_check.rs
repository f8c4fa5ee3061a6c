//! `consentry plugins check` on broken scripts: each mistake is refused with the line to look
//! at and words a script author can act on; the shipped scripts pass; the committed reference
//! is what the host generates; and a server loading a folder refuses the same mistakes while
//! serving the other scripts.

use crate::cli::consentry;
use crate::harness::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

const INSTITUTION: &str = "fn institution() {
    #{ id: \"broken\", name: \"Broken Bank\", type: \"test\", bankRef: \"broken\" }
}
";

/// Writes `text` as `name` in `dir` and runs `plugins check` on it with `extra` arguments;
/// returns whether it succeeded, its output and the file.
fn check(dir: &Path, name: &str, text: &str, extra: &[&str]) -> (bool, String, PathBuf) {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    let mut args = vec!["plugins", "check"];
    args.extend_from_slice(extra);
    args.push(file.to_str().unwrap());
    let out = consentry(&args, None);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success(), stdout, file)
}

#[test]
fn a_misspelt_host_function_is_refused_at_its_line_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{INSTITUTION}\nfn connect(ctx) {{\n    let answer = http_gett(\"https://bank.example/\");\n    #{{ fail: \"no\" }}\n}}\n"
    );
    let (ok, out, file) = check(dir.path(), "misspelt.rhai", &script, &[]);
    assert!(!ok, "a call to no function must fail the check: {out}");
    assert!(
        out.contains(&format!(
            "error {}:6: `http_gett` is not a host function",
            file.display()
        )),
        "names the call and its line: {out}"
    );
    assert!(out.contains("did you mean `http_get`?"), "{out}");

    // Method-call syntax, and a call standing alone as a statement, are checked too.
    let script = format!(
        "{INSTITUTION}\nfn connect(ctx) {{\n    log_infoo(\"x\");\n    #{{ fail: ctx.institution.to_uper() }}\n}}\n"
    );
    let (ok, out, _) = check(dir.path(), "method.rhai", &script, &[]);
    assert!(
        !ok && out.contains(":6: `log_infoo`") && out.contains("`log_info`"),
        "{out}"
    );
    let script = script.replace("log_infoo", "log_info");
    let (ok, out, _) = check(dir.path(), "method.rhai", &script, &[]);
    assert!(
        !ok && out.contains(":7: `to_uper`") && out.contains("`to_upper`"),
        "{out}"
    );
}

#[test]
fn a_hook_with_the_wrong_number_of_parameters_is_refused_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{INSTITUTION}\nfn connect(ctx) {{ #{{ fail: \"no\" }} }}\n\nfn submit(input) {{\n    #{{ fail: \"no\" }}\n}}\n"
    );
    let (ok, out, file) = check(dir.path(), "arity.rhai", &script, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error {}:7: `fn submit` takes 1 parameter(s); the host calls it as `fn submit(ctx, input)`",
            file.display()
        )),
        "{out}"
    );
}

#[test]
fn an_error_inside_institution_is_reported_at_the_line_where_it_happened() {
    let dir = tempfile::tempdir().unwrap();
    // The error is two calls deep: rhai's own position is the outer call's.
    let script = "fn institution() {\n    metadata()\n}\n\nfn metadata() {\n    let id = setting(\"id\");\n    #{ id: id }\n}\n\nfn connect(ctx) { #{ fail: \"no\" } }\n";
    let (ok, out, file) = check(dir.path(), "throws.rhai", script, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error {}:6: institution() failed: Runtime error: setting id is not configured",
            file.display()
        )),
        "{out}"
    );
    assert_eq!(out.trim().lines().count(), 1, "one line per script: {out}");
}

#[test]
fn an_unclosed_brace_is_reported_at_the_line_that_opened_it() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "{INSTITUTION}\nfn connect(ctx) {{\n    if ctx.state == () {{\n        return #{{ fail: \"no\" }};\n\n    #{{ fail: \"}}\" }}\n}}\n\nfn submit(ctx, input) {{\n    #{{ fail: \"no\" }}\n}}\n"
    );
    let (ok, out, file) = check(dir.path(), "unclosed.rhai", &script, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error {}:6: syntax error: the `{{` on this line is never closed",
            file.display()
        )),
        "points at the `if` block's brace, not the end of the script: {out}"
    );
}

#[test]
fn a_slow_institution_is_reported_as_past_its_time_limit() {
    let dir = tempfile::tempdir().unwrap();
    let script = "fn institution() {\n    loop { }\n}\nfn connect(ctx) { #{ fail: \"no\" } }\n";
    let limits = [
        "--hook-timeout-ms",
        "200",
        "--max-operations",
        "100000000000",
    ];
    let (ok, out, file) = check(dir.path(), "slow.rhai", script, &limits);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error {}:1: institution() ran past its 200 ms time limit",
            file.display()
        )),
        "{out}"
    );
    let (ok, out, _) = check(
        dir.path(),
        "slow.rhai",
        script,
        &["--max-operations", "10000"],
    );
    assert!(
        !ok && out.contains("ran past its limit of 10000 operations"),
        "{out}"
    );
}

#[test]
fn every_shipped_plugin_passes_the_check() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let mut files: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&shipped).unwrap().flatten() {
        let p = entry.path();
        let script = if p.is_dir() { p.join("main.rhai") } else { p };
        if script.extension().is_some_and(|e| e == "rhai") && script.is_file() {
            files.push(script.to_str().unwrap().to_string());
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    let mut args = vec!["plugins", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = consentry(&args, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        files.len()
    );
}

#[test]
fn the_committed_reference_is_the_generated_one() {
    let out = consentry(&["plugins", "reference"], None);
    assert!(out.status.success(), "{out:?}");
    let generated = String::from_utf8(out.stdout).unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/REFERENCE.md");
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        generated == committed,
        "plugins/REFERENCE.md is not what the host registers; regenerate it with \
         `cargo run -- plugins reference > plugins/REFERENCE.md`"
    );
    for needle in [
        "`new_transactions(accounts: array)`",
        "`http_post_json(url: string, body: Dynamic, headers: map) -> map`",
        "| `fn decoupled_callback(message)` | no |",
        "### `result` (`callback`)",
    ] {
        assert!(generated.contains(needle), "{needle} in {generated}");
    }
}

#[tokio::test]
async fn a_server_refuses_a_script_with_a_misspelt_call_and_serves_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = "fn institution() {\n    #{ id: \"good\", name: \"Good Bank\", type: \"test\", bankRef: \"good\" }\n}\nfn connect(ctx) { #{ fail: \"no\" } }\n";
    std::fs::write(dir.path().join("good.rhai"), good).unwrap();
    let misspelt =
        format!("{INSTITUTION}\nfn connect(ctx) {{\n    #{{ fail: settin(\"message\") }}\n}}\n");
    std::fs::write(dir.path().join("misspelt.rhai"), misspelt).unwrap();
    let path = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.plugins.dir = path).await;

    let problems = s.plugin_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("misspelt.rhai:6: `settin` is not a host function")
            && problems[0].contains("did you mean `setting`?"),
        "{problems:?}"
    );
    let res = s
        .browser()
        .get(s.url("/.well-known/all-connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Good Bank"]);
}
