//! What the FAPI 1 Advanced certification plan (fapi1-advanced-final-test-plan) found, each
//! with the rule it checks.
//!
//! FAPI 1 Adv. §5.2.2-10: the authorization server uses only the parameters of the signed
//! request object. So when a request object fails its checks, the error goes where the object
//! says: its redirect_uri, its state, its response_mode (JARM), when the object is the
//! client's (its signature verifies); outer parameters, which the profile ignores, never
//! direct it. An object that cannot be verified carries no trusted parameter at all: the
//! answer is an error page (RFC 6749 §4.1.2.1).

use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};

async fn fapi1_client(s: &TestServer, key: &ClientKey) -> TestClient {
    s.client(json!({
        "fapi_profile": "fapi1_advanced", "token_endpoint_auth_method": "private_key_jwt",
        "jwks": key.jwks(), "response_types": ["code id_token", "code"],
        "grant_types": ["authorization_code", "implicit"],
        "authorization_signed_response_alg": "PS256",
    }))
    .await
}

/// A request object as the plan signs it, with `patch` applied.
fn object(s: &TestServer, c: &TestClient, patch: Value) -> Value {
    let now = s.provider.now();
    let mut o = json!({
        "iss": c.id, "aud": s.issuer, "client_id": c.id, "exp": now + 300, "nbf": now,
        "response_type": "code id_token", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "object-state", "nonce": "object-nonce",
    });
    for (k, v) in patch.as_object().unwrap() {
        o[k] = v.clone();
    }
    o
}

/// The plan's by-value request: the OAuth duplicates outside, state only inside.
fn by_value(c: &TestClient, response_type: &str, object: String) -> Vec<(String, String)> {
    vec![
        ("client_id".into(), c.id.clone()),
        ("response_type".into(), response_type.into()),
        ("scope".into(), "openid".into()),
        ("redirect_uri".into(), REDIRECT_URI.into()),
        ("request".into(), object),
    ]
}

#[tokio::test]
async fn fapi1_an_authentic_but_invalid_request_object_answers_with_its_own_state_5_2_2_10() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi1_client(&s, &key).await;
    let now = s.provider.now();
    let cases = [
        (json!({"aud": "https://www.other1.example.com/"}), "bad aud"),
        (json!({"exp": now - 3600}), "expired"),
        (
            json!({"exp": now + 70 * 60}),
            "exp more than 60 minutes after nbf",
        ),
    ];
    for (patch, rule) in cases {
        let signed = key.sign(&object(&s, &c, patch), true);
        let (status, loc, body) = Journey::new(&s)
            .authorize(&by_value(&c, "code id_token", signed))
            .await;
        assert_eq!(status, 303, "{rule}: {body}");
        let f = fragment(&loc);
        assert_eq!(f["error"], "invalid_request_object", "{rule}: {loc}");
        assert_eq!(f["state"], "object-state", "{rule}: the object's state");
    }
}

#[tokio::test]
async fn fapi1_an_authentic_but_invalid_jarm_request_object_answers_with_a_jarm_error() {
    // JARM §2.3.4 with FAPI 1 Adv. §5.2.2-10: response_mode=jwt is only in the object.
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi1_client(&s, &key).await;
    let patch =
        json!({"response_type": "code", "response_mode": "jwt", "aud": "https://other.example"});
    let signed = key.sign(&object(&s, &c, patch), true);
    let (status, loc, body) = Journey::new(&s)
        .authorize(&by_value(&c, "code", signed))
        .await;
    assert_eq!(status, 303, "{body}");
    let q = query(&loc);
    let response = q
        .get("response")
        .unwrap_or_else(|| panic!("no JARM response: {loc}"));
    let claims = verify_with_jwks(&s, response).await;
    assert_eq!(claims["error"], "invalid_request_object", "{claims}");
    assert_eq!(claims["state"], "object-state", "{claims}");
    assert_eq!(claims["aud"], c.id.as_str());
}

#[tokio::test]
async fn fapi1_an_unverifiable_request_object_gets_an_error_page_rfc6749_4_1_2_1() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi1_client(&s, &key).await;
    let stranger = ClientKey::new("PS256");
    let claims = object(&s, &c, json!({}));
    let cases = [
        (
            stranger.sign(&claims, true),
            "signed by a key that is not the client's",
        ),
        (crate::keys::unsigned(&claims), "alg none"),
    ];
    for (object, rule) in cases {
        // Even with a state outside: under FAPI 1 Advanced outer parameters are not used.
        let mut params = by_value(&c, "code id_token", object);
        params.push(("state".into(), "outer-state".into()));
        let (status, loc, body) = Journey::new(&s).authorize(&params).await;
        assert_eq!(status, 400, "{rule}: {loc}");
        assert!(loc.is_empty(), "{rule}: no redirect, got {loc}");
        assert!(body.contains("invalid_request_object"), "{rule}: {body}");
    }
}
