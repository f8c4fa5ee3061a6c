//! Signing-key rotation at runtime: next → current → retired, no restart, no failed request.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

async fn kids(s: &TestServer) -> HashSet<String> {
    let jwks: Value = s
        .browser()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// The key set the database holds.
async fn stored(s: &TestServer) -> Vec<consentry::jose::stored_keys::StoredKey> {
    consentry::keys::load(&s.provider.store, &s.provider.sealer)
        .await
        .unwrap()
        .expect("a stored key set")
        .keys
}

async fn kid_with(
    s: &TestServer,
    alg: &str,
    status: consentry::jose::stored_keys::Status,
) -> String {
    stored(s)
        .await
        .iter()
        .find(|k| k.alg().map(|a| a.name()) == Some(alg) && k.status == status)
        .unwrap()
        .kid()
        .to_string()
}

/// Rotates the stored keys, as `consentry keys rotate` does.
async fn rotate(s: &TestServer, retention: i64) {
    let p = &s.provider;
    consentry::keys::rotate(
        &p.store,
        &p.sealer,
        &p.config.keys_dir(),
        p.now(),
        retention,
    )
    .await
    .unwrap();
}

/// Waits for the running server to publish a different key set.
async fn wait_for_reload(s: &TestServer, before: &HashSet<String>) -> HashSet<String> {
    for _ in 0..50 {
        let now = kids(s).await;
        if &now != before {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the server did not pick up the new keys");
}

#[tokio::test]
async fn next_keys_are_published_before_they_sign() {
    use consentry::jose::stored_keys::Status;
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    assert_eq!(
        kids(&s).await.len(),
        6,
        "current and next for RS256, PS256, ES256"
    );
    let (_, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    let kid = jwt_header(body["access_token"].as_str().unwrap())["kid"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(kid, kid_with(&s, "ES256", Status::Current).await);
    assert_ne!(kid, kid_with(&s, "ES256", Status::Next).await);
}

#[tokio::test]
async fn rotation_under_load_fails_no_request_and_old_tokens_keep_working() {
    use consentry::jose::stored_keys::Status;
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let old = tokens_for(&s, &c, "alice").await;
    let next_es256 = kid_with(&s, "ES256", Status::Next).await;
    let first_current: HashSet<String> = stored(&s)
        .await
        .iter()
        .filter(|k| k.status == Status::Current)
        .map(|k| k.kid().to_string())
        .collect();
    let before = kids(&s).await;

    // Requests in flight while the keys rotate.
    let load = {
        let (url, id, secret, b) = (s.url("/token"), c.id.clone(), c.secret.clone(), s.browser());
        tokio::spawn(async move {
            let mut failures = 0;
            for _ in 0..150 {
                let res = b
                    .post(&url)
                    .basic_auth(&id, Some(&secret))
                    .form(&[
                        ("grant_type", "client_credentials"),
                        ("scope", "accounts:read"),
                    ])
                    .send()
                    .await;
                if !res.is_ok_and(|r| r.status() == 200) {
                    failures += 1;
                }
            }
            failures
        })
    };
    let retention = consentry::keys::retention_secs(&s.provider);
    rotate(&s, retention).await;
    let after = wait_for_reload(&s, &before).await;
    assert_eq!(
        load.await.unwrap(),
        0,
        "no request failed during the rotation"
    );
    assert!(before.is_subset(&after), "retired keys stay published");
    assert_eq!(
        after.len(),
        9,
        "three retired, three current, three new next"
    );

    // New tokens are signed by the key that was published as next.
    let (_, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    assert_eq!(
        jwt_header(body["access_token"].as_str().unwrap())["kid"],
        next_es256
    );
    // Tokens signed before the rotation still verify.
    let at = old["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(&c, at).await["active"], true);
    assert_eq!(
        s.browser()
            .get(s.url("/me"))
            .bearer_auth(at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Once every token a retired key signed has expired, the next rotation drops it.
    s.provider.clock.advance(retention + 1);
    rotate(&s, retention).await;
    let later = wait_for_reload(&s, &after).await;
    assert!(
        first_current.is_disjoint(&later),
        "the keys retired first are gone"
    );
    assert_eq!(later.len(), 9);
}

#[tokio::test]
async fn scheduled_rotation() {
    let s = TestServer::start_with(|c| c.keys.rotate_after_secs = Some(3600)).await;
    let before = kids(&s).await;
    s.provider.clock.advance(3601);
    let after = wait_for_reload(&s, &before).await;
    assert!(before.is_subset(&after));
    assert_eq!(after.len(), 9);
}

#[test]
fn keys_cli_lists_and_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listed = run(&["keys", "list", "--data-dir", d]);
    assert_eq!(listed.lines().count(), 6);
    let rotated = run(&["keys", "rotate", "--data-dir", d]);
    let statuses: Vec<String> = rotated
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["status"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(statuses.iter().filter(|s| *s == "retired").count(), 3);
    assert_eq!(statuses.iter().filter(|s| *s == "current").count(), 3);
    assert_eq!(statuses.iter().filter(|s| *s == "next").count(), 3);
}
