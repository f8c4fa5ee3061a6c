//! The operator's data key with PostgreSQL (issue: scale-out, the operator contract): every
//! node and every CLI command is given the same key (`--data-key FILE` or
//! `CONSENTRY_DATA_KEY`); none of them ever makes one, since a key made by one process seals
//! secrets that no other node can open. SQLite keeps its zero-configuration start (the key is
//! made in `keys/` on first use), which the rest of the suite exercises.

use crate::harness::*;
use josekit::jws::{JwsHeader, HS256};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output};

const CLIENT_ID: &str = "jwt-partner";
const CLIENT_SECRET: &str = "jwt-partner-secret-0123456789abcdefghijklmnop";

/// The binary with `args`, run in the folder `cwd`, with no `CONSENTRY_*` variable of the
/// test's environment.
fn consentry_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consentry"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CONSENTRY_") {
            cmd.env_remove(name);
        }
    }
    cmd.current_dir(cwd).args(args).envs(env.iter().copied());
    cmd.output().expect("run consentry")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

/// Every file under `dir`, for showing that a refused command left nothing behind.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

/// Item 3 (the operator contract): a CLI command on PostgreSQL given no data key (neither
/// `--data-key` nor a key in the data folder) is refused with how to give one, and makes no
/// key file, not even `./keys/data.key` in the folder it runs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_command_on_postgres_without_the_data_key_is_refused_and_makes_none() {
    let url = new_postgres_schema().await;
    let cwd = tempfile::tempdir().unwrap();
    let meta = json!({"redirect_uris": ["https://partner.example/cb"]}).to_string();
    let commands: [&[&str]; 4] = [
        &[
            "clients",
            "add",
            "--database-url",
            &url,
            "--metadata",
            &meta,
        ],
        &["clients", "list", "--database-url", &url],
        &["keys", "list", "--database-url", &url],
        &["keys", "rotate", "--database-url", &url],
    ];
    for args in commands {
        let out = consentry_in(cwd.path(), args, &[]);
        assert!(!out.status.success(), "{args:?} ran without a data key");
        let reason = stderr(&out);
        assert_eq!(reason.lines().count(), 1, "one line of reason: {reason}");
        assert!(
            reason.contains("no data key") && reason.contains("--data-key FILE"),
            "{args:?}: {reason}"
        );
        assert!(
            files_under(cwd.path()).is_empty(),
            "{args:?} left {:?}",
            files_under(cwd.path())
        );
    }
    // A named file that is not there is refused as well, never made.
    let missing = cwd.path().join("data.key");
    let out = consentry_in(
        cwd.path(),
        &[
            "clients",
            "list",
            "--database-url",
            &url,
            "--data-key",
            missing.to_str().unwrap(),
        ],
        &[],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(files_under(cwd.path()).is_empty());
}

/// Item 3: `serve` on PostgreSQL given no data key refuses to start (a node with a key of its
/// own would seal what the other nodes cannot open), and makes no key file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_on_postgres_without_the_data_key_refuses_to_start() {
    let url = new_postgres_schema().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_consentry"));
    for (name, _) in std::env::vars() {
        if name.starts_with("CONSENTRY_") {
            cmd.env_remove(name);
        }
    }
    let log = dir.path().join("serve.log");
    let mut child = cmd
        .current_dir(dir.path())
        .args(["serve", "--database-url", &url, "--data-dir"])
        .arg(&data)
        .args(["--http", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("serve started without a data key");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(!status.success());
    let reason = std::fs::read_to_string(&log).unwrap();
    assert!(
        reason.contains("no data key") && reason.contains("--data-key FILE"),
        "{reason}"
    );
    assert!(
        !data.join("keys/data.key").exists(),
        "{:?}",
        files_under(dir.path())
    );
}

/// Item 3: a `client_secret_jwt` client added by the CLI with the operator's data key (its
/// secret sealed with it) authenticates at a node given the same key (OIDC Core §9: the node
/// opens the sealed secret to check the HS256 assertion). The key file is made by
/// `consentry keys new-data-key`, and the variable `CONSENTRY_DATA_KEY` serves as the option.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_secret_jwt_client_added_by_the_cli_with_the_data_key_authenticates_at_a_node() {
    let url = new_postgres_schema().await;
    let cwd = tempfile::tempdir().unwrap();
    let key = cwd.path().join("operator/data.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let key_arg = key.to_str().unwrap();
    let out = consentry_in(cwd.path(), &["keys", "new-data-key", key_arg], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Never over an existing key: that would lose every secret sealed with it.
    let out = consentry_in(cwd.path(), &["keys", "new-data-key", key_arg], &[]);
    assert!(
        !out.status.success(),
        "a second new-data-key replaced the key"
    );

    let meta = json!({
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
        "token_endpoint_auth_method": "client_secret_jwt",
        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        "scope": "accounts:read",
    })
    .to_string();
    let out = consentry_in(
        cwd.path(),
        &[
            "clients",
            "add",
            "--database-url",
            &url,
            "--data-key",
            key_arg,
            "--metadata",
            &meta,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = consentry_in(
        cwd.path(),
        &["clients", "show", CLIENT_ID, "--database-url", &url],
        &[("CONSENTRY_DATA_KEY", key_arg)],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let node = TestServer::start_with(|c| {
        c.database_url = Some(url);
        c.data_key = Some(key.clone());
    })
    .await;
    let now = node.provider.now();
    let claims = json!({
        "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": node.url("/token"),
        "iat": now, "exp": now + 60, "jti": consentry::secrets::random_token(),
    });
    let signer = HS256.signer_from_bytes(CLIENT_SECRET.as_bytes()).unwrap();
    let assertion = josekit::jws::serialize_compact(
        &serde_json::to_vec(&claims).unwrap(),
        &JwsHeader::new(),
        &signer,
    )
    .unwrap();
    let res = node
        .browser()
        .post(node.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "accounts:read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string(), "{body}");
    assert_eq!(
        files_under(cwd.path()),
        vec![key.display().to_string()],
        "the CLI made no key of its own"
    );
}
