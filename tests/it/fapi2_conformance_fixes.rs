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
                "jti": consentry::secrets::random_token()}),
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

/// A signed request object for `c` with the standard FAPI 2 parameters; `change` edits its
/// claims (null removes one).
fn request_object(s: &TestServer, key: &ClientKey, c: &TestClient, change: Value) -> String {
    let now = s.provider.now();
    let (_, challenge) = pkce();
    let mut claims = json!({
        "iss": c.id, "aud": s.issuer, "client_id": c.id, "exp": now + 300, "nbf": now,
        "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
        "jti": consentry::secrets::random_token(),
    });
    for (k, v) in change.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    key.sign(&claims, true)
}

/// FAPI 2.0 Message Signing §5.3.1: a request object must carry `nbf` no older than 60 minutes
/// and `exp` no more than 60 minutes after it
/// (fapi2-security-profile-final-ensure-request-object-without-nbf-fails, -without-exp-fails,
/// -with-nbf-over-60-fails).
#[tokio::test]
async fn fapi2_request_objects_need_nbf_and_exp_within_60_minutes() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi2_client(&s, &key, json!({})).await;
    let now = s.provider.now();
    for (what, change) in [
        ("without nbf", json!({"nbf": null})),
        ("without exp", json!({"exp": null})),
        ("with nbf 70 minutes old", json!({"nbf": now - 70 * 60})),
    ] {
        let form = vec![
            ("client_id".to_string(), c.id.clone()),
            ("request".to_string(), request_object(&s, &key, &c, change)),
        ];
        let (status, body) = push_with_aud(&s, &key, &c, json!(s.issuer.clone()), form).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"], "invalid_request_object", "{what}");
    }
    let form = vec![
        ("client_id".to_string(), c.id.clone()),
        (
            "request".to_string(),
            request_object(&s, &key, &c, json!({})),
        ),
    ];
    let (status, body) = push_with_aud(&s, &key, &c, json!(s.issuer.clone()), form).await;
    assert_eq!(status, 201, "nbf now and exp in 5 minutes: {body}");
}

/// RFC 9101 §10.5 `require_signed_request_object` (FAPI 2.0 Message Signing §5.3.1): the
/// client's plain parameters are refused at PAR, its signed request object accepted
/// (fapi2-security-profile-final-ensure-unsigned-request-at-par-endpoint-fails).
#[tokio::test]
async fn clients_requiring_signed_request_objects_cannot_push_plain_parameters() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi2_client(&s, &key, json!({"require_signed_request_object": true})).await;
    let (_, challenge) = pkce();
    let (status, body) = push_with_aud(
        &s,
        &key,
        &c,
        json!(s.issuer.clone()),
        auth_params(&c, &challenge, &[]),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    let form = vec![
        ("client_id".to_string(), c.id.clone()),
        (
            "request".to_string(),
            request_object(&s, &key, &c, json!({})),
        ),
    ];
    let (status, body) = push_with_aud(&s, &key, &c, json!(s.issuer.clone()), form).await;
    assert_eq!(status, 201, "{body}");
}
