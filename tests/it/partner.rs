//! The partner API (contract: User Management, Client credentials, Scopes): client-managed
//! users and their connections behind client-credentials tokens, data-access tokens with
//! `sub`, the scope rules, and cascade deletion.

use crate::banks::{redeem, BankJourney};
use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};

const PARTNER_SCOPES: &str =
    "openid profile email offline_access user:create user:read user:delete accounts:read \
accounts:write:all transactions:read:all transactions:read:in transactions:write";

async fn partner(s: &TestServer) -> TestClient {
    s.client(json!({"scope": PARTNER_SCOPES})).await
}

/// A client-credentials token with `scope` (and `sub` when given).
async fn cc_token(s: &TestServer, c: &TestClient, scope: &str, sub: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
    if let Some(sub) = sub {
        form.push(("sub", sub));
    }
    s.token(c, &form).await
}

/// A client-credentials access token for `scope`.
pub async fn bearer(s: &TestServer, c: &TestClient, scope: &str) -> String {
    let (status, body) = cc_token(s, c, scope, None).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// A call to a partner REST route (`path` below the server root) with an optional bearer
/// token and JSON body.
pub async fn call(
    s: &TestServer,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Answer {
    let url = format!("{}{path}", s.base);
    let http = s.browser();
    let mut req = match method {
        "POST" => http.post(url),
        "DELETE" => http.delete(url),
        _ => http.get(url),
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// A routed 404 carrying the contract's error, not a routing miss.
fn assert_not_found(a: &Answer) {
    assert_eq!(a.status, 404, "{}", a.body);
    assert_eq!(a.body["error"], "not_found", "{}", a.body);
}

async fn create_user(s: &TestServer, c: &TestClient, client_user_id: &str) -> String {
    let t = bearer(s, c, "user:create").await;
    let a = call(
        s,
        "POST",
        "/users",
        Some(&t),
        Some(&json!({"clientUserId": client_user_id}).to_string()),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["userId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn users_are_created_listed_in_pages_and_read() {
    let s = TestServer::start().await;
    let c = partner(&s).await;
    let t = bearer(&s, &c, "user:create").await;
    let a = call(
        &s,
        "POST",
        "/users",
        Some(&t),
        Some(r#"{"clientUserId":"some-id"}"#),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    // The contract's response shape.
    assert_eq!(a.body["clientUserId"], "some-id");
    assert_eq!(a.body["clientId"], c.id.as_str());
    assert_eq!(a.body["scopes"], "user:create");
    assert_eq!(a.body["managedBy"], "client");
    let first = a.body["userId"].as_str().unwrap().to_string();
    // The body is optional.
    assert_eq!(call(&s, "POST", "/users", Some(&t), None).await.status, 201);
    create_user(&s, &c, "third").await;

    let r = bearer(&s, &c, "user:read").await;
    let page = call(&s, "GET", "/users?limit=2", Some(&r), None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.headers["x-total-count"], "3");
    assert_eq!(page.body.as_array().unwrap().len(), 2);
    assert_eq!(
        page.body[0]["userId"],
        first.as_str(),
        "oldest first, a stable order"
    );
    let rest = call(&s, "GET", "/users?limit=2&offset=2", Some(&r), None).await;
    assert_eq!(rest.body.as_array().unwrap().len(), 1);
    assert_eq!(rest.body[0]["clientUserId"], "third");

    let one = call(&s, "GET", &format!("/users/{first}"), Some(&r), None).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.body["clientUserId"], "some-id");
    let cons = call(
        &s,
        "GET",
        &format!("/users/{first}/connections"),
        Some(&r),
        None,
    )
    .await;
    assert_eq!((cons.status, cons.body.clone()), (200, json!([])));
}

#[tokio::test]
async fn a_client_never_sees_or_touches_another_clients_users() {
    let s = TestServer::start().await;
    let a = partner(&s).await;
    let b = partner(&s).await;
    let alice = create_user(&s, &a, "a-1").await;
    let rb = bearer(&s, &b, "user:read").await;
    let db = bearer(&s, &b, "user:delete").await;
    assert_not_found(&call(&s, "GET", &format!("/users/{alice}"), Some(&rb), None).await);
    assert_not_found(
        &call(
            &s,
            "GET",
            &format!("/users/{alice}/connections"),
            Some(&rb),
            None,
        )
        .await,
    );
    assert_not_found(&call(&s, "DELETE", &format!("/users/{alice}"), Some(&db), None).await);
    assert_eq!(
        call(&s, "GET", "/users", Some(&rb), None).await.body,
        json!([])
    );
    // Nothing changed for A.
    let ra = bearer(&s, &a, "user:read").await;
    assert_eq!(
        call(&s, "GET", &format!("/users/{alice}"), Some(&ra), None)
            .await
            .status,
        200
    );
    // Nor may B get a data-access token for A's user (RFC 6749 §5.2 invalid_grant).
    let (status, body) = cc_token(&s, &b, "accounts:read", Some(&alice)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
    // Local users that no client manages are not anyone's either.
    let local = s.user("local").await;
    let ra = bearer(&s, &a, "user:read").await;
    assert_not_found(&call(&s, "GET", &format!("/users/{local}"), Some(&ra), None).await);
}

#[tokio::test]
async fn tokens_must_be_live_client_credentials_with_the_right_scope() {
    let s = TestServer::start().await;
    let c = partner(&s).await;
    // RFC 6750 §3.1: no token → 401 with a challenge.
    let a = call(&s, "GET", "/users", None, None).await;
    assert_eq!(a.status, 401);
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    // RFC 6750 §3.1: the wrong scope → 403 insufficient_scope.
    let read = bearer(&s, &c, "user:read").await;
    let a = call(&s, "POST", "/users", Some(&read), None).await;
    assert_eq!(a.status, 403);
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    let a = call(&s, "DELETE", "/users/x", Some(&read), None).await;
    assert_eq!(a.status, 403);
    // A revoked token → 401 invalid_token (RFC 7009 then RFC 6750).
    let res = s
        .browser()
        .post(s.url("/token/revocation"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", read.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let a = call(&s, "GET", "/users", Some(&read), None).await;
    assert_eq!(a.status, 401);
    assert!(a.headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // An expired token → 401.
    let read = bearer(&s, &c, "user:read").await;
    s.provider
        .clock
        .advance(s.provider.config.lifetimes.access_token_secs + 1);
    assert_eq!(
        call(&s, "GET", "/users", Some(&read), None).await.status,
        401
    );
    // A token issued for a user (authorization code) is not a partner's token.
    s.user("alice").await;
    let tokens = tokens_for(&s, &c, "alice").await;
    let a = call(&s, "GET", "/users", tokens["access_token"].as_str(), None).await;
    assert_eq!(a.status, 403);
}

#[tokio::test]
async fn bad_bodies_and_parameters_are_400_with_a_clear_message() {
    let s = TestServer::start().await;
    let c = partner(&s).await;
    let t = bearer(&s, &c, "user:create").await;
    for (body, needle) in [
        ("not json", "JSON object"),
        ("[1]", "JSON object"),
        (r#"{"clientUserId": 7}"#, "must be a string"),
        (r#"{"clientUserId": ""}"#, "clientUserId must be"),
        (r#"{"name": "x"}"#, "unknown member name"),
    ] {
        let a = call(&s, "POST", "/users", Some(&t), Some(body)).await;
        assert_eq!(a.status, 400, "{body}");
        assert_eq!(a.body["error"], "invalid_request");
        assert!(
            a.body["error_description"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{body}: {}",
            a.body
        );
    }
    let r = bearer(&s, &c, "user:read").await;
    for q in ["limit=abc", "limit=-1", "limit=100000", "offset=x"] {
        assert_eq!(
            call(&s, "GET", &format!("/users?{q}"), Some(&r), None)
                .await
                .status,
            400,
            "{q}"
        );
    }
    // Nothing was created by the refused requests.
    assert_eq!(
        call(&s, "GET", "/users", Some(&r), None).await.body,
        json!([])
    );
}

#[tokio::test]
async fn use_case_2_connects_a_bank_to_a_partner_user_and_deletion_cascades() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = s
        .client(json!({"scope": PARTNER_SCOPES, "jwks": key.jwks()}))
        .await;
    let user = create_user(&s, &c, "customer-42").await;

    // A signed request object pins the user and asks for the connection id.
    let (verifier, challenge) = pkce();
    let now = s.provider.now();
    let object = key.sign(
        &json!({
            "iss": c.id, "aud": s.issuer, "client_id": c.id, "iat": now, "exp": now + 300,
            "jti": consentry::secrets::random_token(),
            "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid id:sandbox-bank offline_access",
            "state": "st", "nonce": "n", "prompt": "consent", "max_age": 86400,
            "code_challenge": challenge, "code_challenge_method": "S256",
            "claims": {"id_token": {"sub": {"essential": true, "value": user}, "mh:con_id": {"essential": true}}},
        }),
        true,
    );
    let b = BankJourney::new(&s);
    let i = b
        .start(&[
            ("client_id".to_string(), c.id.clone()),
            ("request".to_string(), object),
        ])
        .await;
    // The client's own user: no login page, straight to consent and the bank.
    let cb = b.sandbox_bank(&i).await;
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], user.as_str());
    let con_id = id["mh:con_id"].as_str().unwrap().to_string();

    let r = bearer(&s, &c, "user:read").await;
    let cons = call(
        &s,
        "GET",
        &format!("/users/{user}/connections"),
        Some(&r),
        None,
    )
    .await;
    assert_eq!(cons.status, 200);
    assert_eq!(cons.body[0]["id"], con_id.as_str());
    assert_eq!(cons.body[0]["bankId"], "sandbox-bank");
    assert_eq!(cons.body[0]["status"], "active");

    // A data-access token for the user (contract: client_credentials with sub).
    let (status, data) = cc_token(&s, &c, "accounts:read transactions:read:all", Some(&user)).await;
    assert_eq!(status, 200, "{data}");
    let data_token = data["access_token"].as_str().unwrap().to_string();
    let i = s.introspect(&c, &data_token).await;
    assert_eq!(i["sub"], user.as_str());
    assert_eq!(
        i["scope_descriptions"]["accounts:read"],
        "Read your accounts"
    );
    // *:write:all only for users the client manages: with sub yes, without no.
    assert_eq!(
        cc_token(&s, &c, "accounts:write:all", Some(&user)).await.0,
        200
    );
    let (status, body) = cc_token(&s, &c, "accounts:write:all", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_scope"))
    );

    // Deleting the connection revokes what was issued for it.
    let d = bearer(&s, &c, "user:delete").await;
    let gone = call(
        &s,
        "DELETE",
        &format!("/users/{user}/connection/{con_id}"),
        Some(&d),
        None,
    )
    .await;
    assert_eq!(gone.status, 204);
    for t in [&tokens["access_token"], &tokens["refresh_token"]] {
        assert_eq!(s.introspect(&c, t.as_str().unwrap()).await["active"], false);
    }
    let cid = con_id.clone();
    let row = s
        .provider
        .store
        .read(move |tx| tx.connections().get(&cid))
        .await
        .unwrap();
    assert!(row.is_none(), "the connection and its sealed data are gone");
    let again = call(
        &s,
        "DELETE",
        &format!("/users/{user}/connections/{con_id}"),
        Some(&d),
        None,
    )
    .await;
    assert_not_found(&again);

    // Deleting the user ends its data-access tokens too.
    assert_eq!(
        call(&s, "DELETE", &format!("/users/{user}"), Some(&d), None)
            .await
            .status,
        204
    );
    assert_eq!(s.introspect(&c, &data_token).await["active"], false);
    assert_eq!(
        call(&s, "GET", &format!("/users/{user}"), Some(&r), None)
            .await
            .status,
        404
    );
    let (status, body) = cc_token(&s, &c, "accounts:read", Some(&user)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn the_scope_rules_answer_invalid_scope_everywhere() {
    let s = TestServer::start().await;
    let c = partner(&s).await;
    let user = create_user(&s, &c, "u").await;
    let cc = |scope: &'static str, sub: Option<String>| {
        let (s, c) = (&s, &c);
        async move { cc_token(s, c, scope, sub.as_deref()).await.1["error"].clone() }
    };
    let bad = json!("invalid_scope");
    // Contract: the transactions:read trio is mutually exclusive.
    assert_eq!(
        cc(
            "transactions:read:all transactions:read:in",
            Some(user.clone())
        )
        .await,
        bad
    );
    // Contract: transactions:write needs a transactions:read scope.
    assert_eq!(cc("transactions:write", Some(user.clone())).await, bad);
    assert!(cc(
        "transactions:write transactions:read:in",
        Some(user.clone())
    )
    .await
    .is_null());
    // Contract: user:* only with client_credentials, for the client itself.
    assert_eq!(cc("user:read", Some(user.clone())).await, bad);

    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    for scope in [
        "openid transactions:read:all transactions:read:out",
        "openid transactions:write",
        "openid user:create",
        // *:write:all with no pinned user of the client's.
        "openid accounts:write:all",
    ] {
        let (status, loc, body) = j
            .authorize(&auth_params(&c, &challenge, &[("scope", scope)]))
            .await;
        assert_eq!(status, 303, "{body}");
        assert_eq!(query(&loc)["error"], "invalid_scope", "{scope}: {loc}");
    }
}
