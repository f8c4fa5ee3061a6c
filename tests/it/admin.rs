//! The client administration API (`/admin/clients`): operator-only, and every change checked
//! as dynamic registration checks metadata.

use crate::harness::*;
use reqwest::Method;
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdefghijklmnopq";

async fn start() -> TestServer {
    TestServer::start_with(|c| c.admin_token = Some(ADMIN_TOKEN.into())).await
}

/// Calls the admin API with the admin token; returns (status, JSON body or Null).
async fn admin(s: &TestServer, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    admin_as(s, Some(ADMIN_TOKEN), method, path, body).await
}

async fn admin_as(
    s: &TestServer,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = s
        .browser()
        .request(method, format!("{}/admin/clients{path}", s.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn metadata() -> Value {
    json!({
        "client_name": "Partner app",
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile email offline_access accounts:read",
    })
}

/// Creates a client through the API; returns it as a test client.
async fn create(s: &TestServer, meta: Value) -> (TestClient, Value) {
    let (status, body) = admin(s, Method::POST, "", Some(meta)).await;
    assert_eq!(status, 201, "{body}");
    let c = TestClient {
        id: body["client_id"].as_str().unwrap().to_string(),
        secret: body["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    (c, body)
}

async fn client_credentials(s: &TestServer, c: &TestClient) -> (u16, Value) {
    s.token(
        c,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "accounts:read"),
        ],
    )
    .await
}

async fn userinfo_status(s: &TestServer, at: &str) -> u16 {
    s.browser()
        .get(s.url("/me"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether the store holds the access token (by its jti) and the refresh token as active:
/// what every protected resource and introspection rely on.
async fn token_state(s: &TestServer, access_token: &str, refresh_token: &str) -> (bool, bool) {
    let jti = jwt_claims(access_token)["jti"]
        .as_str()
        .unwrap()
        .to_string();
    let hash = consentry::secrets::digest(refresh_token);
    let now = s.provider.now();
    s.provider
        .store
        .read(move |tx| {
            Ok((
                tx.grants().active_access_token(&jti, now)?.is_some(),
                tx.grants().active_refresh_token(&hash, now)?.is_some(),
            ))
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn the_admin_api_is_closed_while_admin_token_is_unset() {
    let s = TestServer::start().await;
    // Closed: without admin_token nothing under /admin answers, whatever the token.
    for token in [None, Some(ADMIN_TOKEN), Some(INITIAL_ACCESS_TOKEN)] {
        assert_eq!(
            admin_as(&s, token, Method::GET, "", None).await.0,
            404,
            "closed admin API"
        );
        assert_eq!(
            admin_as(&s, token, Method::POST, "", Some(metadata()))
                .await
                .0,
            404,
            "closed admin API"
        );
        assert_eq!(
            admin_as(&s, token, Method::GET, "/demo-client", None)
                .await
                .0,
            404
        );
    }
    // A short admin token is refused at start.
    let config = consentry::config::Config {
        admin_token: Some("too-short".into()),
        ..Default::default()
    };
    let err = config
        .validate()
        .expect_err("admin_token below 32 characters");
    assert!(err.to_string().contains("admin_token"), "{err}");
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_token() {
    let s = start().await;
    // RFC 6750 §3: a missing or wrong bearer token is a 401 with a Bearer challenge.
    for token in [None, Some("wrong"), Some(INITIAL_ACCESS_TOKEN)] {
        let mut req = s.browser().get(format!("{}/admin/clients", s.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 401, "token {token:?} is not the admin token");
        assert!(res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
    for (method, path) in [
        (Method::POST, ""),
        (Method::GET, "/demo-client"),
        (Method::PUT, "/demo-client"),
        (Method::DELETE, "/demo-client"),
        (Method::POST, "/demo-client/disable"),
        (Method::POST, "/demo-client/secret"),
        (Method::PUT, "/demo-client/webhook"),
    ] {
        let (status, _) = admin_as(&s, Some("wrong"), method.clone(), path, Some(json!({}))).await;
        assert_eq!(status, 401, "{method} {path} needs the admin token");
    }
    // Nothing changed behind the refused calls.
    let (status, demo) = admin(&s, Method::GET, "/demo-client", None).await;
    assert_eq!(status, 200);
    assert_eq!(demo["disabled"], false);
}

#[tokio::test]
async fn a_created_client_works_and_its_secret_is_shown_once() {
    let s = start().await;
    let (c, body) = create(&s, metadata()).await;
    assert!(c.secret.len() >= 43, "a generated 256-bit secret");
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["client_name"], "Partner app");
    assert_eq!(body["disabled"], false);
    let (status, token) = client_credentials(&s, &c).await;
    assert_eq!(status, 200, "{token}");

    let (status, shown) = admin(&s, Method::GET, &format!("/{}", c.id), None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["client_id"], c.id.as_str());
    assert!(
        shown.get("client_secret").is_none(),
        "secrets are shown once"
    );
    assert!(!shown.to_string().contains(&c.secret));

    // The operator may fix client_id and client_secret; a taken client_id is refused.
    let mut fixed = metadata();
    fixed["client_id"] = json!("partner-fixed");
    fixed["client_secret"] = json!("partner-fixed-secret-0123456789abcdefgh");
    let (c2, _) = create(&s, fixed.clone()).await;
    assert_eq!(c2.id, "partner-fixed");
    assert_eq!(client_credentials(&s, &c2).await.0, 200);
    let (status, err) = admin(&s, Method::POST, "", Some(fixed)).await;
    assert_eq!(status, 400, "a client_id is registered once");
    assert_eq!(err["error"], "invalid_client_metadata");

    // RFC 7591 §2: creation runs the registration checks.
    let (status, err) = admin(
        &s,
        Method::POST,
        "",
        Some(json!({"redirect_uris": ["http://rp.example.test/cb"]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        err["error"], "invalid_redirect_uri",
        "http only on loopback"
    );
    assert_eq!(admin(&s, Method::GET, "/no-such-client", None).await.0, 404);
}

#[tokio::test]
async fn the_list_pages_in_a_stable_order_without_secrets() {
    let s = start().await;
    let mut secrets = Vec::new();
    for _ in 0..5 {
        let (c, _) = create(&s, metadata()).await;
        secrets.push(c.secret);
    }
    let (status, all) = admin(&s, Method::GET, "", None).await;
    assert_eq!(status, 200);
    // The five plus the demo client.
    assert_eq!(all["total"], 6);
    let all_ids: Vec<Value> = all["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].clone())
        .collect();
    assert_eq!(all_ids.len(), 6);
    let mut paged = Vec::new();
    for offset in [0, 2, 4, 6] {
        let (status, page) =
            admin(&s, Method::GET, &format!("?limit=2&offset={offset}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(page["total"], 6);
        let clients = page["clients"].as_array().unwrap();
        assert_eq!(clients.len(), if offset < 6 { 2 } else { 0 });
        paged.extend(clients.iter().map(|c| c["client_id"].clone()));
    }
    assert_eq!(paged, all_ids, "pages follow one stable order");
    let text = all.to_string();
    assert!(
        all["clients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none()),
        "the list never has secrets"
    );
    assert!(secrets.iter().all(|secret| !text.contains(secret.as_str())));
    for bad in ["?limit=0", "?limit=501", "?limit=ten", "?offset=-1"] {
        let (status, err) = admin(&s, Method::GET, bad, None).await;
        assert_eq!(status, 400, "{bad}: limit 1..=500, offset ≥ 0");
        assert_eq!(err["error"], "invalid_request");
    }
}

#[tokio::test]
async fn updates_are_checked_like_registration_and_keep_the_secret() {
    let s = start().await;
    let (c, _) = create(&s, metadata()).await;
    let path = format!("/{}", c.id);
    let with = |k: &str, v: Value| {
        let mut m = metadata();
        m[k] = v;
        m
    };
    let cases: &[(Value, &str, &str)] = &[
        (
            with("redirect_uris", json!(["http://rp.example.test/cb"])),
            "invalid_redirect_uri",
            "http redirect URIs only on loopback (RFC 8252 §7.3)",
        ),
        (
            with("redirect_uris", json!(["https://rp.example.test/cb#x"])),
            "invalid_redirect_uri",
            "no fragment (RFC 6749 §3.1.2)",
        ),
        (
            with("grant_types", json!(["password"])),
            "invalid_client_metadata",
            "unsupported grant type",
        ),
        (
            with("scope", json!("openid launch-codes")),
            "invalid_client_metadata",
            "unknown scope",
        ),
        (
            with("connection_types", json!(["premium"])),
            "invalid_client_metadata",
            "connection types are api, legacy, test",
        ),
        (
            with("webhook_url", json!("http://hooks.example.test/in")),
            "invalid_client_metadata",
            "webhooks over http only on loopback",
        ),
        (
            with("client_id", json!("someone-else")),
            "invalid_request",
            "client_id in the body must be the client's",
        ),
        (
            with(
                "client_secret",
                json!("a-new-secret-0123456789abcdefghijklmn"),
            ),
            "invalid_request",
            "secrets change only by rotation",
        ),
    ];
    for (body, code, rule) in cases {
        let (status, err) = admin(&s, Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, 400, "{rule}: {err}");
        assert_eq!(err["error"], *code, "{rule}");
    }
    // A valid replacement: what was read can be edited and put back.
    let (_, mut current) = admin(&s, Method::GET, &path, None).await;
    current["client_name"] = json!("Renamed app");
    let (status, updated) = admin(&s, Method::PUT, &path, Some(current)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "Renamed app");
    assert!(updated.get("client_secret").is_none(), "the secret is kept");
    assert_eq!(client_credentials(&s, &c).await.0, 200, "old secret works");
    // Leaving out a member removes it (a full replace).
    let (_, updated) = admin(
        &s,
        Method::PUT,
        &path,
        Some(with("client_name", Value::Null)),
    )
    .await;
    assert!(updated.get("client_name").is_none(), "{updated}");
    assert_eq!(
        admin(&s, Method::PUT, "/no-such-client", Some(metadata()))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_disabled_client_is_refused_everywhere_until_enabled() {
    let s = start().await;
    let (c, _) = create(&s, metadata()).await;
    let other = s.client(json!({})).await;
    s.user("alice").await;
    let tokens = tokens_for(&s, &c, "alice").await;
    let at = tokens["access_token"].as_str().unwrap().to_string();
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let (_, cc) = client_credentials(&s, &c).await;
    let cc_at = cc["access_token"].as_str().unwrap().to_string();
    assert_eq!(userinfo_status(&s, &at).await, 200);
    assert_eq!(s.introspect(&c, &cc_at).await["active"], true);

    let (status, body) = admin(&s, Method::POST, &format!("/{}/disable", c.id), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["disabled"], true);
    assert!(body["disabled_at"].is_i64());

    // RFC 6749 §5.2: a disabled client cannot authenticate (invalid_client) at the token,
    // PAR, introspection and revocation endpoints.
    let (status, err) = client_credentials(&s, &c).await;
    assert_eq!(status, 401, "client_credentials of a disabled client");
    assert_eq!(err["error"], "invalid_client");
    let (status, err) = s
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!(status, 401, "refresh of a disabled client");
    assert_eq!(err["error"], "invalid_client");
    let (_, challenge) = pkce();
    let mut form = auth_params(&c, &challenge, &[]);
    form.push(("token".into(), at.clone()));
    for endpoint in ["/par", "/token/introspection", "/token/revocation"] {
        let res = s
            .browser()
            .post(s.url(endpoint))
            .basic_auth(&c.id, Some(&c.secret))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401, "{endpoint}: a disabled client");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "invalid_client", "{endpoint}");
    }
    // OIDC Core §3.1.2.6: an authorization request of an unknown (disabled) client gets the
    // error page, never a redirect.
    let (status, loc, page) = Journey::new(&s)
        .authorize(&auth_params(&c, &challenge, &[]))
        .await;
    assert_eq!(status, 400, "error page, not a redirect to {loc}");
    assert!(page.contains("invalid_client"), "{page}");
    // Tokens issued before are not active while the client is disabled.
    assert_eq!(
        userinfo_status(&s, &at).await,
        401,
        "RFC 6750 §3.1: a disabled client's access token is invalid_token"
    );
    assert_eq!(
        s.introspect(&other, &cc_at).await["active"],
        false,
        "RFC 7662 §2.2: not active"
    );
    assert_eq!(
        token_state(&s, &cc_at, &rt).await,
        (false, false),
        "no protected resource may accept a disabled client's tokens"
    );
    // The admin API still sees it.
    let (status, shown) = admin(&s, Method::GET, &format!("/{}", c.id), None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["disabled"], true);

    let (status, body) = admin(&s, Method::POST, &format!("/{}/enable", c.id), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["disabled"], false);
    assert!(body.get("disabled_at").is_none());
    assert_eq!(client_credentials(&s, &c).await.0, 200);
    assert_eq!(
        userinfo_status(&s, &at).await,
        200,
        "suspended, not revoked"
    );
    assert_eq!(token_state(&s, &cc_at, &rt).await, (true, true));
    assert_eq!(s.introspect(&c, &rt).await["active"], true);
    assert_eq!(
        admin(&s, Method::POST, "/no-such-client/disable", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn rotating_the_secret_retires_the_old_one_at_once() {
    let s = start().await;
    let (c, _) = create(&s, metadata()).await;
    let (status, body) = admin(&s, Method::POST, &format!("/{}/secret", c.id), None).await;
    assert_eq!(status, 200);
    let new_secret = body["client_secret"].as_str().unwrap().to_string();
    assert!(new_secret.len() >= 43, "256-bit secret");
    assert_ne!(new_secret, c.secret);
    let (status, err) = client_credentials(&s, &c).await;
    assert_eq!(status, 401, "the old secret stops working");
    assert_eq!(err["error"], "invalid_client");
    let rotated = TestClient {
        id: c.id.clone(),
        secret: new_secret,
    };
    assert_eq!(client_credentials(&s, &rotated).await.0, 200);

    // A public client has no secret to rotate.
    let public = s
        .client(json!({
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
        }))
        .await;
    let (status, err) = admin(&s, Method::POST, &format!("/{}/secret", public.id), None).await;
    assert_eq!(status, 400, "no secret for token_endpoint_auth_method none");
    assert_eq!(err["error"], "invalid_request");
}

#[tokio::test]
async fn granting_connection_types_and_scopes() {
    let s = start().await;
    let (c, _) = create(&s, metadata()).await;
    let legacy = |c: &TestClient| {
        let (_, challenge) = pkce();
        auth_params(
            c,
            &challenge,
            &[
                ("scope", "openid id:legacy"),
                ("claims", r#"{"id_token":{"mh:con_id":{"essential":true}}}"#),
            ],
        )
    };
    // Contract, Financial institutions: legacy connections only for clients granted them.
    let (status, loc, _) = Journey::new(&s).authorize(&legacy(&c)).await;
    assert_eq!(status, 303);
    assert_eq!(query(&loc)["error"], "invalid_scope", "no legacy grant yet");

    let path = format!("/{}/connection-types", c.id);
    let (status, body) = admin(&s, Method::PUT, &path, Some(json!(["api", "legacy"]))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connection_types"], json!(["api", "legacy"]));
    let (status, loc, body) = Journey::new(&s).authorize(&legacy(&c)).await;
    assert_eq!(status, 303, "{body}");
    assert!(
        loc.starts_with("/interaction/"),
        "legacy now allowed: {loc}"
    );

    for (bad, rule) in [
        (json!(["premium"]), "connection types are api, legacy, test"),
        (json!("api,legacy"), "the body is a JSON array"),
    ] {
        let (status, err) = admin(&s, Method::PUT, &path, Some(bad)).await;
        assert_eq!(status, 400, "{rule}");
        assert_eq!(err["error"], "invalid_client_metadata", "{rule}");
    }

    // Allowed scopes: client_credentials may ask only for what the client was granted.
    let scopes = format!("/{}/scopes", c.id);
    let (status, body) = admin(
        &s,
        Method::PUT,
        &scopes,
        Some(json!({"scope": "openid transactions:read:all"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid transactions:read:all");
    let (status, err) = client_credentials(&s, &c).await;
    assert_eq!(status, 400, "accounts:read is no longer granted");
    assert_eq!(err["error"], "invalid_scope");
    let (status, _) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "transactions:read:all"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    for (bad, rule) in [
        (json!({"scope": "openid launch-codes"}), "unknown scope"),
        (json!({"scopes": "openid"}), "the body is {\"scope\": ...}"),
    ] {
        let (status, err) = admin(&s, Method::PUT, &scopes, Some(bad)).await;
        assert_eq!(status, 400, "{rule}");
        assert_eq!(err["error"], "invalid_client_metadata", "{rule}");
    }
}

#[tokio::test]
async fn webhooks_get_a_secret_that_is_shown_once() {
    let s = start().await;
    let (c, _) = create(&s, metadata()).await;
    let path = format!("/{}/webhook", c.id);
    let url = "https://hooks.example.test/consentry";
    let (status, body) = admin(&s, Method::PUT, &path, Some(json!({"url": url}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["url"], url);
    let secret = body["secret"].as_str().unwrap().to_string();
    assert_eq!(secret.len(), 43, "32 random bytes, base64url");
    let stored = consentry::protocol::admin::webhook_secret(&s.provider.ctx(), &c.id)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(secret.as_str()));

    let (_, shown) = admin(&s, Method::GET, &format!("/{}", c.id), None).await;
    assert_eq!(shown["webhook_url"], url);
    assert!(!shown.to_string().contains(&secret), "never shown again");
    let (_, list) = admin(&s, Method::GET, "", None).await;
    assert!(!list.to_string().contains(&secret));

    // Setting it again makes a new secret; loopback http is fine for development.
    let (status, again) = admin(
        &s,
        Method::PUT,
        &path,
        Some(json!({"url": "http://127.0.0.1:9/hook"})),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_ne!(again["secret"], secret.as_str());
    for (bad, rule) in [
        (
            json!({"url": "http://hooks.example.test/in"}),
            "http only on loopback",
        ),
        (json!({"url": "ftp://hooks.example.test/in"}), "https only"),
        (
            json!({"url": "https://hooks.example.test/in#x"}),
            "no fragment",
        ),
        (json!({"url": "not a url"}), "an absolute URL"),
        (json!({}), "the body is {\"url\": ...}"),
    ] {
        let (status, err) = admin(&s, Method::PUT, &path, Some(bad)).await;
        assert_eq!(status, 400, "{rule}");
        assert_eq!(err["error"], "invalid_client_metadata", "{rule}");
    }

    let res = s
        .browser()
        .delete(format!("{}/admin/clients{path}", s.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (_, shown) = admin(&s, Method::GET, &format!("/{}", c.id), None).await;
    assert!(shown.get("webhook_url").is_none());
    let stored = consentry::protocol::admin::webhook_secret(&s.provider.ctx(), &c.id)
        .await
        .unwrap();
    assert_eq!(stored, None);

    // A webhook_url in the metadata at creation gets its secret in the answer.
    let mut meta = metadata();
    meta["webhook_url"] = json!(url);
    let (c2, body) = create(&s, meta).await;
    let secret = body["webhook_secret"].as_str().unwrap();
    let stored = consentry::protocol::admin::webhook_secret(&s.provider.ctx(), &c2.id)
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(secret));
}

#[tokio::test]
async fn a_deleted_client_is_gone() {
    let s = start().await;
    let (c, _) = create(&s, metadata()).await;
    let (_, cc) = client_credentials(&s, &c).await;
    let path = format!("/{}", c.id);
    let res = s
        .browser()
        .delete(format!("{}/admin/clients{path}", s.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, err) = admin(&s, Method::GET, &path, None).await;
    assert_eq!(status, 404);
    assert_eq!(err["error"], "not_found");
    assert_eq!(admin(&s, Method::DELETE, &path, None).await.0, 404);
    let (status, err) = client_credentials(&s, &c).await;
    assert_eq!(status, 401);
    assert_eq!(err["error"], "invalid_client");
    // Its client_credentials token (no grant to cascade from) is not active either.
    let at = cc["access_token"].as_str().unwrap();
    let jti = jwt_claims(at)["jti"].as_str().unwrap().to_string();
    let now = s.provider.now();
    assert!(
        s.provider
            .store
            .read(move |tx| tx.grants().active_access_token(&jti, now))
            .await
            .unwrap()
            .is_none(),
        "a deleted client's tokens are not active"
    );
}

#[tokio::test]
async fn the_admin_token_scheme_is_case_insensitive_and_a_missing_token_gets_a_bare_challenge() {
    let s = start().await;
    // RFC 7235 §2.1: auth scheme names are case-insensitive.
    let res = s
        .browser()
        .get(format!("{}/admin/clients", s.base))
        .header("authorization", format!("bearer {ADMIN_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // RFC 6750 §3.1: no credentials → a challenge naming no error.
    let res = s
        .browser()
        .get(format!("{}/admin/clients", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"consentry\""
    );
}

#[tokio::test]
async fn a_bad_dead_letter_limit_is_refused_not_clamped() {
    let s = start().await;
    for q in ["limit=abc", "limit=0", "limit=100000"] {
        let res = s
            .browser()
            .get(format!("{}/admin/webhooks/dead?{q}", s.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{q}");
        assert_eq!(
            res.json::<Value>().await.unwrap()["error"],
            "invalid_request"
        );
    }
}

#[tokio::test]
async fn an_update_made_from_a_stale_read_is_refused() {
    let s = start().await;
    let (c, _) = create(&s, metadata()).await;
    let id = c.id.clone();
    let seen = s
        .provider
        .store
        .read(move |tx| tx.clients().get_any(&id))
        .await
        .unwrap()
        .unwrap();
    // Meanwhile the secret is rotated.
    let (status, _) = admin(&s, Method::POST, &format!("/{}/secret", c.id), None).await;
    assert_eq!(status, 200);
    // Writing the client as first read would bring the old secret back: refused.
    let mut updated = seen.clone();
    updated.metadata.client_name = Some("Renamed".into());
    let now = s.provider.now();
    let result = s
        .provider
        .store
        .write(move |tx| tx.clients().update_if_unchanged(&seen, &updated, now))
        .await;
    assert!(
        matches!(
            result,
            Err(consentry::store::StoreError::Refused(
                consentry::store::Refusal::ClientChanged
            ))
        ),
        "{result:?}"
    );
    assert_eq!(
        client_credentials(&s, &c).await.0,
        401,
        "the old secret stays retired"
    );
}
