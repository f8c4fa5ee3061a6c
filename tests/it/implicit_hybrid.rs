//! Response types that return an access token from the authorization endpoint (OIDC Core §3.2
//! implicit `id_token token`, §3.3 hybrid `code token` and `code id_token token`): opt-in per
//! client, never under a FAPI profile, with the token usable at UserInfo and bound into the
//! ID token by `at_hash`.

use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};
use std::collections::HashMap;

/// A client registered for every token-returning type, as the certification suite registers
/// its clients (grant types from the response types, RFC 7591 §2.1).
async fn token_client(s: &TestServer, extra: Value) -> TestClient {
    let mut meta = json!({
        "response_types": ["code", "code token", "code id_token token", "id_token token"],
        "grant_types": ["authorization_code", "implicit", "refresh_token"],
    });
    for (k, v) in extra.as_object().unwrap() {
        meta[k] = v.clone();
    }
    s.client(meta).await
}

/// Verifies an ID token against the published JWKS; its claims, with `iss` and `exp` checked.
async fn verify_id_token(s: &TestServer, jwt: &str) -> Value {
    let claims = verify_with_jwks(s, jwt).await;
    assert_eq!(claims["iss"], s.issuer);
    assert!(claims["exp"].as_i64().unwrap() > s.provider.now());
    claims
}

/// UserInfo (OIDC Core §5.3) with `token` as a bearer: status and JSON answer.
async fn userinfo(s: &TestServer, token: &str) -> (u16, Value) {
    let res = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The access token parameters of an authorization response (OIDC Core §3.2.2.5, RFC 6749
/// §4.2.2), and that they work at UserInfo for `user`.
async fn assert_usable_access_token(s: &TestServer, f: &HashMap<String, String>, user: &str) {
    assert_eq!(f["token_type"], "Bearer");
    let expires_in: i64 = f["expires_in"].parse().expect("expires_in is a number");
    assert!(expires_in > 0, "{expires_in}");
    assert!(f["scope"].split(' ').any(|x| x == "openid"), "{f:?}");
    assert!(
        !f.contains_key("refresh_token"),
        "RFC 6749 §4.2.2: no refresh token from the authorization endpoint: {f:?}"
    );
    let (status, info) = userinfo(s, &f["access_token"]).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], user);
    assert_eq!(
        info["email"], "alice@example.test",
        "scope claims at UserInfo"
    );
}

#[tokio::test]
async fn id_token_token_returns_a_usable_access_token_bound_by_at_hash() {
    let s = TestServer::start().await;
    let alice = s.user("alice").await;
    for alg in ["RS256", "PS256", "ES256"] {
        let c = token_client(&s, json!({"id_token_signed_response_alg": alg})).await;
        let (_, challenge) = pkce();
        let params = auth_params(
            &c,
            &challenge,
            &[
                ("response_type", "id_token token"),
                ("scope", "openid email offline_access"),
                ("code_challenge", ""),
                ("code_challenge_method", ""),
            ],
        );
        let cb = Journey::new(&s).complete(&params, "alice").await;
        // Multiple Response Types §5: the default mode is fragment.
        let f = fragment(&cb);
        assert!(!f.contains_key("code"), "{f:?}");
        assert_eq!(f["state"], "state-123");
        assert_eq!(f["iss"], s.issuer, "RFC 9207");
        let id = verify_id_token(&s, &f["id_token"]).await;
        assert_eq!(jwt_header(&f["id_token"])["alg"], alg);
        assert_eq!(id["sub"], alice);
        assert_eq!(id["aud"], c.id);
        assert_eq!(id["nonce"], "nonce-456");
        // OIDC Core §3.2.2.10: at_hash is required when an access token comes with it.
        assert_eq!(id["at_hash"], half_hash(&f["access_token"]), "{alg}");
        assert!(id.get("c_hash").is_none());
        // OIDC Core §5.4: with an access token, scope claims are UserInfo's, not the ID token's.
        assert!(id.get("email").is_none(), "{id}");
        assert_usable_access_token(&s, &f, &alice).await;
        // The token is one of ours, active until it expires (RFC 7662).
        let intro = s.introspect(&c, &f["access_token"]).await;
        assert_eq!(intro["active"], true, "{intro}");
        assert_eq!(intro["client_id"], c.id);
    }
}

#[tokio::test]
async fn code_token_returns_a_usable_token_and_a_code_to_exchange() {
    let s = TestServer::start().await;
    let c = token_client(&s, json!({})).await;
    let alice = s.user("alice").await;
    let (verifier, challenge) = pkce();
    // No ID token comes from the authorization endpoint, so no nonce is needed.
    let params = auth_params(
        &c,
        &challenge,
        &[
            ("response_type", "code token"),
            ("scope", "openid email offline_access"),
            ("nonce", ""),
        ],
    );
    let cb = Journey::new(&s).complete(&params, "alice").await;
    let f = fragment(&cb);
    assert!(!f.contains_key("id_token"), "{f:?}");
    assert_usable_access_token(&s, &f, &alice).await;
    // OIDC Core §3.3.3: the code is exchanged as in the code flow; refresh tokens come from
    // the token endpoint only.
    let (status, body) = s.exchange_code(&c, &f["code"], &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["access_token"], f["access_token"].as_str());
    assert!(body["refresh_token"].is_string(), "{body}");
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], alice);
    assert_eq!(
        id["at_hash"],
        half_hash(body["access_token"].as_str().unwrap())
    );
    // RFC 6749 §4.1.2: a replayed code revokes what was issued from it, the token the
    // authorization endpoint gave included.
    let (status, _) = s.exchange_code(&c, &f["code"], &verifier).await;
    assert_eq!(status, 400);
    let (status, _) = userinfo(&s, &f["access_token"]).await;
    assert_eq!(
        status, 401,
        "the front-channel token is revoked with its grant"
    );
}

#[tokio::test]
async fn code_id_token_token_binds_code_token_and_state() {
    let s = TestServer::start().await;
    let c = token_client(&s, json!({"id_token_signed_response_alg": "ES256"})).await;
    let alice = s.user("alice").await;
    let (verifier, challenge) = pkce();
    let params = auth_params(
        &c,
        &challenge,
        &[
            ("response_type", "token id_token code"),
            ("scope", "openid email"),
        ],
    );
    let cb = Journey::new(&s).complete(&params, "alice").await;
    let f = fragment(&cb);
    let id = verify_id_token(&s, &f["id_token"]).await;
    assert_eq!(id["sub"], alice);
    assert_eq!(id["nonce"], "nonce-456");
    // OIDC Core §3.3.2.11: c_hash and at_hash are required here.
    assert_eq!(id["c_hash"], half_hash(&f["code"]));
    assert_eq!(id["at_hash"], half_hash(&f["access_token"]));
    assert_eq!(id["s_hash"], half_hash("state-123"));
    assert_usable_access_token(&s, &f, &alice).await;
    let (status, body) = s.exchange_code(&c, &f["code"], &verifier).await;
    assert_eq!(status, 200, "{body}");
    // OIDC Core §3.3.3.6: the token endpoint's ID token names the same user.
    assert_eq!(jwt_claims(body["id_token"].as_str().unwrap())["sub"], alice);
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access asked"
    );
}

#[tokio::test]
async fn form_post_carries_the_token_parameters() {
    let s = TestServer::start().await;
    let c = token_client(&s, json!({})).await;
    let alice = s.user("alice").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let params = auth_params(
        &c,
        &challenge,
        &[
            ("response_type", "code id_token token"),
            ("response_mode", "form_post"),
            ("scope", "openid email"),
        ],
    );
    let (_, interaction, _) = j.authorize(&params).await;
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
    let page = res.text().await.unwrap();
    assert!(page.contains(&format!("action=\"{REDIRECT_URI}\"")));
    let f: HashMap<String, String> = [
        "code",
        "access_token",
        "token_type",
        "expires_in",
        "scope",
        "id_token",
    ]
    .iter()
    .map(|k| (k.to_string(), hidden(&page, k).unwrap_or_default()))
    .collect();
    let id = verify_id_token(&s, &f["id_token"]).await;
    assert_eq!(id["at_hash"], half_hash(&f["access_token"]));
    assert_eq!(id["c_hash"], half_hash(&f["code"]));
    assert_usable_access_token(&s, &f, &alice).await;
}

#[tokio::test]
async fn a_public_client_gets_id_token_token_without_pkce() {
    // PKCE protects a code (RFC 9700 §2.1.1); with no code issued there is none to ask for.
    let s = TestServer::start().await;
    let c = s
        .client(json!({
            "token_endpoint_auth_method": "none",
            "response_types": ["id_token token"], "grant_types": ["implicit"],
        }))
        .await;
    let alice = s.user("alice").await;
    let params = auth_params(
        &c,
        "",
        &[
            ("response_type", "id_token token"),
            ("scope", "openid email"),
            ("code_challenge_method", ""),
        ],
    );
    let cb = Journey::new(&s).complete(&params, "alice").await;
    let f = fragment(&cb);
    assert_eq!(verify_id_token(&s, &f["id_token"]).await["sub"], alice);
    assert_usable_access_token(&s, &f, &alice).await;
}

#[tokio::test]
async fn token_response_types_are_refused_by_the_rules() {
    let s = TestServer::start().await;
    let c = token_client(&s, json!({})).await;
    let hybrid_only = s
        .client(json!({
            "response_types": ["code", "code id_token"],
            "grant_types": ["authorization_code", "implicit"],
        }))
        .await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let cases: &[(&TestClient, ParamCase)] = &[
        (
            &hybrid_only,
            (
                &[("response_type", "code id_token token")],
                "unauthorized_client",
                "RFC 6749 §4.2.2.1: the client is not registered for the response type",
            ),
        ),
        (
            &hybrid_only,
            (
                &[("response_type", "id_token token")],
                "unauthorized_client",
                "RFC 6749 §4.2.2.1: the client is not registered for the response type",
            ),
        ),
        (
            &c,
            (
                &[("response_type", "id_token token"), ("nonce", "")],
                "invalid_request",
                "OIDC Core §3.2.2.1: nonce is required with an ID token",
            ),
        ),
        (
            &c,
            (
                &[("response_type", "code id_token token"), ("nonce", "")],
                "invalid_request",
                "OIDC Core §3.3.2.11: nonce is required with an ID token",
            ),
        ),
        (
            &c,
            (
                &[("response_type", "code token"), ("response_mode", "query")],
                "invalid_request",
                "Multiple Response Types §5: tokens never travel in the query",
            ),
        ),
        (
            &c,
            (
                &[
                    ("response_type", "id_token token"),
                    ("response_mode", "query.jwt"),
                ],
                "invalid_request",
                "JARM §2.3.1: not in the query either, as an unencrypted JWT",
            ),
        ),
        (
            &c,
            (
                &[("response_type", "token")],
                "unsupported_response_type",
                "RFC 6749 §4.2.2.1: a plain OAuth token without an ID token is not offered",
            ),
        ),
    ];
    for (who, (extra, error, rule)) in cases {
        let (status, loc, body) = j.authorize(&auth_params(who, &challenge, extra)).await;
        assert_eq!(status, 303, "{rule}: {body}");
        // The error travels in the fragment, as the response would have (RFC 6749 §4.2.2.1).
        let f = fragment(&loc);
        assert_eq!(f["error"], *error, "{rule}: {loc}");
        assert_eq!(f["state"], "state-123", "{rule}");
        assert!(!f.contains_key("access_token"), "{rule}");
    }
}

#[tokio::test]
async fn discovery_and_registration_offer_the_token_types_opt_in() {
    let s = TestServer::start().await;
    let d = s.discovery().await;
    let advertised: Vec<&str> = d["response_types_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for rt in [
        "code",
        "code id_token",
        "id_token",
        "id_token token",
        "code token",
        "code id_token token",
    ] {
        assert!(advertised.contains(&rt), "{rt} in {advertised:?}");
    }
    assert!(d["grant_types_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("implicit")));

    // RFC 7591: the suite's dynamic client, grant types following its response types.
    let meta = json!({
        "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic",
        "response_types": ["code id_token token"], "grant_types": ["authorization_code", "implicit"],
    });
    let (status, body) = s.register(&meta).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["response_types"], json!(["code id_token token"]));
    let meta = json!({
        "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic",
        "response_types": ["id_token token"], "grant_types": ["implicit"],
    });
    let (status, body) = s.register(&meta).await;
    assert_eq!(status, 201, "{body}");

    // What the rules refuse, each next to what they accept, so the refusal is the rule's.
    let key = ClientKey::new("PS256");
    let fapi = json!({
        "redirect_uris": [REDIRECT_URI], "fapi_profile": "fapi1_advanced",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
        "grant_types": ["authorization_code", "implicit"],
    });
    let with = |base: &Value, patch: Value| {
        let mut m = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    };
    let plain = json!({
        "redirect_uris": [REDIRECT_URI], "token_endpoint_auth_method": "client_secret_basic",
    });
    let cases = [
        (
            with(&fapi, json!({"response_types": ["code id_token"]})),
            with(&fapi, json!({"response_types": ["code id_token token"]})),
            "FAPI 1 Adv. §5.2.2-2: no access token from the authorization endpoint",
        ),
        (
            with(&plain, json!({"response_types": ["code"], "grant_types": ["authorization_code"], "dpop_bound_access_tokens": true})),
            with(&plain, json!({"response_types": ["code token"], "grant_types": ["authorization_code", "implicit"], "dpop_bound_access_tokens": true})),
            "RFC 9449 §5.2: a DPoP-bound client's tokens cannot come from the authorization endpoint",
        ),
        (
            with(&plain, json!({"response_types": ["id_token token"], "grant_types": ["implicit"]})),
            with(&plain, json!({"response_types": ["id_token token"], "grant_types": ["authorization_code"]})),
            "RFC 7591 §2.1: token needs the implicit grant",
        ),
        (
            with(&plain, json!({"response_types": ["code token"], "grant_types": ["authorization_code", "implicit"]})),
            with(&plain, json!({"response_types": ["code token"], "grant_types": ["implicit"]})),
            "RFC 7591 §2.1: code needs the authorization_code grant",
        ),
    ];
    for (accepted, refused, rule) in cases {
        let (status, body) = s.register(&accepted).await;
        assert_eq!(status, 201, "{rule}, accepted: {body}");
        let (status, body) = s.register(&refused).await;
        assert_eq!(status, 400, "{rule}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "{rule}");
    }
}

#[tokio::test]
async fn a_provider_wide_fapi_profile_refuses_front_channel_tokens() {
    // A client registered for `code id_token token` before the provider went FAPI gets no
    // access token from the authorization endpoint once it is.
    let s = TestServer::start_with(|c| {
        c.fapi_profile = Some(consentry::types::FapiProfile::Fapi1Advanced)
    })
    .await;
    let c = token_client(&s, json!({})).await;
    let (_, challenge) = pkce();
    let (status, loc, body) = Journey::new(&s)
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("response_type", "code id_token token")],
        ))
        .await;
    assert_eq!(status, 303, "{body}");
    let f = fragment(&loc);
    assert_eq!(f["error"], "unauthorized_client", "{loc}");
    assert!(f["error_description"].contains("FAPI"), "{loc}");
}
