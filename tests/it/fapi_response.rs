//! Response types (`code id_token`, `id_token`), response modes (fragment, form_post) and
//! JWT-secured authorization responses (JARM).

use crate::harness::*;
use serde_json::{json, Value};

async fn hybrid_client(s: &TestServer, extra: Value) -> TestClient {
    let mut meta = json!({
        "response_types": ["code", "code id_token", "id_token"],
        "grant_types": ["authorization_code", "implicit", "refresh_token"],
    });
    for (k, v) in extra.as_object().unwrap() {
        meta[k] = v.clone();
    }
    s.client(meta).await
}

#[tokio::test]
async fn hybrid_code_id_token_in_the_fragment() {
    let s = TestServer::start().await;
    let c = hybrid_client(&s, json!({"id_token_signed_response_alg": "PS256"})).await;
    let alice = s.user("alice").await;
    let (verifier, challenge) = pkce();
    let params = auth_params(&c, &challenge, &[("response_type", "code id_token")]);
    let cb = Journey::new(&s).complete(&params, "alice").await;
    // Multiple Response Types §5: the default mode for code id_token is fragment.
    let f = fragment(&cb);
    assert_eq!(f["state"], "state-123");
    assert_eq!(f["iss"], s.issuer, "RFC 9207");
    let id = verify_with_jwks(&s, &f["id_token"]).await;
    assert_eq!(id["sub"], alice);
    assert_eq!(id["nonce"], "nonce-456");
    // OIDC Core §3.3.2.11: c_hash and s_hash bind the code and state.
    assert_eq!(id["c_hash"], half_hash(&f["code"]));
    assert_eq!(id["s_hash"], half_hash("state-123"));
    assert!(
        id.get("email").is_none(),
        "no profile data in the front-channel ID token"
    );
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &f["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwt_claims(body["id_token"].as_str().unwrap())["sub"], alice);
}

#[tokio::test]
async fn id_token_alone_carries_the_scope_claims() {
    let s = TestServer::start().await;
    let c = hybrid_client(&s, json!({})).await;
    s.user("alice").await;
    let (_, challenge) = pkce();
    let params = auth_params(
        &c,
        &challenge,
        &[("response_type", "id_token"), ("scope", "openid email")],
    );
    let cb = Journey::new(&s).complete(&params, "alice").await;
    let f = fragment(&cb);
    assert!(!f.contains_key("code"));
    let id = verify_with_jwks(&s, &f["id_token"]).await;
    assert_eq!(
        id["email"], "alice@example.test",
        "OIDC Core §5.4: no access token, so claims are in the ID token"
    );
    assert!(id.get("at_hash").is_none() && id.get("c_hash").is_none());
}

#[tokio::test]
async fn response_type_and_mode_errors() {
    let s = TestServer::start().await;
    let c = hybrid_client(&s, json!({})).await;
    let code_only = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    // OIDC Core §3.2.2.1: nonce is required when an ID token comes from the authorization endpoint.
    let (_, loc, _) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("response_type", "code id_token"), ("nonce", "")],
        ))
        .await;
    assert_eq!(
        fragment(&loc)["error"],
        "invalid_request",
        "errors use the fragment too"
    );
    // Multiple Response Types §5: tokens never travel in the query.
    let (_, loc, _) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[
                ("response_type", "code id_token"),
                ("response_mode", "query"),
            ],
        ))
        .await;
    assert_eq!(fragment(&loc)["error"], "invalid_request");
    // The client must be registered for the response type.
    let (_, loc, _) = j
        .authorize(&auth_params(
            &code_only,
            &challenge,
            &[("response_type", "code id_token")],
        ))
        .await;
    assert_eq!(fragment(&loc)["error"], "unauthorized_client");
    // RFC 6749 §4.2.2.1: an implicit-flow error goes in the fragment, even though unsupported.
    let (_, loc, _) = j
        .authorize(&auth_params(&c, &challenge, &[("response_type", "token")]))
        .await;
    assert_eq!(fragment(&loc)["error"], "unsupported_response_type");
    // Order does not matter in a response type.
    let (status, loc, _) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("response_type", "id_token code")],
        ))
        .await;
    assert_eq!(status, 303);
    assert!(loc.starts_with("/interaction/"), "{loc}");
}

#[tokio::test]
async fn form_post_response_mode() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let (_, interaction, _) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("response_mode", "form_post")],
        ))
        .await;
    j.login(&interaction, "alice", PASSWORD).await;
    let (_, _, page) = j.get(&interaction).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    let res = j
        .browser
        .post(format!("{}{}/consent", s.base, interaction))
        .form(&[("csrf_token", csrf.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'sha256-"),
        "only the submitting script may run: {csp}"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{REDIRECT_URI}\"")));
    assert!(hidden(&page, "code").is_some());
    assert_eq!(hidden(&page, "state").as_deref(), Some("state-123"));
    assert_eq!(hidden(&page, "iss").as_deref(), Some(s.issuer.as_str()));
}

#[tokio::test]
async fn jarm_responses_are_signed_jwts() {
    let s = TestServer::start().await;
    let c = hybrid_client(&s, json!({"authorization_signed_response_alg": "ES256"})).await;
    s.user("alice").await;
    let (_, challenge) = pkce();
    // JARM §2.3.4: `jwt` means query.jwt for code.
    let cb = Journey::new(&s)
        .complete(
            &auth_params(&c, &challenge, &[("response_mode", "jwt")]),
            "alice",
        )
        .await;
    let q = query(&cb);
    assert_eq!(q.len(), 1, "only the response parameter: {cb}");
    let claims = verify_with_jwks(&s, &q["response"]).await;
    assert_eq!(jwt_header(&q["response"])["alg"], "ES256");
    assert_eq!(claims["iss"], s.issuer);
    assert_eq!(claims["aud"], c.id);
    assert!(claims["exp"].as_i64().unwrap() > s.provider.now());
    assert_eq!(claims["state"], "state-123");
    assert!(claims["code"].is_string());

    // fragment.jwt with the hybrid flow, and errors in the JWT too.
    let j = Journey::new(&s);
    let params = auth_params(
        &c,
        &challenge,
        &[
            ("response_type", "code id_token"),
            ("response_mode", "fragment.jwt"),
            ("prompt", "none"),
        ],
    );
    let (_, loc, _) = j.authorize(&params).await;
    let f = fragment(&loc);
    let claims = verify_with_jwks(&s, &f["response"]).await;
    assert_eq!(claims["error"], "login_required");
    assert_eq!(claims["state"], "state-123");
}

#[tokio::test]
async fn registration_matches_response_types_to_grants() {
    // RFC 7591 §2.1: code id_token needs both authorization_code and implicit.
    let s = TestServer::start().await;
    let res = s
        .browser()
        .post(s.url("/reg"))
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(&json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["code id_token"], "grant_types": ["authorization_code"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
}
