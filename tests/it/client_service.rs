//! One client-management service behind RFC 7591/7592 registration, the admin API and the
//! CLI: the rules the operator's path applied now hold for a client managing itself.

use crate::harness::*;
use serde_json::{json, Value};

fn metadata() -> Value {
    json!({
        "redirect_uris": ["https://app.example.test/cb"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    })
}

struct Registered {
    id: String,
    secret: String,
    token: String,
    uri: String,
    body: Value,
}

async fn register(s: &TestServer, body: &Value) -> Registered {
    let res = s
        .browser()
        .post(s.url("/reg"))
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    Registered {
        id: text("client_id"),
        secret: text("client_secret"),
        token: text("registration_access_token"),
        uri: text("registration_client_uri"),
        body: body.clone(),
    }
}

async fn update(s: &TestServer, r: &Registered, body: &Value) -> (u16, Value) {
    let res = s
        .browser()
        .put(&r.uri)
        .bearer_auth(&r.token)
        .json(body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// Introspection status for a client authenticating with its secret, basic or post.
async fn authenticates(s: &TestServer, id: &str, secret: &str, post: bool) -> u16 {
    let req = s.browser().post(s.url("/token/introspection"));
    let req = if post {
        req.form(&[("token", "x"), ("client_id", id), ("client_secret", secret)])
    } else {
        req.basic_auth(id, Some(secret)).form(&[("token", "x")])
    };
    req.send().await.unwrap().status().as_u16()
}

/// RFC 7592 §2.2: "If the client includes the client_secret field in the request, the value
/// of this field MUST match the currently issued client secret for that client. The client
/// MUST NOT be allowed to overwrite its existing client secret with its own chosen value."
/// The update path used to drop a wrong secret silently and answer 200.
#[tokio::test]
async fn rfc7592_update_with_a_secret_other_than_the_current_one_is_refused() {
    let s = TestServer::start().await;
    let r = register(&s, &metadata()).await;
    let mut body = metadata();
    body["client_id"] = json!(r.id);
    body["client_secret"] = json!("a-secret-the-client-chose-for-itself-0123456789");
    let (status, answer) = update(&s, &r, &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"], "invalid_request");
    assert!(answer["error_description"]
        .as_str()
        .unwrap()
        .contains("RFC 7592 section 2.2"));
    assert_eq!(authenticates(&s, &r.id, &r.secret, false).await, 200);
    // The current secret may be sent back (a read, edited, put back).
    body["client_secret"] = json!(r.secret);
    body["client_name"] = json!("Renamed");
    let (status, answer) = update(&s, &r, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["client_name"], "Renamed");
    assert!(
        answer.get("client_secret").is_none(),
        "the secret is kept, not re-issued"
    );
}

/// The service clears the client cache on every change: an RFC 7592 update that moves a
/// client from client_secret_basic to client_secret_jwt applies to the very next request,
/// not after the cache's staleness bound; the update issues the secret HMAC needs, once.
#[tokio::test]
async fn rfc7592_update_applies_to_the_next_request() {
    let s = TestServer::start().await;
    let r = register(&s, &metadata()).await;
    // Authenticate once so the client is cached.
    assert_eq!(authenticates(&s, &r.id, &r.secret, false).await, 200);
    let mut body = metadata();
    body["client_id"] = json!(r.id);
    body["token_endpoint_auth_method"] = json!("client_secret_jwt");
    let (status, answer) = update(&s, &r, &body).await;
    assert_eq!(status, 200, "{answer}");
    let issued = answer["client_secret"]
        .as_str()
        .expect("a new secret, shown once");
    assert_ne!(issued, r.secret);
    assert_eq!(authenticates(&s, &r.id, &r.secret, false).await, 401);
    assert_eq!(authenticates(&s, &r.id, &r.secret, true).await, 401);
}

/// RFC 7591 §3.2.1 (members the server sets) and the admin view's own members: a registering
/// client cannot plant `disabled` or `webhook_secret` in its stored metadata, where they used
/// to be echoed back as if the server had set them.
#[tokio::test]
async fn registration_ignores_members_the_server_owns() {
    let s = TestServer::start().await;
    let mut body = metadata();
    body["disabled"] = json!(true);
    body["disabled_at"] = json!(1);
    body["webhook_secret"] = json!("planted");
    body["client_id_issued_at"] = json!(1);
    let r = register(&s, &body).await;
    for k in ["disabled", "disabled_at", "webhook_secret"] {
        assert!(r.body.get(k).is_none(), "{k}: {}", r.body);
    }
    assert_ne!(r.body["client_id_issued_at"], 1);
    let read: Value = s
        .browser()
        .get(&r.uri)
        .bearer_auth(&r.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(read.get("webhook_secret").is_none(), "{read}");
}
