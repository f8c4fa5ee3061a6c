//! The authorization endpoint, login and consent.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn code_flow_issues_code_with_state_and_iss() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (_, challenge) = pkce();
    let cb = Journey::new(&s)
        .complete(&auth_params(&c, &challenge, &[]), "alice")
        .await;
    assert!(cb.starts_with(REDIRECT_URI), "{cb}");
    let q = query(&cb);
    assert!(!q["code"].is_empty());
    assert_eq!(q["state"], "state-123");
    // RFC 9207 §2: the issuer identifies who sent the response.
    assert_eq!(q["iss"], s.issuer);
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_error_page_and_never_redirects() {
    // RFC 6749 §4.1.2.1: an invalid redirect_uri must not be redirected to.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    for bad in [
        "https://evil.example/cb",
        "https://rp.example.test/cb/extra",
        "https://rp.example.test/cb?x=1",
    ] {
        let (status, loc, body) = j
            .authorize(&auth_params(&c, &challenge, &[("redirect_uri", bad)]))
            .await;
        assert_eq!(status, 400, "{bad}");
        assert!(loc.is_empty(), "must not redirect for {bad}");
        assert!(body.contains("redirect_uri"), "{body}");
    }
}

#[tokio::test]
async fn unknown_client_shows_error_page() {
    // RFC 6749 §4.1.2.1: an unknown client_id is never redirected.
    let s = TestServer::start().await;
    let c = TestClient {
        id: "no-such-client".into(),
        secret: String::new(),
    };
    let (_, challenge) = pkce();
    let (status, loc, _) = Journey::new(&s)
        .authorize(&auth_params(&c, &challenge, &[]))
        .await;
    assert_eq!(status, 400);
    assert!(loc.is_empty());
}

#[tokio::test]
async fn request_errors_redirect_with_error_state_and_iss() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let cases: &[ParamCase] = &[
        (
            &[("response_type", "none")],
            "unsupported_response_type",
            "RFC 6749 §4.1.2.1",
        ),
        (
            &[("response_type", "")],
            "invalid_request",
            "response_type is required",
        ),
        (
            &[("scope", "")],
            "invalid_scope",
            "a scope is required (RFC 6749 §3.3: no default scope)",
        ),
        (
            &[("scope", "openid unknown:scope")],
            "invalid_scope",
            "unknown scope",
        ),
        (
            &[("code_challenge_method", "plain")],
            "invalid_request",
            "PKCE plain is refused (RFC 9700 §2.1.1)",
        ),
        (
            &[("code_challenge", "short")],
            "invalid_request",
            "malformed S256 challenge",
        ),
        (
            &[("prompt", "none login")],
            "invalid_request",
            "prompt=none alone (OIDC Core §3.1.2.1)",
        ),
        (
            &[("max_age", "-1")],
            "invalid_request",
            "max_age is non-negative",
        ),
        (
            &[("claims", "{not json")],
            "invalid_request",
            "claims is JSON (OIDC Core §5.5)",
        ),
        (
            &[("claims", r#"{"id_token":{"email":{"essential":"yes"}}}"#)],
            "invalid_request",
            "essential is boolean",
        ),
        (
            &[("id_token_hint", "not.a.jwt")],
            "invalid_request",
            "id_token_hint must be ours",
        ),
        (
            &[("response_mode", "web_message")],
            "invalid_request",
            "unsupported response_mode",
        ),
        (
            &[("request", "eyJ.eyJ.sig")],
            "invalid_request_object",
            "RFC 9101 §6.2: a request object that does not verify",
        ),
    ];
    for (extra, code, rule) in cases {
        let (status, loc, body) = j.authorize(&auth_params(&c, &challenge, extra)).await;
        assert_eq!(status, 303, "{rule}: {body}");
        assert!(loc.starts_with(REDIRECT_URI), "{rule}: {loc}");
        let q = query(&loc);
        assert_eq!(q["error"], *code, "{rule}");
        assert!(!q["error_description"].is_empty());
        assert_eq!(q["state"], "state-123", "{rule}: state echoed");
        assert_eq!(q["iss"], s.issuer, "{rule}: RFC 9207 iss");
    }
}

#[tokio::test]
async fn a_request_uri_the_client_did_not_register_is_refused() {
    // OIDC Core §6.2 with require_request_uri_registration: only registered request_uris are
    // fetched; anything else is invalid_request_uri (RFC 9101 §7), sent to the redirect_uri.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let params = auth_params(&c, &challenge, &[("request_uri", "https://x.example/r")]);
    let (status, loc, body) = Journey::new(&s).authorize(&params).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(query(&loc)["error"], "invalid_request_uri");
}

#[tokio::test]
async fn repeated_parameter_is_invalid_request() {
    // RFC 6749 §3.1: request parameters must not be included more than once.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let mut params = auth_params(&c, &challenge, &[]);
    params.push(("scope".into(), "openid email".into()));
    let (status, loc, _) = Journey::new(&s).authorize(&params).await;
    assert_eq!(status, 303);
    assert_eq!(query(&loc)["error"], "invalid_request");
}

#[tokio::test]
async fn repeated_client_id_or_redirect_uri_shows_error_page_and_never_redirects() {
    // RFC 6749 §3.1: parameters must not repeat; with two client_ids or two redirect_uris it
    // cannot be told where errors may go, so none is redirected to (RFC 6749 §4.1.2.1).
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let cases = [
        ("client_id", other.id.clone()),
        ("client_id", c.id.clone()),
        ("redirect_uri", REDIRECT_URI.to_string()),
    ];
    for (name, value) in cases {
        let mut params = auth_params(&c, &challenge, &[]);
        // Harmless repeats before and after it do not turn the refusal into a redirect.
        params.push(("scope".into(), "openid".into()));
        params.push((name.to_string(), value.clone()));
        params.push(("state".into(), "again".into()));
        let (status, loc, body) = j.authorize(&params).await;
        assert_eq!(status, 400, "{name}={value}");
        assert!(loc.is_empty(), "must not redirect for a repeated {name}");
        assert!(body.contains(&format!("{name} is repeated")), "{body}");
    }
}

#[tokio::test]
async fn public_client_must_use_pkce() {
    // RFC 9700 §2.1.1: PKCE is required for public clients.
    let s = TestServer::start().await;
    let c = s
        .client(
            json!({"token_endpoint_auth_method": "none", "grant_types": ["authorization_code"]}),
        )
        .await;
    let (_, challenge) = pkce();
    let params = auth_params(
        &c,
        &challenge,
        &[("code_challenge", ""), ("code_challenge_method", "")],
    );
    let (_, loc, _) = Journey::new(&s).authorize(&params).await;
    assert_eq!(query(&loc)["error"], "invalid_request");
}

#[tokio::test]
async fn prompt_none_without_session_is_login_required() {
    // OIDC Core §3.1.2.6: prompt=none with no session returns login_required.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let (status, loc, _) = Journey::new(&s)
        .authorize(&auth_params(&c, &challenge, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 303);
    let q = query(&loc);
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["state"], "state-123");
}

#[tokio::test]
async fn session_and_remembered_consent_skip_the_pages() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("bob").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    j.complete(&auth_params(&c, &challenge, &[]), "bob").await;

    // Same browser, same scopes: straight back with a code, even with prompt=none.
    let (status, loc, _) = j
        .authorize(&auth_params(&c, &challenge, &[("prompt", "none")]))
        .await;
    assert_eq!(status, 303);
    assert!(query(&loc).contains_key("code"), "{loc}");

    // prompt=consent forces the consent page again (OIDC Core §3.1.2.1).
    let (_, interaction, _) = j
        .authorize(&auth_params(&c, &challenge, &[("prompt", "consent")]))
        .await;
    assert!(interaction.starts_with("/interaction/"));
    let cb = j.decide(&interaction, "approve").await;
    assert!(query(&cb).contains_key("code"));

    // A wider scope set than remembered needs consent; with prompt=none that is an error.
    let wider = [
        ("scope", "openid profile email offline_access address"),
        ("prompt", "none"),
    ];
    let (_, loc, _) = j.authorize(&auth_params(&c, &challenge, &wider)).await;
    assert_eq!(query(&loc)["error"], "consent_required");

    // prompt=login forces a fresh login even with a session.
    let (_, interaction, _) = j
        .authorize(&auth_params(&c, &challenge, &[("prompt", "login")]))
        .await;
    let (status, _, page) = j.get(&interaction).await;
    assert_eq!(status, 200);
    assert!(page.contains("name=\"password\""), "login form expected");
}

/// The redirect's query for a silent request (`prompt=none`) with `max_age`.
async fn silent_with_max_age(
    j: &Journey<'_>,
    c: &TestClient,
    challenge: &str,
    max_age: &str,
) -> std::collections::HashMap<String, String> {
    let extra = [("max_age", max_age), ("prompt", "none")];
    let (status, loc, body) = j.authorize(&auth_params(c, challenge, &extra)).await;
    assert_eq!(status, 303, "max_age={max_age}: {body}");
    query(&loc)
}

#[tokio::test]
async fn max_age_exceeded_requires_login() {
    // OIDC Core §3.1.2.1: max_age older than the last authentication forces a new one.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("carol").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    j.complete(&auth_params(&c, &challenge, &[]), "carol").await;
    s.provider.clock.advance(120);
    let answer = silent_with_max_age(&j, &c, &challenge, "60").await;
    assert_eq!(answer["error"], "login_required");
    let answer = silent_with_max_age(&j, &c, &challenge, "600").await;
    assert!(answer.contains_key("code"), "recent enough: {answer:?}");
}

#[tokio::test]
async fn max_age_zero_forces_login_even_in_the_second_of_the_login() {
    // OIDC Core §3.1.2.1: max_age=0 is prompt=login, however recent the last login is, even
    // within its own second.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("carol").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let cb = j.complete(&auth_params(&c, &challenge, &[]), "carol").await;
    assert!(query(&cb).contains_key("code"), "{cb}");
    // The next request must land in the login's own second (auth_time - now = 0), whatever
    // the speed of this machine; moving the clock back puts it at or before that second.
    s.provider.clock.advance(-2);

    // With prompt=none that is login_required.
    let answer = silent_with_max_age(&j, &c, &challenge, "0").await;
    assert_eq!(answer["error"], "login_required", "{answer:?}");
    // Without prompt=none: the login form, not a code.
    let (status, loc, body) = j
        .authorize(&auth_params(&c, &challenge, &[("max_age", "0")]))
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(loc.starts_with("/interaction/"), "login expected: {loc}");
    let (_, _, page) = j.get(&loc).await;
    assert!(page.contains("name=\"password\""), "login form expected");

    // A max_age the session is within still needs no login.
    let answer = silent_with_max_age(&j, &c, &challenge, "600").await;
    assert!(answer.contains_key("code"), "recent enough: {answer:?}");
}

#[tokio::test]
async fn cancel_on_consent_returns_access_denied() {
    // RFC 6749 §4.1.2.1: the resource owner denied the request.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("dave").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let (_, interaction, _) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    j.login(&interaction, "dave", PASSWORD).await;
    let cb = j.decide(&interaction, "deny").await;
    let q = query(&cb);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "state-123");
    // The interaction is finished: posting again is refused.
    let (status, _, _) = j.get(&interaction).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn cancel_on_the_login_page_of_a_bank_journey_returns_access_denied() {
    // OIDC Core §3.1.2.6 / RFC 6749 §4.1.2.1: the login page's Cancel is the user refusing,
    // also when the request asks for a bank connection and its consent step is not reached.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let claims = json!({"id_token": {"sub": {"value": alice}}}).to_string();
    let extra = [("scope", "openid id:sandbox-bank"), ("claims", &claims)];
    let (status, interaction, body) = j.authorize(&auth_params(&c, &challenge, &extra)).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, page) = j.get(&interaction).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("value=\"deny\""),
        "login page with Cancel: {page}"
    );
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, loc, body) = j
        .post(
            &format!("{interaction}/consent"),
            &[("csrf_token", &csrf), ("decision", "deny")],
        )
        .await;
    assert_eq!(status, 303, "{body}");
    let q = query(&loc);
    assert_eq!(q["error"], "access_denied", "{loc}");
    assert_eq!(q["state"], "state-123");
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("erin").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let (_, interaction, _) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    let (status, _, _) = j
        .post(
            &format!("{interaction}/login"),
            &[("username", "erin"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(status, 403, "login without CSRF token");
    let (status, _, _) = j
        .post(
            &format!("{interaction}/login"),
            &[
                ("csrf_token", "forged"),
                ("username", "erin"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, 403, "login with a wrong CSRF token");
    j.login(&interaction, "erin", PASSWORD).await;
    let (status, _, _) = j
        .post(
            &format!("{interaction}/consent"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(status, 403, "consent without CSRF token");
}

#[tokio::test]
async fn interaction_is_bound_to_the_browser_that_started_it() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let (_, interaction, _) = Journey::new(&s)
        .authorize(&auth_params(&c, &challenge, &[]))
        .await;
    let (status, _, _) = Journey::new(&s).get(&interaction).await;
    assert_eq!(
        status, 400,
        "another browser must not continue the interaction"
    );
}

#[tokio::test]
async fn wrong_password_and_login_rate_limit() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("frank").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let (_, interaction, _) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    for _ in 0..5 {
        let (status, _, page) = j.login(&interaction, "frank", "wrong password").await;
        assert_eq!(status, 401);
        assert!(page.contains("Wrong username or password"));
    }
    // Five failures lock the account for the window, even with the right password.
    let (status, _, page) = j.login(&interaction, "frank", PASSWORD).await;
    assert_eq!(status, 429, "{page}");
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("consentry_login_failures_total 5"),
        "{metrics}"
    );
    // After the window, the right password works again (in a new request: the old one expired).
    s.provider.clock.advance(16 * 60);
    let (_, interaction, _) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    let (status, _, _) = j.login(&interaction, "frank", PASSWORD).await;
    assert_eq!(status, 303);
}

#[tokio::test]
async fn claims_parameter_sub_must_match_the_user() {
    // OIDC Core §5.5.1: a requested sub value must be the authenticated user.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let grace = s.user("grace").await;
    s.user("heidi").await;
    let (_, challenge) = pkce();
    let claims = json!({"id_token": {"sub": {"essential": true, "value": grace}, "email": {"essential": true}}}).to_string();
    let j = Journey::new(&s);
    let (_, interaction, _) = j
        .authorize(&auth_params(&c, &challenge, &[("claims", &claims)]))
        .await;
    let (status, _, _) = j.login(&interaction, "heidi", PASSWORD).await;
    assert_eq!(status, 303);
    let cb = j.decide(&interaction, "approve").await;
    assert_eq!(
        query(&cb)["error"],
        "access_denied",
        "heidi is not the requested sub"
    );

    // Heidi's session exists now; prompt=none asking for grace must not use it.
    let (_, loc, _) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("claims", &claims), ("prompt", "none")],
        ))
        .await;
    assert_eq!(query(&loc)["error"], "login_required");

    // Logged in as grace, the request succeeds and email comes in the ID token.
    let (verifier, challenge) = pkce();
    let cb = Journey::new(&s)
        .complete(
            &auth_params(&c, &challenge, &[("claims", &claims)]),
            "grace",
        )
        .await;
    let code = query(&cb)["code"].clone();
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], grace);
    assert_eq!(
        id["email"], "grace@example.test",
        "claims.id_token.email is released in the ID token"
    );
}

#[tokio::test]
async fn pages_carry_security_headers_and_secure_cookies() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let b = s.browser();
    let res = b
        .get(s.url("/auth"))
        .query(&auth_params(&c, &challenge, &[]))
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("__Host-"), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "cookie lacks {attr}: {cookie}");
    }
    let interaction = location(&res);
    let res = b
        .get(format!("{}{}", s.base, interaction))
        .send()
        .await
        .unwrap();
    let h = res.headers();
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.contains_key("strict-transport-security"));
}

#[tokio::test]
async fn a_refused_authorization_remembers_no_consent() {
    // OIDC Core §5.5.1 refuses a sub the user is not; the approval given on the way is part of
    // that authorization and must not outlive it (the consent page shows again next time).
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let ivan = s.user("ivan").await;
    s.user("judy").await;
    let (_, challenge) = pkce();
    let claims = json!({"id_token": {"sub": {"value": ivan}}}).to_string();
    let j = Journey::new(&s);
    let (_, interaction, _) = j
        .authorize(&auth_params(&c, &challenge, &[("claims", &claims)]))
        .await;
    let (status, _, _) = j.login(&interaction, "judy", PASSWORD).await;
    assert_eq!(status, 303);
    let cb = j.decide(&interaction, "approve").await;
    assert_eq!(query(&cb)["error"], "access_denied", "{cb}");

    // The refused interaction has ended: it answered the client once.
    let (status, _, _) = j.get(&interaction).await;
    assert_eq!(status, 400, "a refused interaction must not be reusable");

    // Judy's session is live, but her approval was not kept: she is asked again.
    let (status, next, _) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    assert_eq!(status, 303);
    assert!(next.starts_with("/interaction/"), "asked again: {next}");
    let (status, _, page) = j.get(&next).await;
    assert_eq!(status, 200);
    assert!(page.contains("Allow access"), "consent page: {page}");
}

#[tokio::test]
async fn a_consent_form_posted_twice_at_once_issues_one_code() {
    // RFC 6749 §4.1.2: one authorization, one code; the second post of the same form finds the
    // interaction ended and shows a page, never a second redirect.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("kim").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let (_, interaction, _) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    let (status, _, _) = j.login(&interaction, "kim", PASSWORD).await;
    assert_eq!(status, 303);
    let (_, _, page) = j.get(&interaction).await;
    let csrf = hidden(&page, "csrf_token").expect("csrf token on consent page");
    let path = format!("{interaction}/consent");
    let form = [("csrf_token", csrf.as_str()), ("decision", "approve")];
    let (a, b) = tokio::join!(j.post(&path, &form), j.post(&path, &form));
    let mut answers = [a, b];
    answers.sort_by_key(|(status, _, _)| *status);
    let [(first, to_client, _), (second, loc, page)] = answers;
    assert_eq!(first, 303);
    assert!(!query(&to_client)["code"].is_empty(), "{to_client}");
    assert_eq!(second, 400, "{page}");
    assert!(loc.is_empty(), "no second redirect: {loc}");
}
