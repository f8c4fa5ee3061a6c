//! Plain OAuth 2.0 authorization (RFC 6749, FAPI 2 Security Profile without OpenID): a request
//! without the `openid` scope gets a code and tokens, never an ID token, and its tokens are not
//! for UserInfo.

use crate::harness::*;
use crate::keys::{ClientKey, DpopKey};
use serde_json::{json, Value};

/// Authorization parameters without `openid` (and without a nonce, which only OIDC needs).
fn plain_params(c: &TestClient, challenge: &str, scope: &str) -> Vec<(String, String)> {
    auth_params(c, challenge, &[("scope", scope), ("nonce", "")])
}

#[tokio::test]
async fn code_flow_without_openid_issues_tokens_but_no_id_token() {
    // RFC 6749 §4.1: the code grant needs no openid; OIDC Core §3.1.3.3: only an OpenID
    // request gets an ID token.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (verifier, challenge) = pkce();
    let j = Journey::new(&s);
    let (status, interaction, body) = j
        .authorize(&plain_params(
            &c,
            &challenge,
            "accounts:read offline_access",
        ))
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(interaction.starts_with("/interaction/"), "{interaction}");
    j.login(&interaction, "alice", PASSWORD).await;
    let (_, _, consent) = j.get(&interaction).await;
    assert!(
        consent.contains("Read your accounts"),
        "the consent page shows the scopes: {consent}"
    );
    let cb = j.decide(&interaction, "approve").await;
    let q = query(&cb);
    assert_eq!(q["state"], "state-123");
    let (status, tokens) = s.exchange_code(&c, &q["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens.get("id_token").is_none(), "no ID token: {tokens}");
    assert_eq!(tokens["scope"], "accounts:read offline_access");
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(&c, at).await["active"], true);

    // RFC 6749 §6: refreshing works and still returns no ID token.
    let (status, refreshed) = s
        .refresh(&c, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(refreshed.get("id_token").is_none(), "{refreshed}");
    assert!(refreshed["access_token"].is_string());

    // OIDC Core §5.3 / RFC 6750 §3.1: UserInfo is for OpenID tokens: insufficient_scope.
    let res = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"insufficient_scope\""));
}

#[tokio::test]
async fn response_types_returning_an_id_token_still_need_openid() {
    // OIDC Core §3.3.2.11: an ID token from the authorization endpoint is OpenID only.
    let s = TestServer::start().await;
    let c = s
        .client(json!({
            "response_types": ["code", "code id_token"],
            "grant_types": ["authorization_code", "implicit"],
        }))
        .await;
    let (_, challenge) = pkce();
    let params = auth_params(
        &c,
        &challenge,
        &[
            ("scope", "accounts:read"),
            ("response_type", "code id_token"),
        ],
    );
    let (status, loc, body) = Journey::new(&s).authorize(&params).await;
    assert_eq!(status, 303, "{body}");
    let err = fragment(&loc);
    assert_eq!(err["error"], "invalid_scope", "{loc}");
    assert_eq!(err["state"], "state-123");
}

#[tokio::test]
async fn an_empty_scope_is_refused() {
    // RFC 6749 §3.3: with no default scope defined, a request without one fails.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let (status, loc, body) = Journey::new(&s)
        .authorize(&auth_params(&c, &challenge, &[("scope", "")]))
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(query(&loc)["error"], "invalid_scope");
}

fn assertion(s: &TestServer, key: &ClientKey, client_id: &str) -> String {
    let now = s.provider.now();
    key.sign(
        &json!({"iss": client_id, "sub": client_id, "aud": s.issuer, "iat": now, "exp": now + 60,
                "jti": consentry::secrets::random_token()}),
        true,
    )
}

fn with_assertion(
    s: &TestServer,
    key: &ClientKey,
    c: &TestClient,
    mut form: Vec<(String, String)>,
) -> Vec<(String, String)> {
    form.push((
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
    ));
    form.push(("client_assertion".into(), assertion(s, key, &c.id)));
    form
}

#[tokio::test]
async fn fapi2_client_without_openid_via_par_and_dpop() {
    // FAPI 2 Security Profile §5.3.2.2: the profile is OAuth; OpenID is optional.
    let s = TestServer::start().await;
    let key = ClientKey::new("ES256");
    let c = s
        .client(json!({
            "fapi_profile": "fapi2", "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(), "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        }))
        .await;
    s.user("alice").await;
    let dpop = DpopKey::new();
    let (verifier, challenge) = pkce();
    let form = with_assertion(&s, &key, &c, plain_params(&c, &challenge, "accounts:read"));
    let res = s
        .browser()
        .post(s.url("/par"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let uri = res.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let cb = Journey::new(&s)
        .complete(
            &[
                ("client_id".into(), c.id.clone()),
                ("request_uri".into(), uri),
            ],
            "alice",
        )
        .await;
    let q = query(&cb);
    assert!(q.contains_key("code"), "{cb}");
    let token_form = with_assertion(
        &s,
        &key,
        &c,
        vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), q["code"].clone()),
            ("redirect_uri".into(), REDIRECT_URI.into()),
            ("code_verifier".into(), verifier),
        ],
    );
    let res = s
        .browser()
        .post(s.url("/token"))
        .header(
            "DPoP",
            dpop.proof("POST", &s.url("/token"), None, s.provider.now()),
        )
        .form(&token_form)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert!(body.get("id_token").is_none(), "{body}");
    assert_eq!(body["scope"], "accounts:read");
}

#[tokio::test]
async fn a_bank_connection_without_openid_is_named_by_introspection() {
    // Without openid there is no ID token to carry mh:con_id (contract: Claims), so the
    // connection the grant made is given by introspection (RFC 7662 §2.2 allows extensions).
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (verifier, challenge) = pkce();
    let b = crate::banks::BankJourney::new(&s);
    let i = b
        .start(&plain_params(&c, &challenge, "id:sandbox-bank"))
        .await;
    let cb = b.sandbox_bank(&i).await;
    let tokens = crate::banks::redeem(&s, &c, &cb, &verifier).await;
    assert!(tokens.get("id_token").is_none(), "{tokens}");
    let intro = s
        .introspect(&c, tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(intro["active"], true);
    assert!(intro["mh:con_id"].is_string(), "{intro}");
}
