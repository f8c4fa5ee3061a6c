//! Signed request objects by value (RFC 9101, OIDC Core §6).

use crate::harness::*;
use crate::keys::{unsigned, ClientKey};
use serde_json::{json, Value};

async fn jar_client(s: &TestServer, alg: &'static str, extra: Value) -> (TestClient, ClientKey) {
    let key = ClientKey::new(alg);
    let mut meta = json!({"jwks": key.jwks()});
    for (k, v) in extra.as_object().unwrap() {
        meta[k] = v.clone();
    }
    (s.client(meta).await, key)
}

fn object_claims(s: &TestServer, c: &TestClient, challenge: &str) -> Value {
    let now = s.provider.now();
    json!({
        "iss": c.id, "aud": s.issuer, "client_id": c.id, "iat": now, "nbf": now, "exp": now + 300,
        "jti": consentry::secrets::random_token(),
        "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid email",
        "state": "state-from-object", "nonce": "nonce-from-object",
        "code_challenge": challenge, "code_challenge_method": "S256",
        "claims": {"id_token": {"email": {"essential": true}}},
    })
}

/// The query a client sends with a request object: client_id, and the object.
fn query_with(c: &TestClient, object: &str) -> Vec<(String, String)> {
    vec![
        ("client_id".into(), c.id.clone()),
        ("response_type".into(), "code".into()),
        ("scope".into(), "openid".into()),
        ("redirect_uri".into(), REDIRECT_URI.into()),
        ("state".into(), "state-from-query".into()),
        ("request".into(), object.into()),
    ]
}

#[tokio::test]
async fn signed_request_object_parameters_win() {
    let s = TestServer::start().await;
    s.user("alice").await;
    for alg in ["PS256", "ES256", "RS256"] {
        let (c, key) = jar_client(&s, alg, json!({})).await;
        let (verifier, challenge) = pkce();
        let object = key.sign(&object_claims(&s, &c, &challenge), alg != "RS256");
        let j = Journey::new(&s);
        let cb = j.complete(&query_with(&c, &object), "alice").await;
        let q = query(&cb);
        assert_eq!(
            q["state"], "state-from-object",
            "{alg}: RFC 9101 §6.3 the object's parameters are used"
        );
        let (status, body) = s
            .token(
                &c,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &q["code"]),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
        assert_eq!(status, 200, "{alg}: {body}");
        let id = jwt_claims(body["id_token"].as_str().unwrap());
        assert_eq!(id["nonce"], "nonce-from-object");
        assert_eq!(
            id["email"], "alice@example.test",
            "claims as a JSON object inside the request object"
        );
        assert_eq!(body["scope"], "email openid");
    }
}

#[tokio::test]
async fn bad_request_objects_are_invalid_request_object() {
    let s = TestServer::start().await;
    let (c, key) = jar_client(&s, "PS256", json!({"request_object_signing_alg": "PS256"})).await;
    let (other_client, other_key) = jar_client(&s, "PS256", json!({})).await;
    let es_key = ClientKey::new("ES256");
    let (_, challenge) = pkce();
    let base = object_claims(&s, &c, &challenge);
    let now = s.provider.now();
    let with = |k: &str, v: Value| {
        let mut x = base.clone();
        x[k] = v;
        x
    };
    let cases: Vec<(String, &str)> = vec![
        (unsigned(&base), "alg none is always rejected"),
        (
            key.sign_hmac_with_public_key(&base),
            "HMAC keyed with the public key is always rejected",
        ),
        (
            other_key.sign(&base, true),
            "signed by another client's key",
        ),
        (
            es_key.sign(&base, false),
            "not the registered request_object_signing_alg",
        ),
        (
            key.sign(&with("aud", json!("https://other.example")), true),
            "aud must be the issuer",
        ),
        (key.sign(&with("exp", json!(now - 120)), true), "expired"),
        (
            key.sign(&with("nbf", json!(now + 600)), true),
            "not yet valid",
        ),
        (
            key.sign(&with("client_id", json!(other_client.id)), true),
            "client_id must match",
        ),
        (
            key.sign(&with("iss", json!("someone-else")), true),
            "iss must be the client",
        ),
        (
            key.sign(&with("request_uri", json!("https://x.example/r")), true),
            "RFC 9101 §4: no nested request_uri",
        ),
        ("a.b".to_string(), "not a JWS"),
    ];
    for (object, rule) in cases {
        let (status, loc, body) = Journey::new(&s).authorize(&query_with(&c, &object)).await;
        assert_eq!(status, 303, "{rule}: {body}");
        let q = query(&loc);
        assert_eq!(q["error"], "invalid_request_object", "{rule}");
        assert_eq!(
            q["state"], "state-from-query",
            "{rule}: the error goes to the query's redirect"
        );
    }
}

#[tokio::test]
async fn a_request_object_jti_is_single_use() {
    let s = TestServer::start().await;
    let (c, key) = jar_client(&s, "ES256", json!({})).await;
    let (_, challenge) = pkce();
    let object = key.sign(&object_claims(&s, &c, &challenge), true);
    let (status, loc, _) = Journey::new(&s).authorize(&query_with(&c, &object)).await;
    assert_eq!(status, 303);
    assert!(loc.starts_with("/interaction/"));
    let (_, loc, _) = Journey::new(&s).authorize(&query_with(&c, &object)).await;
    assert_eq!(
        query(&loc)["error"],
        "invalid_request_object",
        "replayed jti"
    );
}

#[tokio::test]
async fn request_object_for_a_client_without_keys_is_refused() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let key = ClientKey::new("ES256");
    let (_, challenge) = pkce();
    let object = key.sign(&object_claims(&s, &c, &challenge), true);
    let (status, loc, body) = Journey::new(&s).authorize(&query_with(&c, &object)).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(query(&loc)["error"], "invalid_request_object");
}

#[tokio::test]
async fn a_request_object_may_carry_everything_but_client_id() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let (c, key) = jar_client(&s, "PS256", json!({})).await;
    let (_, challenge) = pkce();
    let only = |object: String| {
        vec![
            ("client_id".to_string(), c.id.clone()),
            ("request".to_string(), object),
        ]
    };
    // RFC 9101 §5 / FAPI 1 Advanced §5.2.2-10: redirect_uri and the rest come from the object.
    let object = key.sign(&object_claims(&s, &c, &challenge), true);
    let cb = Journey::new(&s).complete(&only(object), "alice").await;
    assert_eq!(query(&cb)["state"], "state-from-object");
    // Until an object is verified there is no trusted redirect_uri: a bad one gets an error
    // page, never a redirect (RFC 6749 §4.1.2.1).
    let mut claims = object_claims(&s, &c, &challenge);
    claims["aud"] = json!("https://someone-else.example");
    let (status, loc, body) = Journey::new(&s)
        .authorize(&only(key.sign(&claims, true)))
        .await;
    assert_eq!(status, 400, "{loc} {body}");
    assert!(loc.is_empty());
    assert!(body.contains("invalid_request_object"), "{body}");
}
