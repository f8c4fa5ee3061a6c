//! An API-type institution whose journey runs at a real upstream authorization server: a
//! second Consentry instance plays the bank. The shipped `oauth-bank` template, configured by
//! settings only, sends the user there and back, and the host does the client side.

use crate::bank_pair::*;
use crate::banks::{redeem, BankJourney};
use crate::harness::*;
use serde_json::{json, Value};

async fn pair(auth: &str, par: bool) -> Pair {
    Pair::start(
        |bank| vec![("oauth-bank", oidc_settings(bank, auth, par))],
        |_| {},
    )
    .await
}

#[tokio::test]
async fn an_api_bank_journey_runs_at_the_upstream_server_and_keeps_its_tokens_sealed() {
    let pr = pair("client_secret_basic", false).await;
    pr.register_at_bank(json!({})).await;
    let c = pr.agg.client(json!({"connection_types": ["api"]})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&pr.agg);
    let claims = r#"{"id_token":{"mh:con_id":{"essential":true}}}"#;
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:oauth-bank"), ("claims", claims)],
        ))
        .await;
    let (status, to_bank) = b.approve(&i, "OAuth Bank").await;
    assert_eq!(status, 303);
    // The host went as a client: PKCE S256, state, nonce, its callback as redirect_uri.
    let q = query(&to_bank);
    assert_eq!(q["client_id"], AGGREGATOR_CLIENT);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["redirect_uri"], format!("{}/bank-callback", pr.agg.base));
    assert!(q["state"].starts_with(&i["/interaction/".len()..]));
    assert!(q.contains_key("nonce"));
    let back = pr.at_the_bank(&to_bank, "approve").await;
    assert!(
        back.starts_with(&format!("{}/bank-callback", pr.agg.base)),
        "{back}"
    );

    // A forged state is refused without ending the journey (error page, nothing redirected).
    let forged = back.replace("state=", "state=x");
    let (status, loc, _) = b.j.get(&forged).await;
    assert_eq!((status, loc.as_str()), (400, ""));

    let (status, cb, body) = b.j.get(&back).await;
    assert_eq!(status, 303, "{body}");
    assert!(cb.starts_with(REDIRECT_URI), "{cb}");
    let tokens = redeem(&pr.agg, &c, &cb, &verifier).await;
    let con_id = jwt_claims(tokens["id_token"].as_str().unwrap())["mh:con_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The bank's tokens are kept sealed with the connection.
    let cid = con_id.clone();
    let conn = pr
        .agg
        .provider
        .store
        .read(move |tx| tx.connections().get(&cid))
        .await
        .unwrap()
        .unwrap();
    let sealed = conn.data_sealed.unwrap();
    assert!(!sealed.contains("refresh_token"));
    let secrets: Value =
        serde_json::from_str(&pr.agg.provider.sealer.open(&sealed).unwrap()).unwrap();
    let upstream_rt = secrets["upstream"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let bank_at = secrets["upstream"]["access_token"].as_str().unwrap();
    // The access token really is the bank's: it introspects as active there.
    let i = pr.bank.introspect(&pr.bank_client(), bank_at).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(
        secrets["data"]["scope"],
        "accounts:read offline_access openid"
    );
    assert!(secrets["data"]["bankSubject"].is_string());

    // A refresh journey renews the connection with the bank's refresh token, no bank login.
    let sub = jwt_claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let (verifier, challenge) = pkce();
    let claims =
        json!({"id_token": {"sub": {"value": sub}, "mh:con_id": {"value": con_id}}}).to_string();
    let b = BankJourney::new(&pr.agg);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid refresh"), ("claims", &claims)],
        ))
        .await;
    let (status, cb) = b.approve(&i, "OAuth Bank").await;
    assert_eq!(status, 303);
    let tokens = redeem(&pr.agg, &c, &cb, &verifier).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["mh:con_id"],
        con_id.as_str()
    );
    let cid = con_id.clone();
    let conn = pr
        .agg
        .provider
        .store
        .read(move |tx| tx.connections().get(&cid))
        .await
        .unwrap()
        .unwrap();
    let secrets: Value = serde_json::from_str(
        &pr.agg
            .provider
            .sealer
            .open(&conn.data_sealed.unwrap())
            .unwrap(),
    )
    .unwrap();
    // The bank rotates refresh tokens; the new one is kept.
    assert_ne!(
        secrets["upstream"]["refresh_token"].as_str().unwrap(),
        upstream_rt
    );
}

#[tokio::test]
async fn the_host_pushes_and_signs_with_its_own_key_when_the_bank_wants_it() {
    let pr = pair("private_key_jwt", true).await;
    // The bank knows the aggregator by its public keys.
    let jwks: Value = serde_json::from_str(pr.agg.provider.keys().jwks_json()).unwrap();
    pr.register_at_bank(json!({
        "token_endpoint_auth_method": "private_key_jwt", "jwks": jwks,
        "require_pushed_authorization_requests": true,
    }))
    .await;
    let c = pr.agg.client(json!({"connection_types": ["api"]})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&pr.agg);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:oauth-bank")],
        ))
        .await;
    let (_, to_bank) = b.approve(&i, "OAuth Bank").await;
    let q = query(&to_bank);
    assert!(
        q["request_uri"].starts_with("urn:ietf:params:oauth:request_uri:"),
        "{to_bank}"
    );
    assert!(
        !q.contains_key("code_challenge"),
        "only client_id and request_uri go by the browser"
    );
    let back = pr.at_the_bank(&to_bank, "approve").await;
    let (status, cb, body) = b.j.get(&back).await;
    assert_eq!(status, 303, "{body}");
    redeem(&pr.agg, &c, &cb, &verifier).await;
}

#[tokio::test]
async fn the_user_declining_at_the_bank_reaches_the_client_as_access_denied() {
    let pr = pair("client_secret_basic", false).await;
    pr.register_at_bank(json!({})).await;
    let c = pr.agg.client(json!({"connection_types": ["api"]})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&pr.agg);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:oauth-bank")],
        ))
        .await;
    let (_, to_bank) = b.approve(&i, "OAuth Bank").await;
    let back = pr.at_the_bank(&to_bank, "deny").await;
    let (status, cb, _) = b.j.get(&back).await;
    assert_eq!(status, 303);
    let q = query(&cb);
    assert_eq!(q["error"], "access_denied", "{cb}");
    assert!(q["error_description"].contains("access_denied"), "{cb}");
}

#[tokio::test]
async fn an_unconfigured_bank_or_one_on_an_undeclared_host_fails_only_that_journey() {
    // No settings at all: the script's setting() call fails at run time.
    let s = TestServer::start().await;
    let c = s.client(json!({"connection_types": ["api"]})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:oauth-bank")],
        ))
        .await;
    let (_, cb) = b.approve(&i, "OAuth Bank").await;
    assert_eq!(query(&cb)["error"], "server_error", "{cb}");
    // An issuer on a host neither the script nor the operator allowed is never contacted —
    // here a real, trusted server (this one), so only the allow-list stands in the way.
    let agg = TestServer::start_with(|c| {
        let mut m = std::collections::BTreeMap::new();
        m.insert("issuer".to_string(), c.issuer.clone().unwrap());
        m.insert("client_id".to_string(), "x".to_string());
        m.insert("client_secret".to_string(), "y".to_string());
        c.plugins.settings.insert("oauth-bank".into(), m);
        c.plugins.upstream_ca_file = Some(c.keys_dir().join("ca.pem"));
    })
    .await;
    let c = agg.client(json!({"connection_types": ["api"]})).await;
    let b = BankJourney::new(&agg);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:oauth-bank")],
        ))
        .await;
    let (_, cb) = b.approve(&i, "OAuth Bank").await;
    assert_eq!(query(&cb)["error"], "temporarily_unavailable", "{cb}");
}

#[tokio::test]
async fn a_plain_oauth2_provider_gets_its_scope_separator_and_no_nonce() {
    // Slack-style settings: endpoints instead of an issuer, scopes joined by commas. The
    // browser is sent there without any discovery, so no server needs to answer.
    let agg = TestServer::start_with(|c| {
        let settings = [
            (
                "authorization_endpoint",
                "https://127.0.0.1/oauth/v2/authorize",
            ),
            ("token_endpoint", "https://127.0.0.1/api/oauth.v2.access"),
            ("hosts", "127.0.0.1"),
            ("client_id", "x"),
            ("client_secret", "y"),
            ("auth", "client_secret_post"),
            ("scope", "channels:read chat:write"),
            ("scope_separator", ","),
        ];
        let m = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        c.plugins.settings.insert("oauth-bank".into(), m);
    })
    .await;
    let c = agg.client(json!({"connection_types": ["api"]})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&agg);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:oauth-bank")],
        ))
        .await;
    let (status, to_bank) = b.approve(&i, "OAuth Bank").await;
    assert_eq!(status, 303);
    assert!(
        to_bank.starts_with("https://127.0.0.1/oauth/v2/authorize?"),
        "{to_bank}"
    );
    let q = query(&to_bank);
    assert_eq!(q["scope"], "channels:read,chat:write");
    assert!(
        !q.contains_key("nonce"),
        "a nonce is OpenID Connect's: {to_bank}"
    );
    assert_eq!(q["code_challenge_method"], "S256");
}
