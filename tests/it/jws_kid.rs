//! JWS from clients that do not name their key (RFC 7515 §4.1.4: `kid` is optional; OIDC Core
//! §10.1 needs it only to choose among keys), DPoP keys that carry a `kid` (RFC 9449 §4.2), and
//! non-integer NumericDates (RFC 7519 §2).

use crate::fapi_dpop::token_with_proof;
use crate::harness::*;
use crate::keys::{ClientKey, DpopKey};
use serde_json::{json, Value};

const CLIENT_CREDENTIALS: &[(&str, &str)] = &[
    ("grant_type", "client_credentials"),
    ("scope", "accounts:read"),
];

/// A private_key_jwt client registered with several keys (two RSA, one EC).
async fn client_with_keys(s: &TestServer, keys: &[&ClientKey]) -> TestClient {
    let set: Vec<Value> = keys.iter().map(|k| k.jwks()["keys"][0].clone()).collect();
    s.client(json!({
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": set},
        "grant_types": ["authorization_code", "client_credentials"],
    }))
    .await
}

fn assertion_claims(s: &TestServer, client_id: &str) -> Value {
    let now = s.provider.now();
    json!({
        "iss": client_id, "sub": client_id, "aud": s.url("/token"),
        "iat": now, "exp": now + 60, "jti": consentry::secrets::random_token(),
    })
}

async fn client_credentials(s: &TestServer, client_id: &str, assertion: &str) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "accounts:read"),
            ("client_id", client_id),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn request_object(s: &TestServer, c: &TestClient, times: Value) -> Value {
    let (_, challenge) = pkce();
    let mut o = json!({
        "iss": c.id, "aud": s.issuer, "client_id": c.id,
        "jti": consentry::secrets::random_token(),
        "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
    });
    for (k, v) in times.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

async fn authorize_with(s: &TestServer, c: &TestClient, object: String) -> (u16, String) {
    let query = vec![
        ("client_id".to_string(), c.id.clone()),
        ("request".to_string(), object),
    ];
    let (status, loc, body) = Journey::new(s).authorize(&query).await;
    (status, format!("{loc} {body}"))
}

#[tokio::test]
async fn client_assertion_without_kid_finds_its_key_among_several() {
    // RFC 7515 §4.1.4 / OIDC Core §10.1: without kid, the key is chosen by alg and key type,
    // and each fitting key is tried.
    let s = TestServer::start().await;
    let (rsa1, rsa2, ec) = (
        ClientKey::new("PS256"),
        ClientKey::new("RS256"),
        ClientKey::new("ES256"),
    );
    let c = client_with_keys(&s, &[&rsa1, &rsa2, &ec]).await;
    for key in [&rsa1, &rsa2, &ec] {
        let a = key.sign(&assertion_claims(&s, &c.id), false);
        assert!(
            jwt_header(&a).get("kid").is_none(),
            "the header names no key"
        );
        let (status, body) = client_credentials(&s, &c.id, &a).await;
        assert_eq!(status, 200, "{} without kid: {body}", key.alg);
    }
    // A key the client never registered still fails, kid or not.
    let stranger = ClientKey::new("PS256");
    let a = stranger.sign(&assertion_claims(&s, &c.id), false);
    let (status, body) = client_credentials(&s, &c.id, &a).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn request_object_without_kid_is_verified() {
    // RFC 7515 §4.1.4: a request object need not name its key.
    let s = TestServer::start().await;
    for alg in ["PS256", "ES256", "RS256"] {
        let key = ClientKey::new(alg);
        let c = client_with_keys(&s, &[&key]).await;
        let now = s.provider.now();
        let times = json!({"iat": now, "nbf": now, "exp": now + 300});
        let object = key.sign(&request_object(&s, &c, times), false);
        assert!(jwt_header(&object).get("kid").is_none());
        let (status, answer) = authorize_with(&s, &c, object).await;
        assert_eq!(status, 303, "{alg}: {answer}");
        assert!(answer.starts_with("/interaction/"), "{alg}: {answer}");
    }
}

#[tokio::test]
async fn dpop_proof_whose_jwk_has_a_kid_is_accepted() {
    // RFC 9449 §4.2: only private members are forbidden in the proof's jwk; a kid is fine.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let key = DpopKey::new();
    let proof = key.proof("POST", &s.url("/token"), None, s.provider.now());
    let header = jwt_header(&proof);
    assert!(
        header["jwk"]["kid"].is_string(),
        "the embedded key has a kid"
    );
    assert!(
        header.get("kid").is_none(),
        "the header itself names no key"
    );
    let (status, body) = token_with_proof(&s, &c, CLIENT_CREDENTIALS, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn fractional_numeric_dates_are_accepted() {
    // RFC 7519 §2: a NumericDate is a JSON number and may be non-integer.
    let s = TestServer::start().await;
    let now = s.provider.now() as f64;
    let key = ClientKey::new("ES256");
    let c = client_with_keys(&s, &[&key]).await;

    let mut claims = assertion_claims(&s, &c.id);
    claims["iat"] = json!(now - 0.5);
    claims["exp"] = json!(now + 60.5);
    let (status, body) = client_credentials(&s, &c.id, &key.sign(&claims, true)).await;
    assert_eq!(status, 200, "client assertion: {body}");

    let times = json!({"iat": now - 0.5, "nbf": now - 0.25, "exp": now + 300.75});
    let object = key.sign(&request_object(&s, &c, times), true);
    let (status, answer) = authorize_with(&s, &c, object).await;
    assert_eq!(status, 303, "request object: {answer}");
    assert!(
        answer.starts_with("/interaction/"),
        "request object: {answer}"
    );

    let dpop = DpopKey::new();
    let proof = dpop.sign(
        &json!({"jti": consentry::secrets::random_token(), "htm": "POST",
                "htu": s.url("/token"), "iat": now - 0.5}),
        "dpop+jwt",
    );
    let secret_client = s.client(json!({})).await;
    let (status, body) =
        token_with_proof(&s, &secret_client, CLIENT_CREDENTIALS, Some(&proof)).await;
    assert_eq!(status, 200, "DPoP proof: {body}");

    // Still checked: a fractional exp in the past is expired.
    let mut claims = assertion_claims(&s, &c.id);
    claims["exp"] = json!(now - 120.5);
    let (status, body) = client_credentials(&s, &c.id, &key.sign(&claims, true)).await;
    assert_eq!(status, 401, "expired fractional exp: {body}");
}
