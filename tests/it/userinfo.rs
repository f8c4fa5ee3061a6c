//! The UserInfo endpoint (OIDC Core §5.3, RFC 6750).

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn userinfo_by_header_get_and_post_and_by_body() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let t = tokens_for(&s, &c, "alice").await;
    let at = t["access_token"].as_str().unwrap();
    let b = s.browser();
    let get: Value = b
        .get(s.url("/me"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["sub"], alice);
    assert_eq!(get["email"], "alice@example.test", "email scope");
    assert_eq!(get["name"], "alice Example", "profile scope");
    let post: Value = b
        .post(s.url("/me"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(post, get);
    // RFC 6750 §2.2: form-encoded body parameter.
    let body: Value = b
        .post(s.url("/me"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, get);
}

#[tokio::test]
async fn userinfo_errors_use_www_authenticate() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let b = s.browser();
    // RFC 6750 §3: no token → 401 with a Bearer challenge; §3.1: naming no error code.
    let res = b.get(s.url("/me")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"consentry\""
    );
    // RFC 6750 §3.1: invalid_token for a bad or revoked token.
    let res = b
        .get(s.url("/me"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("error=\"invalid_token\""));
    // RFC 6750 §3.1: insufficient_scope (403) for a token without openid.
    let (_, cc) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    let res = b
        .get(s.url("/me"))
        .bearer_auth(cc["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("insufficient_scope"));
    // A revoked token stops working.
    let t = tokens_for(&s, &c, "alice").await;
    let at = t["access_token"].as_str().unwrap();
    b.post(s.url("/token/revocation"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    let res = b.get(s.url("/me")).bearer_auth(at).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn userinfo_releases_claims_requested_for_userinfo() {
    // OIDC Core §5.5: claims.userinfo asks for individual claims beyond the scopes.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (verifier, challenge) = pkce();
    let claims = json!({"userinfo": {"email": {"essential": true}}}).to_string();
    let params = auth_params(&c, &challenge, &[("scope", "openid"), ("claims", &claims)]);
    let cb = Journey::new(&s).complete(&params, "alice").await;
    let code = query(&cb)["code"].clone();
    let (_, t) = s
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
    let info: Value = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["email"], "alice@example.test");
    assert!(info.get("name").is_none(), "profile was not requested");
}

#[tokio::test]
async fn signed_userinfo_for_clients_that_ask() {
    // OIDC Core §5.3.2: userinfo_signed_response_alg gives an application/jwt response.
    let s = TestServer::start().await;
    let c = s
        .client(json!({"userinfo_signed_response_alg": "ES256"}))
        .await;
    let alice = s.user("alice").await;
    let t = tokens_for(&s, &c, "alice").await;
    let res = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "application/jwt");
    let jwt = res.text().await.unwrap();
    assert_eq!(jwt_header(&jwt)["alg"], "ES256");
    let claims = jwt_claims(&jwt);
    assert_eq!(claims["sub"], alice);
    assert_eq!(claims["iss"], s.issuer);
    assert_eq!(claims["aud"], c.id);
    assert_eq!(claims["email"], "alice@example.test");
}
