//! CIBA (OpenID Client-Initiated Backchannel Authentication Core 1.0), poll and ping modes with
//! FAPI-CIBA's rules: the backchannel endpoint, the approval page, the token endpoint's CIBA
//! grant and the ping, over real HTTPS; each negative test names the section it checks.

use crate::harness::*;
use crate::keys::ClientKey;
use crate::webhooks::read_request;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

pub(crate) const CIBA: &str = "urn:openid:params:grant-type:ciba";

async fn poll_client(s: &TestServer) -> TestClient {
    s.client(json!({
        "client_name": "Desk App",
        "grant_types": [CIBA, "refresh_token"],
        "response_types": [],
        "backchannel_token_delivery_mode": "poll",
    }))
    .await
}

/// POSTs an authentication request to the backchannel endpoint as `c` (client_secret_basic).
pub(crate) async fn backchannel(
    s: &TestServer,
    c: &TestClient,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url("/backchannel"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(form)
        .send()
        .await
        .expect("backchannel request");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn poll(s: &TestServer, c: &TestClient, auth_req_id: &str) -> (u16, Value) {
    s.token(c, &[("grant_type", CIBA), ("auth_req_id", auth_req_id)])
        .await
}

/// A browser on the approval page: signs in as `username`, then answers.
pub(crate) struct Approver {
    journey_browser: reqwest::Client,
    base: String,
}

impl Approver {
    pub(crate) async fn sign_in(s: &TestServer, username: &str) -> Approver {
        let a = Approver {
            journey_browser: s.browser(),
            base: s.base.clone(),
        };
        let (status, page) = a.get().await;
        assert_eq!(status, 200);
        assert!(page.contains("<html lang=\"en\">"), "{page}");
        assert!(
            page.contains("<label for=\"password\">"),
            "the sign-in form labels its fields: {page}"
        );
        let csrf = hidden(&page, "csrf_token").expect("csrf token on the sign-in form");
        let res = a
            .journey_browser
            .post(format!("{}/ciba/login", a.base))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", username),
                ("password", PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "sign-in succeeds");
        assert_eq!(location(&res), "/ciba");
        a
    }

    pub(crate) async fn get(&self) -> (u16, String) {
        let res = self
            .journey_browser
            .get(format!("{}/ciba", self.base))
            .send()
            .await
            .unwrap();
        let csp = res
            .headers()
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            csp.contains("default-src 'none'") || csp.contains("default-src 'self'"),
            "the approval page carries the pages' CSP: {csp}"
        );
        (res.status().as_u16(), res.text().await.unwrap())
    }

    /// Answers the one request whose section shows `marker`; returns the answer page.
    pub(crate) async fn answer(&self, marker: &str, decision: &str) -> (u16, String) {
        let (_, page) = self.get().await;
        let at = page
            .find(marker)
            .unwrap_or_else(|| panic!("{marker} listed: {page}"));
        let section = &page[..at];
        let start = section.rfind("<section").expect("request section");
        let rest = &page[start..];
        let csrf = hidden(rest, "csrf_token").expect("csrf");
        let id = hidden(rest, "request").expect("request id");
        self.post_decision(&csrf, &id, decision).await
    }

    async fn post_decision(&self, csrf: &str, id: &str, decision: &str) -> (u16, String) {
        let res = self
            .journey_browser
            .post(format!("{}/ciba/decide", self.base))
            .form(&[
                ("csrf_token", csrf),
                ("request", id),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

#[tokio::test]
async fn discovery_advertises_ciba_poll_and_ping_without_user_codes() {
    let s = TestServer::start().await;
    let d = s.discovery().await;
    assert_eq!(
        d["backchannel_authentication_endpoint"],
        s.url("/backchannel")
    );
    assert_eq!(
        d["backchannel_token_delivery_modes_supported"],
        json!(["poll", "ping"])
    );
    assert_eq!(d["backchannel_user_code_parameter_supported"], false);
    assert!(
        d["backchannel_authentication_request_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("PS256"))
    );
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!(CIBA)));
}

#[tokio::test]
async fn ciba_4_registration_refuses_push_mode_and_incomplete_ciba_metadata() {
    let s = TestServer::start().await;
    let base = json!({
        "grant_types": [CIBA], "response_types": [], "token_endpoint_auth_method": "client_secret_basic",
    });
    let with = |extra: Value| {
        let mut m = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    let cases = [
        (
            json!({"backchannel_token_delivery_mode": "push", "backchannel_client_notification_endpoint": "https://rp.example.test/ping"}),
            "push",
            "FAPI-CIBA 5.2.2: push mode is refused",
        ),
        (
            json!({}),
            "backchannel_token_delivery_mode is required",
            "CIBA 4: the mode is required",
        ),
        (
            json!({"backchannel_token_delivery_mode": "ping"}),
            "backchannel_client_notification_endpoint is required",
            "CIBA 4: ping needs a notification endpoint",
        ),
        (
            json!({"backchannel_token_delivery_mode": "ping", "backchannel_client_notification_endpoint": "http://rp.example.test/ping"}),
            "https",
            "CIBA 4: the notification endpoint is https",
        ),
        (
            json!({"backchannel_token_delivery_mode": "poll", "backchannel_user_code_parameter": true}),
            "user codes are not supported",
            "CIBA 4: no user codes",
        ),
        (
            json!({"backchannel_token_delivery_mode": "poll", "token_endpoint_auth_method": "none"}),
            "confidential",
            "CIBA 4: confidential clients only",
        ),
        (
            json!({"backchannel_token_delivery_mode": "poll", "backchannel_authentication_request_signing_alg": "none"}),
            "not supported",
            "CIBA 4: algorithms from the allow-list",
        ),
    ];
    for (extra, says, rule) in cases {
        let (status, body) = s.register(&with(extra)).await;
        assert_eq!(status, 400, "{rule}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{rule}");
        assert!(
            body["error_description"].as_str().unwrap().contains(says),
            "{rule}: {body}"
        );
    }
    let (status, body) = s
        .register(&with(json!({"backchannel_token_delivery_mode": "poll"})))
        .await;
    assert_eq!(status, 201, "a poll client registers: {body}");
    assert_eq!(body["backchannel_token_delivery_mode"], "poll");
}

#[tokio::test]
async fn poll_flow_approved_on_the_page_then_redeemed_once() {
    let s = TestServer::start().await;
    let alice = s.user("alice").await;
    let c = poll_client(&s).await;
    let (status, ack) = backchannel(
        &s,
        &c,
        &[
            ("scope", "openid email offline_access"),
            ("login_hint", "alice"),
            ("binding_message", "W4SCT"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["expires_in"], 300);
    assert_eq!(ack["interval"], 5);
    let id = ack["auth_req_id"].as_str().unwrap().to_string();
    assert!(id.len() >= 32, "auth_req_id carries enough entropy");
    let stored_hash = s
        .sql_count(&format!(
            "SELECT count(*) FROM ciba_requests WHERE auth_req_hash = '{}'",
            consentry::secrets::digest(&id)
        ))
        .await;
    assert_eq!(stored_hash, 1, "only the auth_req_id's digest is stored");

    // CIBA §11: pending, then polling faster than the interval slows the client down, and
    // the grown interval (10 s) is kept.
    let (status, body) = poll(&s, &c, &id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("authorization_pending"))
    );
    let (_, body) = poll(&s, &c, &id).await;
    assert_eq!(body["error"], "slow_down", "ciba_11_slow_down: {body}");
    s.provider.clock.advance(6);
    let (_, body) = poll(&s, &c, &id).await;
    assert_eq!(
        body["error"], "slow_down",
        "ciba_11_slow_down: the interval grew by 5 s and stays grown: {body}"
    );

    // The user signs in on the approval page and sees the app, scopes and binding message.
    let approver = Approver::sign_in(&s, "alice").await;
    let (_, page) = approver.get().await;
    assert!(page.contains("Desk App"), "{page}");
    assert!(page.contains("W4SCT"), "binding message shown: {page}");
    assert!(page.contains("offline_access"), "{page}");
    let (status, page) = approver.answer("W4SCT", "approve").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Approved"));
    let (_, page) = approver.get().await;
    assert!(
        !page.contains("W4SCT"),
        "an answered request leaves the list"
    );

    s.provider.clock.advance(11);
    let (status, tokens) = poll(&s, &c, &id).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = verify_with_jwks(&s, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], alice);
    assert_eq!(claims["aud"], c.id);
    assert!(
        claims
            .get("urn:openid:params:jwt:claim:auth_req_id")
            .is_none(),
        "CIBA 10.3.1: push mode only"
    );
    assert!(
        tokens["refresh_token"].is_string(),
        "offline_access brings a refresh token"
    );
    let at = tokens["access_token"].as_str().unwrap().to_string();
    assert_eq!(s.introspect(&c, &at).await["active"], true);
    let (status, body) = s
        .refresh(&c, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "the refresh token works: {body}");

    // CIBA §11: single use; a reuse is invalid_grant and revokes what it bought.
    let (status, body) = poll(&s, &c, &id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "ciba_11_reused_auth_req_id: {body}"
    );
    assert_eq!(
        s.introspect(&c, &at).await["active"],
        false,
        "tokens of a reused auth_req_id are revoked"
    );

    // The ID token names alice as id_token_hint for the next request (CIBA §7.1).
    let hint = tokens["id_token"].as_str().unwrap();
    let (status, body) = backchannel(&s, &c, &[("scope", "openid"), ("id_token_hint", hint)]).await;
    assert_eq!(status, 200, "id_token_hint names the user: {body}");
}

#[tokio::test]
async fn ciba_11_polling_errors_access_denied_and_expired_token() {
    let s = TestServer::start().await;
    s.user("bob").await;
    let c = poll_client(&s).await;
    let (_, ack) = backchannel(
        &s,
        &c,
        &[
            ("scope", "openid"),
            ("login_hint", "bob"),
            ("binding_message", "DENY-ME"),
        ],
    )
    .await;
    let denied = ack["auth_req_id"].as_str().unwrap().to_string();
    let approver = Approver::sign_in(&s, "bob").await;
    let (status, page) = approver.answer("DENY-ME", "deny").await;
    assert_eq!(status, 200, "{page}");
    let (status, body) = poll(&s, &c, &denied).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied")),
        "ciba_11_access_denied: {body}"
    );

    let (_, ack) = backchannel(
        &s,
        &c,
        &[
            ("scope", "openid"),
            ("login_hint", "bob"),
            ("requested_expiry", "30"),
        ],
    )
    .await;
    assert_eq!(
        ack["expires_in"], 30,
        "CIBA 7.1 requested_expiry is honoured"
    );
    let expiring = ack["auth_req_id"].as_str().unwrap().to_string();
    s.provider.clock.advance(31);
    let (status, body) = poll(&s, &c, &expiring).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token")),
        "ciba_11_expired_token: {body}"
    );
    // An expired request can no longer be approved.
    assert!(
        !approver.get().await.1.contains("<section"),
        "expired requests leave the page"
    );

    // The sweeper removes expired requests once they have been reported as expired.
    s.provider.clock.advance(1200);
    let now = s.provider.now();
    s.provider
        .store
        .write(move |tx| tx.sweep().expired(now, 500))
        .await
        .unwrap();
    assert_eq!(
        s.sql_count("SELECT count(*) FROM ciba_requests").await,
        0,
        "expired requests are swept"
    );
}

#[tokio::test]
async fn ciba_11_another_clients_auth_req_id_is_invalid_grant_and_changes_nothing() {
    let s = TestServer::start().await;
    s.user("carol").await;
    let owner = poll_client(&s).await;
    let other = poll_client(&s).await;
    let (_, ack) = backchannel(&s, &owner, &[("scope", "openid"), ("login_hint", "carol")]).await;
    let id = ack["auth_req_id"].as_str().unwrap();
    let (status, body) = poll(&s, &other, id).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("another client"));
    let (_, body) = poll(&s, &owner, id).await;
    assert_eq!(
        body["error"], "authorization_pending",
        "the owner's first poll is not slowed by the other's"
    );
    let (_, body) = poll(&s, &owner, "made-up-auth-req-id").await;
    assert_eq!(
        body["error"], "invalid_grant",
        "CIBA 11: an unknown auth_req_id"
    );
}

/// A form's fields.
type Form<'a> = Vec<(&'a str, &'a str)>;

#[tokio::test]
async fn ciba_7_1_and_13_bad_authentication_requests_are_refused() {
    let s = TestServer::start().await;
    s.user("dave").await;
    let c = poll_client(&s).await;
    let long = "x".repeat(101);
    let cases: Vec<(Form, &str, &str)> = vec![
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "dave"),
                ("id_token_hint", "a.b.c"),
            ],
            "invalid_request",
            "ciba_7_1_two_hints_at_once",
        ),
        (
            vec![("scope", "openid")],
            "invalid_request",
            "ciba_7_1_no_hint",
        ),
        (
            vec![("scope", "openid"), ("login_hint", "nobody-here")],
            "unknown_user_id",
            "ciba_13_unknown_user_id",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "dave"),
                ("binding_message", &long),
            ],
            "invalid_binding_message",
            "ciba_13_invalid_binding_message_too_long",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "dave"),
                ("binding_message", "line\nbreak"),
            ],
            "invalid_binding_message",
            "ciba_13_invalid_binding_message_control_character",
        ),
        (
            vec![("scope", "email"), ("login_hint", "dave")],
            "invalid_scope",
            "ciba_7_1_scope_needs_openid",
        ),
        (
            vec![("scope", "openid"), ("login_hint_token", "eyJ.x.y")],
            "invalid_request",
            "ciba_7_1_login_hint_token_not_supported",
        ),
        (
            vec![("scope", "openid"), ("id_token_hint", "not-a-jwt")],
            "invalid_request",
            "ciba_7_1_id_token_hint_not_ours",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "dave"),
                ("requested_expiry", "-5"),
            ],
            "invalid_request",
            "ciba_7_1_requested_expiry_positive",
        ),
        (
            vec![
                ("scope", "openid"),
                ("login_hint", "dave"),
                ("user_code", "1234"),
            ],
            "invalid_request",
            "ciba_7_1_user_code_not_supported",
        ),
    ];
    for (form, error, rule) in cases {
        let (status, body) = backchannel(&s, &c, &form).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some(error)),
            "{rule}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| d.contains("CIBA")),
            "{rule} names its rule: {body}"
        );
    }
    assert_eq!(
        s.sql_count("SELECT count(*) FROM ciba_requests").await,
        0,
        "nothing stored for refused requests"
    );

    // CIBA 7.1: only clients registered for the grant, authenticated as at the token endpoint.
    let plain = s.client(json!({})).await;
    let (status, body) =
        backchannel(&s, &plain, &[("scope", "openid"), ("login_hint", "dave")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client")),
        "{body}"
    );
    let wrong = TestClient {
        id: c.id.clone(),
        secret: "wrong-secret".into(),
    };
    let (status, body) =
        backchannel(&s, &wrong, &[("scope", "openid"), ("login_hint", "dave")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client")),
        "{body}"
    );
}

/// A FAPI client authenticating with private_key_jwt.
struct FapiClient {
    id: String,
    key: ClientKey,
}

impl FapiClient {
    fn assertion(&self, s: &TestServer) -> String {
        let now = s.provider.now();
        self.key.sign(
            &json!({"iss": self.id, "sub": self.id, "aud": s.issuer, "iat": now, "exp": now + 60,
                    "jti": consentry::secrets::random_token()}),
            true,
        )
    }

    async fn backchannel(&self, s: &TestServer, form: &[(&str, &str)]) -> (u16, Value) {
        let assertion = self.assertion(s);
        let mut all = vec![
            ("client_id", self.id.as_str()),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
        ];
        all.extend_from_slice(form);
        let res = s
            .browser()
            .post(s.url("/backchannel"))
            .form(&all)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    fn signed(&self, s: &TestServer, tweak: impl FnOnce(&mut Value)) -> String {
        let now = s.provider.now();
        let mut claims = json!({
            "iss": self.id, "aud": s.issuer, "iat": now, "nbf": now, "exp": now + 300,
            "jti": consentry::secrets::random_token(),
            "scope": "openid", "login_hint": "erin", "binding_message": "FAPI-1",
        });
        tweak(&mut claims);
        self.key.sign(&claims, true)
    }
}

#[tokio::test]
async fn ciba_7_1_1_fapi_clients_must_send_signed_requests_with_every_claim() {
    let s = TestServer::start().await;
    s.user("erin").await;
    let key = ClientKey::new("PS256");
    let c = s
        .client(json!({
            "grant_types": [CIBA], "response_types": [], "redirect_uris": [],
            "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
            "fapi_profile": "fapi1_advanced", "tls_client_certificate_bound_access_tokens": true,
            "backchannel_token_delivery_mode": "poll",
            "backchannel_authentication_request_signing_alg": "PS256",
        }))
        .await;
    let f = FapiClient { id: c.id, key };
    let (status, body) = f
        .backchannel(&s, &[("scope", "openid"), ("login_hint", "erin")])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "ciba_7_1_1_unsigned_request_from_fapi_client: {body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("signed"),
        "{body}"
    );

    let (status, body) = f
        .backchannel(&s, &[("request", &f.signed(&s, |_| {}))])
        .await;
    assert_eq!(status, 200, "a signed request is accepted: {body}");

    for (claim, rule) in [
        ("jti", "ciba_7_1_1_jti_required"),
        ("nbf", "ciba_7_1_1_nbf_required"),
        ("exp", "ciba_7_1_1_exp_required"),
        ("iat", "ciba_7_1_1_iat_required"),
        ("aud", "ciba_7_1_1_aud_required"),
    ] {
        let object = f.signed(&s, |c| {
            c.as_object_mut().unwrap().remove(claim);
        });
        let (status, body) = f.backchannel(&s, &[("request", &object)]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "{rule}: {body}"
        );
    }
    let now = s.provider.now();
    let object = f.signed(&s, |c| c["exp"] = json!(now + 70 * 60));
    let (status, body) = f.backchannel(&s, &[("request", &object)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "fapi_ciba_5_2_2_4_lifetime_at_most_60_minutes: {body}"
    );
    let object = f.signed(&s, |c| c["aud"] = json!("https://elsewhere.example.test"));
    let (status, _) = f.backchannel(&s, &[("request", &object)]).await;
    assert_eq!(status, 400, "ciba_7_1_1_aud_must_be_the_issuer");
    let object = f.signed(&s, |_| {});
    let (status, _) = f.backchannel(&s, &[("request", &object)]).await;
    assert_eq!(status, 200);
    let (status, body) = f.backchannel(&s, &[("request", &object)]).await;
    assert_eq!(status, 400, "ciba_7_1_1_jti_single_use: {body}");
}

/// A loopback receiver for ping notifications: records each request's Authorization header
/// and body, answers 204. Plain http, or HTTPS with a certificate of its own CA.
#[derive(Clone)]
struct PingReceiver {
    url: String,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

impl PingReceiver {
    async fn start() -> PingReceiver {
        Self::serve(None).await
    }

    /// An HTTPS receiver whose certificate a new CA in `ca_dir` issued (`ca_dir/ca.pem`).
    async fn start_https(ca_dir: &std::path::Path) -> PingReceiver {
        let pki = consentry::tls::ensure_dev_pki(ca_dir, &[]).unwrap();
        let tls = consentry::tls::server_config((pki.chain, pki.key), (pki.rsa_chain, pki.rsa_key))
            .unwrap();
        Self::serve(Some(tokio_rustls::TlsAcceptor::from(tls))).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> PingReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let r = PingReceiver {
            url: format!("{scheme}://{}/ciba-ping", listener.local_addr().unwrap()),
            seen: Default::default(),
        };
        let seen = r.seen.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, tls) = (seen.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(tls) => {
                            if let Ok(stream) = tls.accept(stream).await {
                                Self::answer(stream, &seen).await
                            }
                        }
                        None => Self::answer(stream, &seen).await,
                    }
                });
            }
        });
        r
    }

    async fn answer(
        mut stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
        seen: &Mutex<Vec<(String, Value)>>,
    ) {
        if let Some(req) = read_request(&mut stream).await {
            let body = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            seen.lock().push((req.header("authorization"), body));
        }
        let _ = stream
            .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        let _ = stream.shutdown().await;
    }

    async fn wait_for(&self, n: usize) -> Vec<(String, Value)> {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.seen.lock().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < until,
                "only {} of {n} pings arrived",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test]
async fn ping_flow_notifies_the_client_on_denial_and_on_approval() {
    let s = TestServer::start_with(|c| {
        c.outbound.allow_private = true;
        c.webhooks.poll_interval_ms = 50;
    })
    .await;
    s.user("frank").await;
    let receiver = PingReceiver::start().await;
    let c = s
        .client(json!({
            "client_name": "Ping App",
            "grant_types": [CIBA], "response_types": [], "redirect_uris": [],
            "backchannel_token_delivery_mode": "ping",
            "backchannel_client_notification_endpoint": receiver.url,
        }))
        .await;
    let (status, body) = backchannel(&s, &c, &[("scope", "openid"), ("login_hint", "frank")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "ciba_7_1_ping_needs_client_notification_token: {body}"
    );

    let (_, ack) = backchannel(
        &s,
        &c,
        &[
            ("scope", "openid"),
            ("login_hint", "frank"),
            ("binding_message", "NO-1"),
            ("client_notification_token", "notify-token-1"),
        ],
    )
    .await;
    let denied = ack["auth_req_id"].as_str().unwrap().to_string();
    let approver = Approver::sign_in(&s, "frank").await;
    approver.answer("NO-1", "deny").await;
    let pings = receiver.wait_for(1).await;
    assert_eq!(
        pings[0].0, "Bearer notify-token-1",
        "CIBA 10.2: the client_notification_token as bearer"
    );
    assert_eq!(
        pings[0].1,
        json!({"auth_req_id": denied}),
        "CIBA 10.2: the body names the auth_req_id"
    );
    let (_, body) = poll(&s, &c, &denied).await;
    assert_eq!(body["error"], "access_denied", "{body}");

    let (_, ack) = backchannel(
        &s,
        &c,
        &[
            ("scope", "openid"),
            ("login_hint", "frank"),
            ("binding_message", "YES-2"),
            ("client_notification_token", "notify-token-2"),
        ],
    )
    .await;
    let approved = ack["auth_req_id"].as_str().unwrap().to_string();
    approver.answer("YES-2", "approve").await;
    let pings = receiver.wait_for(2).await;
    assert_eq!(
        pings[1],
        (
            "Bearer notify-token-2".to_string(),
            json!({"auth_req_id": approved})
        )
    );
    let (status, tokens) = poll(&s, &c, &approved).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.seen.lock().len(),
        2,
        "CIBA 10.2: one ping per answer"
    );
}

#[tokio::test]
async fn approval_page_refuses_forms_without_its_csrf_token_and_other_users_requests() {
    let s = TestServer::start().await;
    s.user("gina").await;
    s.user("hank").await;
    let c = poll_client(&s).await;
    backchannel(
        &s,
        &c,
        &[
            ("scope", "openid"),
            ("login_hint", "gina"),
            ("binding_message", "GINA"),
        ],
    )
    .await;
    let gina = Approver::sign_in(&s, "gina").await;
    let (_, page) = gina.get().await;
    let id = hidden(&page, "request").unwrap();
    let (status, _) = gina.post_decision("forged", &id, "approve").await;
    assert_eq!(
        status, 403,
        "CSRF: a form without the page's token is refused"
    );
    backchannel(
        &s,
        &c,
        &[
            ("scope", "openid"),
            ("login_hint", "hank"),
            ("binding_message", "HANK"),
        ],
    )
    .await;
    let hank = Approver::sign_in(&s, "hank").await;
    let (_, page) = hank.get().await;
    assert!(
        !page.contains("GINA"),
        "another user's request is not listed"
    );
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, page) = hank.post_decision(&csrf, &id, "approve").await;
    assert_eq!(
        status, 400,
        "another user's request cannot be answered: {page}"
    );
    assert_eq!(
        s.sql_count("SELECT count(*) FROM ciba_requests WHERE status = 'pending'")
            .await,
        2
    );
}

/// An institution whose script answers `decoupled_request` by the binding message, as a bank's
/// app would after asking its customer.
const DECOUPLED_BANK: &str = r#"fn institution() {
    #{ id: "decoupled-bank", name: "Decoupled Bank", type: "test", bankRef: "decoupled-bank" }
}

fn connect(ctx) {
    #{ fail: "not used here" }
}

fn decoupled_request(request) {
    if request.binding_message == "BANK-YES" && request.client == "Desk App" {
        #{ approve: true }
    } else if request.binding_message == "BANK-NO" {
        #{ deny: true }
    } else {
        #{}
    }
}
"#;

#[tokio::test]
async fn the_users_institution_answers_through_its_decoupled_request_hook() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::write(plugins.path().join("decoupled.rhai"), DECOUPLED_BANK).unwrap();
    let dir = plugins.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.plugins.dir = dir).await;
    let ivy = s.user("ivy").await;
    let c = poll_client(&s).await;
    bank_customer(&s, &ivy, &c, "decoupled-bank").await;

    let ask = |message: &'static str| {
        let (s, c) = (&s, &c);
        async move {
            let (status, ack) = backchannel(
                s,
                c,
                &[
                    ("scope", "openid"),
                    ("login_hint", "ivy"),
                    ("binding_message", message),
                ],
            )
            .await;
            assert_eq!(status, 200, "{ack}");
            ack["auth_req_id"].as_str().unwrap().to_string()
        }
    };
    let approved = ask("BANK-YES").await;
    let (status, tokens) = poll(&s, &c, &approved).await;
    assert_eq!(status, 200, "the bank's approval is the user's: {tokens}");
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], ivy);
    assert_eq!(
        claims["acr"], "urn:consentry:acr:bank",
        "authenticated by the bank, not by a password here"
    );

    let denied = ask("BANK-NO").await;
    let (_, body) = poll(&s, &c, &denied).await;
    assert_eq!(body["error"], "access_denied", "{body}");

    let left = ask("ASK-ON-THE-PAGE").await;
    let (_, body) = poll(&s, &c, &left).await;
    assert_eq!(
        body["error"], "authorization_pending",
        "no answer from the script leaves the request to the approval page"
    );
    let approver = Approver::sign_in(&s, "ivy").await;
    assert!(approver.get().await.1.contains("ASK-ON-THE-PAGE"));
}

#[tokio::test]
async fn fapi_ciba_poll_flow_over_mutual_tls_issues_certificate_bound_tokens() {
    let s = TestServer::start().await;
    let jill = s.user("jill").await;
    let cert = crate::fapi_mtls::self_signed("ciba-rp");
    let key = ClientKey::new("PS256");
    let mut jwks = cert.jwks();
    jwks["keys"]
        .as_array_mut()
        .unwrap()
        .push(key.jwks()["keys"][0].clone());
    let c = s
        .client(json!({
            "grant_types": [CIBA], "response_types": [], "redirect_uris": [],
            "token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": jwks,
            "fapi_profile": "fapi1_advanced", "tls_client_certificate_bound_access_tokens": true,
            "backchannel_token_delivery_mode": "poll",
            "backchannel_authentication_request_signing_alg": "PS256",
        }))
        .await;
    let f = FapiClient {
        id: c.id.clone(),
        key,
    };
    let object = f.signed(&s, |c| c["login_hint"] = json!("jill"));
    let http = crate::fapi_mtls::with_cert(&s, &cert);
    let res = http
        .post(s.url("/backchannel"))
        .form(&[("client_id", c.id.as_str()), ("request", object.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let ack: Value = res.json().await.unwrap();
    let id = ack["auth_req_id"].as_str().unwrap();
    let approver = Approver::sign_in(&s, "jill").await;
    approver.answer("FAPI-1", "approve").await;
    let res = http
        .post(s.url("/token"))
        .form(&[
            ("client_id", c.id.as_str()),
            ("grant_type", CIBA),
            ("auth_req_id", id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.unwrap();
    let at = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        at["cnf"]["x5t#S256"],
        cert.thumbprint(),
        "FAPI-CIBA: the access token is bound to the client's certificate (RFC 8705 section 3)"
    );
    let id_token = verify_with_jwks(&s, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(id_token["sub"], jill);
    assert_eq!(
        jwt_header(tokens["id_token"].as_str().unwrap())["alg"],
        "PS256"
    );
}

/// A ping client whose notification endpoint is `receiver`; asks for `frank`'s approval.
async fn ping_over(s: &TestServer, receiver: &PingReceiver, message: &str) -> String {
    let c = s
        .client(json!({
            "grant_types": [CIBA], "response_types": [], "redirect_uris": [],
            "backchannel_token_delivery_mode": "ping",
            "backchannel_client_notification_endpoint": receiver.url,
        }))
        .await;
    let (status, ack) = backchannel(
        s,
        &c,
        &[
            ("scope", "openid"),
            ("login_hint", "frank"),
            ("binding_message", message),
            ("client_notification_token", "tls-token"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    Approver::sign_in(s, "frank")
        .await
        .answer(message, "approve")
        .await;
    ack["auth_req_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn ping_reaches_an_https_receiver_whose_ca_is_the_operators_outbound_ca_file() {
    let ca_dir = tempfile::tempdir().unwrap();
    let receiver = PingReceiver::start_https(ca_dir.path()).await;
    let ca = ca_dir.path().join("ca.pem");
    let s = TestServer::start_with(move |c| {
        c.outbound.allow_private = true;
        c.outbound.ca_file = Some(ca);
        c.webhooks.poll_interval_ms = 50;
    })
    .await;
    s.user("frank").await;
    let id = ping_over(&s, &receiver, "TLS-1").await;
    let pings = receiver.wait_for(1).await;
    assert_eq!(
        pings[0],
        ("Bearer tls-token".to_string(), json!({"auth_req_id": id})),
        "CIBA 10.2: the ping arrives over HTTPS, the receiver's CA trusted from outbound.ca_file"
    );
}

#[tokio::test]
async fn ping_to_an_https_receiver_of_an_unknown_ca_is_refused_without_outbound_ca_file() {
    let ca_dir = tempfile::tempdir().unwrap();
    let receiver = PingReceiver::start_https(ca_dir.path()).await;
    let s = TestServer::start_with(|c| {
        c.outbound.allow_private = true;
        c.webhooks.poll_interval_ms = 50;
    })
    .await;
    s.user("frank").await;
    ping_over(&s, &receiver, "TLS-2").await;
    let until = Instant::now() + Duration::from_secs(20);
    while s
        .sql_count(
            "SELECT count(*) FROM webhook_events WHERE event_type = 'ciba_ping' AND last_error IS NOT NULL",
        )
        .await
        == 0
    {
        assert!(Instant::now() < until, "the ping was never attempted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        receiver.seen.lock().is_empty(),
        "RFC 8446 / web PKI: a receiver whose certificate chains to no trusted CA gets nothing"
    );
}

/// An institution whose app asks its customer and whose backend answers later: its
/// `decoupled_request` leaves each request pending under its own reference, and its
/// `decoupled_callback` accepts a call signed with its callback secret (HMAC-SHA256 of the
/// body, hex, in `x-bank-signature`).
fn late_bank(id: &str) -> String {
    format!(
        r#"fn institution() {{
    #{{ id: "{id}", name: "Late Bank", type: "test", bankRef: "{id}" }}
}}

fn connect(ctx) {{
    #{{ fail: "not used here" }}
}}

fn decoupled_request(request) {{
    #{{ pending: true, reference: "push-" + request.binding_message }}
}}

fn decoupled_callback(message) {{
    let signature = message.headers["x-bank-signature"];
    let expected = hmac_sha256_hex(setting("callback_secret"), message.body);
    if type_of(signature) != "string" || !constant_time_eq(signature, expected) {{
        throw "the callback's signature does not verify";
    }}
    let answer = json_parse(message.body);
    #{{ reference: answer.reference, approved: answer.approved }}
}}
"#
    )
}

const LATE_SECRET: &str = "late-bank-callback-secret";

/// A server with two late-answering institutions (`late-bank`, `other-bank`, each with its own
/// callback secret).
async fn late_bank_server(
    tweak: impl FnOnce(&mut consentry::config::Config),
) -> (TestServer, tempfile::TempDir) {
    let plugins = tempfile::tempdir().unwrap();
    for id in ["late-bank", "other-bank"] {
        std::fs::write(plugins.path().join(format!("{id}.rhai")), late_bank(id)).unwrap();
    }
    let dir = plugins.path().to_path_buf();
    let s = TestServer::start_with(move |c| {
        c.plugins.dir = dir;
        for (id, secret) in [("late-bank", LATE_SECRET), ("other-bank", "other-secret")] {
            c.plugins.settings.insert(
                id.into(),
                [("callback_secret".to_string(), secret.to_string())].into(),
            );
        }
        tweak(c);
    })
    .await;
    (s, plugins)
}

/// Connects `user_id` to `institution` through `client`.
pub(crate) async fn bank_customer(
    s: &TestServer,
    user_id: &str,
    client: &TestClient,
    institution: &str,
) {
    let now = s.provider.now();
    let connection = consentry::store::connections::BankConnection {
        id: format!("{institution}:{}", uuid::Uuid::new_v4()),
        user_id: user_id.to_string(),
        client_id: client.id.clone(),
        institution_id: institution.into(),
        status: "active".into(),
        data_sealed: None,
        consent_expires_at: None,
        created_at: now,
        updated_at: now,
    };
    s.provider
        .store
        .write(move |tx| tx.connections().insert(&connection))
        .await
        .unwrap();
}

/// Posts the bank backend's answer for `reference` to `institution`'s callback route, signed
/// with `secret`.
async fn bank_answers(
    s: &TestServer,
    institution: &str,
    secret: &str,
    reference: &str,
    approved: bool,
) -> (u16, Value) {
    let body = json!({ "reference": reference, "approved": approved }).to_string();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let signature: String = ring::hmac::sign(&key, body.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let res = s
        .browser()
        .post(format!("{}/institutions/{institution}/decoupled", s.base))
        .header("content-type", "application/json")
        .header("x-bank-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn ask_late(
    s: &TestServer,
    c: &TestClient,
    user: &str,
    message: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut form = vec![
        ("scope", "openid"),
        ("login_hint", user),
        ("binding_message", message),
    ];
    form.extend_from_slice(extra);
    let (status, ack) = backchannel(s, c, &form).await;
    assert_eq!(status, 200, "{ack}");
    ack["auth_req_id"].as_str().unwrap().to_string()
}

async fn pending_count(s: &TestServer) -> i64 {
    s.sql_count("SELECT count(*) FROM ciba_requests WHERE status = 'pending'")
        .await
}

#[tokio::test]
async fn a_bank_approves_later_from_its_backend_and_the_ping_client_is_told() {
    let (s, _plugins) = late_bank_server(|c| {
        c.outbound.allow_private = true;
        c.webhooks.poll_interval_ms = 50;
    })
    .await;
    let kim_id = s.user("kim").await;
    let receiver = PingReceiver::start().await;
    let c = s
        .client(json!({
            "grant_types": [CIBA], "response_types": [], "redirect_uris": [],
            "backchannel_token_delivery_mode": "ping",
            "backchannel_client_notification_endpoint": receiver.url,
        }))
        .await;
    bank_customer(&s, &kim_id, &c, "late-bank").await;
    let id = ask_late(
        &s,
        &c,
        "kim",
        "LATE-1",
        &[("client_notification_token", "late-token")],
    )
    .await;
    let (_, body) = poll(&s, &c, &id).await;
    assert_eq!(
        body["error"], "authorization_pending",
        "the bank has not answered yet: {body}"
    );
    assert!(receiver.seen.lock().is_empty());

    let (status, body) = bank_answers(&s, "late-bank", LATE_SECRET, "push-LATE-1", true).await;
    assert_eq!((status, &body), (200, &json!({"status": "approved"})));
    let pings = receiver.wait_for(1).await;
    assert_eq!(
        pings[0],
        ("Bearer late-token".to_string(), json!({"auth_req_id": id})),
        "CIBA 10.2: the bank's late answer pings the client"
    );
    let (status, tokens) = poll(&s, &c, &id).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        kim_id
    );

    let (status, body) = bank_answers(&s, "late-bank", LATE_SECRET, "push-LATE-1", false).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("invalid_request")),
        "a replayed callback after the decision is refused: {body}"
    );
    assert_eq!(
        s.sql_count("SELECT count(*) FROM ciba_requests WHERE status = 'approved'")
            .await,
        1,
        "the replay changed nothing"
    );
}

#[tokio::test]
async fn a_banks_late_denial_is_access_denied_and_bad_or_foreign_callbacks_change_nothing() {
    let (s, _plugins) = late_bank_server(|_| {}).await;
    let lee = s.user("lee").await;
    let c = poll_client(&s).await;
    bank_customer(&s, &lee, &c, "late-bank").await;
    let id = ask_late(&s, &c, "lee", "LATE-2", &[]).await;

    let (status, body) = bank_answers(&s, "late-bank", "forged-secret", "push-LATE-2", true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("access_denied")),
        "a callback whose signature the bank's script does not verify is refused: {body}"
    );
    assert_eq!(
        pending_count(&s).await,
        1,
        "the refused callback changed nothing"
    );

    let (status, body) = bank_answers(&s, "other-bank", "other-secret", "push-LATE-2", true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "another institution cannot answer a request it was not asked: {body}"
    );
    assert_eq!(
        pending_count(&s).await,
        1,
        "the foreign callback changed nothing"
    );

    let (status, body) = bank_answers(&s, "no-such-bank", LATE_SECRET, "push-LATE-2", true).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = bank_answers(&s, "late-bank", LATE_SECRET, "push-UNKNOWN", true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("not_found")),
        "unknown reference: {body}"
    );

    let (status, body) = bank_answers(&s, "late-bank", LATE_SECRET, "push-LATE-2", false).await;
    assert_eq!((status, &body), (200, &json!({"status": "denied"})));
    let (_, body) = poll(&s, &c, &id).await;
    assert_eq!(
        body["error"], "access_denied",
        "CIBA 11: the bank's denial: {body}"
    );
}

#[tokio::test]
async fn a_banks_answer_after_the_request_expired_is_refused() {
    let (s, _plugins) = late_bank_server(|_| {}).await;
    let max = s.user("max").await;
    let c = poll_client(&s).await;
    bank_customer(&s, &max, &c, "late-bank").await;
    ask_late(&s, &c, "max", "LATE-3", &[]).await;
    s.sql_exec("UPDATE ciba_requests SET expires_at = 1", &[])
        .await;
    let (status, body) = bank_answers(&s, "late-bank", LATE_SECRET, "push-LATE-3", true).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("expired_token")),
        "CIBA 7.3 expires_in: an answer after expiry is refused: {body}"
    );
    assert_eq!(pending_count(&s).await, 1, "nothing changed");
    assert_eq!(
        s.sql_count("SELECT count(*) FROM grants").await,
        0,
        "no grant was written"
    );
}

/// An institution whose CIBA hooks throw: `decoupled_request` at line 10,
/// `decoupled_callback` at line 14.
const THROWING_BANK: &str = r#"fn institution() {
    #{ id: "throwing-bank", name: "Throwing Bank", type: "test", bankRef: "throwing-bank" }
}

fn connect(ctx) {
    #{ fail: "not used here" }
}

fn decoupled_request(request) {
    throw "push service down";
}

fn decoupled_callback(message) {
    throw "signature does not verify";
}
"#;

/// The error id in a description, `... (error id 0123456789)`.
fn error_id(description: &str) -> Option<&str> {
    let id = description.split("(error id ").nth(1)?.split(')').next()?;
    (id.len() == 10 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
}

#[tokio::test]
async fn ciba_hook_failures_are_server_error_with_an_error_id_and_store_nothing() {
    for dev in [false, true] {
        let plugins = tempfile::tempdir().unwrap();
        let file = plugins.path().join("throwing.rhai");
        std::fs::write(&file, THROWING_BANK).unwrap();
        let dir = plugins.path().to_path_buf();
        let s = TestServer::start_with(move |c| {
            c.plugins.dir = dir;
            c.plugins.dev = dev;
        })
        .await;
        let uma = s.user("uma").await;
        let c = poll_client(&s).await;
        bank_customer(&s, &uma, &c, "throwing-bank").await;

        let (status, body) = backchannel(
            &s,
            &c,
            &[
                ("scope", "openid"),
                ("login_hint", "uma"),
                ("binding_message", "B1"),
            ],
        )
        .await;
        let described = body["error_description"].as_str().unwrap_or_default();
        assert_eq!(
            (status, body["error"].as_str()),
            (500, Some("server_error")),
            "rfc6749_5_2 a failed decoupled_request hook fails the request as any hook failure: {body}"
        );
        assert!(
            error_id(described).is_some(),
            "the client hears an error id: {body}"
        );
        assert_eq!(
            s.sql_count("SELECT count(*) FROM ciba_requests").await,
            0,
            "a request whose institution failed is not stored"
        );

        let (status, body) = bank_answers(&s, "throwing-bank", "any", "ref", true).await;
        let answered = body["error_description"].as_str().unwrap_or_default();
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("access_denied")),
            "a throwing decoupled_callback refuses the call: {body}"
        );
        assert!(
            error_id(answered).is_some(),
            "the caller hears an error id: {body}"
        );

        let at = |line: u32| format!("{}:{line}", file.display());
        if dev {
            for (shown, text) in [
                (
                    described,
                    [
                        at(10),
                        "push service down".into(),
                        "fn decoupled_request".into(),
                    ],
                ),
                (
                    answered,
                    [
                        at(14),
                        "signature does not verify".into(),
                        "fn decoupled_callback".into(),
                    ],
                ),
            ] {
                for t in text {
                    assert!(shown.contains(&t), "dev mode shows {t}: {shown}");
                }
            }
        } else {
            for shown in [described, answered] {
                assert!(
                    !shown.contains("push service down")
                        && !shown.contains("signature")
                        && !shown.contains("rhai"),
                    "production shows only the error id: {shown}"
                );
            }
        }
        let metrics = s.metrics().await;
        let line =
            "consentry_plugin_errors_total{institution=\"throwing-bank\",kind=\"runtime\"} 2";
        assert!(metrics.contains(line), "{line} in metrics:\n{metrics}");
    }
}

#[tokio::test]
async fn ciba_7_3_the_operator_sets_the_poll_interval() {
    let s = TestServer::start_with(|c| c.lifetimes.poll_interval_secs = 2).await;
    s.user("alice").await;
    let c = poll_client(&s).await;
    let (status, ack) = backchannel(&s, &c, &[("scope", "openid"), ("login_hint", "alice")]).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(ack["interval"], 2, "CIBA Core section 7.3: {ack}");
    let id = ack["auth_req_id"].as_str().unwrap().to_string();
    let (_, body) = poll(&s, &c, &id).await;
    assert_eq!(body["error"], "authorization_pending", "{body}");
    s.provider.clock.advance(3);
    let (_, body) = poll(&s, &c, &id).await;
    assert_eq!(
        body["error"], "authorization_pending",
        "3 s is past a 2 s interval: {body}"
    );
    let (_, body) = poll(&s, &c, &id).await;
    assert_eq!(body["error"], "slow_down", "CIBA Core section 11: {body}");
}
