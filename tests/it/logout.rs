//! Logout: OpenID RP-Initiated Logout 1.0 (the end-session endpoint), Back-Channel Logout 1.0
//! (logout tokens through the outbox to a real receiver on loopback) and Front-Channel Logout
//! 1.0 (the logged-out page's iframes), and `sid` in ID tokens.

use crate::harness::*;
use crate::webhooks::read_request;
use consentry::protocol::logout::{self, Ending};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

const POST_LOGOUT: &str = "https://rp.example.test/logged-out";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A receiver of back-channel logout requests on loopback: records each `logout_token` and
/// answers 500 while `failing` > 0, then 200.
#[derive(Clone)]
struct LogoutReceiver {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
    failing: Arc<Mutex<u32>>,
}

impl LogoutReceiver {
    async fn start(failing: u32) -> LogoutReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = LogoutReceiver {
            url: format!(
                "http://{}/backchannel_logout",
                listener.local_addr().unwrap()
            ),
            tokens: Default::default(),
            failing: Arc::new(Mutex::new(failing)),
        };
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut stream).await else {
                        return;
                    };
                    assert_eq!(
                        req.header("content-type"),
                        "application/x-www-form-urlencoded",
                        "Back-Channel Logout 1.0 section 2.5: a form POST"
                    );
                    let form: std::collections::HashMap<String, String> =
                        form_urlencoded::parse(&req.body).into_owned().collect();
                    me.tokens
                        .lock()
                        .push(form.get("logout_token").cloned().unwrap_or_default());
                    let status = {
                        let mut f = me.failing.lock();
                        if *f > 0 {
                            *f -= 1;
                            "500 Internal Server Error"
                        } else {
                            "200 OK"
                        }
                    };
                    let answer = format!(
                        "HTTP/1.1 {status}\r\ncache-control: no-store\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(answer.as_bytes()).await;
                });
            }
        });
        r
    }

    /// Waits (bounded) until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<String> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.tokens.lock().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < until,
                "only {} of {n} logout requests arrived",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Loopback receivers and fast retries: the outbound policy's development mode.
async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.outbound.allow_private = true;
        c.webhooks.retry_base_secs = 1;
        c.webhooks.poll_interval_ms = 50;
    })
    .await
}

/// A browser signed in to `client` as `username` through the code flow asking for `scope`:
/// the browser and the token response.
async fn signed_in<'a>(
    s: &'a TestServer,
    client: &TestClient,
    username: &str,
    scope: &str,
) -> (Journey<'a>, Value) {
    let j = Journey::new(s);
    let tokens = tokens_in(s, &j, client, username, scope).await;
    (j, tokens)
}

/// The code flow in browser `j` (signing in when it has no session).
async fn tokens_in(
    s: &TestServer,
    j: &Journey<'_>,
    client: &TestClient,
    username: &str,
    scope: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let params = auth_params(client, &challenge, &[("scope", scope)]);
    let (status, loc, body) = j.authorize(&params).await;
    assert_eq!(status, 303, "authorize: {body}");
    let cb = if loc.starts_with("/interaction/") {
        let (_, _, page) = j.get(&loc).await;
        if page.contains("/login\"") {
            // The login page: sign in, then consent.
            let (status, _, body) = j.login(&loc, username, PASSWORD).await;
            assert_eq!(status, 303, "login: {body}");
        }
        j.decide(&loc, "approve").await
    } else {
        loc
    };
    let (status, tokens) = s
        .exchange_code(client, &query(&cb)["code"], &verifier)
        .await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

fn end_session_url(s: &TestServer, params: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&s.url("/session/end")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

async fn sessions(s: &TestServer) -> i64 {
    s.sql_count("SELECT count(*) FROM sessions").await
}

/// OIDC Core §3.1.2.1 prompt=none: after logout there is no session to use.
async fn prompt_none_needs_login(s: &TestServer, j: &Journey<'_>, client: &TestClient) {
    let (_, challenge) = pkce();
    let params = auth_params(client, &challenge, &[("prompt", "none")]);
    let (status, loc, _) = j.authorize(&params).await;
    assert_eq!(status, 303);
    assert_eq!(
        query(&loc)["error"],
        "login_required",
        "the session ended: prompt=none finds nobody"
    );
    let _ = s;
}

#[tokio::test]
async fn discovery_advertises_exactly_the_logout_specs_supported() {
    let s = TestServer::start().await;
    let d = s.discovery().await;
    assert_eq!(d["end_session_endpoint"], s.url("/session/end"));
    for flag in [
        "backchannel_logout_supported",
        "backchannel_logout_session_supported",
        "frontchannel_logout_supported",
        "frontchannel_logout_session_supported",
    ] {
        assert_eq!(d[flag], true, "{flag}");
    }
}

#[tokio::test]
async fn registration_keeps_and_returns_the_logout_metadata() {
    let s = server().await;
    let (status, body) = s
        .register(&json!({
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": [POST_LOGOUT],
            "backchannel_logout_uri": "https://rp.example.test/bc",
            "backchannel_logout_session_required": true,
            "frontchannel_logout_uri": "https://rp.example.test/fc?x=1",
            "frontchannel_logout_session_required": true,
        }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["post_logout_redirect_uris"], json!([POST_LOGOUT]));
    assert_eq!(body["backchannel_logout_uri"], "https://rp.example.test/bc");
    assert_eq!(body["backchannel_logout_session_required"], true);
    assert_eq!(
        body["frontchannel_logout_uri"],
        "https://rp.example.test/fc?x=1"
    );
    assert_eq!(body["frontchannel_logout_session_required"], true);
}

#[tokio::test]
async fn registration_refuses_bad_logout_uris_naming_the_rule() {
    // The outbound policy's production mode: no loopback or private addresses.
    let s = TestServer::start().await;
    let cases: &[(Value, &str)] = &[
        (
            json!({"post_logout_redirect_uris": ["https://rp.example.test/out#frag"]}),
            "RP-Initiated Logout 1.0 section 3.1",
        ),
        (
            json!({"post_logout_redirect_uris": ["http://rp.example.test/out"]}),
            "RP-Initiated Logout 1.0 section 3.1",
        ),
        (
            json!({"backchannel_logout_uri": "https://127.0.0.1/bc"}),
            "backchannel_logout_uri",
        ),
        (
            json!({"backchannel_logout_uri": "http://rp.example.test/bc"}),
            "backchannel_logout_uri",
        ),
        (
            json!({"backchannel_logout_uri": "https://rp.example.test/bc#f"}),
            "Back-Channel Logout 1.0 section 2.2",
        ),
        (
            json!({"frontchannel_logout_uri": "javascript:alert(1)"}),
            "Front-Channel Logout 1.0 section 2",
        ),
        (
            json!({"frontchannel_logout_uri": "https://rp.example.test/fc#f"}),
            "Front-Channel Logout 1.0 section 2",
        ),
    ];
    for (extra, rule) in cases {
        let mut meta = json!({"redirect_uris": [REDIRECT_URI]});
        for (k, v) in extra.as_object().unwrap() {
            meta[k] = v.clone();
        }
        let (status, body) = s.register(&meta).await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{extra}");
        let d = body["error_description"].as_str().unwrap();
        assert!(d.contains(rule), "{extra}: {d}");
    }
}

#[tokio::test]
async fn oidc_core_sid_is_in_every_id_token_of_a_browser_session_and_stable() {
    let s = server().await;
    s.user("alice").await;
    let a = s.client(json!({})).await;
    let b = s.client(json!({})).await;
    let (j, first) = signed_in(&s, &a, "alice", "openid offline_access").await;
    let second = tokens_in(&s, &j, &b, "alice", "openid").await;
    let sid = jwt_claims(first["id_token"].as_str().unwrap())["sid"].clone();
    assert!(sid.is_string(), "sid in the ID token");
    assert_eq!(
        jwt_claims(second["id_token"].as_str().unwrap())["sid"],
        sid,
        "one session, one sid, for every client"
    );
    let (status, refreshed) = s
        .refresh(&a, first["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        jwt_claims(refreshed["id_token"].as_str().unwrap())["sid"],
        sid,
        "a refreshed ID token keeps the session's sid"
    );
}

#[tokio::test]
async fn rp_initiated_2_a_hint_naming_the_session_logs_out_and_redirects_with_state() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, tokens) = signed_in(&s, &c, "alice", "openid").await;
    assert_eq!(sessions(&s).await, 1);
    let state = "s".repeat(128);
    let url = end_session_url(
        &s,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", &state),
            ("ui_locales", "en"),
        ],
    );
    let res = j.browser.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let cleared = res.headers().get_all("set-cookie").iter().any(|v| {
        let v = v.to_str().unwrap();
        v.starts_with("__Host-consentry-session=;") && v.contains("Max-Age=0")
    });
    assert!(cleared, "the session cookie is cleared");
    let loc = location(&res);
    assert!(loc.starts_with(POST_LOGOUT), "{loc}");
    let q = query(&loc);
    assert_eq!(q["state"], state, "section 3: state comes back unchanged");
    assert_eq!(q.len(), 1, "nothing but state: {loc}");
    assert_eq!(sessions(&s).await, 0, "the session row is deleted");
    prompt_none_needs_login(&s, &j, &c).await;
}

#[tokio::test]
async fn rp_initiated_2_post_works_like_get() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, tokens) = signed_in(&s, &c, "alice", "openid").await;
    let res = j
        .browser
        .post(s.url("/session/end"))
        .form(&[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "st"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("{POST_LOGOUT}?state=st"));
    assert_eq!(sessions(&s).await, 0);
}

/// The request must not redirect (OpenID RP-Initiated Logout 1.0 §2/§3): an HTML error page
/// without a Location, the session left alone.
async fn refused_without_redirect(j: &Journey<'_>, url: &str, rule: &str) {
    let res = j.browser.get(url).send().await.unwrap();
    assert_eq!(res.status(), 400, "{rule}");
    assert!(
        res.headers().get("location").is_none(),
        "{rule}: no redirect"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("<html lang=\"en\">"), "an error page");
    assert!(page.contains(rule), "{rule}: {page}");
}

#[tokio::test]
async fn rp_initiated_3_an_unregistered_post_logout_redirect_uri_is_an_error_page_never_a_redirect()
{
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, tokens) = signed_in(&s, &c, "alice", "openid").await;
    let hint = tokens["id_token"].as_str().unwrap();
    for bad in [
        "https://attacker.example/out",
        &format!("{POST_LOGOUT}?added=1"),
        REDIRECT_URI,
    ] {
        let url = end_session_url(
            &s,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", bad),
                ("state", "x"),
            ],
        );
        refused_without_redirect(&j, &url, "RP-Initiated Logout 1.0 section 3").await;
    }
    assert_eq!(sessions(&s).await, 1, "nothing was ended");
}

#[tokio::test]
async fn rp_initiated_2_post_logout_redirect_uri_without_a_known_client_is_an_error_page() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, _) = signed_in(&s, &c, "alice", "openid").await;
    let url = end_session_url(
        &s,
        &[("post_logout_redirect_uri", POST_LOGOUT), ("state", "x")],
    );
    refused_without_redirect(&j, &url, "RP-Initiated Logout 1.0 section 2").await;
    let url = end_session_url(
        &s,
        &[
            ("client_id", "no-such-client"),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    );
    refused_without_redirect(&j, &url, "RP-Initiated Logout 1.0 section 2").await;
    assert_eq!(sessions(&s).await, 1);
}

/// An ID token with the same claims, signed by a key that is not the provider's.
fn signed_by_someone_else(claims: &Value) -> String {
    let key = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let signer = josekit::jws::RS256
        .signer_from_der(key.to_der_private_key())
        .unwrap();
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("JWT");
    let payload = josekit::jwt::JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    josekit::jwt::encode_with_signer(&payload, &header, &signer).unwrap()
}

#[tokio::test]
async fn rp_initiated_2_a_hint_signed_by_someone_else_or_modified_is_refused() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, tokens) = signed_in(&s, &c, "alice", "openid").await;
    let real = tokens["id_token"].as_str().unwrap();
    let forged = signed_by_someone_else(&jwt_claims(real));
    let mut parts: Vec<String> = real.split('.').map(String::from).collect();
    let flipped = if parts[2].starts_with('A') { "B" } else { "A" };
    parts[2].replace_range(0..1, flipped);
    let modified = parts.join(".");
    let access_token = tokens["access_token"].as_str().unwrap();
    for hint in [
        forged.as_str(),
        modified.as_str(),
        access_token,
        "not-a-jwt",
    ] {
        let url = end_session_url(
            &s,
            &[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", POST_LOGOUT),
            ],
        );
        refused_without_redirect(&j, &url, "RP-Initiated Logout 1.0 section 2").await;
    }
    assert_eq!(sessions(&s).await, 1);
}

#[tokio::test]
async fn rp_initiated_2_a_client_id_that_disagrees_with_the_hint_is_refused() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let other = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, tokens) = signed_in(&s, &c, "alice", "openid").await;
    let url = end_session_url(
        &s,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("client_id", &other.id),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    );
    refused_without_redirect(&j, &url, "audience of the id_token_hint").await;
    // The matching client_id is fine.
    let url = end_session_url(
        &s,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("client_id", &c.id),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    );
    let (status, loc, _) = j.get(&url).await;
    assert_eq!((status, loc.as_str()), (303, POST_LOGOUT));
}

#[tokio::test]
async fn rp_initiated_2_an_expired_hint_and_one_signed_with_a_retired_key_are_accepted() {
    let s = TestServer::start_with(|c| c.lifetimes.id_token_secs = 60).await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, tokens) = signed_in(&s, &c, "alice", "openid").await;
    s.provider.clock.advance(120);
    let p = &s.provider;
    consentry::keys::rotate(&p.store, &p.sealer, &p.config.keys_dir(), p.now(), 3600)
        .await
        .expect("rotate");
    // Every node reloads the key set within 2 s: the hint's key is then a retired one.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let url = end_session_url(
        &s,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    );
    let (status, loc, body) = j.get(&url).await;
    assert_eq!((status, loc.as_str()), (303, POST_LOGOUT), "{body}");
    assert_eq!(sessions(&s).await, 0);
}

#[tokio::test]
async fn rp_initiated_2_without_a_hint_the_user_confirms_then_lands_on_the_registered_uri() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT], "client_name": "Budget <App>"}))
        .await;
    let (j, _) = signed_in(&s, &c, "alice", "openid").await;
    let url = end_session_url(
        &s,
        &[
            ("client_id", &c.id),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "st 1"),
        ],
    );
    let res = j.browser.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200, "a confirmation page, no redirect");
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let page = res.text().await.unwrap();
    assert!(page.contains("<html lang=\"en\">"));
    assert!(
        page.contains("Budget &lt;App&gt;"),
        "the client's name, escaped"
    );
    assert_eq!(
        sessions(&s).await,
        1,
        "nothing ended before the user confirms"
    );
    let csrf = hidden(&page, "csrf_token").expect("a CSRF token");
    let (status, loc, _) = j
        .post(
            "/oidc/session/end/confirm",
            &[("csrf_token", &csrf), ("decision", "logout")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(loc, format!("{POST_LOGOUT}?state=st+1"));
    assert_eq!(sessions(&s).await, 0);
    prompt_none_needs_login(&s, &j, &c).await;
}

#[tokio::test]
async fn rp_initiated_2_no_params_asks_then_shows_signed_out() {
    let s = server().await;
    s.user("alice").await;
    let c = s.client(json!({})).await;
    let (j, _) = signed_in(&s, &c, "alice", "openid").await;
    let (status, _, page) = j.get(&end_session_url(&s, &[])).await;
    assert_eq!(status, 200);
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, loc, page) = j
        .post(
            "/oidc/session/end/confirm",
            &[("csrf_token", &csrf), ("decision", "logout")],
        )
        .await;
    assert_eq!((status, loc.as_str()), (200, ""));
    assert!(page.contains("You are signed out"), "{page}");
    assert_eq!(sessions(&s).await, 0);
}

#[tokio::test]
async fn rp_initiated_2_a_hint_for_another_session_asks_first() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (_, old) = signed_in(&s, &c, "alice", "openid").await;
    let (j, _) = signed_in(&s, &c, "alice", "openid").await;
    let url = end_session_url(
        &s,
        &[
            ("id_token_hint", old["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    );
    let (status, _, page) = j.get(&url).await;
    assert_eq!(status, 200, "the hint names another session: confirm first");
    assert!(page.contains("Sign out"), "{page}");
    assert_eq!(sessions(&s).await, 2);
}

#[tokio::test]
async fn rp_initiated_2_the_confirmation_form_checks_its_csrf_token() {
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, _) = signed_in(&s, &c, "alice", "openid").await;
    let url = end_session_url(
        &s,
        &[
            ("client_id", &c.id),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    );
    let (_, _, page) = j.get(&url).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    // Another browser (the attacker's) fetched its own token: it does not work here, and
    // this browser's token does not work there.
    let (other, _) = signed_in(&s, &c, "alice", "openid").await;
    let (_, _, other_page) = other.get(&url).await;
    let other_csrf = hidden(&other_page, "csrf_token").unwrap();
    for token in ["", "forged", other_csrf.as_str()] {
        let (status, loc, body) = j
            .post(
                "/oidc/session/end/confirm",
                &[("csrf_token", token), ("decision", "logout")],
            )
            .await;
        assert_eq!(status, 403, "CSRF check: {body}");
        assert!(loc.is_empty());
        assert!(body.contains("CSRF"), "{body}");
    }
    let (status, _, _) = other
        .post(
            "/oidc/session/end/confirm",
            &[("csrf_token", &csrf), ("decision", "logout")],
        )
        .await;
    assert_eq!(
        status, 403,
        "a token is bound to the browser it was shown to"
    );
    assert_eq!(sessions(&s).await, 2, "both still signed in");
    // "Stay signed in" keeps the session.
    let (status, _, body) = j
        .post(
            "/oidc/session/end/confirm",
            &[("csrf_token", &csrf), ("decision", "stay")],
        )
        .await;
    assert_eq!(status, 200);
    assert!(body.contains("still signed in"), "{body}");
    assert_eq!(sessions(&s).await, 2);
}

/// Checks a logout token as an RP must (Back-Channel Logout 1.0 §2.4, §2.6): its signature
/// against the JWKS, `typ`, the claims, the `events` member, and no `nonce`.
async fn check_logout_token(s: &TestServer, token: &str, client: &TestClient) -> Value {
    let header = jwt_header(token);
    assert_eq!(header["typ"], "logout+jwt", "section 2.4: typ");
    let claims = verify_with_jwks(s, token).await;
    assert_eq!(claims["iss"], s.issuer);
    assert_eq!(claims["aud"], client.id.as_str());
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 120, "a short exp: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(
        claims["events"],
        json!({ EVENT: {} }),
        "section 2.4: events names the back-channel logout event only"
    );
    assert!(claims.get("nonce").is_none(), "section 2.4: never a nonce");
    claims
}

#[tokio::test]
async fn bcl_2_4_each_participating_client_gets_a_signed_logout_token_with_sid_and_its_sub() {
    let s = server().await;
    s.user("alice").await;
    let receiver = LogoutReceiver::start(0).await;
    let public = s
        .client(json!({
            "post_logout_redirect_uris": [POST_LOGOUT],
            "backchannel_logout_uri": receiver.url,
            "backchannel_logout_session_required": true,
        }))
        .await;
    let pairwise = s
        .client(json!({
            "backchannel_logout_uri": receiver.url,
            "subject_type": "pairwise",
            "id_token_signed_response_alg": "ES256",
        }))
        .await;
    let bystander = s.client(json!({})).await;
    // One session, three clients; the bystander has no back-channel URI.
    let (j, first) = signed_in(&s, &public, "alice", "openid").await;
    let second = tokens_in(&s, &j, &pairwise, "alice", "openid offline_access").await;
    let third = tokens_in(&s, &j, &bystander, "alice", "openid").await;
    let url = end_session_url(
        &s,
        &[
            ("id_token_hint", first["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "st"),
        ],
    );
    let (status, loc, _) = j.get(&url).await;
    assert_eq!(
        (status, loc.as_str()),
        (303, "https://rp.example.test/logged-out?state=st")
    );
    let tokens = receiver.wait_for(2).await;
    let mut by_aud = std::collections::HashMap::new();
    for t in &tokens {
        let aud = jwt_claims(t)["aud"].as_str().unwrap().to_string();
        by_aud.insert(aud, t.clone());
    }
    for (client, issued) in [(&public, &first), (&pairwise, &second)] {
        let token = by_aud.get(&client.id).expect("a token for each client");
        let claims = check_logout_token(&s, token, client).await;
        let id_token = jwt_claims(issued["id_token"].as_str().unwrap());
        assert_eq!(
            claims["sid"], id_token["sid"],
            "section 2.4: sid of the session"
        );
        assert_eq!(claims["sub"], id_token["sub"], "the sub this client knows");
    }
    assert_eq!(
        jwt_header(&by_aud[&pairwise.id])["alg"],
        "ES256",
        "signed like the client's ID tokens"
    );
    // Section 2.7: grants without offline_access end with the session (their access tokens
    // too); the others outlive it.
    let introspected = s
        .introspect(&bystander, third["access_token"].as_str().unwrap())
        .await;
    assert_eq!(introspected["active"], false, "{introspected}");
    let (status, body) = s
        .refresh(&pairwise, second["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "offline_access outlives the session: {body}");
    let delivered = s
        .sql_count("SELECT count(*) FROM webhook_events WHERE kind = 'backchannel_logout' AND status = 'delivered'")
        .await;
    assert_eq!(delivered, 2);
}

#[tokio::test]
async fn bcl_2_7_grants_without_offline_access_are_revoked_with_the_session_and_offline_ones_kept()
{
    let s = server().await;
    s.user("alice").await;
    let c = s
        .client(json!({"post_logout_redirect_uris": [POST_LOGOUT]}))
        .await;
    let (j, online) = signed_in(&s, &c, "alice", "openid").await;
    let offline = tokens_in(&s, &j, &c, "alice", "openid offline_access").await;
    assert!(
        online.get("refresh_token").is_none(),
        "refresh needs offline_access"
    );
    let at = online["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(&c, at).await["active"], true);
    let url = end_session_url(
        &s,
        &[("id_token_hint", online["id_token"].as_str().unwrap())],
    );
    let (status, _, page) = j.get(&url).await;
    assert_eq!(status, 200);
    assert!(page.contains("You are signed out"));
    assert_eq!(
        s.introspect(&c, at).await["active"],
        false,
        "the session's grant without offline_access is revoked"
    );
    let (status, _) = s
        .refresh(&c, offline["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "offline access is kept");
}

#[tokio::test]
async fn bcl_2_5_a_failed_delivery_is_retried_through_the_outbox_with_a_fresh_token() {
    let s = server().await;
    s.user("alice").await;
    let receiver = LogoutReceiver::start(1).await;
    let c = s
        .client(json!({
            "post_logout_redirect_uris": [POST_LOGOUT],
            "backchannel_logout_uri": receiver.url,
        }))
        .await;
    let (j, tokens) = signed_in(&s, &c, "alice", "openid").await;
    let url = end_session_url(
        &s,
        &[("id_token_hint", tokens["id_token"].as_str().unwrap())],
    );
    let (status, _, _) = j.get(&url).await;
    assert_eq!(status, 200);
    let seen = receiver.wait_for(2).await;
    assert_ne!(
        jwt_claims(&seen[0])["jti"],
        jwt_claims(&seen[1])["jti"],
        "each attempt signs a new token"
    );
    let claims = check_logout_token(&s, &seen[1], &c).await;
    assert_eq!(
        claims["sid"],
        jwt_claims(tokens["id_token"].as_str().unwrap())["sid"]
    );
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let q = "SELECT count(*) FROM webhook_events WHERE kind = 'backchannel_logout' AND status = 'delivered' AND attempts = 2";
        if s.sql_count(q).await == 1 {
            break;
        }
        assert!(Instant::now() < until, "the retry is recorded as delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn fcl_2_the_logged_out_page_frames_each_front_channel_uri_with_iss_and_sid() {
    let s = server().await;
    s.user("alice").await;
    let with_session = s
        .client(json!({
            "post_logout_redirect_uris": [POST_LOGOUT],
            "frontchannel_logout_uri": "https://rp.example.test/fc?app=1",
            "frontchannel_logout_session_required": true,
        }))
        .await;
    let plain = s
        .client(json!({"frontchannel_logout_uri": "https://other.example.test:8443/fc"}))
        .await;
    let (j, tokens) = signed_in(&s, &with_session, "alice", "openid").await;
    tokens_in(&s, &j, &plain, "alice", "openid").await;
    let sid = jwt_claims(tokens["id_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .to_string();
    let url = end_session_url(
        &s,
        &[
            ("id_token_hint", tokens["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "st"),
        ],
    );
    let res = j.browser.get(&url).send().await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "the page loads the frames before going on"
    );
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.ends_with("; frame-src https://rp.example.test https://other.example.test:8443"),
        "exactly the frames' origins: {csp}"
    );
    let page = res.text().await.unwrap();
    let mut expected = url::Url::parse("https://rp.example.test/fc?app=1").unwrap();
    expected
        .query_pairs_mut()
        .append_pair("iss", &s.issuer)
        .append_pair("sid", &sid);
    let framed = html_escape::encode_double_quoted_attribute(expected.as_str()).to_string();
    assert!(
        page.contains(&format!("<iframe class=\"logout-frame\" src=\"{framed}\"")),
        "section 3: iss and sid: {page}"
    );
    assert!(
        page.contains("src=\"https://other.example.test:8443/fc\""),
        "no iss or sid unless the client asked: {page}"
    );
    assert!(
        page.contains(
            "http-equiv=\"refresh\" content=\"2;url=https://rp.example.test/logged-out?state=st\""
        ),
        "then on to the post_logout_redirect_uri: {page}"
    );
    assert_eq!(sessions(&s).await, 0);
}

#[tokio::test]
async fn ending_a_users_grant_with_a_client_revokes_it_and_notifies_the_client() {
    let s = server().await;
    let alice = s.user("alice").await;
    let receiver = LogoutReceiver::start(0).await;
    let c = s
        .client(json!({"backchannel_logout_uri": receiver.url}))
        .await;
    let (_, tokens) = signed_in(&s, &c, "alice", "openid offline_access").await;
    let ended = logout::end(
        &s.provider.ctx(),
        Ending::ClientGrants {
            user_id: alice.clone(),
            client_id: c.id.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(ended.participants.len(), 1);
    assert!(ended.sessions.is_empty(), "the browser session stays");
    assert_eq!(sessions(&s).await, 1);
    let (status, _) = s
        .refresh(&c, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 400, "revoking the app revokes offline access too");
    let seen = receiver.wait_for(1).await;
    let claims = check_logout_token(&s, &seen[0], &c).await;
    assert_eq!(claims["sub"], alice);
}

#[tokio::test]
async fn ending_all_of_a_users_sessions_notifies_per_session() {
    let s = server().await;
    let alice = s.user("alice").await;
    s.user("bob").await;
    let receiver = LogoutReceiver::start(0).await;
    let c = s
        .client(json!({"backchannel_logout_uri": receiver.url, "backchannel_logout_session_required": true}))
        .await;
    let (_, laptop) = signed_in(&s, &c, "alice", "openid").await;
    let (_, phone) = signed_in(&s, &c, "alice", "openid").await;
    signed_in(&s, &c, "bob", "openid").await;
    let ended = logout::end(
        &s.provider.ctx(),
        Ending::AllSessionsOf {
            user_id: alice.clone(),
        },
    )
    .await
    .unwrap();
    assert_eq!(ended.sessions.len(), 2);
    assert_eq!(sessions(&s).await, 1, "bob stays signed in");
    let mut sids: Vec<Value> = Vec::new();
    for t in receiver.wait_for(2).await {
        let claims = check_logout_token(&s, &t, &c).await;
        assert_eq!(claims["sub"], alice);
        sids.push(claims["sid"].clone());
    }
    for issued in [&laptop, &phone] {
        let sid = jwt_claims(issued["id_token"].as_str().unwrap())["sid"].clone();
        assert!(sids.contains(&sid), "a notice for each session: {sids:?}");
    }
}
