//! Two providers: a second Consentry instance plays an institution's own authorization server
//! (the bank), and the provider under test (the aggregator) reaches it through the shipped
//! `oauth-bank` template, configured by settings only. Shared by the upstream journey and the
//! token hand-out tests.

use crate::banks::{redeem, BankJourney};
use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub const AGGREGATOR_CLIENT: &str = "consentry-aggregator";
pub const AGGREGATOR_SECRET: &str = "aggregator-secret-0123456789abcdefghijklmnop";

/// One institution's `[plugins.settings.<id>]`.
pub type Settings = BTreeMap<String, String>;

fn settings(v: Value) -> Settings {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect()
}

/// The bank's `host:port` for the `hosts` setting (a bare host would mean port 443).
pub fn bank_host(bank: &TestServer) -> String {
    let u = url::Url::parse(&bank.issuer).unwrap();
    format!(
        "{}:{}",
        u.host_str().unwrap(),
        u.port_or_known_default().unwrap()
    )
}

/// The template pointed at the bank by its issuer (OpenID discovery, ID token).
pub fn oidc_settings(bank: &TestServer, auth: &str, par: bool) -> Settings {
    settings(json!({
        "issuer": bank.issuer, "hosts": bank_host(bank), "client_id": AGGREGATOR_CLIENT,
        "client_secret": AGGREGATOR_SECRET, "scope": "openid accounts:read offline_access",
        "auth": auth, "par": par.to_string(),
    }))
}

/// The template pointed at the bank as a plain OAuth 2 server (Slack, Google-style): its
/// endpoints instead of an issuer, `client_secret_post`, no `openid` scope.
pub fn plain_settings(bank: &TestServer) -> Settings {
    settings(json!({
        "authorization_endpoint": bank.url("/auth"), "token_endpoint": bank.url("/token"),
        "hosts": bank_host(bank), "client_id": AGGREGATOR_CLIENT,
        "client_secret": AGGREGATOR_SECRET, "auth": "client_secret_post",
        "scope": "accounts:read offline_access",
    }))
}

/// The bank, and the aggregator (the provider under test) configured to use it.
pub struct Pair {
    pub bank: TestServer,
    pub agg: TestServer,
}

impl Pair {
    /// Starts the bank, then the aggregator with the settings `institutions` makes for each
    /// institution id, trusting the bank's CA; `tweak` adjusts the aggregator's config further.
    pub async fn start(
        institutions: impl FnOnce(&TestServer) -> Vec<(&'static str, Settings)>,
        tweak: impl FnOnce(&mut consentry::config::Config),
    ) -> Pair {
        let bank = TestServer::start().await;
        let all = institutions(&bank);
        let bank_ca = bank.provider.config.keys_dir().join("ca.pem");
        let agg = TestServer::start_with(move |c| {
            for (id, s) in all {
                c.plugins.settings.insert(id.into(), s);
            }
            c.plugins.upstream_ca_file = Some(bank_ca);
            tweak(c);
        })
        .await;
        Pair { bank, agg }
    }

    /// Registers the aggregator at the bank (its callback as redirect URI) and a bank user.
    pub async fn register_at_bank(&self, extra: Value) {
        let mut meta = json!({
            "client_id": AGGREGATOR_CLIENT, "client_secret": AGGREGATOR_SECRET,
            "redirect_uris": [format!("{}/bank-callback", self.agg.base)],
        });
        for (k, v) in extra.as_object().unwrap() {
            meta[k] = v.clone();
        }
        self.bank.client(meta).await;
        self.bank.user("banker").await;
    }

    /// At the bank: follow its authorize redirect, log in, consent; returns where the bank
    /// sends the browser back (the aggregator's callback).
    pub async fn at_the_bank(&self, bank_authorize_url: &str, decision: &str) -> String {
        assert!(
            bank_authorize_url.starts_with(&self.bank.issuer),
            "{bank_authorize_url}"
        );
        // The bank is another site: its own cookie jar, as a browser keeps per site.
        let j = Journey::new(&self.bank);
        let (status, interaction, body) = j.get(bank_authorize_url).await;
        assert_eq!(status, 303, "bank authorize: {body}");
        let (status, _, _) = j.login(&interaction, "banker", PASSWORD).await;
        assert_eq!(status, 303);
        j.decide(&interaction, decision).await
    }

    /// A whole connect journey of client `c` at `institution` (shown as `name`), through the
    /// bank; returns the user id (the ID token's `sub`) and the connection id.
    pub async fn connect(&self, c: &TestClient, institution: &str, name: &str) -> (String, String) {
        let (verifier, challenge) = pkce();
        let b = BankJourney::new(&self.agg);
        let claims = r#"{"id_token":{"mh:con_id":{"essential":true}}}"#;
        let scope = format!("openid id:{institution}");
        let i = b
            .start(&auth_params(
                c,
                &challenge,
                &[("scope", &scope), ("claims", claims)],
            ))
            .await;
        let (status, to_bank) = b.approve(&i, name).await;
        assert_eq!(status, 303);
        let back = self.at_the_bank(&to_bank, "approve").await;
        let (status, cb, body) = b.j.get(&back).await;
        assert_eq!(status, 303, "{body}");
        let tokens = redeem(&self.agg, c, &cb, &verifier).await;
        let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
        (
            claims["sub"].as_str().unwrap().to_string(),
            claims["mh:con_id"].as_str().unwrap().to_string(),
        )
    }

    /// A `refresh` journey of client `c` for its user `sub`'s connection `con_id` (no bank
    /// login: the host uses the stored refresh token); returns where the client is sent back.
    pub async fn refresh(&self, c: &TestClient, sub: &str, con_id: &str) -> String {
        let (_, challenge) = pkce();
        let claims = json!({"id_token": {"sub": {"value": sub}, "mh:con_id": {"value": con_id}}})
            .to_string();
        let b = BankJourney::new(&self.agg);
        let i = b
            .start(&auth_params(
                c,
                &challenge,
                &[("scope", "openid refresh"), ("claims", &claims)],
            ))
            .await;
        let (status, cb) = b.approve(&i, "OAuth Bank").await;
        assert_eq!(status, 303);
        assert!(cb.starts_with(REDIRECT_URI), "{cb}");
        cb
    }

    /// The aggregator's credentials at the bank, to introspect the bank's tokens there.
    pub fn bank_client(&self) -> TestClient {
        TestClient {
            id: AGGREGATOR_CLIENT.into(),
            secret: AGGREGATOR_SECRET.into(),
        }
    }
}
