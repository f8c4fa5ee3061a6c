//! A lost answer's retry is not a reuse. RFC 9700 §4.14.2 revokes a grant whose rotated
//! refresh token comes back; a confidential client whose rotation answer was lost (a crash,
//! a dropped connection) may retry with its old token for `lifetimes.refresh_retry_grace_secs`
//! while the refresh token that rotation issued is unused: the unseen pair is replaced. Every
//! other return of a rotated token still revokes the grant.

use crate::harness::*;
use crate::keys::DpopKey;
use serde_json::{json, Value};

const REUSE: &str = "the refresh token was already used; the grant is revoked";

/// Rotates `rt` and returns the new refresh token and access token.
async fn rotate(s: &TestServer, c: &TestClient, rt: &str) -> (String, String) {
    let (status, body) = s.refresh(c, rt).await;
    assert_eq!(status, 200, "{body}");
    let get = |k: &str| body[k].as_str().unwrap().to_string();
    (get("refresh_token"), get("access_token"))
}

/// Asserts the answer is a reuse that revoked the grant (RFC 9700 §4.14.2), and that the
/// grant's live tokens went with it.
async fn assert_reuse(s: &TestServer, c: &TestClient, (status, body): (u16, Value), live: &str) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");
    let text = body["error_description"].as_str().unwrap();
    assert!(text.starts_with(REUSE), "{text}");
    assert_eq!(s.refresh(c, live).await.1["error"], "invalid_grant");
}

async fn confidential() -> (TestServer, TestClient, String) {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let rt = tokens_for(&s, &c, "alice").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    (s, c, rt)
}

#[tokio::test]
async fn a_retry_within_grace_replaces_the_lost_pair() {
    // RFC 9700 §4.14.2 (reuse detection) does not apply to a retry of a lost answer.
    let (s, c, t) = confidential().await;
    let (t1, at1) = rotate(&s, &c, &t).await; // this answer is "lost"
    let (t2, at2) = rotate(&s, &c, &t).await;
    assert_ne!(t2, t1);
    assert_eq!(
        s.introspect(&c, &at1).await["active"],
        false,
        "lost pair revoked"
    );
    assert_eq!(s.introspect(&c, &at2).await["active"], true);
    let (t3, _) = rotate(&s, &c, &t2).await;
    // The replaced refresh token is refused, and presenting it is a reuse: the grant goes
    // (a thief who rotated first and lost the race still trips detection).
    assert_reuse(&s, &c, s.refresh(&c, &t1).await, &t3).await;
}

#[tokio::test]
async fn the_old_token_after_its_successor_was_used_is_reuse() {
    // RFC 9700 §4.14.2: once the new refresh token was used, the old one's return is reuse.
    let (s, c, t) = confidential().await;
    let (t1, _) = rotate(&s, &c, &t).await;
    let (t2, _) = rotate(&s, &c, &t1).await;
    assert_reuse(&s, &c, s.refresh(&c, &t).await, &t2).await;
}

#[tokio::test]
async fn the_old_token_after_the_grace_is_reuse() {
    // RFC 9700 §4.14.2: past lifetimes.refresh_retry_grace_secs a retry is reuse.
    let (s, c, t) = confidential().await;
    let (t1, _) = rotate(&s, &c, &t).await;
    s.provider
        .clock
        .advance(s.provider.config.lifetimes.refresh_retry_grace_secs + 1);
    assert_reuse(&s, &c, s.refresh(&c, &t).await, &t1).await;
}

#[tokio::test]
async fn a_public_client_gets_no_grace() {
    // RFC 9700 §4.14.2: a public client's presenter may be anyone holding the token, so any
    // return of a rotated token revokes the grant, even with the right DPoP key (RFC 9449 §5).
    let s = TestServer::start().await;
    let c = s
        .client(json!({"token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}))
        .await;
    s.user("alice").await;
    let key = DpopKey::new();
    let (code, verifier) = code_for(&s, &c, "alice").await;
    let (s, key) = (&s, &key);
    let post = |form: Vec<(&'static str, String)>| async move {
        let proof = key.proof("POST", &s.url("/token"), None, s.provider.now());
        let res = s
            .browser()
            .post(s.url("/token"))
            .header("DPoP", proof)
            .form(&form)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json::<Value>().await.unwrap())
    };
    let refresh = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", c.id.clone()),
            ("refresh_token", rt.to_string()),
        ]
    };
    let (status, body) = post(vec![
        ("grant_type", "authorization_code".into()),
        ("client_id", c.id.clone()),
        ("code", code),
        ("redirect_uri", REDIRECT_URI.into()),
        ("code_verifier", verifier),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    let t = body["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = post(refresh(&t)).await;
    assert_eq!(status, 200, "{body}");
    let t1 = body["refresh_token"].as_str().unwrap().to_string();
    let (status, body) = post(refresh(&t)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .starts_with(REUSE));
    assert_eq!(
        post(refresh(&t1)).await.1["error"],
        "invalid_grant",
        "grant revoked"
    );
}
