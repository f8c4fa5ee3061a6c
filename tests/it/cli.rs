//! The operator command line: every command, and a one-line reason with a non-zero exit on
//! bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs the consentry binary with `args` (and `stdin` written to it), to its end.
pub fn consentry(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consentry"));
    // The suite's PostgreSQL run: the data dir's schema, as the in-process servers use.
    let data_dir = args.windows(2).find(|w| w[0] == "--data-dir").map(|w| w[1]);
    if let Some(url) = data_dir.and_then(|d| crate::harness::postgres_schema_for(d.as_ref())) {
        cmd.env("CONSENTRY_DATABASE_URL", url);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run consentry");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn stderr_line(o: &Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert_eq!(e.lines().count(), 1, "one line of reason: {e}");
    e
}

#[test]
fn clients_add_list_show_remove() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let meta = r#"{"client_id":"partner-1","client_secret":"partner-secret-0123456789abcdefghijklmn","redirect_uris":["https://partner.example/cb"],"scope":"openid accounts:read"}"#;
    let out = consentry(
        &["clients", "add", "--data-dir", d, "--metadata", meta],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["client_id"], "partner-1");
    assert_eq!(
        added["client_secret"],
        "partner-secret-0123456789abcdefghijklmn"
    );

    let generated = consentry(
        &[
            "clients",
            "add",
            "--data-dir",
            d,
            "--metadata",
            r#"{"redirect_uris":["https://b.example/cb"]}"#,
        ],
        None,
    );
    let generated: serde_json::Value = serde_json::from_slice(&generated.stdout).unwrap();
    assert!(
        generated["client_secret"].as_str().unwrap().len() >= 43,
        "generated 256-bit secret"
    );

    let list = consentry(&["clients", "list", "--data-dir", d], None);
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 2);
    let show = consentry(&["clients", "show", "--data-dir", d, "partner-1"], None);
    assert!(String::from_utf8_lossy(&show.stdout).contains("partner.example"));
    assert!(
        !String::from_utf8_lossy(&show.stdout).contains("partner-secret"),
        "secrets are not shown again"
    );

    let dup = consentry(
        &["clients", "add", "--data-dir", d, "--metadata", meta],
        None,
    );
    assert!(!dup.status.success());
    assert!(stderr_line(&dup).contains("already registered"));

    assert!(
        consentry(&["clients", "remove", "--data-dir", d, "partner-1"], None)
            .status
            .success()
    );
    let again = consentry(&["clients", "remove", "--data-dir", d, "partner-1"], None);
    assert!(!again.status.success());
    assert!(stderr_line(&again).contains("no client"));
}

#[test]
fn clients_add_refuses_bad_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = consentry(
        &["clients", "add", "--data-dir", d, "--metadata", "{not json"],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr_line(&out).contains("not JSON"));
    let out = consentry(
        &[
            "clients",
            "add",
            "--data-dir",
            d,
            "--metadata",
            r#"{"redirect_uris":["http://evil.example/cb"]}"#,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        stderr_line(&out).contains("invalid_redirect_uri"),
        "same rules as dynamic registration"
    );
    let out = consentry(
        &[
            "clients",
            "add",
            "--data-dir",
            d,
            "--metadata",
            r#"{"redirect_uris":["https://a.example/cb"],"client_secret":"short"}"#,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(stderr_line(&out).contains("at least 32"));
}

fn json_out(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

#[test]
fn clients_update_disable_enable_and_rotate_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let meta = r#"{"client_id":"partner-2","client_secret":"partner-secret-0123456789abcdefghijklmn","redirect_uris":["https://partner.example/cb"],"scope":"openid accounts:read"}"#;
    json_out(&consentry(
        &["clients", "add", "--data-dir", d, "--metadata", meta],
        None,
    ));

    let updated = json_out(&consentry(
        &[
            "clients",
            "update",
            "--data-dir",
            d,
            "partner-2",
            "--metadata",
            r#"{"client_name":"Partner Two","redirect_uris":["https://partner.example/cb2"]}"#,
        ],
        None,
    ));
    assert_eq!(updated["client_name"], "Partner Two");
    assert_eq!(updated["redirect_uris"][0], "https://partner.example/cb2");
    assert!(updated.get("client_secret").is_none(), "the secret is kept");
    for (metadata, reason, rule) in [
        ("{not json", "not JSON", "--metadata must be JSON"),
        (
            r#"{"redirect_uris":["http://evil.example/cb"]}"#,
            "invalid_redirect_uri",
            "same rules as registration",
        ),
    ] {
        let out = consentry(
            &[
                "clients",
                "update",
                "--data-dir",
                d,
                "partner-2",
                "--metadata",
                metadata,
            ],
            None,
        );
        assert!(!out.status.success(), "{rule}");
        assert!(stderr_line(&out).contains(reason), "{rule}");
    }

    let disabled = json_out(&consentry(
        &["clients", "disable", "--data-dir", d, "partner-2"],
        None,
    ));
    assert_eq!(disabled["disabled"], true);
    let show = consentry(&["clients", "show", "--data-dir", d, "partner-2"], None);
    assert!(String::from_utf8_lossy(&show.stdout).contains("\"disabled\": true"));
    let enabled = json_out(&consentry(
        &["clients", "enable", "--data-dir", d, "partner-2"],
        None,
    ));
    assert_eq!(enabled["disabled"], false);

    let rotated = json_out(&consentry(
        &["clients", "rotate-secret", "--data-dir", d, "partner-2"],
        None,
    ));
    let secret = rotated["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "a new 256-bit secret");
    assert_ne!(secret, "partner-secret-0123456789abcdefghijklmn");

    for args in [
        &["clients", "disable", "--data-dir", d, "nobody"][..],
        &["clients", "enable", "--data-dir", d, "nobody"][..],
        &["clients", "rotate-secret", "--data-dir", d, "nobody"][..],
    ] {
        let out = consentry(args, None);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr_line(&out).contains("no client nobody"), "{args:?}");
    }
}

#[test]
fn clients_grant_and_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let meta = r#"{"client_id":"partner-3","redirect_uris":["https://partner.example/cb"]}"#;
    json_out(&consentry(
        &["clients", "add", "--data-dir", d, "--metadata", meta],
        None,
    ));

    let granted = json_out(&consentry(
        &[
            "clients",
            "grant",
            "--data-dir",
            d,
            "partner-3",
            "--connection-types",
            "api,legacy",
            "--scope",
            "openid accounts:read",
        ],
        None,
    ));
    assert_eq!(
        granted["connection_types"],
        serde_json::json!(["api", "legacy"])
    );
    assert_eq!(granted["scope"], "openid accounts:read");
    let bad = consentry(
        &[
            "clients",
            "grant",
            "--data-dir",
            d,
            "partner-3",
            "--connection-types",
            "api,premium",
        ],
        None,
    );
    assert!(
        !bad.status.success(),
        "connection types are api, legacy, test"
    );
    assert!(stderr_line(&bad).contains("premium"));
    let bad = consentry(
        &[
            "clients",
            "grant",
            "--data-dir",
            d,
            "partner-3",
            "--scope",
            "openid launch-codes",
        ],
        None,
    );
    assert!(!bad.status.success(), "unknown scopes are refused");
    assert!(stderr_line(&bad).contains("launch-codes"));
    let nothing = consentry(&["clients", "grant", "--data-dir", d, "partner-3"], None);
    assert!(!nothing.status.success(), "grant needs something to grant");

    let hook = json_out(&consentry(
        &[
            "clients",
            "webhook",
            "--data-dir",
            d,
            "partner-3",
            "--url",
            "https://hooks.partner.example/in",
        ],
        None,
    ));
    assert_eq!(hook["url"], "https://hooks.partner.example/in");
    let secret = hook["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "32 random bytes, base64url");
    let show = consentry(&["clients", "show", "--data-dir", d, "partner-3"], None);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(shown.contains("hooks.partner.example") && !shown.contains(secret));
    let bad = consentry(
        &[
            "clients",
            "webhook",
            "--data-dir",
            d,
            "partner-3",
            "--url",
            "http://hooks.partner.example/in",
        ],
        None,
    );
    assert!(!bad.status.success(), "http webhooks only on loopback");
    assert!(stderr_line(&bad).contains("webhook_url"));
    let removed = consentry(
        &[
            "clients",
            "webhook",
            "--data-dir",
            d,
            "partner-3",
            "--remove",
        ],
        None,
    );
    assert!(removed.status.success(), "{removed:?}");
    let show = consentry(&["clients", "show", "--data-dir", d, "partner-3"], None);
    assert!(!String::from_utf8_lossy(&show.stdout).contains("webhook_url"));
    let neither = consentry(&["clients", "webhook", "--data-dir", d, "partner-3"], None);
    assert!(!neither.status.success(), "--url or --remove");
}

#[test]
fn users_add_reads_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let args = [
        "users",
        "add",
        "--data-dir",
        d,
        "--username",
        "zoe",
        "--password-stdin",
        "--email",
        "zoe@example.test",
        "--name",
        "Zoe",
    ];
    let out = consentry(&args, Some("a long enough password\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["user_id"].as_str().unwrap().len(), 24);
    let dup = consentry(&args, Some("a long enough password\n"));
    assert!(stderr_line(&dup).contains("taken"));
    let short = consentry(
        &[
            "users",
            "add",
            "--data-dir",
            d,
            "--username",
            "yan",
            "--password-stdin",
        ],
        Some("short"),
    );
    assert!(!short.status.success());
    assert!(stderr_line(&short).contains("at least 8"));
    let no_stdin_flag = consentry(&["users", "add", "--data-dir", d, "--username", "xi"], None);
    assert!(!no_stdin_flag.status.success());
}

#[test]
fn serve_refuses_unknown_config_keys_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("consentry.toml");
    // `serve` with `toml` as its configuration file: it must refuse to start, saying `named`.
    let refused = |toml: &str, named: &str| {
        std::fs::write(&cfg, toml).unwrap();
        let args = ["serve", "--config", cfg.to_str().unwrap()];
        let out = consentry(
            &[&args[..], &["--data-dir", dir.path().to_str().unwrap()]].concat(),
            None,
        );
        assert!(!out.status.success(), "{toml} is refused");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(named), "{toml}: {err}");
    };
    refused(
        "listen = \"127.0.0.1:0\"\nbogus_setting = 1\n",
        "bogus_setting",
    );
    refused("[lifetimes]\naccess_token_secs = 0\n", "access_token_secs");
    // RFC 8628 §5.1: a user code is guessed against for as long as it lives.
    refused("[lifetimes]\ndevice_code_secs = 1801\n", "RFC 8628 §5.1");
    refused(
        "[lifetimes]\npoll_interval_secs = 0\n",
        "poll_interval_secs must be positive",
    );
    refused(
        "[lifetimes]\npoll_interval_secs = 61\n",
        "poll_interval_secs must be at most 60",
    );
}

#[test]
fn environment_overrides_are_checked_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["serve", "--data-dir", dir.path().to_str().unwrap()])
        .env("CONSENTRY_LIFETIMES__NO_SUCH_LIFETIME", "5")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_lifetime"));
}

#[test]
fn plugins_check_and_list() {
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins");
    let good = format!("{shipped}/sandbox-bank/main.rhai");
    let out = consentry(&["plugins", "check", &good], None);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok "));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.rhai");
    std::fs::write(
        &bad,
        "fn institution() {\n  #{ id: \"x\" }\n}\nfn connect(ctx) { let = ; }\n",
    )
    .unwrap();
    let out = consentry(&["plugins", "check", &good, bad.to_str().unwrap()], None);
    assert!(!out.status.success(), "a broken script fails the check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("error {}:4: syntax error", bad.display())),
        "{stdout}"
    );
    stderr_line(&out);

    let out = consentry(&["plugins", "list", "--dir", shipped], None);
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["id"] == "sandbox-bank" && l["type"] == "test"),
        "{lines:?}"
    );
}

#[test]
fn clients_add_with_a_webhook_gets_its_signing_secret() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // The same creation as the admin API: a webhook_url comes with its secret, shown once.
    let meta = r#"{"client_id":"hooked","redirect_uris":["https://partner.example/cb"],"webhook_url":"https://hooks.partner.example/in"}"#;
    let out = consentry(
        &["clients", "add", "--data-dir", d, "--metadata", meta],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["webhook_secret"].as_str().is_some_and(|s| s.len() >= 43),
        "{v}"
    );
    assert!(v["client_secret"].is_string());
}

/// The serving threads of process `pid` (named `serve-N`) once it has started some.
fn serving_threads_of(pid: u32) -> usize {
    let count = || {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter(|t| {
                        std::fs::read_to_string(t.path().join("comm"))
                            .is_ok_and(|name| name.starts_with("serve-"))
                    })
                    .count()
            })
            .unwrap_or(0)
    };
    let started = std::time::Instant::now();
    while count() == 0 && started.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // They start together; a moment more lets the last of them take its name.
    std::thread::sleep(std::time::Duration::from_millis(300));
    count()
}

#[test]
fn server_threads_sets_how_many_serving_threads_start() {
    for threads in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_consentry"))
            .args(["serve", "--http", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("CONSENTRY_SERVER__THREADS", threads.to_string())
            .env("CONSENTRY_DEMO", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let seen = serving_threads_of(child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen, threads, "server.threads = {threads}");
    }
}
