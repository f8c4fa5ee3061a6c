//! Interop with Node's certified relying party `openid-client`, and the login and consent
//! pages in a real headless Chromium. The scripts live in `tests/interop/`; the test command
//! installs their packages (`npm ci`) and Debian's chromium.

use crate::harness::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

fn interop_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    assert!(
        dir.join("node_modules/openid-client").exists(),
        "run `npm ci --prefix tests/interop` first (the README's test command does)"
    );
    dir
}

/// Runs a Node script with `env` and the dev CA trusted; returns stdout, failing with the
/// script's output when it fails.
pub async fn node(server: &TestServer, script: &str, env: &[(&str, String)]) -> String {
    let ca = server.provider.config.keys_dir().join("ca.pem");
    let mut cmd = Command::new("node");
    cmd.arg(script)
        .current_dir(interop_dir())
        .env("NODE_EXTRA_CA_CERTS", ca);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn openid_client_completes_the_flow() {
    let s = TestServer::start().await;
    let c = s.client(json!({"client_name": "Node RP"})).await;
    s.user("alice").await;
    let out = node(
        &s,
        "flow.mjs",
        &[
            ("ISSUER", s.issuer.clone()),
            ("CLIENT_ID", c.id.clone()),
            ("CLIENT_SECRET", c.secret.clone()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
        ],
    )
    .await;
    for step in [
        "ok - discovery",
        "ok - authorization code grant",
        "ok - userinfo",
        "ok - refresh token grant (rotation)",
        "ok - introspect access token",
        "ok - revoke refresh token",
        "ok - replayed code is invalid_grant",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
}

/// N5: CIBA poll mode (CIBA Core §7, §10.1) with `initiateBackchannelAuthentication` and
/// `pollBackchannelAuthenticationGrant`, approved on the approval page.
#[tokio::test]
async fn openid_client_completes_a_ciba_poll_flow_approved_on_the_approval_page() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({
            "client_name": "Node CIBA RP",
            "grant_types": ["urn:openid:params:grant-type:ciba"],
            "response_types": [],
            "redirect_uris": [],
            "backchannel_token_delivery_mode": "poll",
        }))
        .await;
    let alice = s.user("alice").await;
    let out = node(
        &s,
        "ciba.mjs",
        &[
            ("ISSUER", s.issuer.clone()),
            ("CLIENT_ID", c.id.clone()),
            ("CLIENT_SECRET", c.secret.clone()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
            ("EXPECTED_SUB", alice),
        ],
    )
    .await;
    for step in [
        "ok - initiateBackchannelAuthentication",
        "ok - approval page: approve the request showing the binding message",
        "ok - pollBackchannelAuthenticationGrant returns validated tokens",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
}

#[tokio::test]
async fn login_and_consent_work_in_headless_chromium() {
    let s = TestServer::start().await;
    let c = s.client(json!({"client_name": "Browser RP"})).await;
    let alice = s.user("alice").await;
    let (verifier, challenge) = pkce();
    let mut url = url::Url::parse(&s.url("/auth")).unwrap();
    url.query_pairs_mut()
        .extend_pairs(auth_params(&c, &challenge, &[]));
    let out = node(
        &s,
        "browser.mjs",
        &[
            ("AUTH_URL", url.to_string()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
        ],
    )
    .await;
    let callback = out
        .lines()
        .find_map(|l| l.strip_prefix("CALLBACK "))
        .unwrap_or_else(|| panic!("no CALLBACK line in:\n{out}"));
    let q = query(callback);
    assert_eq!(q["state"], "state-123");
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["id_token"].as_str().unwrap())["sub"], alice);
}

#[tokio::test]
async fn openid_client_completes_a_fapi2_flow_with_par_private_key_jwt_and_dpop() {
    let s = TestServer::start().await;
    let key = crate::keys::ClientKey::new("ES256");
    let c = s
        .client(json!({
            "fapi_profile": "fapi2", "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "dpop_bound_access_tokens": true,
        }))
        .await;
    s.user("alice").await;
    let mut private = serde_json::Value::Object(key.jwk.as_ref().clone());
    private["alg"] = json!("ES256");
    let out = node(
        &s,
        "fapi2.mjs",
        &[
            ("ISSUER", s.issuer.clone()),
            ("CLIENT_ID", c.id.clone()),
            ("PRIVATE_JWK", private.to_string()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
        ],
    )
    .await;
    for step in [
        "ok - pushed authorization request",
        "ok - authorization code grant (DPoP, private_key_jwt)",
        "ok - token_type is DPoP and access token cnf.jkt is the DPoP key thumbprint",
        "ok - userinfo (DPoP)",
        "ok - refresh token grant (DPoP)",
        "ok - userinfo without DPoP proof is refused (401)",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
}

/// FAPI 1.0 Advanced: request objects by value, `code id_token` and JARM, private_key_jwt,
/// and access tokens bound to the client certificate every openid-client request presents.
#[tokio::test]
async fn openid_client_completes_a_fapi1_advanced_flow_with_jar_hybrid_and_mtls() {
    let s = TestServer::start().await;
    let key = crate::keys::ClientKey::new("PS256");
    let c = s
        .client(json!({
            "fapi_profile": "fapi1_advanced", "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
            "request_object_signing_alg": "PS256", "id_token_signed_response_alg": "PS256",
            "tls_client_certificate_bound_access_tokens": true,
            // code id_token returns an ID token from the authorization endpoint: implicit.
            "response_types": ["code id_token", "code"],
            "grant_types": ["authorization_code", "implicit", "refresh_token"],
        }))
        .await;
    s.user("alice").await;
    let mut private = serde_json::Value::Object(key.jwk.as_ref().clone());
    private["alg"] = json!("PS256");
    let cert = crate::fapi_mtls::self_signed("node-fapi1-rp");
    let out = node(
        &s,
        "fapi1.mjs",
        &[
            ("ISSUER", s.issuer.clone()),
            ("CLIENT_ID", c.id.clone()),
            ("PRIVATE_JWK", private.to_string()),
            ("CLIENT_CERT_PEM", cert.cert_pem().into()),
            ("CLIENT_KEY_PEM", cert.key_pem().into()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
        ],
    )
    .await;
    for step in [
        "ok - discovery over mTLS (JAR, PS256, certificate-bound tokens advertised)",
        "ok - signed request object by value (PS256, PKCE S256, code id_token)",
        "ok - hybrid response in the fragment (code, id_token, state, iss)",
        "ok - authorization code grant (private_key_jwt, mTLS)",
        "ok - access token cnf[\"x5t#S256\"] is the client certificate thumbprint",
        "ok - userinfo (mTLS)",
        "ok - userinfo without the client certificate is refused (401)",
        "ok - refresh token grant (mTLS, still certificate-bound)",
        "ok - JARM response in the query, signed PS256",
        "ok - authorization code grant from the JARM response (mTLS)",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
}

/// A bank connection in a real browser: login, the chooser's search, consent naming the bank,
/// Sandbox Bank's form (a wrong password first), and the redirect with a code whose ID token
/// names the new connection.
#[tokio::test]
async fn bank_connection_works_in_headless_chromium() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let (verifier, challenge) = pkce();
    let mut url = url::Url::parse(&s.url("/auth")).unwrap();
    url.query_pairs_mut().extend_pairs(auth_params(
        &c,
        &challenge,
        &[
            ("scope", "openid id:all"),
            ("prompt", "login"),
            ("claims", r#"{"id_token":{"mh:con_id":{"essential":true}}}"#),
        ],
    ));
    let out = node(
        &s,
        "bank_browser.mjs",
        &[
            ("AUTH_URL", url.to_string()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
        ],
    )
    .await;
    for step in [
        "ok - launch chromium",
        "ok - login page",
        "ok - submit login",
        "ok - bank chooser page",
        "ok - search narrows the list",
        "ok - search \"sandbox\"",
        "ok - choose Sandbox Bank",
        "ok - consent page names the bank",
        "ok - approve consent",
        "ok - Sandbox Bank sign-in form",
        "ok - wrong bank password shows the error",
        "ok - submit bank credentials",
        "ok - redirect to the client",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
    let callback = out
        .lines()
        .find_map(|l| l.strip_prefix("CALLBACK "))
        .unwrap_or_else(|| panic!("no CALLBACK line in:\n{out}"));
    let q = query(callback);
    assert_eq!(q["state"], "state-123");
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], alice.as_str(), "{id}");
    // The contract's form: <32 hex>:<uuid>.
    let con_id = id["mh:con_id"].as_str().expect("mh:con_id in the id_token");
    let (hash, uuid) = con_id.split_once(':').expect(con_id);
    assert_eq!(hash.len(), 32, "{con_id}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{con_id}");
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{con_id}");
}

/// The user's dashboard in a real browser: the page signs the visitor in, lists the app they
/// granted access to, and after Revoke the app is gone and its token no longer active.
#[tokio::test]
async fn the_dashboard_revokes_an_app_in_headless_chromium() {
    let s = TestServer::start().await;
    let c = s.client(json!({"client_name": "Dashboard RP"})).await;
    s.user("alice").await;
    let tokens = tokens_for(&s, &c, "alice").await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(&c, at).await["active"], true);
    let out = node(
        &s,
        "account_browser.mjs",
        &[
            ("ACCOUNT_URL", format!("{}/account", s.base)),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
            ("APP_NAME", "Dashboard RP".into()),
        ],
    )
    .await;
    for step in [
        "ok - sign-in form at /account",
        "ok - sign in",
        "ok - the app is listed",
        "ok - revoke the app",
        "ok - no page errors",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
    assert_eq!(
        s.introspect(&c, at).await["active"],
        false,
        "the revoke in the browser ended the app's token"
    );
}

/// The contract's "Flow for use case 2" with openid-client as the partner: a client-managed
/// user from the users API, a signed request object pinning `sub` and asking for
/// `mh:con_id`, consent and Sandbox Bank without a login page, then a data-access token
/// from client_credentials with `sub`.
#[tokio::test]
async fn openid_client_runs_use_case_2_as_the_partner() {
    let s = TestServer::start().await;
    let key = crate::keys::ClientKey::new("PS256");
    let c = s
        .client(json!({
            "scope": "openid offline_access user:create user:read user:delete accounts:read transactions:read:all",
            "jwks": key.jwks(), "request_object_signing_alg": "PS256",
        }))
        .await;
    let mut private = serde_json::Value::Object(key.jwk.as_ref().clone());
    private["alg"] = json!("PS256");
    let out = node(
        &s,
        "usecase2.mjs",
        &[
            ("ISSUER", s.issuer.clone()),
            ("CLIENT_ID", c.id.clone()),
            ("CLIENT_SECRET", c.secret.clone()),
            ("PRIVATE_JWK", private.to_string()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
        ],
    )
    .await;
    for step in [
        "ok - discovery (client_secret_basic)",
        "ok - client credentials grant (user:create) and POST /users",
        "ok - signed request object pins sub (PS256, PKCE S256, prompt consent, max_age)",
        "ok - authorize redirects to the interaction",
        "ok - consent page without a login page, naming the bank",
        "ok - approve consent returns to the interaction",
        "ok - Sandbox Bank sign-in form",
        "ok - bank credentials redirect to the client with code, state and iss",
        "ok - authorization code grant: ID token sub is the user, mh:con_id names the connection",
        "ok - client credentials grant with sub (accounts:read transactions:read:all), introspected",
        "ok - GET /users/{userId}/connections lists the connection (user:read)",
        "ok - client credentials grant with sub of an unknown user is invalid_grant",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
}

/// OpenID RP-Initiated Logout 1.0 §2 in a real browser: without an id_token_hint the user
/// confirms on the provider's page, then lands on the registered post_logout_redirect_uri
/// with `state`, and the session is gone.
#[tokio::test]
async fn rp_initiated_logout_confirmation_works_in_headless_chromium() {
    const POST_LOGOUT: &str = "https://rp.example.test/logged-out";
    let s = TestServer::start().await;
    let c = s
        .client(json!({"client_name": "Browser RP", "post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    s.user("alice").await;
    let (_, challenge) = pkce();
    let mut auth = url::Url::parse(&s.url("/auth")).unwrap();
    auth.query_pairs_mut()
        .extend_pairs(auth_params(&c, &challenge, &[]));
    let mut end = url::Url::parse(&s.url("/session/end")).unwrap();
    end.query_pairs_mut().extend_pairs([
        ("client_id", c.id.as_str()),
        ("post_logout_redirect_uri", POST_LOGOUT),
        ("state", "logout-state-1"),
    ]);
    let out = node(
        &s,
        "logout_browser.mjs",
        &[
            ("AUTH_URL", auth.to_string()),
            ("REDIRECT_URI", REDIRECT_URI.into()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
            ("END_SESSION_URL", end.to_string()),
            ("POST_LOGOUT_URI", POST_LOGOUT.into()),
        ],
    )
    .await;
    for step in [
        "ok - sign in and consent",
        "ok - logout confirmation page",
        "ok - sign out",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    let landed = out
        .lines()
        .find_map(|l| l.strip_prefix("LOGGED_OUT "))
        .unwrap_or_else(|| panic!("no LOGGED_OUT line in:\n{out}"));
    assert_eq!(landed, format!("{POST_LOGOUT}?state=logout-state-1"));
    assert_eq!(
        s.sql_count("SELECT count(*) FROM sessions").await,
        0,
        "the session row is deleted"
    );
}

#[tokio::test]
async fn openid_client_runs_the_device_flow_with_chromium_on_the_verification_page() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({
            "client_name": "Desktop App",
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "response_types": [],
            "token_endpoint_auth_method": "none",
        }))
        .await;
    s.user("alice").await;
    let out = node(
        &s,
        "device.mjs",
        &[
            ("ISSUER", s.issuer.clone()),
            ("CLIENT_ID", c.id.clone()),
            ("USERNAME", "alice".into()),
            ("PASSWORD", PASSWORD.into()),
        ],
    )
    .await;
    for step in [
        "ok - initiateDeviceAuthorization",
        "ok - consent shows the app and the code, approve",
        "ok - pollDeviceAuthorizationGrant completes and the ID token validates",
    ] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    assert!(out.contains(" 0 failed"), "{out}");
}
