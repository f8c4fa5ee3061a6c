//! The user's dashboard at `/account`: a signed-in user sees the apps they granted access to
//! and their bank connections (nobody else's) and revokes either; revocation ends the tokens
//! and tells the partner by webhook. Every form is CSRF-checked and every id owner-checked.

use crate::banks::{redeem, BankJourney};
use crate::harness::*;
use crate::logout::{check_logout_token, LogoutReceiver};
use crate::webhooks::{body, set_webhook, tweak, Receiver};
use serde_json::{json, Value};

/// Signs `username` in through `client`'s code flow in a new browser; the browser (holding
/// the session) and the token response.
async fn signed_in<'a>(
    s: &'a TestServer,
    client: &TestClient,
    username: &str,
) -> (Journey<'a>, Value) {
    let j = Journey::new(s);
    let (verifier, challenge) = pkce();
    let cb = j
        .complete(&auth_params(client, &challenge, &[]), username)
        .await;
    let (status, tokens) = s
        .exchange_code(client, &query(&cb)["code"], &verifier)
        .await;
    assert_eq!(status, 200, "{tokens}");
    (j, tokens)
}

/// Connects Sandbox Bank for the user signed in on `j`'s browser; the connection id.
async fn connect_bank(s: &TestServer, j: &Journey<'_>, client: &TestClient) -> String {
    let b = BankJourney {
        j: Journey {
            server: s,
            browser: j.browser.clone(),
        },
    };
    let (verifier, challenge) = pkce();
    let claims = r#"{"id_token":{"mh:con_id":{"essential":true}}}"#;
    let i = b
        .start(&auth_params(
            client,
            &challenge,
            &[("scope", "openid id:sandbox-bank"), ("claims", claims)],
        ))
        .await;
    let cb = b.sandbox_bank(&i).await;
    let tokens = redeem(s, client, &cb, &verifier).await;
    jwt_claims(tokens["id_token"].as_str().unwrap())["mh:con_id"]
        .as_str()
        .expect("mh:con_id")
        .to_string()
}

/// The dashboard page as `j`'s browser sees it, checked for the page rules: 200, no-store,
/// the CSP without scripts, `lang`; its body and CSRF token (empty when nothing is listed).
pub(crate) async fn dashboard(j: &Journey<'_>) -> (String, String) {
    let res = j
        .browser
        .get(format!("{}/account", j.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(h["x-frame-options"], "DENY");
    let page = res.text().await.unwrap();
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert!(!page.contains("<script"), "no script on the dashboard");
    // Each revoke form carries it; a dashboard with nothing listed has none.
    let csrf = hidden(&page, "csrf_token").unwrap_or_default();
    (page, csrf)
}

async fn introspect_active(s: &TestServer, c: &TestClient, token: &str) -> bool {
    s.introspect(c, token).await["active"] == json!(true)
}

async fn connections_named(s: &TestServer, id: &str) -> i64 {
    s.sql_count(&format!(
        "SELECT count(*) FROM connections WHERE id = '{}'",
        id.replace('\'', "")
    ))
    .await
}

#[tokio::test]
async fn the_dashboard_lists_the_users_own_apps_and_connections_and_nobody_elses() {
    let s = TestServer::start().await;
    let budget = s
        .client(
            json!({"client_name": "Budget App", "logo_uri": "https://rp.example.test/logo.png",
                       "scope": "openid profile email offline_access id:sandbox-bank"}),
        )
        .await;
    let other = s.client(json!({"client_name": "Other App"})).await;
    s.user("alice").await;
    s.user("bob").await;
    let (alice, _) = signed_in(&s, &budget, "alice").await;
    connect_bank(&s, &alice, &budget).await;
    let (bob, _) = signed_in(&s, &other, "bob").await;

    let (page, _) = dashboard(&alice).await;
    assert!(page.contains("Budget App"), "{page}");
    assert!(
        page.contains("src=\"https://rp.example.test/logo.png\""),
        "the registered logo: {page}"
    );
    assert!(
        page.contains("See your email address"),
        "scopes in the consent page's words: {page}"
    );
    assert!(
        page.contains("Sandbox Bank"),
        "the connection's institution: {page}"
    );
    assert!(page.contains("Active"), "the connection's status: {page}");
    assert!(page.contains("<time datetime="), "when: {page}");
    assert!(
        page.contains("aria-label=\"Revoke access for Budget App\""),
        "{page}"
    );
    assert!(
        !page.contains("Other App"),
        "bob's app is not on alice's dashboard"
    );

    let (page, _) = dashboard(&bob).await;
    assert!(page.contains("Other App"), "{page}");
    assert!(
        !page.contains("Budget App"),
        "alice's app is not on bob's dashboard: {page}"
    );
    assert!(
        !page.contains("Sandbox Bank"),
        "alice's connection is not on bob's dashboard"
    );
    assert!(page.contains("No bank is connected."), "{page}");
}

#[tokio::test]
async fn revoking_an_app_ends_its_tokens_and_consent_and_sends_grant_revoked() {
    let receiver = Receiver::start(0).await;
    let s = TestServer::start_with(tweak).await;
    let c = s.client(json!({"client_name": "Budget App"})).await;
    set_webhook(&s, &c, &receiver.url).await;
    let alice_id = s.user("alice").await;
    let (alice, tokens) = signed_in(&s, &c, "alice").await;
    let (at, rt) = (
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
    );
    assert!(
        introspect_active(&s, &c, at).await,
        "live before the revoke (the check can fail)"
    );

    let (_, csrf) = dashboard(&alice).await;
    let (status, loc, _) = alice
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", &c.id)],
        )
        .await;
    assert_eq!((status, loc.as_str()), (303, "/account?revoked=app"));

    // RFC 7662 §2.2: a revoked token is not active; RFC 6749 §5.2: its refresh token is an
    // invalid_grant; RFC 6750 §3.1: the resource refuses it.
    assert!(
        !introspect_active(&s, &c, at).await,
        "access token inactive after the revoke"
    );
    let (status, body) = s.refresh(&c, rt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    let me = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 401, "UserInfo refuses the revoked token");

    let e = body_of_first(&receiver, "grantRevoked").await;
    assert_eq!(e["userId"], alice_id.as_str());
    assert_eq!(e["payload"]["revokedBy"], "user");

    let (page, _) = dashboard(&alice).await;
    assert!(
        !page.contains("Budget App"),
        "gone from the dashboard: {page}"
    );
    let (_, _, page) = alice.get("/account?revoked=app").await;
    assert!(page.contains("access has ended"), "the notice: {page}");
    // The consent is forgotten: the next request asks for it again (OIDC Core §3.1.2.4).
    let (_, challenge) = pkce();
    let (status, interaction, _) = alice.authorize(&auth_params(&c, &challenge, &[])).await;
    assert_eq!(status, 303);
    assert!(
        interaction.starts_with("/interaction/"),
        "to consent again, not back to the app: {interaction}"
    );
    let (status, _, page) = alice.get(&interaction).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Allow access"),
        "the consent page again: {page}"
    );

    // Revoking it again: nothing left of this user's, so not found.
    let (status, _, _) = alice
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", &c.id)],
        )
        .await;
    assert_eq!(status, 404);
}

/// Back-Channel Logout 1.0 §2.5: revoking an app from the dashboard also sends the app a
/// logout token for each session its grants came from; the dashboard's own session stays.
#[tokio::test]
async fn revoking_an_app_sends_a_backchannel_logout_token_for_its_session_bcl_2_5() {
    let receiver = LogoutReceiver::start(0).await;
    let s = TestServer::start_with(|c| {
        tweak(c);
        c.outbound.allow_private = true;
    })
    .await;
    let c = s
        .client(json!({
            "client_name": "Budget App",
            "backchannel_logout_uri": receiver.url,
            "backchannel_logout_session_required": true,
        }))
        .await;
    s.user("alice").await;
    let (alice, tokens) = signed_in(&s, &c, "alice").await;
    let (_, csrf) = dashboard(&alice).await;
    let (status, _, _) = alice
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", &c.id)],
        )
        .await;
    assert_eq!(status, 303);
    let sent = receiver.wait_for(1).await;
    let claims = check_logout_token(&s, &sent[0], &c).await;
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        claims["sid"], id_token["sid"],
        "section 2.4: the session's sid"
    );
    assert_eq!(claims["sub"], id_token["sub"]);
    let (page, _) = dashboard(&alice).await;
    assert!(
        !page.contains("type=\"password\""),
        "the dashboard's own session stays (no sign-in form): {page}"
    );
}

/// The dashboard's "Sign out" goes to the end-session endpoint, which asks first (no ID token
/// hint: OpenID RP-Initiated Logout 1.0 §2) and then ends the session.
#[tokio::test]
async fn the_dashboard_signs_out_through_the_end_session_confirmation() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (alice, _) = signed_in(&s, &c, "alice").await;
    let (page, _) = dashboard(&alice).await;
    let link = format!("href=\"{}\"", s.url("/session/end"));
    assert!(page.contains(&link), "a sign-out link to {link}: {page}");
    let (status, _, confirm) = alice.get(&s.url("/session/end")).await;
    assert_eq!(status, 200);
    let csrf = hidden(&confirm, "csrf_token").expect("the confirmation form");
    let (status, _, done) = alice
        .post(
            "/oidc/session/end/confirm",
            &[("csrf_token", &csrf), ("decision", "logout")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(done.contains("You are signed out"), "{done}");
    let (page, _) = dashboard(&alice).await;
    assert!(
        page.contains("type=\"password\""),
        "signed out: the dashboard asks to sign in again: {page}"
    );
}

/// The first delivered event of `kind`.
async fn body_of_first(receiver: &Receiver, kind: &str) -> Value {
    let mut n = 1;
    loop {
        let seen = receiver.wait_for(n).await;
        if let Some(e) = seen.iter().map(body).find(|e| e["eventType"] == kind) {
            return e;
        }
        n = seen.len() + 1;
    }
}

#[tokio::test]
async fn revoking_a_connection_deletes_it_as_the_partner_api_does() {
    let receiver = Receiver::start(0).await;
    let s = TestServer::start_with(tweak).await;
    let c = s
        .client(json!({"client_name": "Budget App", "scope": "openid profile email offline_access id:sandbox-bank"}))
        .await;
    set_webhook(&s, &c, &receiver.url).await;
    let alice_id = s.user("alice").await;
    let (alice, _) = signed_in(&s, &c, "alice").await;
    let con = connect_bank(&s, &alice, &c).await;
    assert_eq!(connections_named(&s, &con).await, 1);

    let (_, csrf) = dashboard(&alice).await;
    let (status, loc, _) = alice
        .post(
            "/account/connections/revoke",
            &[("csrf_token", &csrf), ("connection_id", &con)],
        )
        .await;
    assert_eq!((status, loc.as_str()), (303, "/account?revoked=connection"));
    assert_eq!(
        connections_named(&s, &con).await,
        0,
        "the connection is deleted"
    );
    let grants = s
        .sql_count(&format!(
            "SELECT count(*) FROM grants WHERE connection_id = '{con}'"
        ))
        .await;
    assert_eq!(grants, 0, "its grants go with it");
    let e = body_of_first(&receiver, "connectionDeleted").await;
    assert_eq!(e["userId"], alice_id.as_str());
    assert_eq!(e["payload"]["connectionId"], con.as_str());
    let (page, _) = dashboard(&alice).await;
    assert!(page.contains("No bank is connected."), "{page}");
}

#[tokio::test]
async fn csrf_missing_wrong_or_from_another_browser_is_refused_rfc6749_10_12() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({"client_name": "Budget App", "scope": "openid profile email offline_access id:sandbox-bank"}))
        .await;
    s.user("alice").await;
    s.user("mallory").await;
    let (alice, tokens) = signed_in(&s, &c, "alice").await;
    let con = connect_bank(&s, &alice, &c).await;
    let at = tokens["access_token"].as_str().unwrap();
    let (mallory, _) = signed_in(&s, &c, "mallory").await;
    let (_, mallorys_csrf) = dashboard(&mallory).await;
    let (_, csrf) = dashboard(&alice).await;

    for (label, token) in [
        ("missing", None),
        ("wrong", Some("x".repeat(43))),
        ("another browser's", Some(mallorys_csrf.clone())),
    ] {
        let mut app = vec![("client_id", c.id.as_str())];
        let mut bank = vec![("connection_id", con.as_str())];
        if let Some(t) = &token {
            app.push(("csrf_token", t));
            bank.push(("csrf_token", t));
        }
        let (status, _, page) = alice.post("/account/apps/revoke", &app).await;
        assert_eq!(
            status, 403,
            "RFC 6749 §10.12: {label} CSRF token refused: {page}"
        );
        assert!(page.contains("CSRF"), "{page}");
        let (status, _, _) = alice.post("/account/connections/revoke", &bank).await;
        assert_eq!(status, 403, "RFC 6749 §10.12: {label} CSRF token refused");
    }
    assert!(introspect_active(&s, &c, at).await, "nothing revoked");
    assert_eq!(connections_named(&s, &con).await, 1, "nothing deleted");
    let (page, _) = dashboard(&alice).await;
    assert!(
        page.contains("Budget App") && page.contains("Sandbox Bank"),
        "{page}"
    );

    // The sign-in form is CSRF-checked too (login CSRF).
    let fresh = Journey::new(&s);
    let (status, _, _) = fresh
        .post(
            "/account/login",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(
        status, 403,
        "RFC 6749 §10.12: a sign-in without the form's CSRF token is refused"
    );

    // The right token does revoke (the checks above can pass).
    let (status, _, _) = alice
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", &c.id)],
        )
        .await;
    assert_eq!(status, 303);
    assert!(!introspect_active(&s, &c, at).await);
}

#[tokio::test]
async fn another_users_app_or_connection_is_not_found_and_left_alone() {
    let s = TestServer::start().await;
    let theirs = s
        .client(json!({"client_name": "Bob's App", "scope": "openid profile email offline_access id:sandbox-bank"}))
        .await;
    let mine = s.client(json!({"client_name": "Alice's App"})).await;
    s.user("alice").await;
    s.user("bob").await;
    let (alice, _) = signed_in(&s, &mine, "alice").await;
    let (bob, tokens) = signed_in(&s, &theirs, "bob").await;
    let bobs_con = connect_bank(&s, &bob, &theirs).await;
    let bobs_at = tokens["access_token"].as_str().unwrap();

    let (_, csrf) = dashboard(&alice).await;
    let (status, _, page) = alice
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", &theirs.id)],
        )
        .await;
    assert_eq!(
        status, 404,
        "an app of another user's grant is not found: {page}"
    );
    let (status, _, _) = alice
        .post(
            "/account/connections/revoke",
            &[("csrf_token", &csrf), ("connection_id", &bobs_con)],
        )
        .await;
    assert_eq!(status, 404, "another user's connection is not found");
    let (status, _, _) = alice
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", "no-such-client")],
        )
        .await;
    assert_eq!(status, 404);

    assert!(
        introspect_active(&s, &theirs, bobs_at).await,
        "bob's token untouched"
    );
    assert_eq!(
        connections_named(&s, &bobs_con).await,
        1,
        "bob's connection untouched"
    );
    let (page, _) = dashboard(&bob).await;
    assert!(
        page.contains("Bob&#x27;s App") || page.contains("Bob's App"),
        "{page}"
    );
    assert!(page.contains("Sandbox Bank"), "{page}");
}

#[tokio::test]
async fn without_a_session_the_page_signs_the_user_in_then_shows_the_dashboard() {
    let s = TestServer::start().await;
    let c = s.client(json!({"client_name": "Budget App"})).await;
    s.user("alice").await;
    let (alice_elsewhere, tokens) = signed_in(&s, &c, "alice").await;
    drop(alice_elsewhere);
    let at = tokens["access_token"].as_str().unwrap();

    let visitor = Journey::new(&s);
    let res = visitor
        .browser
        .get(format!("{}/account", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let page = res.text().await.unwrap();
    assert!(page.contains("<html lang=\"en\">"));
    assert!(
        page.contains("action=\"/account/login\""),
        "the sign-in form: {page}"
    );
    assert!(page.contains("<label for=\"username\">") && page.contains("<label for=\"password\">"));
    assert!(
        !page.contains("Budget App"),
        "nothing of anyone's before signing in"
    );
    let csrf = hidden(&page, "csrf_token").expect("csrf on the sign-in form");

    // Without a session a revoke changes nothing and leads to the sign-in form.
    let (status, loc, _) = visitor
        .post(
            "/account/apps/revoke",
            &[("csrf_token", &csrf), ("client_id", &c.id)],
        )
        .await;
    assert_eq!((status, loc.as_str()), (303, "/account"));
    assert!(introspect_active(&s, &c, at).await);

    let (status, _, page) = visitor
        .post(
            "/account/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", "wrong password"),
            ],
        )
        .await;
    assert_eq!(status, 401, "a wrong password is refused: {page}");
    assert!(page.contains("Wrong username or password."), "{page}");

    let (status, loc, _) = visitor
        .post(
            "/account/login",
            &[
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!((status, loc.as_str()), (303, "/account"));
    let (page, _) = dashboard(&visitor).await;
    assert!(
        page.contains("Budget App"),
        "the dashboard after signing in: {page}"
    );
}

#[tokio::test]
async fn the_dashboard_sign_in_shares_the_login_throttle() {
    let s = TestServer::start_with(|c| c.login.max_failures_per_account = 2).await;
    s.user("alice").await;
    let visitor = Journey::new(&s);
    let (status, _, page) = visitor.get("/account").await;
    assert_eq!(status, 200);
    let csrf = hidden(&page, "csrf_token").unwrap();
    let attempt = |password: &'static str| {
        let csrf = csrf.clone();
        let visitor = &visitor;
        async move {
            visitor
                .post(
                    "/account/login",
                    &[
                        ("csrf_token", &csrf),
                        ("username", "alice"),
                        ("password", password),
                    ],
                )
                .await
                .0
        }
    };
    assert_eq!(attempt("wrong 1").await, 401);
    assert_eq!(attempt("wrong 2").await, 401);
    assert_eq!(
        attempt(PASSWORD).await,
        429,
        "blocked after too many failures, the right password too"
    );
}
