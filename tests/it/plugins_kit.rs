//! What an integrator gets with an installed binary: the example institutions built in,
//! served when no plugins folder is configured and `./plugins` is absent, and written out by
//! `consentry plugins init DIR` as an editable folder.

use crate::spawned::{Options, Server};
use std::path::Path;
use std::process::Command;

fn consentry(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_consentry"))
        .current_dir(cwd)
        .env_remove("CONSENTRY_PLUGINS__DIR")
        .args(args)
        .output()
        .unwrap()
}

/// The files of the repository's plugins folder an installation needs: top-level scripts,
/// `<name>/main.rhai` and what sits beside it (icons).
fn repository_examples() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && path.join("main.rhai").is_file() {
            for inner in std::fs::read_dir(&path).unwrap().flatten() {
                let inner = inner.file_name().to_string_lossy().into_owned();
                out.push(format!("{name}/{inner}"));
            }
        } else if name.ends_with(".rhai") {
            out.push(name);
        }
    }
    out.sort();
    out
}

#[test]
fn the_built_in_examples_are_the_repositorys_plugins_folder() {
    let mut built_in: Vec<String> = consentry::plugins::shipped::FILES
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    built_in.sort();
    assert_eq!(
        built_in,
        repository_examples(),
        "every example in plugins/ is in the binary's list (src/plugins/shipped.rs), and only those"
    );
}

#[test]
fn without_a_plugins_folder_the_binary_serves_its_built_in_examples_and_says_so() {
    let cwd = tempfile::tempdir().unwrap();
    let server = Server::start(Options {
        cwd: Some(cwd.path().to_path_buf()),
        ..Default::default()
    });
    let (status, body) =
        crate::spawned::get(server.port, "/oidc/.well-known/all-connections").unwrap();
    assert_eq!(status, 200, "{body}");
    for name in ["Sandbox Bank", "sandbox-bank", "credit-union"] {
        assert!(body.contains(name), "{name} is listed: {body}");
    }
    let (status, icon) = crate::spawned::get(server.port, "/bank-icons/sandbox-bank").unwrap();
    assert!(
        status == 200 && icon.contains("<svg"),
        "the built-in icon is served: {status} {icon}"
    );
    let log = server.log_text();
    assert!(
        log.contains("serving the built-in example institutions")
            && log.contains("consentry plugins init DIR"),
        "one line says so and how to get an editable copy: {log}"
    );
    assert!(
        !cwd.path().join("plugins").exists(),
        "nothing is written to the working directory"
    );
}

#[test]
fn a_named_plugins_folder_that_is_missing_is_still_an_error_even_plugins() {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .current_dir(cwd.path())
        .env("CONSENTRY_PLUGINS__DIR", "plugins")
        .args(["serve", "--http", "--listen", "127.0.0.1:0"])
        .args(["--data-dir", "data"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a configured folder must exist");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no such folder"), "{err}");
}

#[test]
fn plugins_init_writes_examples_that_check_and_serve_and_never_overwrites() {
    let cwd = tempfile::tempdir().unwrap();
    let out = consentry(cwd.path(), &["plugins", "init", "mine"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = cwd.path().join("mine");
    for name in repository_examples() {
        let expected = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("plugins")
                .join(&name),
        )
        .unwrap();
        assert_eq!(
            std::fs::read(dir.join(&name)).unwrap(),
            expected,
            "{name} is written as shipped"
        );
    }

    let scripts: Vec<String> = repository_examples()
        .into_iter()
        .filter(|n| n.ends_with(".rhai"))
        .map(|n| dir.join(n).display().to_string())
        .collect();
    let mut args = vec!["plugins", "check"];
    args.extend(scripts.iter().map(String::as_str));
    let out = consentry(cwd.path(), &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "plugins check accepts them: {stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        scripts.len()
    );

    // An edited file survives a second init, which names it and writes nothing.
    let edited = dir.join("sandbox-bank/main.rhai");
    std::fs::write(&edited, "// mine now\n").unwrap();
    std::fs::remove_file(dir.join("credit-union.rhai")).unwrap();
    let out = consentry(cwd.path(), &["plugins", "init", "mine"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "init refuses to overwrite");
    assert!(
        err.contains("not overwriting") && err.contains("mine/sandbox-bank/main.rhai"),
        "names the existing files: {err}"
    );
    assert_eq!(std::fs::read_to_string(&edited).unwrap(), "// mine now\n");
    assert!(
        !dir.join("credit-union.rhai").exists(),
        "a refused init writes nothing at all"
    );
}

#[test]
fn plugins_check_with_config_refuses_malformed_operator_hosts_at_their_line() {
    let cwd = tempfile::tempdir().unwrap();
    let config = cwd.path().join("consentry.toml");
    std::fs::write(
        &config,
        "# operator settings\n\
         [plugins.settings.good-bank]\n\
         hosts = \"api.good.example, 127.0.0.1:9443\"\n\
         \n\
         [plugins.settings.schemed]\n\
         client_id = \"x\"\n\
         hosts = \"https://api.bank.example\"\n\
         \n\
         [plugins.settings.\"pathed\"]\n\
         hosts = \"api.bank.example/v1\"\n\
         \n\
         [plugins.settings.empty]\n\
         hosts = \" , \"\n",
    )
    .unwrap();
    let path = config.display().to_string();
    let out = consentry(cwd.path(), &["plugins", "check", "--config", &path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "malformed hosts entries fail the check: {stdout}"
    );
    for expected in [
        format!("error {path}:7: plugins.settings.schemed.hosts: \"https://api.bank.example\" is not `host` or `host:port`"),
        format!("error {path}:10: plugins.settings.pathed.hosts: \"api.bank.example/v1\" is not `host` or `host:port`"),
        format!("error {path}:13: plugins.settings.empty.hosts: empty"),
    ] {
        assert!(stdout.contains(&expected), "{expected} in: {stdout}");
    }
    assert!(
        !stdout.contains("good-bank"),
        "well-formed entries pass: {stdout}"
    );

    // The same file with only good entries passes, alongside scripts.
    std::fs::write(
        &config,
        "[plugins.settings.good-bank]\nhosts = \"api.good.example, 127.0.0.1:9443\"\n",
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/credit-union.rhai");
    let script = script.display().to_string();
    let out = consentry(
        cwd.path(),
        &["plugins", "check", "--config", &path, &script],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
