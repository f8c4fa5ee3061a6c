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

async fn connection_status(s: &TestServer, id: &str) -> String {
    let id = id.to_string();
    s.provider
        .store
        .read(move |tx| tx.connections().get(&id))
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test]
async fn rfc6749_6_a_refresh_journey_without_an_upstream_refresh_token_says_so_and_needs_reauth() {
    // Asked without offline_access, the bank issues no refresh token (OIDC Core §11).
    let pr = Pair::start(
        |bank| {
            let mut s = oidc_settings(bank, "client_secret_basic", false);
            s.insert("scope".into(), "openid accounts:read".into());
            vec![("oauth-bank", s)]
        },
        |_| {},
    )
    .await;
    pr.register_at_bank(json!({})).await;
    let c = pr.agg.client(json!({"connection_types": ["api"]})).await;
    let (sub, con_id) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    let cb = pr.refresh(&c, &sub, &con_id).await;
    assert!(cb.starts_with(REDIRECT_URI), "{cb}");
    let q = query(&cb);
    assert_eq!(q["error"], "invalid_request", "{cb}");
    let description = &q["error_description"];
    assert!(
        description.contains("issued no refresh token") && description.contains("offline_access"),
        "not a bare invalid_grant: the cause and the fix: {description}"
    );
    assert_eq!(
        connection_status(&pr.agg, &con_id).await,
        "reauth_required",
        "the connection is marked as needing reauth"
    );
}

#[tokio::test]
async fn rfc6749_5_2_a_refresh_refused_by_the_bank_ends_the_journey_with_its_reason_and_needs_reauth(
) {
    let pr = pair("client_secret_basic", false).await;
    pr.register_at_bank(json!({})).await;
    let c = pr.agg.client(json!({"connection_types": ["api"]})).await;
    let (sub, con_id) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    // The bank forgets every refresh token it issued: the aggregator's is refused.
    let forgotten = pr.bank.sql_exec("DELETE FROM refresh_tokens", &[]).await;
    assert!(forgotten > 0);
    let cb = pr.refresh(&c, &sub, &con_id).await;
    let q = query(&cb);
    assert_eq!(q["error"], "access_denied", "{cb}");
    assert!(
        q["error_description"].contains("invalid_grant"),
        "the bank's refusal reaches the partner: {cb}"
    );
    assert_eq!(connection_status(&pr.agg, &con_id).await, "reauth_required");
}

/// The worked example of plugins/README.md, as written there: the settings of its TOML block
/// and the client metadata of its `clients add` at the bank.
struct WorkedExample {
    config: toml::Value,
    bank_client: Value,
}

impl WorkedExample {
    fn read() -> WorkedExample {
        let readme = include_str!("../../plugins/README.md");
        let start = readme
            .find("### Worked example: a second Consentry as the bank")
            .expect("the worked example's heading");
        let section = &readme[start..];
        let section = &section[..section[4..].find("\n## ").map_or(section.len(), |i| i + 4)];
        let toml_block = section
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a toml block");
        let config = toml::from_str(&toml_block.replace("\n   ", "\n")).expect("valid TOML");
        let metadata = section
            .lines()
            .find(|l| l.contains("clients add --data-dir bank --metadata '"))
            .and_then(|l| l.split('\'').nth(1))
            .expect("the bank's clients add");
        WorkedExample {
            config,
            bank_client: serde_json::from_str(metadata).expect("metadata JSON"),
        }
    }

    /// `[plugins.settings.oauth-bank]`, with the bank's real address for the example's port.
    fn settings(&self, bank: &TestServer) -> Settings {
        let table = self.config["plugins"]["settings"]["oauth-bank"]
            .as_table()
            .expect("settings for oauth-bank");
        table
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().expect("string settings");
                (
                    k.clone(),
                    v.replace("https://127.0.0.1:9443/oidc", &bank.issuer)
                        .replace("127.0.0.1:9443", &bank_host(bank)),
                )
            })
            .collect()
    }
}

#[tokio::test]
async fn the_worked_setup_in_plugins_readme_connects_and_refreshes() {
    let example = WorkedExample::read();
    // The example's CA path is the bank's data dir's keys/ca.pem, which the pair trusts.
    assert_eq!(
        example.config["plugins"]["upstream_ca_file"].as_str(),
        Some("bank/keys/ca.pem")
    );
    let pr = Pair::start(|bank| vec![("oauth-bank", example.settings(bank))], |_| {}).await;
    assert_eq!(
        pr.bank.provider.config.keys_dir(),
        pr.bank.provider.config.data_dir.join("keys")
    );
    let settings = example.settings(&pr.bank);
    assert_eq!(
        settings["hosts"],
        bank_host(&pr.bank),
        "hosts names the bank's host:port"
    );
    assert!(settings["scope"].contains("offline_access"));
    // The bank registers the aggregator as the example does (its callback on this origin).
    let mut meta = example.bank_client.clone();
    meta["redirect_uris"] = json!([format!("{}/bank-callback", pr.agg.base)]);
    assert_eq!(
        example.bank_client["redirect_uris"][0],
        "https://localhost:8443/bank-callback"
    );
    let registered = pr.bank.client(meta).await;
    assert_eq!(registered.id, AGGREGATOR_CLIENT);
    pr.bank.user("banker").await;

    let c = pr.agg.client(json!({"connection_types": ["api"]})).await;
    let (sub, con_id) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    let grants_before = pr
        .bank
        .sql_count("SELECT count(*) FROM refresh_tokens")
        .await;
    assert!(
        grants_before > 0,
        "offline_access: the bank issued a refresh token"
    );
    let cb = pr.refresh(&c, &sub, &con_id).await;
    let q = query(&cb);
    assert!(
        q.contains_key("code"),
        "the refresh journey succeeded: {cb}"
    );
    assert_eq!(
        pr.bank
            .sql_count("SELECT count(*) FROM refresh_tokens")
            .await,
        grants_before + 1,
        "the refresh went to the bank (its refresh token rotated)"
    );
    assert_eq!(connection_status(&pr.agg, &con_id).await, "active");
}
