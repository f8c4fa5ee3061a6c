//! private_key_jwt client authentication (RFC 7523 §3, OIDC Core §9).

use crate::harness::*;
use crate::keys::{unsigned, ClientKey};
use serde_json::{json, Value};

struct KeyClient {
    id: String,
    key: ClientKey,
}

async fn key_client(s: &TestServer, alg: &'static str) -> KeyClient {
    let key = ClientKey::new(alg);
    let c = s
        .client(json!({
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(),
            "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        }))
        .await;
    assert!(
        c.secret.is_empty(),
        "key-authenticated clients get no secret"
    );
    KeyClient { id: c.id, key }
}

fn assertion_claims(s: &TestServer, client_id: &str) -> Value {
    let now = s.provider.now();
    json!({
        "iss": client_id, "sub": client_id, "aud": s.url("/token"),
        "iat": now, "exp": now + 60, "jti": consentry::secrets::random_token(),
    })
}

async fn token_with(s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn client_credentials(
    s: &TestServer,
    client_id: Option<&str>,
    assertion: &str,
) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    token_with(s, &form).await
}

#[tokio::test]
async fn private_key_jwt_authenticates_with_each_algorithm() {
    let s = TestServer::start().await;
    for alg in ["PS256", "ES256", "RS256"] {
        let c = key_client(&s, alg).await;
        let a = c.key.sign(&assertion_claims(&s, &c.id), true);
        let (status, body) = client_credentials(&s, Some(&c.id), &a).await;
        assert_eq!(status, 200, "{alg}: {body}");
        // Without kid and without client_id: the key is found by type, the client by sub.
        let a = c.key.sign(&assertion_claims(&s, &c.id), false);
        let (status, body) = client_credentials(&s, None, &a).await;
        assert_eq!(status, 200, "{alg} without kid: {body}");
    }
}

#[tokio::test]
async fn private_key_jwt_accepts_the_issuer_as_audience() {
    let s = TestServer::start().await;
    let c = key_client(&s, "ES256").await;
    let mut claims = assertion_claims(&s, &c.id);
    claims["aud"] = json!([s.issuer.clone()]);
    let (status, _) = client_credentials(&s, Some(&c.id), &c.key.sign(&claims, true)).await;
    assert_eq!(status, 200, "aud may be an array holding the issuer");
}

#[tokio::test]
async fn bad_client_assertions_are_invalid_client() {
    let s = TestServer::start().await;
    let c = key_client(&s, "PS256").await;
    let other = ClientKey::new("PS256");
    let base = assertion_claims(&s, &c.id);
    let now = s.provider.now();
    let with = |k: &str, v: Value| {
        let mut x = base.clone();
        x[k] = v;
        x["jti"] = json!(consentry::secrets::random_token());
        x
    };
    let without = |k: &str| {
        let mut x = base.clone();
        x.as_object_mut().unwrap().remove(k);
        x
    };
    let cases: Vec<(String, &str)> = vec![
        (
            c.key.sign(&with("iss", json!("someone-else")), true),
            "RFC 7523 §3: iss must be the client",
        ),
        (
            c.key
                .sign(&with("aud", json!("https://other.example/token")), true),
            "RFC 7523 §3: aud must name us",
        ),
        (
            c.key.sign(&with("exp", json!(now - 120)), true),
            "RFC 7523 §3: expired",
        ),
        (
            c.key.sign(&with("exp", json!(now + 7200)), true),
            "exp too far ahead",
        ),
        (
            c.key.sign(&with("nbf", json!(now + 600)), true),
            "RFC 7523 §3: not yet valid",
        ),
        (
            c.key.sign(&without("exp"), true),
            "RFC 7523 §3: exp is required",
        ),
        (
            c.key.sign(&without("jti"), true),
            "OIDC Core §9: jti is required",
        ),
        (
            other.sign(&with("jti", json!("x1")), false),
            "signed by a key the client did not register",
        ),
        (
            unsigned(&with("jti", json!("x2"))),
            "alg none is never accepted",
        ),
        (
            c.key.sign_hmac_with_public_key(&with("jti", json!("x3"))),
            "HMAC keyed with the public key",
        ),
        ("not-a-jwt".to_string(), "malformed assertion"),
    ];
    for (assertion, rule) in cases {
        let (status, body) = client_credentials(&s, Some(&c.id), &assertion).await;
        assert_eq!(status, 401, "{rule}: {body}");
        assert_eq!(body["error"], "invalid_client", "{rule}");
    }
}

#[tokio::test]
async fn a_client_assertion_is_single_use() {
    // OIDC Core §9: the jti may be used only once.
    let s = TestServer::start().await;
    let c = key_client(&s, "ES256").await;
    let a = c.key.sign(&assertion_claims(&s, &c.id), true);
    assert_eq!(client_credentials(&s, Some(&c.id), &a).await.0, 200);
    let (status, body) = client_credentials(&s, Some(&c.id), &a).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}

#[tokio::test]
async fn assertion_and_secret_together_are_refused() {
    // RFC 6749 §2.3: one authentication method per request.
    let s = TestServer::start().await;
    let c = key_client(&s, "ES256").await;
    let a = c.key.sign(&assertion_claims(&s, &c.id), true);
    let (status, _) = token_with(
        &s,
        &[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &a),
            ("client_secret", "also-a-secret"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    // A secret client cannot switch to an assertion it never registered keys for.
    let secret_client = s.client(json!({})).await;
    let a = c.key.sign(&assertion_claims(&s, &secret_client.id), true);
    let (status, _) = client_credentials(&s, Some(&secret_client.id), &a).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn registration_checks_key_metadata() {
    let s = TestServer::start().await;
    let b = s.browser();
    let key = ClientKey::new("ES256");
    let mut private = key.jwks();
    private["keys"][0] = Value::Object(key.jwk.as_ref().clone());
    let cases = [
        (
            json!({"token_endpoint_auth_method": "private_key_jwt"}),
            "private_key_jwt needs jwks",
        ),
        (
            json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": private}),
            "a private key must never be registered",
        ),
        (json!({"jwks": {"nokeys": true}}), "jwks must be a JWK set"),
        (
            json!({"request_object_signing_alg": "none"}),
            "alg none is not allowed",
        ),
        (
            json!({"token_endpoint_auth_signing_alg": "HS256"}),
            "HMAC is not allowed",
        ),
    ];
    for (patch, rule) in cases {
        let mut m = json!({"redirect_uris": ["https://app.example.test/cb"]});
        for (k, v) in patch.as_object().unwrap() {
            m[k] = v.clone();
        }
        let res = b
            .post(s.url("/reg"))
            .bearer_auth(INITIAL_ACCESS_TOKEN)
            .json(&m)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{rule}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_client_metadata",
            "{rule}"
        );
    }
}

/// A loopback HTTP server publishing a client's JWKS; counts how often it is fetched.
async fn jwks_server(
    body: std::sync::Arc<parking_lot::Mutex<String>>,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://127.0.0.1:{}/jwks.json",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let b = body.lock().clone();
            let res = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                b.len()
            );
            let _ = sock.write_all(res.as_bytes()).await;
        }
    });
    url
}

#[tokio::test]
async fn private_key_jwt_with_jwks_uri_refetches_for_a_new_kid() {
    use std::sync::atomic::Ordering;
    // The key server is plain http on loopback: only the development allowance reaches it.
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let first = ClientKey::new("ES256");
    let body = std::sync::Arc::new(parking_lot::Mutex::new(first.jwks().to_string()));
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let uri = jwks_server(body.clone(), hits.clone()).await;
    let c = s
        .client(json!({
            "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri,
            "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        }))
        .await;
    for _ in 0..3 {
        let (status, body) = client_credentials(
            &s,
            Some(&c.id),
            &first.sign(&assertion_claims(&s, &c.id), true),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "the key set is cached");

    // The client rotates its key: a JWT with an unknown kid makes us fetch the set again
    // (once the minimum interval between fetches has passed).
    s.provider.clock.advance(11);
    let second = ClientKey::new("ES256");
    *body.lock() = second.jwks().to_string();
    let (status, body_json) = client_credentials(
        &s,
        Some(&c.id),
        &second.sign(&assertion_claims(&s, &c.id), true),
    )
    .await;
    assert_eq!(status, 200, "{body_json}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);

    // An unknown kid again right away does not make us hammer the client's server.
    let stranger = ClientKey::new("ES256");
    let (status, _) = client_credentials(
        &s,
        Some(&c.id),
        &stranger.sign(&assertion_claims(&s, &c.id), true),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        2,
        "no refetch within the minimum interval"
    );
}

#[tokio::test]
async fn client_secret_jwt_authenticates_with_the_shared_secret() {
    // OIDC Core §9: an HS256 assertion keyed with the client secret.
    use josekit::jws::{JwsHeader, HS256};
    let s = TestServer::start().await;
    let c = s
        .client(json!({"token_endpoint_auth_method": "client_secret_jwt", "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []}))
        .await;
    assert!(c.secret.len() >= 43);
    let sign = |secret: &str, claims: &Value| {
        let signer = HS256.signer_from_bytes(secret.as_bytes()).unwrap();
        josekit::jws::serialize_compact(
            &serde_json::to_vec(claims).unwrap(),
            &JwsHeader::new(),
            &signer,
        )
        .unwrap()
    };
    let (status, body) = client_credentials(
        &s,
        Some(&c.id),
        &sign(&c.secret, &assertion_claims(&s, &c.id)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = client_credentials(
        &s,
        Some(&c.id),
        &sign(
            "not-the-secret-0123456789abcdefghijklm",
            &assertion_claims(&s, &c.id),
        ),
    )
    .await;
    assert_eq!(status, 401, "keyed with the wrong secret");
    // A private_key_jwt client cannot be reached with an HMAC assertion.
    let keyed = key_client(&s, "ES256").await;
    let (status, _) = client_credentials(
        &s,
        Some(&keyed.id),
        &sign(&c.secret, &assertion_claims(&s, &keyed.id)),
    )
    .await;
    assert_eq!(status, 401);
}
