//! Institution scripts' storage across journeys (`storage_get/set/delete/incr`) and the
//! message step, through real journeys: a test script reports what storage answered in the
//! `error_description` it fails with, and the shipped Sandbox Credit Union locks a member
//! number after three wrong PINs, ending on its message page.

use crate::banks::BankJourney;
use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A test institution that runs one storage operation per journey and fails with
/// `result=<base64url JSON>` or `error=<message>`, so the client sees what storage answered.
fn storage_script(id: &str) -> String {
    format!(
        r#"fn institution() {{
    #{{ id: "{id}", name: "Store {id}", type: "test", bankRef: "{id}" }}
}}

fn connect(ctx) {{
    #{{ form: #{{ title: "Storage", fields: [
        #{{ name: "op", label: "Operation" }}, #{{ name: "key", label: "Key" }},
        #{{ name: "value", label: "Value" }}, #{{ name: "ttl", label: "Seconds" }} ] }} }}
}}

fn submit(ctx, input) {{
    try {{
        let ttl = parse_int(input.ttl);
        let out = switch input.op {{
            "get" => storage_get(input.key),
            "set" => {{ storage_set(input.key, json_parse(input.value), ttl); "ok" }},
            "fill" => {{ let v = ""; v.pad(parse_int(input.value), 'x'); storage_set(input.key, v, ttl); "ok" }},
            "delete" => storage_delete(input.key),
            "incr" => storage_incr(input.key, ttl),
            _ => throw "unknown op",
        }};
        return #{{ fail: "result=" + base64url_encode(json_stringify(out)) }};
    }} catch (e) {{
        return #{{ fail: "error=" + e }};
    }}
}}
"#
    )
}

async fn start_with_storage_banks() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for id in ["store-a", "store-b"] {
        std::fs::write(dir.path().join(format!("{id}.rhai")), storage_script(id)).unwrap();
    }
    let path = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.plugins.dir = path).await;
    (s, dir)
}

/// One journey at `bank` running `op`: what storage answered, or the script's error.
async fn op(
    s: &TestServer,
    c: &TestClient,
    bank: &str,
    op: &str,
    key: &str,
    value: &str,
    ttl: &str,
) -> Result<Value, String> {
    let (_, challenge) = pkce();
    let b = BankJourney::new(s);
    let scope = format!("openid id:{bank}");
    let i = b
        .start(&auth_params(c, &challenge, &[("scope", &scope)]))
        .await;
    let (status, loc) = b.approve(&i, &format!("Store {bank}")).await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    let fields = [("op", op), ("key", key), ("value", value), ("ttl", ttl)];
    let (status, cb, body) = b.submit(&i, &fields).await;
    assert_eq!(status, 303, "{body}");
    let q = query(&cb);
    assert_eq!(q["error"], "access_denied", "{cb}");
    let said = q["error_description"].clone();
    match said.strip_prefix("result=") {
        Some(b64) => Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap()),
        None => Err(said),
    }
}

#[tokio::test]
async fn storage_outlives_the_journey_and_each_institution_sees_only_its_own_keys() {
    let (s, _dir) = start_with_storage_banks().await;
    let c = s.client(json!({})).await;
    let value = r#"{"tries":[1,2],"who":"ann"}"#;
    assert_eq!(
        op(&s, &c, "store-a", "set", "k", value, "600").await,
        Ok(json!("ok"))
    );
    // A later authorization (another journey) reads what the first one kept.
    assert_eq!(
        op(&s, &c, "store-a", "get", "k", "", "0").await,
        Ok(json!({"tries": [1, 2], "who": "ann"}))
    );
    // Another institution does not see it under the same key, and its own value stays its own.
    assert_eq!(
        op(&s, &c, "store-b", "get", "k", "", "0").await,
        Ok(Value::Null),
        "institution isolation: store-b must not read store-a's key"
    );
    assert_eq!(
        op(&s, &c, "store-b", "set", "k", "7", "600").await,
        Ok(json!("ok"))
    );
    assert_eq!(
        op(&s, &c, "store-a", "get", "k", "", "0").await,
        Ok(json!({"tries": [1, 2], "who": "ann"}))
    );
    assert_eq!(
        op(&s, &c, "store-b", "get", "k", "", "0").await,
        Ok(json!(7))
    );
    // Deleting is per institution too.
    assert_eq!(
        op(&s, &c, "store-b", "delete", "k", "", "0").await,
        Ok(json!(true))
    );
    assert_eq!(
        op(&s, &c, "store-a", "get", "k", "", "0").await,
        Ok(json!({"tries": [1, 2], "who": "ann"}))
    );
    assert_eq!(
        op(&s, &c, "store-b", "get", "k", "", "0").await,
        Ok(Value::Null)
    );
}

#[tokio::test]
async fn stored_values_expire_and_the_sweeper_removes_them() {
    let (s, _dir) = start_with_storage_banks().await;
    let c = s.client(json!({})).await;
    assert_eq!(
        op(&s, &c, "store-a", "set", "short", "\"soon gone\"", "1").await,
        Ok(json!("ok"))
    );
    // Expiry is by whole seconds of the system clock: a 3 s window leaves the second increment
    // at least 2 s to land in it, even on a loaded machine.
    assert_eq!(
        op(&s, &c, "store-a", "incr", "window", "", "3").await,
        Ok(json!(1))
    );
    assert_eq!(
        op(&s, &c, "store-a", "incr", "window", "", "3").await,
        Ok(json!(2))
    );
    tokio::time::sleep(Duration::from_millis(4200)).await;
    assert_eq!(
        op(&s, &c, "store-a", "get", "short", "", "0").await,
        Ok(Value::Null),
        "an expired value is invisible"
    );
    // An expired counter starts again at one.
    assert_eq!(
        op(&s, &c, "store-a", "incr", "window", "", "600").await,
        Ok(json!(1))
    );
    let rows = "SELECT COUNT(*) FROM plugin_storage WHERE name = 'short'";
    assert_eq!(s.sql_count(rows).await, 1, "expired but not yet swept");
    consentry::sweep_once(&s.provider).await.unwrap();
    assert_eq!(s.sql_count(rows).await, 0, "the sweeper removes it");
    assert_eq!(
        s.sql_count("SELECT COUNT(*) FROM plugin_storage WHERE name = 'window'")
            .await,
        1,
        "live rows stay"
    );
}

#[tokio::test]
async fn concurrent_increments_each_count_once() {
    let (s, _dir) = start_with_storage_banks().await;
    let s = Arc::new(s);
    let c = s.client(json!({})).await;
    let mut jobs = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (s, c) = (
            s.clone(),
            TestClient {
                id: c.id.clone(),
                secret: c.secret.clone(),
            },
        );
        jobs.spawn(async move { op(&s, &c, "store-a", "incr", "hits", "", "600").await });
    }
    let mut counts = Vec::new();
    while let Some(r) = jobs.join_next().await {
        counts.push(r.unwrap().unwrap().as_i64().unwrap());
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=20).collect::<Vec<i64>>(),
        "20 parallel storage_incr calls answer 1..=20, each once"
    );
    assert_eq!(
        op(&s, &c, "store-a", "get", "hits", "", "0").await,
        Ok(json!(20))
    );
}

/// The key cap holds under parallel writers: with 9,990 live keys, of 30 journeys adding a
/// new key each at once exactly 10 succeed (on PostgreSQL too, where the count and the insert
/// are separate statements of concurrent transactions).
#[tokio::test]
async fn storage_key_cap_is_exact_under_parallel_new_keys() {
    let (s, _dir) = start_with_storage_banks().await;
    let filled = s
        .sql_exec(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 9990)
             INSERT INTO plugin_storage (institution, name, value, expires_at)
             SELECT 'store-a', 'pre' || i, '1', 4102444800 FROM n",
            &[],
        )
        .await;
    assert_eq!(filled, 9990);
    let s = Arc::new(s);
    let c = s.client(json!({})).await;
    let mut jobs = tokio::task::JoinSet::new();
    for n in 0..30 {
        let (s, c) = (
            s.clone(),
            TestClient {
                id: c.id.clone(),
                secret: c.secret.clone(),
            },
        );
        let key = format!("new-{n}");
        jobs.spawn(async move { op(&s, &c, "store-a", "set", &key, "1", "600").await });
    }
    let (mut stored, mut refused) = (0, 0);
    while let Some(r) = jobs.join_next().await {
        match r.unwrap() {
            Ok(v) => {
                assert_eq!(v, json!("ok"));
                stored += 1
            }
            Err(e) => {
                assert!(e.contains("already holds 10000 keys"), "{e}");
                refused += 1
            }
        }
    }
    assert_eq!(
        (stored, refused),
        (10, 20),
        "exactly the room left is taken, however the writers interleave"
    );
    assert_eq!(
        s.sql_count("SELECT COUNT(*) FROM plugin_storage WHERE institution = 'store-a'")
            .await,
        10_000,
        "the per-institution cap of 10,000 keys is never exceeded"
    );
}

#[tokio::test]
async fn storage_refuses_what_is_out_of_bounds_with_a_clear_error() {
    let (s, _dir) = start_with_storage_banks().await;
    let c = s.client(json!({})).await;
    let err = op(&s, &c, "store-a", "fill", "big", "17000", "60")
        .await
        .unwrap_err();
    assert!(err.contains("the limit is 16384"), "{err}");
    assert_eq!(
        op(&s, &c, "store-a", "fill", "fits", "16000", "60").await,
        Ok(json!("ok"))
    );
    let err = op(&s, &c, "store-a", "set", "k", "1", "0")
        .await
        .unwrap_err();
    assert!(err.contains("ttl_seconds is 1 to"), "{err}");
    let long_key = "k".repeat(201);
    let err = op(&s, &c, "store-a", "set", &long_key, "1", "60")
        .await
        .unwrap_err();
    assert!(err.contains("a key is 1 to 200 bytes"), "{err}");
    op(&s, &c, "store-a", "set", "word", "\"text\"", "60")
        .await
        .unwrap();
    let err = op(&s, &c, "store-a", "incr", "word", "", "60")
        .await
        .unwrap_err();
    assert!(err.contains("not an integer"), "{err}");
}

#[tokio::test]
async fn storage_is_not_available_while_institution_runs() {
    let dir = tempfile::tempdir().unwrap();
    let early = r#"fn institution() {
    storage_get("x");
    #{ id: "early", name: "Early", type: "test", bankRef: "early" }
}
fn connect(ctx) { #{ fail: "no" } }
"#;
    std::fs::write(dir.path().join("early.rhai"), early).unwrap();
    let path = dir.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.plugins.dir = path).await;
    let catalog = s.provider.plugins.catalog();
    assert!(catalog.get("early").is_none());
    let problem = catalog
        .problems
        .get(&dir.path().join("early.rhai"))
        .expect("a load problem");
    assert!(
        problem
            .reason
            .contains("storage is not available while institution() runs"),
        "{}",
        problem.reason
    );
}

/// One Sandbox Credit Union journey up to its sign-in form; the interaction path.
async fn credit_union(b: &BankJourney<'_>, c: &TestClient) -> String {
    let (_, challenge) = pkce();
    let i = b
        .start(&auth_params(
            c,
            &challenge,
            &[("scope", "openid id:credit-union")],
        ))
        .await;
    let (status, loc) = b.approve(&i, "Sandbox Credit Union").await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    i
}

async fn sign_in(b: &BankJourney<'_>, i: &str, member: &str, pin: &str) -> (u16, String, String) {
    b.submit(i, &[("member", member), ("pin", pin)]).await
}

/// The message page's button: posts the CSRF token to the journey form.
async fn press_button(b: &BankJourney<'_>, i: &str, csrf: &str) -> (u16, String, String) {
    b.j.post(
        &format!("{i}/journey"),
        &[("csrf_token", csrf), ("action", "continue")],
    )
    .await
}

#[tokio::test]
async fn three_wrong_pins_lock_the_member_number_and_end_on_the_message_page() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let b = BankJourney::new(&s);
    let i = credit_union(&b, &c).await;
    for left in ["2", "1"] {
        let (status, loc, _) = sign_in(&b, &i, "12345678", "0000").await;
        assert_eq!((status, loc.as_str()), (303, i.as_str()));
        let page = b.page(&i).await;
        assert!(page.contains(&format!("After {left} more wrong")), "{page}");
        assert!(page.contains("value=\"12345678\""), "member kept: {page}");
    }
    // The third wrong PIN locks: the journey ends on the message page.
    let (status, loc, _) = sign_in(&b, &i, "12345678", "0000").await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    let res =
        b.j.browser
            .get(format!("{}{i}", s.base))
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = res.text().await.unwrap();
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(page.contains("Sign-in locked"), "{page}");
    assert!(page.contains("locked for 15 minutes"), "{page}");
    assert!(
        !page.contains("name=\"pin\""),
        "no form fields on a message: {page}"
    );
    let csrf = hidden(&page, "csrf_token").expect("the button's form carries a CSRF token");

    // CSRF: without the token, or with another, the button is refused and nothing ends.
    let (status, _, _) =
        b.j.post(&format!("{i}/journey"), &[("action", "continue")])
            .await;
    assert_eq!(status, 403, "csrf: a post without the token is refused");
    let (status, _, _) = press_button(&b, &i, "forged-token").await;
    assert_eq!(status, 403, "csrf: a post with a wrong token is refused");

    // RFC 6749 §4.1.2.1: the button returns access_denied with the message as description.
    let (status, cb, _) = press_button(&b, &i, &csrf).await;
    assert_eq!(status, 303);
    assert!(cb.starts_with(REDIRECT_URI), "{cb}");
    let q = query(&cb);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(
        q["error_description"],
        "This member number is locked for 15 minutes after too many wrong PINs. Try again later."
    );
    assert_eq!(q["state"], "state-123");

    // Single use: a replay of the button is not sent back to the client again.
    let (status, loc, _) = press_button(&b, &i, &csrf).await;
    assert!(
        status >= 400 && !loc.starts_with(REDIRECT_URI),
        "a replayed button must be refused, got {status} {loc}"
    );

    // A new authorization with the right PIN: still locked (kept in storage, not the journey).
    let b2 = BankJourney::new(&s);
    let i2 = credit_union(&b2, &c).await;
    let (status, loc, _) = sign_in(&b2, &i2, "12345678", "2468").await;
    assert_eq!((status, loc.as_str()), (303, i2.as_str()));
    let page = b2.page(&i2).await;
    assert!(
        page.contains("Sign-in locked"),
        "the 4th try is locked: {page}"
    );
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, cb, _) = press_button(&b2, &i2, &csrf).await;
    assert_eq!(status, 303);
    assert_eq!(query(&cb)["error"], "access_denied", "{cb}");

    // Another member number is not locked.
    let b3 = BankJourney::new(&s);
    let i3 = credit_union(&b3, &c).await;
    let (status, cb, _) = sign_in(&b3, &i3, "87654321", "2468").await;
    assert_eq!(status, 303);
    assert!(query(&cb).contains_key("code"), "{cb}");
}

#[tokio::test]
async fn a_right_pin_takes_back_the_count_of_wrong_ones() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let b = BankJourney::new(&s);
    let i = credit_union(&b, &c).await;
    for _ in 0..2 {
        sign_in(&b, &i, "11112222", "0000").await;
    }
    let (_, cb, _) = sign_in(&b, &i, "11112222", "2468").await;
    assert!(query(&cb).contains_key("code"), "{cb}");
    // Two more wrong PINs after the right one do not lock.
    let b = BankJourney::new(&s);
    let i = credit_union(&b, &c).await;
    for _ in 0..2 {
        let (_, loc, _) = sign_in(&b, &i, "11112222", "0000").await;
        assert_eq!(loc, i);
    }
    let page = b.page(&i).await;
    assert!(page.contains("After 1 more wrong"), "{page}");
}
