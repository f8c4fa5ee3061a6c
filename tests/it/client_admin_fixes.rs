//! Client and key administration: RFC 7592 updates keep credentials usable, one scope rule
//! for clients without a registered scope, interchangeable secret methods, `keys rotate`
//! reading the configuration, the `acr` of bank-only journeys, and development CAs that can
//! share a trust bundle.

use crate::banks::{redeem, BankJourney};
use crate::cli::consentry;
use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};

/// Registers `body` dynamically and returns the RFC 7591 §3.2.1 answer.
async fn registered(s: &TestServer, body: &Value) -> Value {
    let (status, reg) = s.register(body).await;
    assert_eq!(status, 201, "{reg}");
    reg
}

/// An RFC 7592 §2.2 update of the client `reg` describes.
async fn update(s: &TestServer, reg: &Value, body: &Value) -> (u16, Value) {
    let res = s
        .browser()
        .put(reg["registration_client_uri"].as_str().unwrap())
        .bearer_auth(reg["registration_access_token"].as_str().unwrap())
        .json(body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

const CLIENT_CREDENTIALS: [(&str, &str); 2] = [
    ("grant_type", "client_credentials"),
    ("scope", "accounts:read"),
];

/// A client-credentials request with the secret in the Authorization header.
async fn client_credentials_basic(s: &TestServer, id: &str, secret: &str) -> u16 {
    let client = TestClient {
        id: id.into(),
        secret: secret.into(),
    };
    s.token(&client, &CLIENT_CREDENTIALS).await.0
}

/// The same request with the secret in the form body.
async fn client_credentials_post(s: &TestServer, id: &str, secret: &str) -> u16 {
    let mut form = CLIENT_CREDENTIALS.to_vec();
    form.extend([("client_id", id), ("client_secret", secret)]);
    s.browser()
        .post(s.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn rfc7592_s2_2_switching_to_a_secret_method_issues_the_secret() {
    // RFC 7592 §2.2: the update answers like registration, so a client that moves to a
    // secret method gets the secret it now needs (it had none, and was locked out).
    let s = TestServer::start().await;
    let key = ClientKey::new("ES256");
    let mut meta = json!({
        "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        "scope": "accounts:read",
    });
    let reg = registered(&s, &meta).await;
    assert!(reg.get("client_secret").is_none());
    let id = reg["client_id"].as_str().unwrap().to_string();
    meta["client_id"] = json!(id);
    meta["token_endpoint_auth_method"] = json!("client_secret_basic");
    let (status, updated) = update(&s, &reg, &meta).await;
    assert_eq!(status, 200, "{updated}");
    let secret = updated["client_secret"]
        .as_str()
        .expect("a client_secret for the secret method");
    assert_eq!(updated["client_secret_expires_at"], 0);
    assert_eq!(client_credentials_basic(&s, &id, secret).await, 200);

    // A second update that keeps the method keeps the secret (and does not show it again).
    let (status, again) = update(&s, &reg, &meta).await;
    assert_eq!(status, 200, "{again}");
    assert!(again.get("client_secret").is_none(), "{again}");
    assert_eq!(client_credentials_basic(&s, &id, secret).await, 200);
}

#[tokio::test]
async fn a_client_without_registered_scope_follows_one_rule_everywhere() {
    // RFC 7591 §2 scope: when omitted the server picks the default; here every supported
    // scope, at the authorization endpoint and with client_credentials alike.
    let s = TestServer::start().await;
    let reg = registered(
        &s,
        &json!({
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "client_credentials"],
            "response_types": ["code"],
        }),
    )
    .await;
    assert!(reg.get("scope").is_none());
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    assert_eq!(client_credentials_basic(&s, id, secret).await, 200);
    let client = TestClient {
        id: id.to_string(),
        secret: secret.to_string(),
    };
    let (_, challenge) = pkce();
    let (status, loc, body) = Journey::new(&s)
        .authorize(&auth_params(
            &client,
            &challenge,
            &[("scope", "openid accounts:read")],
        ))
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(loc.starts_with("/interaction/"), "{loc}");
    // Unknown scopes stay refused in both places (RFC 6749 §5.2 / §4.1.2.1 invalid_scope).
    let (status, body) = s
        .token(
            &client,
            &[("grant_type", "client_credentials"), ("scope", "nope:read")],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn rfc6749_s2_3_1_secret_basic_and_post_carry_the_same_secret() {
    // RFC 6749 §2.3.1: both methods present the client secret; a client registered with
    // either may use the other. Other methods stay strict.
    let s = TestServer::start().await;
    let basic = s.client(json!({})).await;
    assert_eq!(
        client_credentials_post(&s, &basic.id, &basic.secret).await,
        200
    );
    let post = s
        .client(json!({"token_endpoint_auth_method": "client_secret_post"}))
        .await;
    assert_eq!(
        client_credentials_basic(&s, &post.id, &post.secret).await,
        200
    );
    // A wrong secret is still refused either way.
    assert_eq!(client_credentials_basic(&s, &post.id, "wrong").await, 401);
    assert_eq!(client_credentials_post(&s, &basic.id, "wrong").await, 401);
    // A client_secret_jwt client has a secret too, but must sign with it (OIDC Core §9).
    let jwt = s
        .client(json!({"token_endpoint_auth_method": "client_secret_jwt"}))
        .await;
    assert_eq!(
        client_credentials_basic(&s, &jwt.id, &jwt.secret).await,
        401
    );
    assert_eq!(client_credentials_post(&s, &jwt.id, &jwt.secret).await, 401);
}

#[test]
fn keys_rotate_keeps_retired_keys_for_the_configured_lifetimes() {
    // Retired keys stay published until every token they signed has expired: with an
    // access-token lifetime of two hours, a key retired 20 minutes ago must stay.
    // The set starts as an earlier version's key file, rotated 20 minutes ago (imported).
    use consentry::jose::stored_keys::{self, Status};
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let now = consentry::clock::Clock::default().now();
    let mut keys = stored_keys::generate(now - 1200).unwrap();
    stored_keys::rotate(&mut keys, now - 1200, 7260).unwrap();
    std::fs::create_dir_all(&keys_dir).unwrap();
    std::fs::write(
        stored_keys::legacy_path(&keys_dir),
        stored_keys::to_document(&keys).unwrap(),
    )
    .unwrap();
    let config = dir.path().join("consentry.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[lifetimes]\naccess_token_secs = 7200\nid_token_secs = 7200\n",
            dir.path().to_str().unwrap()
        ),
    )
    .unwrap();
    let out = consentry(
        &["keys", "rotate", "--config", config.to_str().unwrap()],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let retired = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|k| k["status"] == json!(Status::Retired))
        .count();
    assert_eq!(retired, 6, "the earlier retired keys are still published");
}

#[tokio::test]
async fn oidc_core_s2_bank_only_journeys_do_not_claim_a_password() {
    // OIDC Core §2 acr/amr: a journey where no password was typed here says so.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:sandbox-bank")],
        ))
        .await;
    let cb = b.sandbox_bank(&i).await;
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], consentry::protocol::tokens::BANK_ACR);
    assert!(id.get("amr").is_none(), "{id}");
    let discovery = s.discovery().await;
    let acrs = discovery["acr_values_supported"].as_array().unwrap();
    assert!(acrs.contains(&id["acr"]), "{acrs:?}");

    // A password login still says password.
    s.user("alice").await;
    let tokens = tokens_for(&s, &c, "alice").await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], consentry::protocol::tokens::DEFAULT_ACR);
    assert_eq!(id["amr"], json!(["pwd"]));
}

#[test]
fn rfc5280_development_cas_have_unique_names_and_key_identifiers() {
    // RFC 5280 §4.2.1.1-2: key identifiers let a verifier pick the right CA; unique names
    // keep two instances' CAs apart in one trust bundle.
    use x509_parser::extensions::ParsedExtension;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let hosts = ["localhost".to_string()];
    let pki_a = consentry::tls::ensure_dev_pki(a.path(), &hosts).unwrap();
    let pki_b = consentry::tls::ensure_dev_pki(b.path(), &hosts).unwrap();
    let parse = |der: &[u8]| {
        let (_, c) = x509_parser::parse_x509_certificate(der).unwrap();
        let ski = c
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                _ => None,
            });
        let aki = c
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::AuthorityKeyIdentifier(k) => {
                    k.key_identifier.as_ref().map(|k| k.0.to_vec())
                }
                _ => None,
            });
        (c.subject().to_string(), c.issuer().to_string(), ski, aki)
    };
    let (ca_a, _, ca_a_ski, _) = parse(&pki_a.chain[1]);
    let (ca_b, _, _, _) = parse(&pki_b.chain[1]);
    assert_ne!(ca_a, ca_b, "each instance's CA has its own name");
    let (_, leaf_issuer, leaf_ski, leaf_aki) = parse(&pki_a.chain[0]);
    assert_eq!(leaf_issuer, ca_a);
    assert!(ca_a_ski.is_some(), "the CA has a subject key identifier");
    assert!(leaf_ski.is_some(), "the server certificate has one too");
    assert_eq!(leaf_aki, ca_a_ski, "the leaf names its CA's key");

    // A restart keeps the stored CA, and what it signs still names it.
    let again = consentry::tls::ensure_dev_pki(a.path(), &hosts).unwrap();
    let (ca_again, _, _, _) = parse(&again.chain[1]);
    let (_, issuer_again, _, aki_again) = parse(&again.chain[0]);
    assert_eq!(ca_again, ca_a);
    assert_eq!(issuer_again, ca_a);
    assert_eq!(aki_again, ca_a_ski);
}
