//! Provider rules the FAPI 2.0 conformance plans found missing, one test per rule.

use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};

async fn fapi2_client(s: &TestServer, key: &ClientKey, extra: Value) -> TestClient {
    let mut meta = json!({
        "fapi_profile": "fapi2", "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "dpop_bound_access_tokens": true,
    });
    for (k, v) in extra.as_object().unwrap() {
        meta[k] = v.clone();
    }
    s.client(meta).await
}

/// Pushes `form` with a client assertion whose `aud` is `aud`; returns the status and body.
async fn push_with_aud(
    s: &TestServer,
    key: &ClientKey,
    c: &TestClient,
    aud: Value,
    mut form: Vec<(String, String)>,
) -> (u16, Value) {
    let now = s.provider.now();
    let assertion = key.sign(
        &json!({"iss": c.id, "sub": c.id, "aud": aud, "iat": now, "exp": now + 60,
                "jti": consentry::protocol::secrets::random_token()}),
        true,
    );
    form.push((
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
    ));
    form.push(("client_assertion".into(), assertion));
    let res = s
        .browser()
        .post(s.url("/par"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// FAPI 2.0 Security Profile §5.3.2.1-8: the authorization server shall only accept its issuer
/// identifier "as a string" in the `aud` of a client assertion: an array, even one holding the
/// issuer, is refused (fapi2-security-profile-final-par-test-array-as-audience-fails).
#[tokio::test]
async fn fapi2_client_assertion_audience_must_be_the_issuer_as_a_string() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi2_client(&s, &key, json!({})).await;
    let (_, challenge) = pkce();
    let params = auth_params(&c, &challenge, &[]);
    for aud in [
        json!([s.issuer.clone(), s.url("/token")]),
        json!([s.issuer.clone()]),
    ] {
        let (status, body) = push_with_aud(&s, &key, &c, aud.clone(), params.clone()).await;
        assert_eq!(status, 401, "aud {aud}: {body}");
        assert_eq!(body["error"], "invalid_client", "aud {aud}");
    }
    let (status, body) = push_with_aud(&s, &key, &c, json!(s.issuer.clone()), params).await;
    assert_eq!(status, 201, "the issuer as a string is accepted: {body}");
}
