//! The device authorization grant (RFC 8628) over real HTTPS: the device authorization
//! endpoint, the verification page driven as a browser, and the token endpoint's polling
//! answers, each negative case named after its rule.

use crate::banks::BankJourney;
use crate::harness::*;
use serde_json::{json, Value};

pub(crate) const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public device client (no secret: it sends only its client_id).
async fn public_device_client(s: &TestServer) -> TestClient {
    s.client(json!({
        "grant_types": [GRANT, "refresh_token"],
        "response_types": [],
        "token_endpoint_auth_method": "none",
        "client_name": "Desktop Budget App",
    }))
    .await
}

/// POSTs a form as a public client (client_id in the body); (status, JSON).
async fn post_public(s: &TestServer, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url(path))
        .form(form)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// RFC 8628 §3.1: asks for a device authorization; the §3.2 answer.
async fn start(s: &TestServer, c: &TestClient, scope: &str) -> Value {
    start_with(s, c, &[("scope", scope)]).await
}

async fn start_with(s: &TestServer, c: &TestClient, params: &[(&str, &str)]) -> Value {
    let mut form = vec![("client_id", c.id.as_str())];
    form.extend_from_slice(params);
    let (status, body) = post_public(s, "/device/auth", &form).await;
    assert_eq!(status, 200, "device authorization: {body}");
    body
}

/// RFC 8628 §3.4: one poll of the token endpoint.
async fn poll(s: &TestServer, c: &TestClient, device_code: &str) -> (u16, Value) {
    post_public(
        s,
        "/token",
        &[
            ("grant_type", GRANT),
            ("device_code", device_code),
            ("client_id", &c.id),
        ],
    )
    .await
}

fn error_of(body: &Value) -> &str {
    body["error"].as_str().unwrap_or_default()
}

/// The browser enters `code` on the verification page; (status, Location, body).
pub(crate) async fn enter_code(j: &Journey<'_>, code: &str) -> (u16, String, String) {
    let (status, _, page) = j.get("/device").await;
    assert_eq!(status, 200, "verification page: {page}");
    let csrf = hidden(&page, "csrf_token").expect("csrf token on the verification page");
    j.post("/device", &[("csrf_token", &csrf), ("user_code", code)])
        .await
}

/// The browser enters `code`, signs in as `username` and answers the consent page with
/// `decision`; the final page.
async fn answer(j: &Journey<'_>, code: &str, username: &str, decision: &str) -> String {
    let (status, interaction, body) = enter_code(j, code).await;
    assert_eq!(status, 303, "code accepted: {body}");
    assert!(interaction.starts_with("/interaction/"), "{interaction}");
    let (status, back, body) = j.login(&interaction, username, PASSWORD).await;
    assert_eq!(
        (status, back.as_str()),
        (303, interaction.as_str()),
        "{body}"
    );
    let (status, _, page) = j.get(&interaction).await;
    assert_eq!(status, 200);
    assert!(page.contains("Allow access"), "consent page: {page}");
    assert!(
        page.contains("Desktop Budget App"),
        "the app's name: {page}"
    );
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, _, done) = j
        .post(
            &format!("{interaction}/consent"),
            &[("csrf_token", &csrf), ("decision", decision)],
        )
        .await;
    assert_eq!(status, 200, "the end page: {done}");
    done
}

#[tokio::test]
async fn rfc8628_a_desktop_app_signs_a_user_in_by_polling() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid profile offline_access").await;
    let user_code = d["user_code"].as_str().unwrap().to_string();
    let device_code = d["device_code"].as_str().unwrap().to_string();
    // §3.2 and §6.1: XXXX-XXXX of the base-20 alphabet, and the complete URI carries it.
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code
        .chars()
        .filter(|c| *c != '-')
        .all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    assert_eq!(d["verification_uri"], format!("{}/device", s.base));
    assert_eq!(
        d["verification_uri_complete"],
        format!("{}/device?user_code={user_code}", s.base)
    );
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["interval"], 5);
    // Only digests are stored.
    let plain = s
        .sql_count(&format!(
            "SELECT count(*) FROM device_authorizations WHERE device_code_hash = '{device_code}' OR user_code_hash = '{user_code}' OR request LIKE '%{user_code}%'"
        ))
        .await;
    assert_eq!(plain, 0, "no code is stored in plain");

    let (status, body) = poll(&s, &c, &device_code).await;
    assert_eq!((status, error_of(&body)), (400, "authorization_pending"));

    // verification_uri_complete fills the code in; the user still confirms it (§5.4).
    let j = Journey::new(&s);
    let (status, _, page) = j
        .get(d["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("value=\"{user_code}\"")), "{page}");
    assert!(page.contains("lang=\"en\"") && page.contains("<label for=\"user_code\">"));
    // Typed in lower case without the hyphen, it is the same code (§6.1).
    let typed = user_code.replace('-', "").to_lowercase();
    let (status, interaction, body) = enter_code(&j, &typed).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, _) = j.login(&interaction, "alice", PASSWORD).await;
    assert_eq!(status, 303);
    let (_, _, consent) = j.get(&interaction).await;
    assert!(
        consent.contains(&user_code),
        "the consent page shows the code: {consent}"
    );
    assert!(consent.contains("Desktop Budget App"));
    let interactions = s
        .sql_count(&format!(
            "SELECT count(*) FROM interactions WHERE request LIKE '%{user_code}%'"
        ))
        .await;
    assert_eq!(
        interactions, 0,
        "the shown code is sealed in the interaction"
    );
    let csrf = hidden(&consent, "csrf_token").unwrap();
    let (status, _, done) = j
        .post(
            &format!("{interaction}/consent"),
            &[("csrf_token", &csrf), ("decision", "approve")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(done.contains("return to your device"), "{done}");

    s.provider.clock.advance(5);
    let (status, tokens) = poll(&s, &c, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access: {tokens}"
    );
    let id = verify_with_jwks(&s, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id["aud"], c.id.as_str());
    assert!(id["sid"].is_string(), "{id}");
    assert!(id.get("nonce").is_none());
    // UserInfo takes the access token.
    let me: Value = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], id["sub"]);
    assert_eq!(me["name"], "alice Example");
    // The refresh token works as any other.
    let (status, refreshed) = post_public(
        &s,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", &c.id),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
}

#[tokio::test]
async fn rfc8628_3_5_a_used_device_code_is_invalid_grant() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    let j = Journey::new(&s);
    answer(&j, d["user_code"].as_str().unwrap(), "alice", "approve").await;
    let code = d["device_code"].as_str().unwrap();
    let (status, first) = poll(&s, &c, code).await;
    assert_eq!(status, 200, "{first}");
    s.provider.clock.advance(5);
    let (status, body) = poll(&s, &c, code).await;
    assert_eq!(
        (status, error_of(&body)),
        (400, "invalid_grant"),
        "RFC 8628 section 3.5: a device code is single use: {body}"
    );
    // The first poll's tokens stay valid: a spent code is refused, not a reason to revoke.
    let me = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status().as_u16(), 200);
}

#[tokio::test]
async fn rfc8628_3_5_two_polls_at_once_issue_once() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    let j = Journey::new(&s);
    answer(&j, d["user_code"].as_str().unwrap(), "alice", "approve").await;
    let code = d["device_code"].as_str().unwrap();
    let (a, b, c3, d4) = tokio::join!(
        poll(&s, &c, code),
        poll(&s, &c, code),
        poll(&s, &c, code),
        poll(&s, &c, code)
    );
    let polls = [a, b, c3, d4];
    let issued = polls.iter().filter(|(st, _)| *st == 200).count();
    assert_eq!(issued, 1, "exactly one poll gets tokens: {polls:?}");
    assert_eq!(
        s.sql_count("SELECT count(*) FROM access_tokens WHERE grant_id IS NOT NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn rfc8628_3_5_access_denied_when_the_user_denies() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    let j = Journey::new(&s);
    let done = answer(&j, d["user_code"].as_str().unwrap(), "alice", "deny").await;
    assert!(done.contains("Device not connected"), "{done}");
    let (status, body) = poll(&s, &c, d["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_of(&body)),
        (400, "access_denied"),
        "RFC 8628 section 3.5: {body}"
    );
    assert_eq!(s.sql_count("SELECT count(*) FROM grants").await, 0);
}

#[tokio::test]
async fn rfc8628_3_5_expired_token_once_the_code_lapses() {
    let s = TestServer::start().await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    s.provider.clock.advance(601);
    let (status, body) = poll(&s, &c, d["device_code"].as_str().unwrap()).await;
    assert_eq!(
        (status, error_of(&body)),
        (400, "expired_token"),
        "RFC 8628 section 3.5: {body}"
    );
    // The user code has lapsed too.
    let j = Journey::new(&s);
    let (status, _, page) = enter_code(&j, d["user_code"].as_str().unwrap()).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("not valid or has expired"));
    // The sweeper removes it (the server's own periodic sweep may have got there first).
    s.provider
        .store
        .write({
            let now = s.provider.now();
            move |tx| tx.sweep().expired(now, 100)
        })
        .await
        .unwrap();
    assert_eq!(
        s.sql_count("SELECT count(*) FROM device_authorizations")
            .await,
        0
    );
}

#[tokio::test]
async fn rfc8628_3_5_slow_down_grows_the_interval_by_five_seconds() {
    let s = TestServer::start().await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    let code = d["device_code"].as_str().unwrap();
    let (_, body) = poll(&s, &c, code).await;
    assert_eq!(error_of(&body), "authorization_pending");
    let (status, body) = poll(&s, &c, code).await;
    assert_eq!(
        (status, error_of(&body)),
        (400, "slow_down"),
        "RFC 8628 section 3.5: polling faster than the interval: {body}"
    );
    let interval = || s.sql_count("SELECT interval_secs FROM device_authorizations");
    assert_eq!(
        interval().await,
        10,
        "the interval grew by 5 s and is stored"
    );
    // 6 s would have been enough before; now it is too soon again.
    s.provider.clock.advance(6);
    let (_, body) = poll(&s, &c, code).await;
    assert_eq!(error_of(&body), "slow_down", "RFC 8628 section 3.5: {body}");
    assert_eq!(interval().await, 15);
    s.provider.clock.advance(15);
    let (_, body) = poll(&s, &c, code).await;
    assert_eq!(error_of(&body), "authorization_pending", "{body}");
}

#[tokio::test]
async fn rfc8628_3_5_another_clients_device_code_is_invalid_grant() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let owner = public_device_client(&s).await;
    let other = public_device_client(&s).await;
    let d = start(&s, &owner, "openid").await;
    let code = d["device_code"].as_str().unwrap();
    let j = Journey::new(&s);
    answer(&j, d["user_code"].as_str().unwrap(), "alice", "approve").await;
    let (status, body) = poll(&s, &other, code).await;
    assert_eq!(
        (status, error_of(&body)),
        (400, "invalid_grant"),
        "RFC 8628 section 3.5: the code is bound to its client: {body}"
    );
    // Nothing changed: the owner still gets its tokens.
    let (status, body) = poll(&s, &owner, code).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn rfc8628_5_1_wrong_user_codes_consume_nothing_and_are_throttled() {
    let s = TestServer::start_with(|c| c.login.max_failures_per_account = 3).await;
    s.user("alice").await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    let j = Journey::new(&s);
    for wrong in ["BCDF-GHJK", "not a code", "ZZZZ-ZZZZ"] {
        let (status, _, page) = enter_code(&j, wrong).await;
        assert_eq!(status, 400, "a wrong code: {page}");
        assert!(page.contains("not valid or has expired"), "{page}");
        assert!(page.contains("role=\"alert\""));
    }
    // Throttled now, even for the right code (RFC 8628 section 5.1: brute forcing).
    let right = d["user_code"].as_str().unwrap();
    let (status, _, page) = enter_code(&j, right).await;
    assert_eq!(status, 429, "{page}");
    assert!(page.contains("Too many wrong codes"), "{page}");
    // Nothing was consumed: the device is still waiting, and the code works after the block.
    let (_, body) = poll(&s, &c, d["device_code"].as_str().unwrap()).await;
    assert_eq!(error_of(&body), "authorization_pending");
    s.provider.clock.advance(61);
    let (status, loc, body) = enter_code(&j, right).await;
    assert_eq!(status, 303, "{body}");
    assert!(loc.starts_with("/interaction/"));
}

#[tokio::test]
async fn rfc8628_3_3_the_verification_form_needs_its_csrf_token() {
    let s = TestServer::start().await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    let j = Journey::new(&s);
    let _ = j.get("/device").await;
    let (status, _, page) = j
        .post(
            "/device",
            &[
                ("csrf_token", "forged"),
                ("user_code", d["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 403, "{page}");
    // A token minted for another browser is no good either.
    let other = Journey::new(&s);
    let (_, _, page) = other.get("/device").await;
    let foreign = hidden(&page, "csrf_token").unwrap();
    let (status, _, _) = j
        .post(
            "/device",
            &[
                ("csrf_token", &foreign),
                ("user_code", d["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn rfc8628_3_1_a_client_without_the_grant_type_is_refused() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let res = s
        .browser()
        .post(s.url("/device/auth"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client", "{body}");
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("RFC 8628 section 3.1"));
    let (status, body) = s
        .token(&c, &[("grant_type", GRANT), ("device_code", "x")])
        .await;
    assert_eq!((status, error_of(&body)), (400, "unauthorized_client"));
}

#[tokio::test]
async fn rfc8628_3_1_confidential_clients_authenticate_and_scopes_are_checked() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({"grant_types": ["authorization_code", "refresh_token", GRANT]}))
        .await;
    let ask = |secret: String, scope: &'static str| {
        let (s, id) = (&s, c.id.clone());
        async move {
            let res = s
                .browser()
                .post(s.url("/device/auth"))
                .basic_auth(id, Some(secret))
                .form(&[("scope", scope)])
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = ask("wrong-secret".into(), "openid").await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"), "{body}");
    let (status, body) = ask(c.secret.clone(), "openid unknown:scope").await;
    assert_eq!(
        (status, error_of(&body)),
        (400, "invalid_scope"),
        "RFC 6749 section 3.3: {body}"
    );
    let (status, body) = ask(c.secret.clone(), "").await;
    assert_eq!((status, error_of(&body)), (400, "invalid_scope"), "{body}");
    let (status, body) = ask(c.secret.clone(), "openid id:all id:test").await;
    assert_eq!((status, error_of(&body)), (400, "invalid_scope"), "{body}");
    let (status, body) = ask(c.secret.clone(), "openid accounts:read").await;
    assert_eq!(status, 200, "{body}");
    // A public client sending nothing but an unknown client_id is refused.
    let (status, body) = post_public(
        &s,
        "/device/auth",
        &[("client_id", "nobody"), ("scope", "openid")],
    )
    .await;
    assert_eq!((status, error_of(&body)), (401, "invalid_client"), "{body}");
}

#[tokio::test]
async fn rfc8414_discovery_advertises_the_device_authorization_endpoint() {
    let s = TestServer::start().await;
    let d = s.discovery().await;
    assert_eq!(d["device_authorization_endpoint"], s.url("/device/auth"));
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(GRANT)));
}

#[tokio::test]
async fn rfc7591_registration_accepts_the_device_code_grant() {
    let s = TestServer::start().await;
    let (status, body) = s
        .register(&json!({
            "grant_types": [GRANT, "refresh_token"],
            "token_endpoint_auth_method": "none",
            "client_name": "TV app",
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["response_types"], json!([]), "{body}");
    let (status, body) = s
        .register(&json!({"grant_types": ["urn:example:unknown"], "redirect_uris": [REDIRECT_URI]}))
        .await;
    assert_eq!((status, error_of(&body)), (400, "invalid_client_metadata"));
}

#[tokio::test]
async fn rfc8628_a_device_flow_connects_a_sandbox_bank() {
    let s = TestServer::start().await;
    let c = public_device_client(&s).await;
    let claims = r#"{"id_token":{"mh:con_id":{"essential":true}}}"#;
    let d = start_with(
        &s,
        &c,
        &[("scope", "openid id:sandbox-bank"), ("claims", claims)],
    )
    .await;
    let b = BankJourney::new(&s);
    let (status, interaction, body) = enter_code(&b.j, d["user_code"].as_str().unwrap()).await;
    assert_eq!(status, 303, "{body}");
    // No login: the bank journey identifies the user; consent names the bank and the code.
    let page = b.page(&interaction).await;
    assert!(page.contains(d["user_code"].as_str().unwrap()), "{page}");
    let (status, loc) = b.approve(&interaction, "Sandbox Bank").await;
    assert_eq!((status, loc.as_str()), (303, interaction.as_str()));
    let (status, _, done) = b
        .submit(
            &interaction,
            &[("username", "sandbox"), ("password", "sandbox-password")],
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert!(done.contains("Device connected"), "{done}");
    let (status, tokens) = poll(&s, &c, d["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    let con_id = id["mh:con_id"].as_str().expect("mh:con_id in the ID token");
    assert_eq!(
        s.sql_count(&format!(
            "SELECT count(*) FROM connections WHERE id = '{con_id}'"
        ))
        .await,
        1
    );
}

#[tokio::test]
async fn rfc8628_5_4_the_user_confirms_every_device_even_with_remembered_consent() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let c = public_device_client(&s).await;
    let j = Journey::new(&s);
    let first = start(&s, &c, "openid").await;
    answer(&j, first["user_code"].as_str().unwrap(), "alice", "approve").await;
    // Same browser, signed in, consent remembered: the next code still asks.
    let second = start(&s, &c, "openid").await;
    let code = second["user_code"].as_str().unwrap();
    let (status, interaction, body) = enter_code(&j, code).await;
    assert_eq!(status, 303, "{body}");
    let (status, loc, page) = j.get(&interaction).await;
    assert_eq!(
        status, 200,
        "RFC 8628 section 5.4: no silent approval (went to {loc})"
    );
    assert!(
        page.contains("Allow access") && page.contains(code),
        "{page}"
    );
}

#[test]
fn rfc8628_the_cli_adds_a_public_device_client() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let meta = json!({
        "client_id": "tv-app",
        "grant_types": [GRANT, "refresh_token"],
        "token_endpoint_auth_method": "none",
    })
    .to_string();
    let out = crate::cli::consentry(
        &["clients", "add", "--data-dir", d, "--metadata", &meta],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["grant_types"], json!([GRANT, "refresh_token"]));
    assert!(
        added.get("client_secret").is_none_or(Value::is_null),
        "{added}"
    );
}

#[tokio::test]
async fn rfc9449_a_device_polling_with_a_dpop_proof_gets_bound_tokens() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let c = s
        .client(json!({
            "grant_types": ["authorization_code", "refresh_token", GRANT],
            "client_name": "Desktop Budget App",
        }))
        .await;
    let res = s
        .browser()
        .post(s.url("/device/auth"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    let d: Value = res.json().await.unwrap();
    let j = Journey::new(&s);
    answer(&j, d["user_code"].as_str().unwrap(), "alice", "approve").await;
    let key = crate::keys::DpopKey::new();
    let proof = key.proof("POST", &s.url("/token"), None, s.provider.now());
    let form = [
        ("grant_type", GRANT),
        ("device_code", d["device_code"].as_str().unwrap()),
    ];
    let (status, body) = crate::fapi_dpop::token_with_proof(&s, &c, &form, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP", "RFC 9449 section 5");
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["cnf"]["jkt"], key.jkt());
}

#[tokio::test]
async fn rfc8628_3_2_the_operator_sets_the_codes_lifetime_and_the_poll_interval() {
    let s = TestServer::start_with(|c| {
        c.lifetimes.device_code_secs = 120;
        c.lifetimes.poll_interval_secs = 2;
    })
    .await;
    let c = public_device_client(&s).await;
    let d = start(&s, &c, "openid").await;
    assert_eq!(
        (d["expires_in"].as_i64(), d["interval"].as_i64()),
        (Some(120), Some(2))
    );
    let code = d["device_code"].as_str().unwrap();
    let (_, body) = poll(&s, &c, code).await;
    assert_eq!(error_of(&body), "authorization_pending", "{body}");
    // The configured interval is the one enforced: 3 s is enough, 1 s is not (§3.5).
    s.provider.clock.advance(3);
    let (_, body) = poll(&s, &c, code).await;
    assert_eq!(error_of(&body), "authorization_pending", "{body}");
    s.provider.clock.advance(1);
    let (_, body) = poll(&s, &c, code).await;
    assert_eq!(error_of(&body), "slow_down", "RFC 8628 section 3.5: {body}");
    // §3.5: past the configured lifetime the device code has expired.
    s.provider.clock.advance(120);
    let (_, body) = poll(&s, &c, code).await;
    assert_eq!(
        error_of(&body),
        "expired_token",
        "RFC 8628 section 3.5: {body}"
    );
}
