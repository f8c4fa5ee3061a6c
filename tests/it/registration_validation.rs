//! What dynamic registration refuses and accepts beyond the basics: URI syntax, the URIs a
//! consent page shows, usable keys, subject types and the scopes discovery advertises.

use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};

fn metadata() -> Value {
    json!({
        "redirect_uris": ["https://app.example.test/cb"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    })
}

fn with(member: &str, value: Value) -> Value {
    let mut m = metadata();
    m[member] = value;
    m
}

async fn refused(s: &TestServer, body: &Value, error: &str, rule: &str) {
    let (status, answer) = s.register(body).await;
    assert_eq!(status, 400, "{rule}: {body} -> {answer}");
    assert_eq!(answer["error"], error, "{rule}: {body}");
}

#[tokio::test]
async fn rfc3986_redirect_uris_that_are_not_valid_uris_are_refused() {
    // RFC 7591 §2 (redirect_uris are URIs) and RFC 3986 §2: no spaces, quotes, angle
    // brackets, raw non-ASCII or stray %; a parser would "fix" them and another be sent.
    let s = TestServer::start().await;
    for bad in [
        "https://app.example.test/c b",
        "https://app.example.test/cb\"onload=1",
        "https://app.example.test/cb?x=<script>",
        "https://app.example.test/caf\u{e9}",
        "https://app.example.test/cb?x=%zz",
        "https://app.example.test/cb\\x",
        "https://app.example.test/{cb}",
    ] {
        refused(
            &s,
            &with("redirect_uris", json!([bad])),
            "invalid_redirect_uri",
            "RFC 3986 section 2",
        )
        .await;
    }
    // Percent-encoded forms of the same are valid URIs.
    let (status, body) = s
        .register(&with(
            "redirect_uris",
            json!(["https://app.example.test/caf%C3%A9?x=a%20b"]),
        ))
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn rfc7591_s2_display_uris_must_be_https_urls() {
    // RFC 7591 §2: client_uri, logo_uri, tos_uri and policy_uri are web pages and images a
    // consent page may show or link; javascript: and data: URLs never are.
    let s = TestServer::start().await;
    for member in [
        "client_uri",
        "logo_uri",
        "tos_uri",
        "policy_uri",
        "logo_uri#fr",
    ] {
        for bad in [
            json!("javascript:alert(document.cookie)"),
            json!("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
            json!("http://app.example.test/logo.png"),
            json!("https://app.example.test/a b"),
            json!("not a url"),
            json!(42),
        ] {
            refused(
                &s,
                &with(member, bad),
                "invalid_client_metadata",
                "RFC 7591 section 2",
            )
            .await;
        }
        let (status, body) = s
            .register(&with(member, json!("https://app.example.test/about")))
            .await;
        assert_eq!(status, 201, "{member}: {body}");
        assert_eq!(body[member], "https://app.example.test/about");
    }
}

#[tokio::test]
async fn rfc7517_unusable_keys_in_jwks_are_refused() {
    // RFC 7591 §2 (jwks holds the client's public keys), RFC 7517 §6.3 / RFC 7518 §3.3:
    // a malformed RSA modulus, a short RSA key, a symmetric key or an unknown type is not
    // a usable public key.
    let s = TestServer::start().await;
    let good = ClientKey::new("PS256").jwks();
    let mut short_modulus = good.clone();
    short_modulus["keys"][0]["n"] = json!("AQAB");
    let mut broken_modulus = good.clone();
    broken_modulus["keys"][0]["n"] = json!("!!not-base64!!");
    let cases = [
        short_modulus,
        broken_modulus,
        json!({"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}]}),
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]}),
        json!({"keys": [{"kty": "XYZ", "x": "AAAA"}]}),
        json!({"keys": [{"kid": "no-kty"}]}),
        json!({"keys": []}),
    ];
    for jwks in cases {
        let mut meta = with("jwks", jwks.clone());
        meta["token_endpoint_auth_method"] = json!("private_key_jwt");
        refused(
            &s,
            &meta,
            "invalid_client_metadata",
            "RFC 7517 section 6 / RFC 7518 section 3.3",
        )
        .await;
    }
    for alg in ["PS256", "ES256"] {
        let mut meta = with("jwks", ClientKey::new(alg).jwks());
        meta["token_endpoint_auth_method"] = json!("private_key_jwt");
        let (status, body) = s.register(&meta).await;
        assert_eq!(status, 201, "{alg}: {body}");
    }
}

#[tokio::test]
async fn oidc_registration_s2_only_the_subject_types_discovery_offers_are_registered() {
    // OIDC Registration §2 subject_type: only what subject_types_supported offers.
    let s = TestServer::start().await;
    let discovery = s.discovery().await;
    assert_eq!(
        discovery["subject_types_supported"],
        json!(["public", "pairwise"])
    );
    refused(
        &s,
        &with("subject_type", json!("ephemeral")),
        "invalid_client_metadata",
        "OIDC Registration section 2",
    )
    .await;
    for t in ["public", "pairwise"] {
        let (status, body) = s.register(&with("subject_type", json!(t))).await;
        assert_eq!(status, 201, "{t}: {body}");
        assert_eq!(body["subject_type"], t);
    }
}

#[tokio::test]
async fn every_scope_discovery_advertises_can_be_registered() {
    // OIDC Discovery scopes_supported: a partner copying the list must be able to register
    // it (it used to fail with "scope id:all is not supported").
    let s = TestServer::start().await;
    let discovery = s.discovery().await;
    let all: Vec<&str> = discovery["scopes_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for scope in ["id:all", "id:test", "reauth", "refresh", "openid"] {
        assert!(all.contains(&scope), "{scope} advertised");
    }
    let (status, body) = s.register(&with("scope", json!(all.join(" ")))).await;
    assert_eq!(status, 201, "{body}");
    // A scope nobody advertises is still refused (RFC 7591 §3.2.2 invalid_client_metadata).
    refused(
        &s,
        &with("scope", json!("openid admin:everything")),
        "invalid_client_metadata",
        "RFC 7591 section 3.2.2",
    )
    .await;
}
