//! Dynamic client registration (RFC 7591) and management (RFC 7592).

use crate::harness::*;
use serde_json::{json, Value};

fn metadata() -> Value {
    json!({
        "redirect_uris": ["https://app.example.test/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "Registered app",
        "token_endpoint_auth_method": "client_secret_basic",
    })
}

async fn register(s: &TestServer, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = s.browser().post(s.url("/reg")).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn registration_needs_the_initial_access_token() {
    // RFC 7591 §3: the endpoint may require an initial access token.
    let s = TestServer::start().await;
    assert_eq!(register(&s, None, &metadata()).await.0, 401);
    assert_eq!(register(&s, Some("wrong"), &metadata()).await.0, 401);
}

#[tokio::test]
async fn registration_validates_metadata() {
    let s = TestServer::start().await;
    let t = Some(INITIAL_ACCESS_TOKEN);
    let cases: &[(Value, &str, &str)] = &[
        (
            json!({"redirect_uris": ["http://app.example.test/cb"]}),
            "invalid_redirect_uri",
            "http only on loopback",
        ),
        (
            json!({"redirect_uris": ["https://app.example.test/cb#frag"]}),
            "invalid_redirect_uri",
            "RFC 6749 §3.1.2: no fragment",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
            "dangerous scheme",
        ),
        (
            json!({"redirect_uris": ["notaurl"]}),
            "invalid_redirect_uri",
            "absolute URI",
        ),
        (
            json!({"redirect_uris": []}),
            "invalid_redirect_uri",
            "code flow needs redirect URIs",
        ),
        (
            json!({"response_types": ["code"], "grant_types": ["client_credentials"]}),
            "invalid_client_metadata",
            "RFC 7591 §2.1 consistency",
        ),
        (
            json!({"grant_types": ["implicit"]}),
            "invalid_client_metadata",
            "unsupported grant",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt_x"}),
            "invalid_client_metadata",
            "unknown auth method",
        ),
        (
            json!({"id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
            "alg none is never allowed",
        ),
        (
            json!({"id_token_signed_response_alg": "HS256"}),
            "invalid_client_metadata",
            "HMAC is not offered",
        ),
        (
            json!({"scope": "openid admin:everything"}),
            "invalid_client_metadata",
            "unknown scope",
        ),
        (
            json!({"redirect_uris": "https://app.example.test/cb"}),
            "invalid_client_metadata",
            "redirect_uris is an array",
        ),
    ];
    for (patch, code, rule) in cases {
        let mut m = metadata();
        for (k, v) in patch.as_object().unwrap() {
            m[k] = v.clone();
        }
        let (status, body) = register(&s, t, &m).await;
        assert_eq!(status, 400, "{rule}: {body}");
        assert_eq!(body["error"], *code, "{rule}");
    }
}

#[tokio::test]
async fn register_read_update_delete() {
    let s = TestServer::start().await;
    let (status, reg) = register(&s, Some(INITIAL_ACCESS_TOKEN), &metadata()).await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap().to_string();
    let secret = reg["client_secret"].as_str().unwrap().to_string();
    assert!(secret.len() >= 43, "256-bit secret");
    assert_eq!(reg["client_secret_expires_at"], 0);
    assert_eq!(reg["client_name"], "Registered app");
    let rat = reg["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let uri = reg["registration_client_uri"].as_str().unwrap().to_string();
    assert_eq!(uri, s.url(&format!("/reg/{id}")));
    let b = s.browser();

    // The new client can authenticate at once.
    let res = b
        .post(s.url("/token/introspection"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // RFC 7592 §2.1: read with the registration access token; the secret is not shown again.
    let read: Value = b
        .get(&uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_id"], id);
    assert!(read.get("client_secret").is_none());
    assert_eq!(
        b.get(&uri)
            .bearer_auth("wrong")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    // RFC 7592 §2.2: update replaces the metadata.
    let mut m = metadata();
    m["client_id"] = json!(id);
    m["client_name"] = json!("Renamed");
    let res = b.put(&uri).bearer_auth(&rat).json(&m).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["client_name"], "Renamed");
    m["redirect_uris"] = json!(["http://evil.example/cb"]);
    let res = b.put(&uri).bearer_auth(&rat).json(&m).send().await.unwrap();
    assert_eq!(
        res.status(),
        400,
        "updates are validated like registrations"
    );

    // RFC 7592 §2.3: delete; the client stops working.
    assert_eq!(
        b.delete(&uri)
            .bearer_auth(&rat)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let res = b
        .post(s.url("/token/introspection"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn clients_cannot_grant_themselves_what_the_operator_grants() {
    let admin_token = "registration-test-admin-token-0123456789";
    let s = TestServer::start_with(|c| c.admin_token = Some(admin_token.into())).await;
    let t = Some(INITIAL_ACCESS_TOKEN);
    // Institution types and webhook endpoints are the operator's to set, not a registrant's.
    for (k, v) in [
        ("connection_types", json!(["api", "legacy"])),
        ("webhook_url", json!("https://hooks.example/cb")),
    ] {
        let mut m = metadata();
        m[k] = v;
        let (status, body) = register(&s, t, &m).await;
        assert_eq!(status, 400, "{k}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{k}");
        assert!(body["error_description"].as_str().unwrap().contains(k));
    }
    // What the operator granted survives the client's own RFC 7592 update.
    let (_, reg) = register(&s, t, &metadata()).await;
    let id = reg["client_id"].as_str().unwrap().to_string();
    let b = s.browser();
    let res = b
        .put(format!("{}/admin/clients/{id}/connection-types", s.base))
        .bearer_auth(admin_token)
        .json(&json!(["legacy"]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut m = metadata();
    m["client_id"] = json!(id);
    m["connection_types"] = json!(["api", "legacy"]);
    let res = b
        .put(reg["registration_client_uri"].as_str().unwrap())
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(&m)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap()["connection_types"],
        json!(["legacy"])
    );
}
