//! Budgets on the grants of the device flow (RFC 8628) and of CIBA, and the partner removing a
//! budget: a real origin on loopback, the budget shown where the user approves, spent through
//! the gateway until 403 `insufficient_budget`, read through introspection.

use crate::ciba::{backchannel, bank_customer, poll as ciba_poll, Approver, CIBA};
use crate::device_flow::{enter_code, GRANT as DEVICE};
use crate::gateway::Origin;
use crate::gateway_budget::{
    access, assert_over_budget, authorize, cc_token, get, get_account, start, SCOPES,
};
use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};

/// A confidential client for the device flow (or CIBA, with `grant`) that may read accounts.
async fn client_for(s: &TestServer, grant: &str, extra: Value) -> TestClient {
    let mut meta = json!({
        "client_name": "Budget Box",
        "grant_types": [grant, "refresh_token"],
        "response_types": [],
        "redirect_uris": [],
        "scope": SCOPES,
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        meta[k] = v;
    }
    s.client(meta).await
}

/// RFC 8628 §3.1, as a confidential client; (status, JSON).
async fn device_auth(s: &TestServer, c: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url("/device/auth"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Asserts what introspection shows of the budget of `at`: (limit, spent, remaining).
async fn assert_budget(s: &TestServer, c: &TestClient, at: &str, want: (i64, i64, i64)) {
    let i = s.introspect(c, at).await;
    let b = &i["budget"];
    assert_eq!(
        (
            b["limit"].as_i64(),
            b["spent"].as_i64(),
            b["remaining"].as_i64()
        ),
        (Some(want.0), Some(want.1), Some(want.2)),
        "introspection's budget: {i}"
    );
}

#[tokio::test]
async fn device_flow_budget_is_shown_on_the_confirmation_step_and_spent_through_the_gateway() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    s.user("alice").await;
    let c = client_for(&s, DEVICE, json!({})).await;
    let budget = r#"{"limit":2,"unit":"calls","period":"day"}"#;
    let (status, d) = device_auth(
        &s,
        &c,
        &[
            ("scope", "openid offline_access accounts:read"),
            ("budget", budget),
        ],
    )
    .await;
    assert_eq!(status, 200, "{d}");

    let j = Journey::new(&s);
    let (status, interaction, body) = enter_code(&j, d["user_code"].as_str().unwrap()).await;
    assert_eq!(status, 303, "{body}");
    j.login(&interaction, "alice", PASSWORD).await;
    let (status, _, page) = j.get(&interaction).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("Spending limit: <strong>up to 2 calls per day</strong>"),
        "the confirmation step shows the budget as the consent page says it: {page}"
    );
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, _, done) = j
        .post(
            &format!("{interaction}/consent"),
            &[("csrf_token", &csrf), ("decision", "approve")],
        )
        .await;
    assert_eq!(status, 200, "{done}");
    let (status, tokens) = s
        .token(
            &c,
            &[
                ("grant_type", DEVICE),
                ("device_code", d["device_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let at = access(&tokens);

    assert_eq!(get_account(&s, &at).await.status(), 201);
    assert_budget(&s, &c, &at, (2, 1, 1)).await;
    // A refreshed token belongs to the same grant: it spends the same budget.
    let (status, refreshed) = s
        .refresh(&c, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{refreshed}");
    let at = access(&refreshed);
    assert_eq!(get_account(&s, &at).await.status(), 201);
    assert_over_budget(get_account(&s, &at).await).await;
    assert_eq!(
        origin.count(),
        2,
        "an exhausted budget never reaches the origin"
    );
    assert_budget(&s, &c, &at, (2, 2, 0)).await;
}

#[tokio::test]
async fn ciba_budget_is_shown_on_the_approval_page_and_spent_through_the_gateway() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    s.user("alice").await;
    let c = client_for(&s, CIBA, json!({"backchannel_token_delivery_mode": "poll"})).await;
    let budget = r#"{"limit":1500,"unit":"amount","period":"month","currency":"GBP"}"#;
    let (status, ack) = backchannel(
        &s,
        &c,
        &[
            ("scope", "openid accounts:read accounts:write"),
            ("login_hint", "alice"),
            ("binding_message", "BUDGET-1"),
            ("budget", budget),
        ],
    )
    .await;
    assert_eq!(status, 200, "{ack}");

    let approver = Approver::sign_in(&s, "alice").await;
    let (_, page) = approver.get().await;
    assert!(
        page.contains("Spending limit: <strong>up to £15.00 per month</strong>"),
        "each pending request shows its budget as the consent page says it: {page}"
    );
    let (status, page) = approver.answer("BUDGET-1", "approve").await;
    assert_eq!(status, 200, "{page}");
    let (status, tokens) = ciba_poll(&s, &c, ack["auth_req_id"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    let at = access(&tokens);
    assert_budget(&s, &c, &at, (1500, 0, 1500)).await;
    // An amount budget counts the amounts of a cost_from route.
    let pay = |amount: i64| {
        s.browser()
            .post(s.url("/gateway/payments"))
            .bearer_auth(&at)
            .header("content-type", "application/json")
            .body(json!({ "amount": amount }).to_string())
            .send()
    };
    assert_eq!(pay(1000).await.unwrap().status(), 201);
    assert_over_budget(pay(600).await.unwrap()).await;
    assert_eq!(
        origin.count(),
        1,
        "the refused payment never reached the origin"
    );
    assert_budget(&s, &c, &at, (1500, 1000, 500)).await;
}

/// A bank whose app approves a CIBA request when the budget it shows its customer is the one
/// the client asked for.
const BUDGET_BANK: &str = r#"fn institution() {
    #{ id: "budget-bank", name: "Budget Bank", type: "test", bankRef: "budget-bank" }
}

fn connect(ctx) {
    #{ fail: "not used here" }
}

fn decoupled_request(request) {
    if request.budget_text == "up to 3 calls per week" && request.budget.limit == 3 {
        #{ approve: true }
    } else {
        #{}
    }
}
"#;

#[tokio::test]
async fn a_ciba_grant_the_bank_approves_out_of_band_still_carries_its_budget() {
    let plugins = tempfile::tempdir().unwrap();
    std::fs::write(plugins.path().join("budget.rhai"), BUDGET_BANK).unwrap();
    let dir = plugins.path().to_path_buf();
    let s = TestServer::start_with(move |c| c.plugins.dir = dir).await;
    let ivy = s.user("ivy").await;
    let c = client_for(&s, CIBA, json!({"backchannel_token_delivery_mode": "poll"})).await;
    bank_customer(&s, &ivy, &c, "budget-bank").await;
    let (status, ack) = backchannel(
        &s,
        &c,
        &[
            ("scope", "openid accounts:read"),
            ("login_hint", "ivy"),
            ("budget", r#"{"limit":3,"unit":"calls","period":"week"}"#),
        ],
    )
    .await;
    assert_eq!(status, 200, "{ack}");
    let (status, tokens) = ciba_poll(&s, &c, ack["auth_req_id"].as_str().unwrap()).await;
    assert_eq!(
        status, 200,
        "the bank saw the budget in its hook and approved: {tokens}"
    );
    assert_budget(&s, &c, &access(&tokens), (3, 0, 3)).await;
}

#[tokio::test]
async fn ciba_7_1_1_a_budget_inside_a_signed_request_is_checked_and_carried() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let key = ClientKey::new("PS256");
    let c = client_for(
        &s,
        CIBA,
        json!({
            "backchannel_token_delivery_mode": "poll",
            "backchannel_authentication_request_signing_alg": "PS256",
            "jwks": key.jwks(),
        }),
    )
    .await;
    let signed = |budget: Value, message: &str| {
        let now = s.provider.now();
        key.sign(
            &json!({
                "iss": c.id, "aud": s.issuer, "iat": now, "nbf": now, "exp": now + 300,
                "jti": consentry::secrets::random_token(),
                "scope": "openid accounts:read", "login_hint": "alice",
                "binding_message": message, "budget": budget,
            }),
            true,
        )
    };
    let bad = signed(
        json!({"limit": 5, "unit": "calls", "period": "fortnight"}),
        "BAD",
    );
    let (status, body) = backchannel(&s, &c, &[("request", &bad)]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request")),
        "ciba_7_1_1 a signed request's budget is checked as a form's: {body}"
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{body}"
    );
    let good = signed(
        json!({"limit": 5, "unit": "calls", "period": "day"}),
        "SIGNED-1",
    );
    let (status, ack) = backchannel(&s, &c, &[("request", &good)]).await;
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        s.sql_count("SELECT count(*) FROM ciba_requests").await,
        1,
        "only the good request is stored"
    );
    let approver = Approver::sign_in(&s, "alice").await;
    assert!(approver
        .get()
        .await
        .1
        .contains("Spending limit: <strong>up to 5 calls per day</strong>"));
    approver.answer("SIGNED-1", "approve").await;
    let (status, tokens) = ciba_poll(&s, &c, ack["auth_req_id"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{tokens}");
    assert_budget(&s, &c, &access(&tokens), (5, 0, 5)).await;
}

#[tokio::test]
async fn a_bad_budget_at_the_device_and_backchannel_endpoints_is_invalid_request_and_stores_nothing(
) {
    let s = TestServer::start().await;
    s.user("alice").await;
    let device = client_for(&s, DEVICE, json!({})).await;
    let ciba = client_for(&s, CIBA, json!({"backchannel_token_delivery_mode": "poll"})).await;
    for bad in [
        "not json",
        r#"{"limit":-1,"unit":"calls","period":"day"}"#,
        r#"{"limit":1,"unit":"amount","period":"day"}"#,
        r#"{"limit":1,"unit":"calls","period":"year"}"#,
    ] {
        let (status, body) = device_auth(
            &s,
            &device,
            &[("scope", "openid accounts:read"), ("budget", bad)],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "rfc8628_3_1 device authorization with budget={bad}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("budget"),
            "{body}"
        );
        let (status, body) = backchannel(
            &s,
            &ciba,
            &[
                ("scope", "openid accounts:read"),
                ("login_hint", "alice"),
                ("budget", bad),
            ],
        )
        .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_request")),
            "ciba_7_1 backchannel request with budget={bad}: {body}"
        );
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("budget"),
            "{body}"
        );
    }
    let stored = s
        .sql_count("SELECT count(*) FROM device_authorizations")
        .await
        + s.sql_count("SELECT count(*) FROM ciba_requests").await;
    assert_eq!(stored, 0, "a refused request stores nothing");
}

/// `DELETE` a partner route; the status.
async fn delete(s: &TestServer, path: &str, token: &str) -> u16 {
    s.browser()
        .delete(format!("{}{path}", s.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_partner_removes_a_grants_budget_idempotently() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let alice = s.user("alice").await;
    let c = s.client(json!({"scope": SCOPES})).await;
    s.sql_exec(
        "UPDATE users SET managed_by_client = ?1 WHERE id = ?2",
        &[c.id.as_str(), alice.as_str()],
    )
    .await;
    let budget = r#"{"limit":1,"unit":"calls","period":"month"}"#;
    let at = access(
        &authorize(
            &s,
            &c,
            &[("budget", budget)],
            Some("up to 1 call per month"),
        )
        .await,
    );
    assert_eq!(get_account(&s, &at).await.status(), 201);
    assert_over_budget(get_account(&s, &at).await).await;

    let sub = s.introspect(&c, &at).await["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let (read, write) = (
        cc_token(&s, &c, "user:read").await,
        cc_token(&s, &c, "user:create").await,
    );
    let (_, grants) = get(&s, &format!("/users/{sub}/grants"), &read).await;
    let grant = grants[0]["grantId"].as_str().unwrap().to_string();
    let path = format!("/users/{sub}/grants/{grant}/budget");

    assert_eq!(
        delete(&s, &path, &read).await,
        403,
        "RFC 6750 §3.1: removing a budget needs user:create"
    );
    assert!(s.introspect(&c, &at).await["budget"].is_object());
    let stranger = s.client(json!({"scope": SCOPES})).await;
    let theirs = cc_token(&s, &stranger, "user:create").await;
    assert_eq!(
        delete(&s, &path, &theirs).await,
        404,
        "another client's grant is not found"
    );
    let unknown = format!("/users/{sub}/grants/00000000-0000-4000-8000-000000000000/budget");
    assert_eq!(delete(&s, &unknown, &write).await, 404, "no such grant");
    assert!(s.introspect(&c, &at).await["budget"].is_object());

    assert_eq!(delete(&s, &path, &write).await, 204);
    let i = s.introspect(&c, &at).await;
    assert!(
        i.get("budget").is_none(),
        "introspection without a budget: {i}"
    );
    let (_, grants) = get(&s, &format!("/users/{sub}/grants"), &read).await;
    assert!(grants[0].get("budget").is_none(), "{grants}");
    for _ in 0..3 {
        assert_eq!(
            get_account(&s, &at).await.status(),
            201,
            "no budget, no limit"
        );
    }
    assert_eq!(origin.count(), 4);
    assert_eq!(
        delete(&s, &path, &write).await,
        204,
        "RFC 9110 §9.3.5: DELETE is idempotent"
    );
}
