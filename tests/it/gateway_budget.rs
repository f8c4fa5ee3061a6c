//! Grant budgets at the gateway (the Alby seed's "payments on your behalf with a monthly
//! budget") and Alby's `expires_in` at authorization: a real origin on loopback, budgets set
//! at consent or by the partner, spent per route cost rule, refused with 403 once exhausted,
//! reset at the next period; read through introspection and the partner API.

use crate::gateway::{route, Origin};
use crate::harness::*;
use serde_json::{json, Value};

pub(crate) const SCOPES: &str =
    "openid offline_access accounts:read accounts:write user:read user:create";

/// `GET /accounts/{id}` costs one call; `POST /payments` spends the body's `/amount`.
pub(crate) async fn start(upstream: &str) -> TestServer {
    let mut read = route("GET", "/accounts/{id}", &["accounts:read"], upstream);
    read.cost = Some(1);
    let mut pay = route("POST", "/payments", &["accounts:write"], upstream);
    pay.cost_from = Some("/amount".into());
    TestServer::start_with(|c| {
        c.outbound.allow_private = true;
        c.gateway.routes = vec![read, pay];
    })
    .await
}

/// Authorizes `alice` for `client` with `extra` parameters, checking that the consent page
/// shows `consent_text` (when given); the token response.
pub(crate) async fn authorize(
    s: &TestServer,
    c: &TestClient,
    extra: &[(&str, &str)],
    consent_text: Option<&str>,
) -> Value {
    let (verifier, challenge) = pkce();
    let mut extra = extra.to_vec();
    extra.push((
        "scope",
        "openid offline_access accounts:read accounts:write",
    ));
    let j = Journey::new(s);
    let (status, interaction, body) = j.authorize(&auth_params(c, &challenge, &extra)).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, body) = j.login(&interaction, "alice", PASSWORD).await;
    assert_eq!(status, 303, "{body}");
    // A budget is always put to the user, even when the scopes' consent is remembered.
    if let Some(text) = consent_text {
        let (status, _, page) = j.get(&interaction).await;
        assert_eq!(status, 200, "the consent page is shown: {page}");
        assert!(page.contains(text), "consent page shows {text}: {page}");
    }
    let cb = j.decide(&interaction, "approve").await;
    let (status, tokens) = s.exchange_code(c, &query(&cb)["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    tokens
}

pub(crate) fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_string()
}

pub(crate) async fn get_account(s: &TestServer, at: &str) -> reqwest::Response {
    s.browser()
        .get(s.url("/gateway/accounts/1"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
}

async fn pay(s: &TestServer, at: &str, body: &str) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url("/gateway/payments"))
        .bearer_auth(at)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The refusal of an exhausted budget: 403, a Bearer challenge naming the error.
pub(crate) async fn assert_over_budget(res: reqwest::Response) {
    assert_eq!(res.status(), 403, "over budget is 403");
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"insufficient_budget\""),
        "{challenge}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_budget");
}

#[tokio::test]
async fn budget_runs_out_mid_period_refuses_without_calling_the_origin_and_resets_next_period() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    s.user("alice").await;
    let c = s.client(json!({"scope": SCOPES})).await;
    let budget = r#"{"limit":2,"unit":"calls","period":"day"}"#;
    let tokens = authorize(&s, &c, &[("budget", budget)], Some("up to 2 calls per day")).await;
    let at = access(&tokens);

    assert_eq!(get_account(&s, &at).await.status(), 201);
    assert_eq!(get_account(&s, &at).await.status(), 201);
    assert_eq!(origin.count(), 2);
    assert_over_budget(get_account(&s, &at).await).await;
    assert_eq!(
        origin.count(),
        2,
        "an exhausted budget never reaches the origin"
    );

    // Introspection tells the resource server what is left, and when the period ends.
    let i = s.introspect(&c, &at).await;
    let b = &i["budget"];
    assert_eq!(
        (
            b["limit"].as_i64(),
            b["spent"].as_i64(),
            b["remaining"].as_i64()
        ),
        (Some(2), Some(2), Some(0)),
        "{i}"
    );
    assert_eq!(
        (b["unit"].as_str(), b["period"].as_str()),
        (Some("calls"), Some("day"))
    );
    let ends = b["period_ends_at"].as_i64().unwrap();
    let now = s.provider.clock.now();
    assert!(
        ends > now && ends - now <= 86_400 && ends % 86_400 == 0,
        "{ends}"
    );

    // The next UTC day: the budget starts afresh (a refreshed token: the first expired).
    s.provider.clock.advance(ends - now + 1);
    let (status, refreshed) = s
        .refresh(&c, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let at = access(&refreshed);
    assert_eq!(
        get_account(&s, &at).await.status(),
        201,
        "reset at the next period"
    );
    assert_eq!(origin.count(), 3);
    let b = &s.introspect(&c, &at).await["budget"];
    assert_eq!(
        (b["spent"].as_i64(), b["remaining"].as_i64()),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn amounts_are_read_from_the_body_and_spent_until_the_budget_is_used_up() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    s.user("alice").await;
    let c = s.client(json!({"scope": SCOPES})).await;
    let budget = r#"{"limit":1000,"unit":"amount","period":"month","currency":"GBP"}"#;
    let tokens = authorize(
        &s,
        &c,
        &[("budget", budget)],
        Some("up to £10.00 per month"),
    )
    .await;
    let at = access(&tokens);

    assert_eq!(pay(&s, &at, r#"{"amount":600}"#).await.0, 201);
    assert_eq!(
        origin.last().map(|(_, body)| body).as_deref(),
        Some(r#"{"amount":600}"#),
        "the body read for its amount is still forwarded whole"
    );
    let (status, body) = pay(&s, &at, r#"{"amount":500}"#).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_budget"))
    );
    assert_eq!(
        origin.count(),
        1,
        "the refused payment never reached the origin"
    );
    assert_eq!(
        pay(&s, &at, r#"{"amount":400}"#).await.0,
        201,
        "exactly the rest fits"
    );
    // A fixed-cost route takes nothing from an amount budget.
    assert_eq!(get_account(&s, &at).await.status(), 201);

    // A cost_from route needs a non-negative integer amount in a JSON body.
    for bad in [
        r#"{"sum":1}"#,
        "amount=1",
        r#"{"amount":-1}"#,
        r#"{"amount":1.5}"#,
    ] {
        let (status, body) = pay(&s, &at, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request", "{bad}");
    }
    assert_eq!(origin.count(), 3);
    let b = &s.introspect(&c, &at).await["budget"];
    assert_eq!(
        (b["spent"].as_i64(), b["remaining"].as_i64()),
        (Some(1000), Some(0))
    );
    assert_eq!(b["currency"], "GBP");
}

#[tokio::test]
async fn concurrent_requests_spend_exactly_the_budget() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    s.user("alice").await;
    let c = s.client(json!({"scope": SCOPES})).await;
    let budget = r#"{"limit":5,"unit":"calls","period":"none"}"#;
    let at = access(&authorize(&s, &c, &[("budget", budget)], Some("up to 5 calls in all")).await);

    let (http, url) = (s.browser(), s.url("/gateway/accounts/1"));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let req = http.get(&url).bearer_auth(&at);
            tokio::spawn(async move { req.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.unwrap());
    }
    let forwarded = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 403).count();
    assert_eq!((forwarded, refused), (5, 15), "{statuses:?}");
    assert_eq!(origin.count(), 5, "exactly the budget reached the origin");
}

#[tokio::test]
async fn budget_parameter_and_expires_in_must_be_well_formed() {
    let s = TestServer::start().await;
    let c = s.client(json!({"scope": SCOPES})).await;
    let (_, challenge) = pkce();
    for (name, value) in [
        ("budget", "not json"),
        ("budget", r#"{"limit":-1,"unit":"calls","period":"day"}"#),
        ("budget", r#"{"limit":1,"unit":"amount","period":"day"}"#),
        ("budget", r#"{"limit":1,"unit":"calls","period":"year"}"#),
        ("expires_in", "0"),
        ("expires_in", "-5"),
        ("expires_in", "1.5"),
        ("expires_in", "soon"),
    ] {
        let (status, loc, body) = Journey::new(&s)
            .authorize(&auth_params(
                &c,
                &challenge,
                &[(name, value), ("scope", "openid accounts:read")],
            ))
            .await;
        assert_eq!(status, 303, "{name}={value}: {body}");
        let q = query(&loc);
        assert_eq!(q["error"], "invalid_request", "{name}={value}: {loc}");
        assert!(q["error_description"].contains(name), "{loc}");
    }
}

#[tokio::test]
async fn alby_expires_in_shortens_access_tokens_never_lengthens_them_and_holds_on_refresh() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let c = s.client(json!({"scope": SCOPES})).await;
    let configured = s.provider.config.lifetimes.access_token_secs;

    let tokens = authorize(&s, &c, &[("expires_in", "60")], None).await;
    assert_eq!(tokens["expires_in"], 60, "{tokens}");
    let claims = jwt_claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    let (status, refreshed) = s
        .refresh(&c, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        refreshed["expires_in"], 60,
        "refresh keeps the grant's lifetime"
    );

    let longer = (configured * 10).to_string();
    let tokens = authorize(&s, &c, &[("expires_in", &longer)], None).await;
    assert_eq!(
        tokens["expires_in"], configured,
        "capped at the configured lifetime"
    );
}

/// `PUT` a JSON body to a partner route.
pub(crate) async fn put(s: &TestServer, path: &str, token: &str, body: &str) -> (u16, Value) {
    let res = s
        .browser()
        .put(format!("{}{path}", s.base))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn get(s: &TestServer, path: &str, token: &str) -> (u16, Value) {
    let res = s
        .browser()
        .get(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn cc_token(s: &TestServer, c: &TestClient, scope: &str) -> String {
    let (status, body) = s
        .token(c, &[("grant_type", "client_credentials"), ("scope", scope)])
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_partner_reads_and_sets_a_users_grant_budget() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let alice = s.user("alice").await;
    let c = s.client(json!({"scope": SCOPES})).await;
    // Alice is one of the partner's users.
    s.sql_exec(
        "UPDATE users SET managed_by_client = ?1 WHERE id = ?2",
        &[c.id.as_str(), alice.as_str()],
    )
    .await;
    let at = access(&authorize(&s, &c, &[], None).await);
    let sub = s.introspect(&c, &at).await["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let (read, write) = (
        cc_token(&s, &c, "user:read").await,
        cc_token(&s, &c, "user:create").await,
    );

    let (status, grants) = get(&s, &format!("/users/{sub}/grants"), &read).await;
    assert_eq!(status, 200, "{grants}");
    let grant = grants[0]["grantId"].as_str().unwrap().to_string();
    assert!(grants[0].get("budget").is_none(), "no budget yet: {grants}");
    assert_eq!(
        get_account(&s, &at).await.status(),
        201,
        "no budget, no limit"
    );

    let path = format!("/users/{sub}/grants/{grant}/budget");
    let (status, b) = put(
        &s,
        &path,
        &write,
        r#"{"limit":1,"unit":"calls","period":"week"}"#,
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(
        (b["limit"].as_i64(), b["remaining"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(get_account(&s, &at).await.status(), 201);
    assert_over_budget(get_account(&s, &at).await).await;
    assert_eq!(origin.count(), 2);
    let (_, grants) = get(&s, &format!("/users/{sub}/grants"), &read).await;
    let b = &grants[0]["budget"];
    assert_eq!(
        (b["spent"].as_i64(), b["remaining"].as_i64()),
        (Some(1), Some(1 - 1))
    );

    // Raising the limit keeps what this period spent.
    let (_, b) = put(
        &s,
        &path,
        &write,
        r#"{"limit":3,"unit":"calls","period":"week"}"#,
    )
    .await;
    assert_eq!(
        (b["spent"].as_i64(), b["remaining"].as_i64()),
        (Some(1), Some(2)),
        "{b}"
    );

    // Bad bodies, unknown grants, the wrong scope.
    let (status, body) = put(&s, &path, &write, r#"{"limit":"lots"}"#).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let other = format!("/users/{sub}/grants/00000000-0000-4000-8000-000000000000/budget");
    let (status, body) = put(
        &s,
        &other,
        &write,
        r#"{"limit":1,"unit":"calls","period":"day"}"#,
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = put(
        &s,
        &path,
        &read,
        r#"{"limit":1,"unit":"calls","period":"day"}"#,
    )
    .await;
    assert_eq!(
        status, 403,
        "RFC 6750 §3.1: setting a budget needs user:create"
    );
    // Another partner sees nothing of this user.
    let stranger = s.client(json!({"scope": SCOPES})).await;
    let theirs = cc_token(&s, &stranger, "user:read").await;
    assert_eq!(
        get(&s, &format!("/users/{sub}/grants"), &theirs).await.0,
        404
    );
}

#[tokio::test]
async fn a_budget_pushed_with_par_is_put_to_the_user_and_spent() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    s.user("alice").await;
    let c = s.client(json!({"scope": SCOPES})).await;
    let (verifier, challenge) = pkce();
    let budget = r#"{"limit":1,"unit":"calls","period":"month"}"#;
    let params = auth_params(
        &c,
        &challenge,
        &[("scope", "openid accounts:read"), ("budget", budget)],
    );
    let res = s
        .browser()
        .post(s.url("/par"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let pushed: Value = res.json().await.unwrap();
    let j = Journey::new(&s);
    let by_reference = vec![
        ("client_id".to_string(), c.id.clone()),
        (
            "request_uri".to_string(),
            pushed["request_uri"].as_str().unwrap().to_string(),
        ),
    ];
    let (status, interaction, body) = j.authorize(&by_reference).await;
    assert_eq!(status, 303, "{body}");
    j.login(&interaction, "alice", PASSWORD).await;
    let (_, _, page) = j.get(&interaction).await;
    assert!(page.contains("up to 1 call per month"), "{page}");
    let cb = j.decide(&interaction, "approve").await;
    let (status, tokens) = s.exchange_code(&c, &query(&cb)["code"], &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let at = access(&tokens);
    assert_eq!(get_account(&s, &at).await.status(), 201);
    assert_over_budget(get_account(&s, &at).await).await;
    // prompt=none cannot agree to a budget (OIDC Core §3.1.2.1: consent_required).
    let (_, loc, _) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[
                ("scope", "openid accounts:read"),
                ("budget", budget),
                ("prompt", "none"),
            ],
        ))
        .await;
    assert_eq!(query(&loc)["error"], "consent_required", "{loc}");
}
