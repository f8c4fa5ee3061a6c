//! The Rhai host under hostile and changing scripts: limits and deadlines fail only their own
//! journey, broken scripts never load (and never replace a working version), and scripts
//! reload live without losing requests.

use crate::banks::BankJourney;
use crate::harness::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn script(id: &str, name: &str, connect_body: &str) -> String {
    format!(
        r#"fn institution() {{
    #{{ id: "{id}", name: "{name}", type: "test", bankRef: "{id}" }}
}}

fn connect(ctx) {{
{connect_body}
}}

fn submit(ctx, input) {{
    #{{ done: #{{ data: #{{ ok: true }} }} }}
}}
"#
    )
}

const GOOD: &str =
    r#"    #{ form: #{ title: "Sign in", fields: [#{ name: "user", label: "User" }] } }"#;

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).unwrap();
}

async fn start_with_plugins(dir: &Path) -> TestServer {
    let dir = dir.to_path_buf();
    TestServer::start_with(move |c| {
        c.plugins.dir = dir;
        c.plugins.reload_interval_ms = 100;
        // Operations high enough that a loop meets the wall-clock deadline first.
        c.plugins.max_operations = 50_000_000_000;
        c.plugins.hook_timeout_ms = 300;
    })
    .await
}

async fn institution_names(s: &TestServer) -> Vec<String> {
    let res = s
        .browser()
        .get(s.url("/.well-known/all-connections"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

/// Waits (bounded) until `check` holds for the connection list.
async fn eventually(s: &TestServer, what: &str, check: impl Fn(&[String]) -> bool) {
    let until = Instant::now() + Duration::from_secs(15);
    loop {
        let names = institution_names(s).await;
        if check(&names) {
            return;
        }
        assert!(Instant::now() < until, "{what}: still {names:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts a journey at `bank` and approves; returns where the browser is sent.
async fn run_journey(s: &TestServer, c: &TestClient, bank: &str, name: &str) -> String {
    let (_, challenge) = pkce();
    let b = BankJourney::new(s);
    let scope = format!("openid id:{bank}");
    let i = b
        .start(&auth_params(c, &challenge, &[("scope", &scope)]))
        .await;
    b.approve(&i, name).await.1
}

#[tokio::test]
async fn runaway_scripts_fail_only_their_own_journey() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.rhai", &script("good", "Good Bank", GOOD));
    write(
        dir.path(),
        "spin.rhai",
        &script("spin", "Spin Bank", "    loop { }"),
    );
    write(
        dir.path(),
        "huge.rhai",
        &script(
            "huge",
            "Huge Bank",
            "    let s = \"x\";\n    loop { s += s; }",
        ),
    );
    write(
        dir.path(),
        "deep.rhai",
        &format!(
            "{}\nfn down(n) {{ down(n + 1) }}\n",
            script("deep", "Deep Bank", "    down(0)")
        ),
    );
    write(
        dir.path(),
        "bad-result.rhai",
        &script("bad-result", "Odd Bank", "    42"),
    );
    let s = start_with_plugins(dir.path()).await;
    let c = s.client(json!({})).await;
    for (bank, name, kind) in [
        ("spin", "Spin Bank", "deadline"),
        ("huge", "Huge Bank", "limit"),
        ("deep", "Deep Bank", "limit"),
        ("bad-result", "Odd Bank", "result"),
    ] {
        let started = Instant::now();
        let cb = run_journey(&s, &c, bank, name).await;
        // The deadline (300 ms) bounds the loop; without it this would never return.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{bank} took {:?}",
            started.elapsed()
        );
        let q = query(&cb);
        assert_eq!(q["error"], "server_error", "{bank}: {cb}");
        assert_eq!(q["state"], "state-123");
        let metrics = s.metrics().await;
        let line =
            format!("consentry_plugin_errors_total{{institution=\"{bank}\",kind=\"{kind}\"}} 1");
        assert!(metrics.contains(&line), "{line} in metrics:\n{metrics}");
    }
    // Meanwhile the well-behaved institution still works.
    let cb = run_journey(&s, &c, "good", "Good Bank").await;
    assert!(
        cb.starts_with("/interaction/"),
        "good bank shows its form: {cb}"
    );
}

#[tokio::test]
async fn broken_scripts_are_not_loaded_and_others_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "good.rhai", &script("good", "Good Bank", GOOD));
    write(
        dir.path(),
        "syntax.rhai",
        "fn institution() {\n  #{ id: \"syntax\" \n}\n fn connect(ctx) {",
    );
    write(
        dir.path(),
        "no-connect.rhai",
        "fn institution() { #{ id: \"nc\", name: \"NC\", type: \"test\", bankRef: \"nc\" } }",
    );
    write(
        dir.path(),
        "bad-meta.rhai",
        &script("all", "Reserved Id Bank", GOOD),
    );
    let s = start_with_plugins(dir.path()).await;
    assert_eq!(institution_names(&s).await, vec!["Good Bank"]);
    let problems = s.provider.plugins.catalog().problems.clone();
    let text: Vec<String> = problems.values().map(|p| p.to_string()).collect();
    assert_eq!(text.len(), 3, "{text:?}");
    assert!(
        text.iter()
            .any(|t| t.contains("syntax.rhai:") && t.contains("syntax error")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("no-connect.rhai") && t.contains("fn connect(ctx)")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("bad-meta.rhai:1:") && t.contains("id")),
        "{text:?}"
    );
}

#[tokio::test]
async fn scripts_reload_live_and_a_broken_edit_keeps_the_previous_version() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "live.rhai",
        &script("live", "Live Bank v1", GOOD),
    );
    let s = start_with_plugins(dir.path()).await;
    let c = s.client(json!({})).await;
    assert_eq!(institution_names(&s).await, vec!["Live Bank v1"]);

    // A journey begun on v1 finishes on whichever version is loaded, keeping its state.
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&auth_params(&c, &challenge, &[("scope", "openid id:live")]))
        .await;
    b.approve(&i, "Live Bank v1").await;

    // Hammer the lists while the script changes: every answer is complete, and the versions
    // change under the load.
    let editing = Arc::new(AtomicBool::new(true));
    let hammer = {
        let http = s.browser();
        let url = s.url("/.well-known/all-connections");
        let editing = editing.clone();
        tokio::spawn(async move {
            let mut names = std::collections::BTreeSet::new();
            while editing.load(Ordering::SeqCst) {
                let res = http.get(&url).send().await.unwrap();
                assert_eq!(res.status(), 200);
                let v: Value = res.json().await.unwrap();
                let list = v.as_array().unwrap();
                assert_eq!(list.len(), 1, "one institution at every moment: {v}");
                names.insert(list[0]["name"].as_str().unwrap().to_string());
            }
            names
        })
    };
    for n in 2..12 {
        write(
            dir.path(),
            "live.rhai",
            &script("live", &format!("Live Bank v{n}"), GOOD),
        );
        tokio::time::sleep(Duration::from_millis(120)).await;
    }
    editing.store(false, Ordering::SeqCst);
    let seen = hammer.await.unwrap();
    assert!(seen.len() >= 2, "the lists saw the script change: {seen:?}");
    eventually(&s, "the last edit is live", |n| n == ["Live Bank v11"]).await;

    let (status, cb, _) = b.submit(&i, &[("user", "u")]).await;
    assert_eq!(status, 303);
    crate::banks::redeem(&s, &c, &cb, &verifier).await;

    // A broken edit is reported and the previous version keeps serving.
    write(dir.path(), "live.rhai", "fn institution( {");
    let until = Instant::now() + Duration::from_secs(15);
    while !s.metrics().await.contains("kind=\"compile\"") {
        assert!(Instant::now() < until, "the broken edit was never noticed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(institution_names(&s).await, vec!["Live Bank v11"]);

    // New scripts appear; removed ones go.
    write(
        dir.path(),
        "added.rhai",
        &script("added", "Added Bank", GOOD),
    );
    eventually(&s, "added script loads", |n| {
        n.contains(&"Added Bank".to_string())
    })
    .await;
    std::fs::remove_file(dir.path().join("live.rhai")).unwrap();
    eventually(&s, "removed script unloads", |n| n == ["Added Bank"]).await;
}

#[tokio::test]
async fn scripts_reach_only_their_own_hosts_and_sign_with_the_host_keys() {
    let dir = tempfile::tempdir().unwrap();
    let institution = |id: &str, name: &str, hosts: &str| {
        format!(
            "fn institution() {{ #{{ id: \"{id}\", name: \"{name}\", type: \"test\", bankRef: \"{id}\", hosts: [{hosts}] }} }}\n\
             fn submit(ctx, input) {{ #{{ done: #{{}} }} }}\n"
        )
    };
    // Reads discovery over HTTPS, signs a JWT with the host key and verifies it with the
    // published JWKS, then shows what it found as the form title.
    write(
        dir.path(),
        "fetcher.rhai",
        &format!(
            "{}fn connect(ctx) {{\n\
             let d = http_get(setting(\"url\"));\n\
             let keys = http_get(d.json.jwks_uri).json;\n\
             let claims = jwt_verify(jwt_sign(#{{ iss: \"fetcher\" }}), keys);\n\
             #{{ form: #{{ title: `${{d.status}} ${{d.json.issuer}} ${{claims.iss}}`, fields: [#{{ name: \"x\", label: \"X\" }}] }} }}\n}}\n",
            institution("fetcher", "Fetcher Bank", "\"127.0.0.1\"")
        ),
    );
    // Tries a host it never declared.
    write(
        dir.path(),
        "offsite.rhai",
        &format!(
            "{}fn connect(ctx) {{ http_get(setting(\"url\")); #{{ fail: \"unreachable\" }} }}\n",
            institution("offsite", "Offsite Bank", "")
        ),
    );
    let d = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| {
        let url = format!(
            "{}/.well-known/openid-configuration",
            c.issuer.clone().unwrap()
        );
        // The script declares the bare host (port 443); the operator adds this server's port.
        let mut fetcher = std::collections::BTreeMap::new();
        fetcher.insert(
            "hosts".to_string(),
            format!("127.0.0.1:{}", c.listen.port()),
        );
        c.plugins.settings.insert("fetcher".into(), fetcher);
        for id in ["fetcher", "offsite"] {
            let m = c.plugins.settings.entry(id.into()).or_default();
            m.insert("url".to_string(), url.clone());
        }
        c.plugins.upstream_ca_file = Some(c.keys_dir().join("ca.pem"));
        c.plugins.dir = d;
    })
    .await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:fetcher")],
        ))
        .await;
    let (_, loc) = b.approve(&i, "Fetcher Bank").await;
    assert_eq!(loc, i, "the script's form follows");
    let page = b.page(&i).await;
    let expected = format!("200 {} fetcher", s.issuer);
    assert!(page.contains(&expected), "{expected} in {page}");
    let cb = run_journey(&s, &c, "offsite", "Offsite Bank").await;
    let q = query(&cb);
    assert_eq!(
        q["error"], "server_error",
        "an undeclared host is refused: {cb}"
    );
}
