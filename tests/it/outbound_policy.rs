//! The outbound policy: what the server fetches on a client's behalf (`jwks_uri`,
//! `request_uris`, `sector_identifier_uri`) must be https on a public address, checked at
//! registration on the URI and at fetch time on the address actually connected to, unless the
//! operator allows private targets for development (`outbound.allow_private`).

use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn key_client_metadata(jwks_uri: &str) -> Value {
    json!({
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": jwks_uri,
        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        "scope": "accounts:read",
    })
}

/// A loopback TCP listener that only counts the connections made to it.
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(sock);
        }
    });
    (port, hits)
}

#[tokio::test]
async fn rfc7591_s2_registration_refuses_fetched_uris_on_internal_or_plain_http_targets() {
    // RFC 7591 §2 / OIDC Registration §2 (jwks_uri, request_uris, sector_identifier_uri are
    // fetched by the server): by default only https on public addresses.
    let s = TestServer::start().await;
    let (port, hits) = counting_listener().await;
    let targets = [
        format!("http://127.0.0.1:{port}/jwks.json"),
        format!("https://127.0.0.1:{port}/jwks.json"),
        "https://10.0.0.7/jwks.json".to_string(),
        "https://192.168.1.1/jwks.json".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://100.64.0.1/jwks.json".to_string(),
        "https://0.0.0.0/jwks.json".to_string(),
        "https://[::1]/jwks.json".to_string(),
        "https://[fd00::1]/jwks.json".to_string(),
        "https://[fe80::1]/jwks.json".to_string(),
        "https://[::ffff:127.0.0.1]/jwks.json".to_string(),
        "http://rp.example.test/jwks.json".to_string(),
    ];
    for uri in &targets {
        let (status, body) = s.register(&key_client_metadata(uri)).await;
        assert_eq!(status, 400, "jwks_uri {uri}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata", "jwks_uri {uri}");

        let mut meta = json!({"redirect_uris": ["https://app.example.test/cb"]});
        meta["request_uris"] = json!([uri]);
        let (status, body) = s.register(&meta).await;
        assert_eq!(status, 400, "request_uris {uri}: {body}");
        assert_eq!(
            body["error"], "invalid_client_metadata",
            "request_uris {uri}"
        );

        let mut meta = json!({"redirect_uris": ["https://app.example.test/cb"]});
        meta["sector_identifier_uri"] = json!(uri);
        let (status, body) = s.register(&meta).await;
        assert_eq!(status, 400, "sector_identifier_uri {uri}: {body}");
        assert_eq!(body["error"], "invalid_client_metadata");
    }
    // Public https targets are fine.
    let (status, body) = s
        .register(&key_client_metadata("https://rp.example.test/jwks.json"))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing was contacted");
}

/// Registers a key client whose jwks_uri names `localhost` (not an IP literal, so only the
/// resolver can tell it is loopback), then authenticates with it; returns the token status.
async fn authenticate_through_localhost(s: &TestServer, port: u16) -> u16 {
    let uri = format!("https://localhost:{port}/jwks.json");
    let (status, reg) = s.register(&key_client_metadata(&uri)).await;
    assert_eq!(status, 201, "{reg}");
    let id = reg["client_id"].as_str().unwrap();
    let now = s.provider.now();
    let claims = json!({
        "iss": id, "sub": id, "aud": s.url("/token"), "iat": now, "exp": now + 60,
        "jti": consentry::secrets::random_token(),
    });
    let assertion = ClientKey::new("ES256").sign(&claims, true);
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "accounts:read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    res.status().as_u16()
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_never_connected_to() {
    // The check is on the address actually connected to: `localhost` passes the URI check
    // but resolves only to loopback, so the server never opens a connection (no blind port
    // scan through jwks_uri), and the client gets invalid_client (RFC 6749 §5.2).
    let s = TestServer::start().await;
    let (port, hits) = counting_listener().await;
    assert_eq!(authenticate_through_localhost(&s, port).await, 401);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no connection to loopback");
}

#[tokio::test]
async fn the_development_allowance_reaches_private_targets() {
    // The same request with `outbound.allow_private` connects (the control for the test
    // above: its listener would have counted the connection).
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let (port, hits) = counting_listener().await;
    // The listener speaks no TLS, so the fetch still fails, after connecting.
    assert_eq!(authenticate_through_localhost(&s, port).await, 401);
    assert!(hits.load(Ordering::SeqCst) > 0, "connected to loopback");
    // And plain http on loopback registers.
    let (status, body) = s
        .register(&key_client_metadata(&format!(
            "http://127.0.0.1:{port}/jwks.json"
        )))
        .await;
    assert_eq!(status, 201, "{body}");
}
