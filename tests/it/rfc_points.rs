//! Smaller protocol rules: one way to send a bearer token (RFC 6750 §2), revocation only by
//! the token's client (RFC 7009 §2.1), no repeated query parameters on REST routes, an answer
//! to oversized bodies (RFC 9110 §15.5.14), and browser cookies minted by the server only.

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn userinfo_token_in_header_and_body_is_invalid_request_rfc6750_s2() {
    // RFC 6750 §2: "Clients MUST NOT use more than one method to transmit the token in each
    // request."
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let t = tokens_for(&s, &c, "alice").await;
    let at = t["access_token"].as_str().unwrap();
    let res = s
        .browser()
        .post(s.url("/me"))
        .bearer_auth(at)
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    // Each way alone still works.
    let res = s
        .browser()
        .post(s.url("/me"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let res = s
        .browser()
        .post(s.url("/me"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn revocation_by_another_client_is_refused_rfc7009_s2_1() {
    // RFC 7009 §2.1: the server "verifies whether the token was issued to the client making
    // the revocation request. If this validation fails, the request is refused".
    let s = TestServer::start().await;
    let owner = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    s.user("bob").await;
    let t = tokens_for(&s, &owner, "bob").await;
    for token in [&t["refresh_token"], &t["access_token"]] {
        let token = token.as_str().unwrap();
        let res = s
            .browser()
            .post(s.url("/token/revocation"))
            .basic_auth(&other.id, Some(&other.secret))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "unauthorized_client", "{body}");
        assert_eq!(
            s.introspect(&owner, token).await["active"],
            true,
            "not revoked"
        );
    }
}

#[tokio::test]
async fn repeated_query_parameters_on_rest_routes_are_invalid_request() {
    // RFC 6749 §3.1's rule ("Request and response parameters MUST NOT be included more than
    // once"), applied to the REST API alike: which value counts would be a guess.
    let s = TestServer::start().await;
    for path in [
        "/bank-icons/default?defaultIcon=true&defaultIcon=false".to_string(),
        "/oidc/.well-known/all-connections?x=1&x=2".to_string(),
    ] {
        let res = s
            .browser()
            .get(format!("{}{path}", s.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
    }
    let res = s
        .browser()
        .get(format!("{}/bank-icons/default?defaultIcon=true", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "a single value is fine");
}

#[tokio::test]
async fn oversized_body_gets_413_with_an_answer_rfc9110_15_5_14() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(1024 * 1024)
    );
    let res = s
        .browser()
        .post(s.url("/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .expect("an answer, not a reset connection");
    assert_eq!(res.status(), 413);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[tokio::test]
async fn a_browser_cookie_the_server_never_issued_is_replaced_session_fixation() {
    // Session fixation (RFC 9700 §4.1-style login CSRF / OWASP): the browser-binding value is
    // minted by the server; a value chosen by the client (or planted by an attacker) is not
    // adopted.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let chosen = "attacker-chosen-value-0123456789abcdefghijklmnop";
    let plain = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&s.ca_pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = plain
        .get(s.url("/auth"))
        .query(&auth_params(&c, &challenge, &[]))
        .header("cookie", format!("__Host-consentry-browser={chosen}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let interaction = location(&res);
    let minted = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("__Host-consentry-browser="))
        .map(|v| v.split(';').next().unwrap_or_default().to_string())
        .expect("the server mints its own browser cookie");
    assert_ne!(minted, chosen);
    // The interaction belongs to the minted value, not to the chosen one.
    let with = |value: &str| {
        plain
            .get(format!("{}{interaction}", s.base))
            .header("cookie", format!("__Host-consentry-browser={value}"))
            .send()
    };
    assert_eq!(with(chosen).await.unwrap().status(), 400);
    assert_eq!(with(&minted).await.unwrap().status(), 200);
    // A value the server minted is kept (no new cookie).
    let res = plain
        .get(s.url("/auth"))
        .query(&auth_params(&c, &challenge, &[]))
        .header("cookie", format!("__Host-consentry-browser={minted}"))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get_all("set-cookie").iter().all(|v| !v
        .to_str()
        .unwrap_or_default()
        .starts_with("__Host-consentry-browser=")));
}
