//! The token, introspection and revocation endpoints.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn code_exchange_returns_tokens_with_the_oidc_claims() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let body = tokens_for(&s, &c, "alice").await;
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_i64().unwrap() > 0);
    assert!(
        body["refresh_token"].is_string(),
        "offline_access gives a refresh token"
    );
    let at = body["access_token"].as_str().unwrap();
    // RFC 9068 §2.1: typ at+jwt.
    assert_eq!(jwt_header(at)["typ"], "at+jwt");
    let atc = jwt_claims(at);
    for k in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(atc.get(k).is_some(), "access token lacks {k}");
    }
    let id = jwt_claims(body["id_token"].as_str().unwrap());
    assert_eq!(
        jwt_header(body["id_token"].as_str().unwrap())["alg"],
        "RS256"
    );
    assert_eq!(id["iss"], s.issuer);
    assert_eq!(id["sub"], alice);
    assert_eq!(id["aud"], c.id);
    assert_eq!(id["nonce"], "nonce-456");
    for k in ["exp", "iat", "auth_time", "acr", "amr", "at_hash", "sid"] {
        assert!(id.get(k).is_some(), "ID token lacks {k}");
    }
    // OIDC Core §3.1.3.6: at_hash is the left half of SHA-256 of the access token.
    let digest = ring::digest::digest(&ring::digest::SHA256, at.as_bytes());
    use base64::Engine;
    let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
    assert_eq!(id["at_hash"], expected);
}

#[tokio::test]
async fn client_may_choose_es256_or_ps256_id_tokens() {
    let s = TestServer::start().await;
    s.user("alice").await;
    for alg in ["ES256", "PS256"] {
        let c = s.client(json!({"id_token_signed_response_alg": alg})).await;
        let body = tokens_for(&s, &c, "alice").await;
        assert_eq!(jwt_header(body["id_token"].as_str().unwrap())["alg"], alg);
    }
}

#[tokio::test]
async fn replayed_code_is_refused_and_revokes_its_tokens() {
    // RFC 6749 §4.1.2: a code used twice is refused and the tokens issued from it revoked.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (code, verifier) = code_for(&s, &c, "alice").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, first) = s.token(&c, &form).await;
    assert_eq!(status, 200);
    assert_eq!(
        s.introspect(&c, first["access_token"].as_str().unwrap())
            .await["active"],
        true
    );
    let (status, err) = s.token(&c, &form).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"], "invalid_grant");
    assert_eq!(
        s.introspect(&c, first["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
    assert_eq!(
        s.introspect(&c, first["refresh_token"].as_str().unwrap())
            .await["active"],
        false
    );
}

#[tokio::test]
async fn code_is_bound_to_redirect_uri_pkce_and_client() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    s.user("alice").await;

    // RFC 6749 §4.1.3: redirect_uri must be identical.
    let (code, verifier) = code_for(&s, &c, "alice").await;
    let (status, err) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://rp.example.test/other"),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // RFC 7636 §4.6: the verifier must match the challenge.
    let (code, _) = code_for(&s, &c, "alice").await;
    let (wrong, _) = pkce();
    let (status, err) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &wrong),
            ],
        )
        .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // RFC 7636 §4.5: a missing verifier is refused.
    let (code, _) = code_for(&s, &c, "alice").await;
    let (_, err) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    assert_eq!(err["error"], "invalid_grant");

    // RFC 6749 §4.1.3: the code was issued to another client.
    let (code, verifier) = code_for(&s, &c, "alice").await;
    let (_, err) = s
        .token(
            &other,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn expired_code_is_refused() {
    // RFC 6749 §4.1.2: codes are short-lived.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (code, verifier) = code_for(&s, &c, "alice").await;
    s.provider.clock.advance(61);
    let (_, err) = s
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
    assert_eq!(err["error"], "invalid_grant");
}

#[tokio::test]
async fn client_authentication_failures() {
    // RFC 6749 §5.2: invalid_client with 401 and WWW-Authenticate.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let b = s.browser();
    let res = b
        .post(s.url("/token"))
        .basic_auth(&c.id, Some("wrong-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // client_secret_post carries the same secret as client_secret_basic: accepted for a
    // client registered for either (tests/it/client_admin_fixes.rs has the strict cases).
    let res = b
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", &c.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // RFC 6749 §2.3: one authentication method per request.
    let res = b
        .post(s.url("/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", &c.secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // client_secret_post works for a client registered for it.
    let post = s
        .client(json!({"token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let res = b
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &post.id),
            ("client_secret", &post.secret),
            ("scope", "accounts:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn token_request_errors() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, e) = s.token(&c, &[("grant_type", "password")]).await;
    assert_eq!(e["error"], "unsupported_grant_type", "RFC 6749 §5.2");
    let (_, e) = s.token(&c, &[]).await;
    assert_eq!(e["error"], "invalid_request", "grant_type is required");
    let (_, e) = s.token(&c, &[("grant_type", "authorization_code")]).await;
    assert_eq!(e["error"], "invalid_request", "code is required");
    let (_, e) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", "made-up"),
                ("redirect_uri", REDIRECT_URI),
            ],
        )
        .await;
    assert_eq!(e["error"], "invalid_grant");
    let res = s
        .browser()
        .post(s.url("/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "RFC 6749 §3.2: the body is form-encoded");
    let only_code = s
        .client(json!({"grant_types": ["authorization_code"]}))
        .await;
    let (_, e) = s
        .token(&only_code, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        e["error"], "unauthorized_client",
        "grant not registered for the client"
    );
}

#[tokio::test]
async fn client_credentials_scopes_are_limited_to_the_client() {
    let s = TestServer::start().await;
    let c = s.client(json!({"scope": "openid accounts:read"})).await;
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "accounts:read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let (_, e) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "transactions:read:all"),
            ],
        )
        .await;
    assert_eq!(
        e["error"], "invalid_scope",
        "scope not allowed for this client"
    );
    let (_, e) = s
        .token(
            &c,
            &[("grant_type", "client_credentials"), ("scope", "openid")],
        )
        .await;
    assert_eq!(e["error"], "invalid_scope", "openid needs an end user");
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_grant() {
    // RFC 9700 §4.14.2: refresh token rotation with reuse detection.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let first = tokens_for(&s, &c, "alice").await;
    let rt1 = first["refresh_token"].as_str().unwrap();

    // Another client cannot use it (RFC 6749 §6), and its attempt does not burn it.
    let (_, e) = s
        .token(
            &other,
            &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
        )
        .await;
    assert_eq!(e["error"], "invalid_grant");

    let (status, second) = s
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(
        jwt_claims(second["id_token"].as_str().unwrap())["sub"],
        alice
    );

    // Scope may narrow but not widen (RFC 6749 §6).
    let (_, e) = s
        .token(
            &c,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt2),
                ("scope", "openid address"),
            ],
        )
        .await;
    assert_eq!(e["error"], "invalid_scope");

    // Reusing the rotated token revokes everything in the grant (once the grace for retrying
    // a lost answer has passed; tests/it/refresh_retry.rs covers the grace).
    s.provider
        .clock
        .advance(s.provider.config.lifetimes.refresh_retry_grace_secs + 1);
    let (_, e) = s
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", rt1)],
        )
        .await;
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(s.introspect(&c, rt2).await["active"], false);
    assert_eq!(
        s.introspect(&c, second["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
    let (_, e) = s
        .token(
            &c,
            &[("grant_type", "refresh_token"), ("refresh_token", rt2)],
        )
        .await;
    assert_eq!(e["error"], "invalid_grant");
}

#[tokio::test]
async fn introspection_answers_only_for_the_clients_own_live_tokens() {
    // RFC 7662 §2.2: active false for expired, revoked, or other clients' tokens.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    s.user("alice").await;
    let t = tokens_for(&s, &c, "alice").await;
    let at = t["access_token"].as_str().unwrap();
    let live = s.introspect(&c, at).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["client_id"], c.id);
    assert_eq!(live["scope"], "email offline_access openid profile");
    assert_eq!(s.introspect(&other, at).await, json!({"active": false}));
    assert_eq!(s.introspect(&c, "garbage").await, json!({"active": false}));
    let rt = s.introspect(&c, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    s.provider.clock.advance(601);
    assert_eq!(s.introspect(&c, at).await["active"], false, "expired");
    // Unauthenticated introspection is refused.
    let res = s
        .browser()
        .post(s.url("/token/introspection"))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn revocation() {
    // RFC 7009 §2.1: revoking a refresh token revokes its grant's access tokens too.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    s.user("alice").await;
    let t = tokens_for(&s, &c, "alice").await;
    let (at, rt) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    let revoke = |client: &TestClient, token: &str| {
        s.browser()
            .post(s.url("/token/revocation"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[("token", token)])
            .send()
    };
    // RFC 7009 §2.1: another client's revocation is refused and changes nothing.
    assert_eq!(revoke(&other, rt).await.unwrap().status(), 400);
    assert_eq!(s.introspect(&c, rt).await["active"], true);
    // RFC 7009 §2.2: unknown tokens get 200 too.
    assert_eq!(revoke(&c, "unknown-token").await.unwrap().status(), 200);
    assert_eq!(revoke(&c, rt).await.unwrap().status(), 200);
    assert_eq!(s.introspect(&c, rt).await["active"], false);
    assert_eq!(s.introspect(&c, at).await["active"], false);

    // Revoking an access token leaves only that token dead.
    let t = tokens_for(&s, &c, "alice").await;
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(revoke(&c, at).await.unwrap().status(), 200);
    assert_eq!(s.introspect(&c, at).await["active"], false);
    assert_eq!(
        s.introspect(&c, t["refresh_token"].as_str().unwrap()).await["active"],
        true
    );
}

#[tokio::test]
async fn expired_rows_are_swept() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    tokens_for(&s, &c, "alice").await;
    let count = || {
        s.sql_count(
            "SELECT (SELECT count(*) FROM access_tokens) + (SELECT count(*) FROM authorization_codes)",
        )
    };
    assert!(count().await > 0);
    s.provider.clock.advance(31 * 24 * 3600);
    let now = s.provider.now();
    let swept = s
        .provider
        .store
        .write(move |tx| tx.sweep().expired(now, 1_000))
        .await
        .unwrap();
    // The server's periodic sweep may have removed some rows first; what is left goes now.
    assert!(!swept.more, "{swept:?}");
    assert_eq!(count().await, 0);
}

#[tokio::test]
async fn a_sweep_deletes_in_bounded_rounds_until_nothing_expired_is_left() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({"grant_types": ["client_credentials"], "response_types": [], "scope": "accounts:read"}))
        .await;
    for _ in 0..5 {
        let (status, _) = s
            .token(
                &c,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "accounts:read"),
                ],
            )
            .await;
        assert_eq!(status, 200);
    }
    let (_, live) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    let tokens = || s.sql_count("SELECT count(*) FROM access_tokens");
    assert_eq!(tokens().await, 6);
    s.provider.clock.advance(3600);
    let now = s.provider.now();
    let round = s
        .provider
        .store
        .write(move |tx| tx.sweep().expired(now, 2))
        .await
        .unwrap();
    assert_eq!(round.rows, 2, "a round stops at its limit");
    assert!(round.more);
    assert_eq!(tokens().await, 4);
    consentry::sweep_once(&s.provider).await.unwrap();
    assert_eq!(tokens().await, 0, "the sweep repeats until none are left");
    assert_eq!(
        s.introspect(&c, live["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
}

#[tokio::test]
async fn id_tokens_are_encrypted_for_clients_that_register_for_it() {
    // OIDC Core §10.2: a signed ID token, then encrypted to the client's key (nested JWT).
    use josekit::jwe::{ECDH_ES_A128KW, RSA_OAEP};
    let s = TestServer::start().await;
    let alice = s.user("alice").await;
    for (alg, enc, kty) in [
        ("RSA-OAEP", "A128CBC-HS256", "RSA"),
        ("ECDH-ES+A128KW", "A256GCM", "EC"),
    ] {
        let mut key = match kty {
            "RSA" => josekit::jwk::Jwk::generate_rsa_key(2048).unwrap(),
            _ => josekit::jwk::Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap(),
        };
        key.set_key_use("enc");
        key.set_key_id("enc-1");
        let mut public = key.to_public_key().unwrap();
        public.set_key_use("enc");
        public.set_key_id("enc-1");
        let c = s
            .client(json!({
                "jwks": {"keys": [serde_json::Value::Object(public.as_ref().clone())]},
                "id_token_encrypted_response_alg": alg, "id_token_encrypted_response_enc": enc,
            }))
            .await;
        let body = tokens_for(&s, &c, "alice").await;
        let jwe = body["id_token"].as_str().unwrap();
        assert_eq!(jwe.split('.').count(), 5, "{alg}: a compact JWE");
        let (inner, header) = match kty {
            "RSA" => {
                josekit::jwe::deserialize_compact(jwe, &RSA_OAEP.decrypter_from_jwk(&key).unwrap())
                    .unwrap()
            }
            _ => josekit::jwe::deserialize_compact(
                jwe,
                &ECDH_ES_A128KW.decrypter_from_jwk(&key).unwrap(),
            )
            .unwrap(),
        };
        assert_eq!(header.content_encryption(), Some(enc));
        assert_eq!(header.content_type(), Some("JWT"));
        let jws = String::from_utf8(inner).unwrap();
        assert_eq!(
            jwt_claims(&jws)["sub"],
            alice,
            "{alg}: the signed ID token inside"
        );
    }
    // Registration refuses what we do not offer.
    let res = s
        .browser()
        .post(s.url("/reg"))
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(&json!({"redirect_uris": ["https://a.example/cb"], "id_token_encrypted_response_alg": "RSA1_5", "jwks": {"keys": []}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "RSA1_5 is not offered");
}

#[tokio::test]
async fn resource_indicators_set_the_access_token_audience() {
    let s = TestServer::start_with(|c| {
        c.resource_servers.insert(
            "https://rsa-only.example/".into(),
            consentry::config::ResourceServer {
                access_token_signing_alg: "RS256".into(),
            },
        );
    })
    .await;
    let c = s.client(json!({"scope": "accounts:read user:read"})).await;
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
                ("resource", "https://api.bench.local/"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["aud"], "https://api.bench.local/");
    assert_eq!(jwt_header(at)["alg"], "ES256");
    // A resource server configured for RS256 gets RS256 access tokens.
    let (_, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
                ("resource", "https://rsa-only.example/"),
            ],
        )
        .await;
    let rsa = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_header(rsa)["alg"], "RS256");
    assert_eq!(s.introspect(&c, rsa).await["active"], true);
    assert_eq!(
        s.introspect(&c, at).await["aud"],
        "https://api.bench.local/"
    );
    // RFC 8707 §2: a relative or fragment-carrying resource is invalid_target.
    for bad in ["/relative", "https://api.example/#frag", "not a uri"] {
        let (status, body) = s
            .token(
                &c,
                &[
                    ("grant_type", "client_credentials"),
                    ("scope", "accounts:read"),
                    ("resource", bad),
                ],
            )
            .await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_target")),
            "{bad}"
        );
    }
    // A token for another resource is not accepted by ours (its audience is not us).
    let (_, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "user:read"),
                ("resource", "https://api.bench.local/"),
            ],
        )
        .await;
    let res = s
        .browser()
        .get(format!("{}/users", s.base))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn a_token_that_differs_by_one_byte_from_one_we_issued_is_not_active() {
    let s = TestServer::start().await;
    let c = s.client(json!({"scope": "accounts:read"})).await;
    let (_, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    let at = body["access_token"].as_str().unwrap().to_string();
    assert_eq!(s.introspect(&c, &at).await["active"], true);
    // RFC 7662 §2.2: anything but the exact token we issued is inactive, whether the signature
    // or the payload was touched.
    let parts: Vec<&str> = at.split('.').collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut signature = base64::Engine::decode(&b64, parts[2]).unwrap();
    signature[0] ^= 1;
    let sig = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        base64::Engine::encode(&b64, &signature)
    );
    let mut claims = jwt_claims(&at);
    claims["scope"] = json!("accounts:read accounts:write:all");
    let payload = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        claims.to_string(),
    );
    let forged = format!("{}.{payload}.{}", parts[0], parts[2]);
    for bad in [sig, forged] {
        assert_eq!(s.introspect(&c, &bad).await["active"], false, "{bad}");
    }
}
