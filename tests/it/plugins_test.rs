//! `consentry plugins test`: every shipped institution's case files pass, run by the built
//! binary; a wrong expectation, an HTTP call the case did not stub and a script error each
//! fail with a message that says where.

use crate::cli::consentry;
use std::path::{Path, PathBuf};
use std::process::Output;

const PLUGINS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins");

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// `plugins/cases/<name>/` holds the cases of `plugins/<name>.rhai` or
/// `plugins/<name>/main.rhai`.
fn script_of(name: &str) -> PathBuf {
    let single = Path::new(PLUGINS).join(format!("{name}.rhai"));
    if single.is_file() {
        return single;
    }
    Path::new(PLUGINS).join(name).join("main.rhai")
}

fn cases_of(name: &str) -> Vec<String> {
    let dir = Path::new(PLUGINS).join("cases").join(name);
    let mut cases: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.display().to_string())
        .collect();
    cases.sort();
    cases
}

fn test(script: &Path, cases: &[String]) -> Output {
    let mut args = vec!["plugins", "test", script.to_str().unwrap()];
    if !cases.is_empty() {
        args.push("--case");
        args.extend(cases.iter().map(String::as_str));
    }
    consentry(&args, None)
}

/// The shipped institutions, as `plugins list` reads the folder: also proves the case files
/// are not taken for scripts.
fn shipped_scripts() -> Vec<PathBuf> {
    let out = consentry(&["plugins", "list", "--dir", PLUGINS], None);
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "the plugins folder, cases included, loads without problems: {stderr}"
    );
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            PathBuf::from(v["file"].as_str().unwrap())
        })
        .collect()
}

#[test]
fn every_shipped_script_has_cases_and_they_pass() {
    let scripts = shipped_scripts();
    assert_eq!(scripts.len(), 5, "{scripts:?}");
    for script in scripts {
        let name = match script.file_name().unwrap().to_str().unwrap() {
            "main.rhai" => script.parent().unwrap().file_name().unwrap(),
            _ => script.file_stem().unwrap(),
        }
        .to_str()
        .unwrap()
        .to_string();
        assert_eq!(script_of(&name), script);
        let cases = cases_of(&name);
        assert!(
            cases.len() >= 2,
            "{name}: a happy path and a failure path at least: {cases:?}"
        );
        let out = test(&script, &cases);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stdout}\n{stderr}");
        assert_eq!(
            stdout.lines().filter(|l| l.trim() == "ok").count(),
            cases.len(),
            "{stdout}"
        );
        let outcomes: Vec<&str> = ["-> done", "-> fail", "-> message", "error \""]
            .into_iter()
            .filter(|o| stdout.contains(o))
            .collect();
        assert!(
            outcomes.len() >= 2,
            "{name}: the cases reach both success and a failure (fail, or a form's error): {stdout}"
        );
    }
}

#[test]
fn without_a_case_the_first_step_is_shown() {
    let out = test(&script_of("sandbox-otp"), &[]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("step 1  connect(ctx) -> form \"Sign in to Sandbox OTP Bank\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("field password (password) \"Password\""),
        "{stdout}"
    );
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn a_wrong_expectation_fails_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let title = write(
        dir.path(),
        "title.toml",
        r#"
[[step]]
input = { username = "sandbox", password = "sandbox-password" }

[[step]]
expect = { title = "Enter your code" }
input = { code = "123456" }
"#,
    );
    let out = test(&script_of("sandbox-otp"), std::slice::from_ref(&title));
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "a wrong title fails: {stdout}");
    let said = "step 2: expected form title \"Enter your code\", got \"Enter your one-time code\"";
    assert!(stdout.contains(&format!("MISMATCH {said}")), "{stdout}");
    assert!(stderr.contains(&format!("{title}: {said}")), "{stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one line of reason: {stderr}"
    );

    let outcome = write(
        dir.path(),
        "outcome.toml",
        r#"
[[step]]
input = { username = "sandbox", password = "sandbox-password" }

[[step]]
input = { code = "123456" }

[expect]
outcome = "fail"
"#,
    );
    let data = write(
        dir.path(),
        "data.toml",
        r#"
[[step]]
input = { username = "sandbox", password = "sandbox-password" }

[[step]]
input = { code = "123456" }

[expect]
data = { account = "OTP-0002" }
"#,
    );
    let early = write(
        dir.path(),
        "early.toml",
        r#"
[[step]]
input = { username = "sandbox", password = "sandbox-password" }

[[step]]
input = { code = "123456" }

[[step]]
input = { code = "123456" }
"#,
    );
    let out = test(&script_of("sandbox-otp"), &[outcome, data, early]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("MISMATCH step 3: expected outcome fail, got done with data"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MISMATCH step 3: expected done with data {\"account\":\"OTP-0002\"}"),
        "{stdout}"
    );
    assert!(
        stdout.contains("MISMATCH step 3: expected form, got done"),
        "a case that answers more steps than the journey has fails: {stdout}"
    );
    assert!(stderr.contains("3 of 3 cases failed"), "{stderr}");
}

/// A legacy bank behind an HTTP API, as plugins/README.md's worked example.
const ACME: &str = r#"fn institution() {
    #{ id: "acme-savings", name: "Acme Savings", type: "legacy", bankRef: "acme",
       accountTypes: [#{ type: "cash", beta: false }], userTypes: ["personal"],
       hosts: ["api.acme.example"] }
}
fn connect(ctx) { sign_in("") }
fn submit(ctx, input) {
    let r = http_post_json("https://api.acme.example/sessions",
                           #{ customer: input.customer, passcode: input.passcode },
                           #{ authorization: "Bearer " + setting("api_key") });
    if r.status != 201 { return sign_in("Those details were not recognised."); }
    let proof = jwt_sign(#{ sub: r.json.session });
    #{ done: #{ data: #{ session: r.json.session, proof_parts: proof.split(".").len() } } }
}
fn sign_in(error) {
    let form = #{ title: "Sign in to Acme Savings",
                  fields: [#{ name: "customer", label: "Customer number" },
                           #{ name: "passcode", label: "Passcode", type: "password" }] };
    if error != "" { form.error = error; }
    #{ form: form }
}
"#;

#[test]
fn http_calls_are_answered_from_the_case_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "acme.rhai", ACME);
    let case = write(
        dir.path(),
        "retry.toml",
        r#"
[settings]
api_key = "k"

[[http]]
method = "POST"
url = "https://api.acme.example/sessions"
status = 401
json = { error = "unknown customer" }

[[http]]
method = "POST"
url = "https://api.acme.example/sessions"
status = 201
json = { session = "s-42" }

[[step]]
input = { customer = "1", passcode = "wrong" }

[[step]]
expect = { error = "not recognised", fields = ["customer", "passcode"] }
input = { passcode = "right" }

[expect]
outcome = "done"
data = { session = "s-42", proof_parts = 3 }
"#,
    );
    let out = test(Path::new(&script), &[case]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("http POST https://api.acme.example/sessions -> 401"),
        "{stdout}"
    );
    assert!(
        stdout.contains("http POST https://api.acme.example/sessions -> 201"),
        "{stdout}"
    );
    assert!(
        stdout.contains("input customer=\"1\" passcode=(hidden)"),
        "the kept customer number is posted again, the password never printed: {stdout}"
    );
}

#[test]
fn an_unstubbed_http_call_fails_naming_the_url() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "acme.rhai", ACME);
    let case = write(
        dir.path(),
        "nostub.toml",
        r#"
[settings]
api_key = "k"

[[http]]
method = "GET"
url = "https://api.acme.example/sessions"

[[step]]
input = { customer = "1", passcode = "p" }

[expect]
outcome = "done"
"#,
    );
    let out = test(Path::new(&script), &[case]);
    let (stdout, stderr) = text(&out);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stderr.contains("no canned answer for POST https://api.acme.example/sessions"),
        "{stderr}"
    );
    assert!(
        stdout.contains("http POST https://api.acme.example/sessions -> no canned answer"),
        "{stdout}"
    );
}

#[test]
fn a_script_error_reports_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "broken.rhai",
        r#"fn institution() {
    #{ id: "broken", name: "Broken", type: "test", bankRef: "broken",
       accountTypes: [#{ type: "cash", beta: false }], userTypes: ["personal"] }
}
fn connect(ctx) {
    let answer = #{ title: "x" };
    throw "the bank's answer makes no sense";
}
"#,
    );
    let out = test(Path::new(&script), &[]);
    let (stdout, stderr) = text(&out);
    assert!(
        !out.status.success(),
        "a failing hook fails the run: {stdout}"
    );
    let at = format!("{script}:7: connect:");
    assert!(stdout.contains(&at), "{stdout}");
    assert!(stderr.contains(&at), "{stderr}");
    assert!(
        stderr.contains("the bank's answer makes no sense"),
        "{stderr}"
    );

    // A case may expect the failure.
    let case = write(
        dir.path(),
        "expected.toml",
        "[expect]\noutcome = \"error\"\nerror = \"makes no sense\"\n",
    );
    let out = test(Path::new(&script), &[case]);
    assert!(out.status.success(), "{:?}", text(&out));

    // A script that does not compile: file:line, before any case runs.
    let bad = write(
        dir.path(),
        "bad.rhai",
        "fn institution() {\n  #{ id: \"x\" }\n}\nfn connect(ctx) { let = ; }\n",
    );
    let out = test(Path::new(&bad), &[]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{bad}:4: syntax error")),
        "{stderr}"
    );
}

#[test]
fn a_malformed_case_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let case = write(dir.path(), "typo.toml", "[expect]\noutcom = \"done\"\n");
    let out = test(&script_of("sandbox-otp"), std::slice::from_ref(&case));
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&case) && stderr.contains("outcom"),
        "{stderr}"
    );
    let case = write(
        dir.path(),
        "both.toml",
        "[[step]]\ninput = { a = \"b\" }\nresult = { ok = true }\n",
    );
    let out = test(&script_of("sandbox-otp"), &[case]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("step 1: give input"), "{stderr}");
}
