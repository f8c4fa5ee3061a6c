//! FAPI 1.0 Advanced with a request object passed by value, as the OpenID Foundation's
//! certification plan sends it: only the object's parameters count (§5.2.2-10, RFC 9101 §6.3),
//! `aud` is required (§5.2.2-15), PKCE is not (§5.2.2-18 asks it of pushed requests only), a
//! cancelling user is `access_denied`, and the resource answers with `x-fapi-interaction-id`.

use crate::fapi_mtls::{self_signed, with_cert};
use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};
use std::collections::HashMap;

async fn fapi1_client(s: &TestServer, key: &ClientKey) -> TestClient {
    s.client(json!({
        "fapi_profile": "fapi1_advanced", "token_endpoint_auth_method": "private_key_jwt",
        "jwks": key.jwks(), "response_types": ["code id_token"],
        "grant_types": ["authorization_code", "implicit"],
    }))
    .await
}

/// The plan's request object: every parameter inside, no PKCE; `patch` sets or (null) removes.
fn object(s: &TestServer, c: &TestClient, patch: Value) -> Value {
    let now = s.provider.now();
    let mut o = json!({
        "iss": c.id, "aud": s.issuer, "client_id": c.id, "exp": now + 300, "nbf": now, "iat": now,
        "jti": consentry::secrets::random_token(),
        "response_type": "code id_token", "redirect_uri": REDIRECT_URI, "scope": "openid email",
        "state": "object-state", "nonce": "object-nonce",
    });
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            o.as_object_mut().unwrap().remove(k);
        } else {
            o[k] = v.clone();
        }
    }
    o
}

/// The query next to the object: the OIDC duplicates, plus `outer` parameters.
fn query(c: &TestClient, object: String, outer: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut q = vec![
        ("client_id".to_string(), c.id.clone()),
        ("response_type".to_string(), "code id_token".to_string()),
        ("scope".to_string(), "openid".to_string()),
        ("redirect_uri".to_string(), REDIRECT_URI.to_string()),
        ("request".to_string(), object),
    ];
    q.extend(outer.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    q
}

/// The parameters of a fragment response.
fn fragment(loc: &str) -> HashMap<String, String> {
    let u = url::Url::parse(loc).unwrap_or_else(|_| panic!("not a redirect: {loc}"));
    form_urlencoded::parse(u.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn assertion(s: &TestServer, key: &ClientKey, c: &TestClient) -> String {
    let now = s.provider.now();
    key.sign(
        &json!({"iss": c.id, "sub": c.id, "aud": s.issuer, "iat": now, "exp": now + 60,
                "jti": consentry::secrets::random_token()}),
        true,
    )
}

#[tokio::test]
async fn fapi1_by_value_request_object_needs_no_pkce() {
    // FAPI 1 Adv. §5.2.2-18: PKCE is required of pushed requests only; the plan's by-value
    // variant sends none, and its flow must complete, token included.
    let s = TestServer::start().await;
    s.user("alice").await;
    let key = ClientKey::new("PS256");
    let c = fapi1_client(&s, &key).await;
    let cert = self_signed("fapi1-rp");
    let http = with_cert(&s, &cert);
    let signed = key.sign(&object(&s, &c, json!({})), true);
    let cb = Journey {
        server: &s,
        browser: http.clone(),
    }
    .complete(&query(&c, signed, &[]), "alice")
    .await;
    let f = fragment(&cb);
    assert!(f.contains_key("code") && f.contains_key("id_token"), "{cb}");
    assert_eq!(f["state"], "object-state");
    let res = http
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &f["code"]),
            ("redirect_uri", REDIRECT_URI),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion(&s, &key, &c)),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert!(body["access_token"].is_string(), "{body}");

    // UserInfo, the resource the plan calls, answers with x-fapi-interaction-id.
    let at = body["access_token"].as_str().unwrap();
    let res = http
        .get(s.url("/me"))
        .bearer_auth(at)
        .header(
            "x-fapi-interaction-id",
            "c770aef3-6784-41f7-8e0e-ff5f97bddb3a",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["x-fapi-interaction-id"],
        "c770aef3-6784-41f7-8e0e-ff5f97bddb3a",
        "FAPI 1 Part 1 §6.2.1-11: the client's value is echoed"
    );
}

#[tokio::test]
async fn fapi1_outer_parameters_next_to_a_request_object_are_ignored() {
    // FAPI 1 Adv. §5.2.2-10 / RFC 9101 §6.3: only the object's parameters are used. An outer
    // prompt=none would refuse a browser without a session (login_required), an outer state
    // would be returned and bound by s_hash.
    let s = TestServer::start().await;
    s.user("alice").await;
    let key = ClientKey::new("ES256");
    let c = fapi1_client(&s, &key).await;
    let cert = self_signed("fapi1-rp");
    let j = Journey {
        server: &s,
        browser: with_cert(&s, &cert),
    };
    let signed = key.sign(&object(&s, &c, json!({"state": null})), true);
    let outer = [
        ("state", "outer-state"),
        ("prompt", "none"),
        ("max_age", "0"),
        ("nonce", "outer-nonce"),
        ("login_hint", "somebody"),
        ("claims", r#"{"id_token":{"sub":{"value":"someone-else"}}}"#),
    ];
    let (status, interaction, body) = j.authorize(&query(&c, signed, &outer)).await;
    assert_eq!(status, 303, "{body}");
    assert!(
        interaction.starts_with("/interaction/"),
        "the outer prompt=none must not be obeyed: {interaction}"
    );
    let (status, _, body) = j.login(&interaction, "alice", PASSWORD).await;
    assert_eq!(status, 303, "{body}");
    let cb = j.decide(&interaction, "approve").await;
    let f = fragment(&cb);
    assert!(f.contains_key("code"), "{cb}");
    assert!(
        !f.contains_key("state"),
        "the outer state is not returned: {cb}"
    );
    let id = jwt_claims(&f["id_token"]);
    assert!(
        id.get("s_hash").is_none(),
        "no s_hash for an outer state: {id}"
    );
    assert_eq!(id["nonce"], "object-nonce");
}

#[tokio::test]
async fn fapi1_request_object_without_aud_is_invalid_request_object() {
    // FAPI 1 Adv. §5.2.2-15: the request object's aud must be (or contain) the issuer.
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi1_client(&s, &key).await;
    let signed = key.sign(&object(&s, &c, json!({"aud": null})), true);
    let (status, loc, body) = Journey::new(&s)
        .authorize(&query(&c, signed, &[("state", "outer-state")]))
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(fragment(&loc)["error"], "invalid_request_object", "{loc}");
    // With aud present it is accepted.
    let signed = key.sign(&object(&s, &c, json!({})), true);
    let (_, loc, _) = Journey::new(&s).authorize(&query(&c, signed, &[])).await;
    assert!(loc.starts_with("/interaction/"), "{loc}");
}

#[tokio::test]
async fn fapi1_request_object_times_without_pkce_are_invalid_request_object() {
    // Sent as the plan sends them (no PKCE), so the time rules answer, not a PKCE demand.
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi1_client(&s, &key).await;
    let now = s.provider.now();
    let cases = [
        (
            json!({"nbf": now - 3900, "exp": now + 60}),
            "§5.2.2-17: nbf no older than 60 minutes",
        ),
        (
            json!({"nbf": now, "exp": now + 3660}),
            "§5.2.2-13: exp - nbf at most 60 minutes",
        ),
    ];
    for (patch, rule) in cases {
        let signed = key.sign(&object(&s, &c, patch), true);
        let (status, loc, body) = Journey::new(&s).authorize(&query(&c, signed, &[])).await;
        assert_eq!(status, 303, "{rule}: {body}");
        assert_eq!(fragment(&loc)["error"], "invalid_request_object", "{rule}");
    }
}

#[tokio::test]
async fn fapi1_user_cancelling_at_login_is_access_denied() {
    // OIDC Core §3.1.2.6 / RFC 6749 §4.1.2.1: a user who refuses is answered access_denied,
    // with the object's state, whether they cancel on the login page or the consent page.
    let s = TestServer::start().await;
    s.user("alice").await;
    let key = ClientKey::new("PS256");
    let c = fapi1_client(&s, &key).await;
    let j = Journey::new(&s);
    let signed = key.sign(&object(&s, &c, json!({})), true);
    let (status, interaction, body) = j.authorize(&query(&c, signed, &[])).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, page) = j.get(&interaction).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("value=\"deny\""),
        "the login page offers Cancel"
    );
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, loc, body) = j
        .post(
            &format!("{interaction}/consent"),
            &[("csrf_token", &csrf), ("decision", "deny")],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let f = fragment(&loc);
    assert_eq!(f["error"], "access_denied", "{loc}");
    assert_eq!(f["state"], "object-state");

    let signed = key.sign(&object(&s, &c, json!({})), true);
    let (_, interaction, _) = j.authorize(&query(&c, signed, &[])).await;
    let (status, _, _) = j.login(&interaction, "alice", PASSWORD).await;
    assert_eq!(status, 303);
    let f = fragment(&j.decide(&interaction, "deny").await);
    assert_eq!(f["error"], "access_denied");
}

#[tokio::test]
async fn userinfo_answers_with_a_new_x_fapi_interaction_id() {
    // FAPI 1 Part 1 §6.2.1-11: without the client's header, a new RFC 4122 UUID; the client's
    // value must be a UUID (§6.2.2-4), so anything else is answered with a new one too.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let t = tokens_for(&s, &c, "alice").await;
    let at = t["access_token"].as_str().unwrap();
    let interaction_id = |sent: Option<&str>, token: Option<&str>| {
        let mut req = s.browser().get(s.url("/me"));
        if let Some(v) = sent {
            req = req.header("x-fapi-interaction-id", v);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let res = req.send().await.unwrap();
            let id = res.headers()["x-fapi-interaction-id"].to_str().unwrap();
            (res.status().as_u16(), id.to_string())
        }
    };
    let new_uuid = |id: &str| {
        let uuid = uuid::Uuid::parse_str(id).expect("a UUID");
        assert_eq!(uuid.get_version_num(), 4, "{id}");
    };
    let mut seen = Vec::new();
    for sent in [None, Some("abc-123"), Some(&*"x".repeat(4000))] {
        let (status, id) = interaction_id(sent, Some(at)).await;
        assert_eq!(status, 200);
        new_uuid(&id);
        seen.push(id);
    }
    assert!(
        seen[0] != seen[1] && seen[1] != seen[2],
        "a new one per request"
    );
    // Refusals carry it too, the client's UUID echoed.
    let sent = "0f5a1b9e-2c4d-4e6f-8a0b-1c2d3e4f5a6b";
    assert_eq!(
        interaction_id(Some(sent), None).await,
        (401, sent.to_string())
    );
    let (status, id) = interaction_id(Some("abc-123"), None).await;
    assert_eq!(status, 401);
    new_uuid(&id);
}
