//! Developing institution scripts: `serve --plugins DIR` and its checks, reloads by content
//! (logged, counted by institution id), development mode's error page against production's
//! error id, and the `hosts` format (`host` is port 443, `host:port` that port).

use crate::banks::BankJourney;
use crate::harness::*;
use crate::spawned::{Options, Server};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn script(id: &str, name: &str, connect_body: &str) -> String {
    format!(
        "fn institution() {{\n    #{{ id: \"{id}\", name: \"{name}\", type: \"test\", bankRef: \"{id}\" }}\n}}\n\nfn connect(ctx) {{\n{connect_body}\n}}\n"
    )
}

const FORM: &str =
    r#"    #{ form: #{ title: "Sign in", fields: [#{ name: "user", label: "User" }] } }"#;

/// A hook whose line 7 throws (a call to an unknown function would not load at all).
const BROKEN_AT_LINE_7: &str = "    let a = 1;\n    throw `no_such_account ${a}`;";

/// Runs `consentry serve` in `cwd` with `args`, to its end.
fn serve_in(cwd: &Path, args: &[&str]) -> std::process::Output {
    let data = cwd.join("data");
    Command::new(env!("CARGO_BIN_EXE_consentry"))
        .current_dir(cwd)
        .args(["serve", "--http", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_plugins_folder_that_does_not_exist_stops_the_start_naming_the_flag_and_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = serve_in(dir.path(), &["--plugins", "no-such-folder"]);
    assert!(!out.status.success(), "the start is refused");
    let err = String::from_utf8_lossy(&out.stderr);
    let abs = dir.path().join("no-such-folder");
    assert!(
        err.contains("plugins.dir (--plugins)")
            && err.contains(&abs.display().to_string())
            && err.contains("no such folder"),
        "names the setting, the flag and the folder from the working directory: {err}"
    );
    std::fs::write(dir.path().join("a-file"), "x").unwrap();
    let out = serve_in(dir.path(), &["--plugins", "a-file"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a folder"), "{err}");
    // The same through the setting.
    let out = Command::new(env!("CARGO_BIN_EXE_consentry"))
        .current_dir(dir.path())
        .env("CONSENTRY_PLUGINS__DIR", "elsewhere")
        .args([
            "serve",
            "--http",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "data",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("elsewhere"));
}

/// Waits (bounded) until the log holds `needle`.
fn log_shows(server: &Server, needle: &str) -> String {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let log = server.log_text();
        if log.contains(needle) {
            return log;
        }
        assert!(Instant::now() < until, "{needle:?} never logged:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connections(server: &Server) -> String {
    crate::spawned::get(server.port, "/oidc/.well-known/all-connections")
        .unwrap()
        .1
}

#[test]
fn plugins_flag_reloads_by_content_and_logs_each_event_with_the_id_as_metric_label() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("scripts");
    std::fs::create_dir(&plugins).unwrap();
    let file = plugins.join("first.rhai");
    std::fs::write(&file, script("bank-one", "Bank Alpha", FORM)).unwrap();
    let server = Server::start(Options {
        args: vec!["--plugins".into(), plugins.display().to_string()],
        env: vec![("CONSENTRY_PLUGINS__RELOAD_INTERVAL_MS", "100".into())],
        ..Default::default()
    });
    let log = log_shows(&server, "institution script loaded");
    assert!(log.contains("bank-one"), "{log}");
    assert!(
        log.contains(&format!("institutions: 1 from {}", plugins.display())),
        "the banner names the absolute folder: {log}"
    );
    assert!(connections(&server).contains("Bank Alpha"));

    // An edit of the same size, with the modification time set back: still picked up.
    let before = std::fs::metadata(&file).unwrap().modified().unwrap();
    std::fs::write(&file, script("bank-one", "Bank Omega", FORM)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(before)
        .unwrap();
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        before
    );
    log_shows(&server, "institution script changed");
    assert!(connections(&server).contains("Bank Omega"));

    // A broken edit keeps the previous version, and is counted under the institution id.
    std::fs::write(&file, "fn institution() {").unwrap();
    let log = log_shows(&server, "keeping the previous version");
    assert!(
        log.contains("first.rhai:"),
        "the reason names the file: {log}"
    );
    assert!(connections(&server).contains("Bank Omega"));
    // A script that never loaded: counted under its file's name, and no previous version.
    std::fs::write(plugins.join("broken.rhai"), "fn institution() {").unwrap();
    let log = log_shows(&server, "institution script refused; not loaded");
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("refused") && l.contains("broken.rhai"))
        .collect();
    assert!(
        refusals.iter().all(|l| !l.contains("keeping the previous")),
        "{refusals:?}"
    );
    let metrics = crate::spawned::get(server.port, "/metrics").unwrap().1;
    for line in [
        "consentry_plugin_errors_total{institution=\"bank-one\",kind=\"compile\"} 1",
        "consentry_plugin_errors_total{institution=\"broken\",kind=\"compile\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    assert!(
        !metrics.contains(".rhai"),
        "no file path as a label:\n{metrics}"
    );

    std::fs::write(&file, script("bank-one", "Bank Omega", FORM)).unwrap();
    let until = Instant::now() + Duration::from_secs(15);
    while server.log_text().matches("new version loaded").count() < 2 {
        assert!(Instant::now() < until, "the fixed script reloads");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_file(&file).unwrap();
    log_shows(&server, "institution script removed");
    assert!(!connections(&server).contains("Bank Omega"));
}

async fn start(dir: &Path, dev: bool) -> TestServer {
    let dir = dir.to_path_buf();
    TestServer::start_with(move |c| {
        c.plugins.dir = dir;
        c.plugins.dev = dev;
    })
    .await
}

/// Starts a journey at `bank` and approves; returns (status, Location, body).
async fn approve(s: &TestServer, c: &TestClient, bank: &str) -> (u16, String, String) {
    let (_, challenge) = pkce();
    let b = BankJourney::new(s);
    let scope = format!("openid id:{bank}");
    let i = b
        .start(&auth_params(c, &challenge, &[("scope", &scope)]))
        .await;
    let page = b.page(&i).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    b.j.post(
        &format!("{i}/consent"),
        &[("csrf_token", &csrf), ("decision", "approve")],
    )
    .await
}

#[tokio::test]
async fn dev_mode_shows_the_script_error_with_file_line_and_hook_then_the_client_hears_server_error(
) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.rhai");
    std::fs::write(&file, script("broken", "Broken Bank", BROKEN_AT_LINE_7)).unwrap();
    let s = start(dir.path(), true).await;
    let c = s.client(json!({})).await;
    let (status, _, page) = approve(&s, &c, "broken").await;
    assert_eq!(status, 500, "{page}");
    let at = format!("{}:7", file.display());
    for shown in [at.as_str(), "fn connect", "no_such_account", "lang=\"en\""] {
        assert!(page.contains(shown), "{shown} on the page: {page}");
    }
    // The way on is the RFC 6749 §4.1.2.1 error redirect, without the script's detail.
    let href = page
        .split("href=\"")
        .find(|p| p.starts_with(REDIRECT_URI))
        .and_then(|p| p.split('"').next())
        .expect("a link on to the client")
        .replace("&amp;", "&");
    let q = query(&href);
    assert_eq!(q["error"], "server_error");
    assert_eq!(q["state"], "state-123");
    assert!(
        !q["error_description"].contains("no_such_account") && !href.contains("rhai"),
        "rfc6749_4_1_2_1 the client hears no script detail: {href}"
    );
}

#[test]
fn production_shows_only_an_error_id_which_the_log_repeats_with_the_details() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("scripts");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(
        plugins.join("broken.rhai"),
        script("broken", "Broken Bank", BROKEN_AT_LINE_7),
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Server::start(Options {
        tls: true,
        data_dir: Some(data.clone()),
        args: vec!["--plugins".into(), plugins.display().to_string()],
        ..Default::default()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = format!("https://127.0.0.1:{}", server.port);
    let ca = std::fs::read(data.join("keys/ca.pem")).unwrap();
    let callback = rt.block_on(async {
        let browser = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let (_, challenge) = pkce();
        let res = browser
            .get(format!("{base}/oidc/auth"))
            .query(&[
                ("client_id", consentry::demo::CLIENT_ID),
                ("redirect_uri", consentry::demo::REDIRECT_URI),
                ("response_type", "code"),
                ("scope", "openid id:broken"),
                ("state", "s1"),
                ("nonce", "n1"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ])
            .send()
            .await
            .unwrap();
        let interaction = location(&res);
        assert!(interaction.starts_with("/interaction/"), "{interaction}");
        let page = browser
            .get(format!("{base}{interaction}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = hidden(&page, "csrf_token").expect("consent page");
        let res = browser
            .post(format!("{base}{interaction}/consent"))
            .form(&[("csrf_token", csrf.as_str()), ("decision", "approve")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "straight back to the client");
        location(&res)
    });
    assert!(
        callback.starts_with(consentry::demo::REDIRECT_URI),
        "{callback}"
    );
    let q = query(&callback);
    assert_eq!(q["error"], "server_error", "rfc6749_4_1_2_1: {callback}");
    let description = &q["error_description"];
    let id = description
        .split("error id ")
        .nth(1)
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("an error id: {description}"));
    assert_eq!(id.len(), 10, "{description}");
    for hidden_detail in ["no_such_account", "rhai", "line", "connect"] {
        assert!(
            !description.contains(hidden_detail),
            "no script detail ({hidden_detail}) outside dev mode: {description}"
        );
    }
    let log = log_shows(&server, id);
    let line = log.lines().find(|l| l.contains(id)).unwrap();
    assert!(
        line.contains("broken.rhai:7")
            && line.contains("no_such_account")
            && line.contains("connect"),
        "the log line has the details under the same id: {line}"
    );
}

/// A script reaching this test server: the declared `127.0.0.1` means port 443, so the call
/// to the server's own port is refused unless `host:port` is listed.
#[tokio::test]
async fn hosts_host_port_allows_that_port_and_a_bare_host_refuses_another_port_naming_the_list() {
    let dir = tempfile::tempdir().unwrap();
    let fetcher = |id: &str, hosts: &str| {
        format!(
            "fn institution() {{ #{{ id: \"{id}\", name: \"{id} bank\", type: \"test\", bankRef: \"{id}\", hosts: [{hosts}] }} }}\n\
             fn connect(ctx) {{ let r = http_get(setting(\"url\")); #{{ form: #{{ title: `got ${{r.status}}`, fields: [#{{ name: \"x\", label: \"X\" }}] }} }} }}\n"
        )
    };
    std::fs::write(
        dir.path().join("bare.rhai"),
        fetcher("bare", "\"127.0.0.1\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("ported.rhai"),
        fetcher("ported", "\"PORT\""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad-entry.rhai"),
        fetcher("bad-entry", "\"https://127.0.0.1\""),
    )
    .unwrap();
    let d = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| {
        let port = c.listen.port();
        let ported = d.join("ported.rhai");
        let text = std::fs::read_to_string(&ported).unwrap();
        std::fs::write(&ported, text.replace("PORT", &format!("127.0.0.1:{port}"))).unwrap();
        let url = format!(
            "{}/.well-known/openid-configuration",
            c.issuer.clone().unwrap()
        );
        for id in ["bare", "ported"] {
            let m = c.plugins.settings.entry(id.into()).or_default();
            m.insert("url".into(), url.clone());
        }
        c.plugins.dev = true;
        c.plugins.upstream_ca_file = Some(c.keys_dir().join("ca.pem"));
        c.plugins.dir = d;
    })
    .await;
    let problems = s.plugin_problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("bad-entry.rhai:1:") && p.contains("host:port")),
        "a malformed entry is a load problem with its line: {problems:?}"
    );
    let c = s.client(json!({})).await;
    let (status, loc, _) = approve(&s, &c, "ported").await;
    assert_eq!(status, 303, "host:port reaches that port");
    // The script's form follows only when its http_get succeeded (a refusal is a 500 page).
    assert!(loc.starts_with("/interaction/"), "{loc}");
    let port = s.provider.config.listen.port();
    let (status, _, page) = approve(&s, &c, "bare").await;
    assert_eq!(status, 500, "{page}");
    for refused in [
        format!("127.0.0.1:{port} is not an allowed host: refused by the script's institution().hosts (127.0.0.1)"),
        "and by the operator's plugins.settings.bare.hosts (not set)".to_string(),
        format!("add \"127.0.0.1:{port}\" to the script's institution().hosts"),
    ] {
        assert!(
            page.contains(&refused),
            "the refusal names the host:port and the lists that refused it ({refused}): {page}"
        );
    }
}

#[tokio::test]
async fn a_malformed_operator_hosts_setting_refuses_the_script_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("op.rhai"), script("op", "Op Bank", FORM)).unwrap();
    let d = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| {
        let m = c.plugins.settings.entry("op".into()).or_default();
        m.insert("hosts".into(), "bank.example, bank.example:http".into());
        c.plugins.dir = d;
    })
    .await;
    let problems = s.plugin_problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("plugins.settings.op.hosts") && p.contains("bank.example:http")),
        "{problems:?}"
    );
    assert!(s.provider.plugins.get("op").is_none());
}
