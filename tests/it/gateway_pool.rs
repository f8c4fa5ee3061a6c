//! The gateway's connections to its origins (`origin_pool`): kept open and reused between
//! requests (RFC 9112 §9.3 persistence), replaced when the origin closes one while idle, and
//! TLS to https origins under the outbound policy's CAs.

use crate::gateway::{client_token, route};
use crate::harness::*;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// An origin serving any number of requests per connection (HTTP/1.1 keep-alive), closing a
/// connection idle for `idle_close`; it counts the connections it accepted.
struct KeepAliveOrigin {
    base: String,
    connections: Arc<AtomicUsize>,
}

impl KeepAliveOrigin {
    async fn start(idle_close: Duration, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(tls) => {
                            if let Ok(s) = tls.accept(tcp).await {
                                serve(s, idle_close).await
                            }
                        }
                        None => serve(tcp, idle_close).await,
                    }
                });
            }
        });
        KeepAliveOrigin { base, connections }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Answers each GET head on `sock` with 200 and a small body, until the caller closes or
/// `idle_close` passes without a request (then closes without saying so, as origins do).
async fn serve(mut sock: impl AsyncRead + AsyncWrite + Unpin, idle_close: Duration) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            let body = r#"{"ok":true}"#;
            let res = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if sock.write_all(res.as_bytes()).await.is_err() {
                return;
            }
        }
        match tokio::time::timeout(idle_close, sock.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => {
                let _ = sock.shutdown().await;
                return;
            }
        }
    }
}

async fn provider(upstream: &str, ca_file: Option<std::path::PathBuf>) -> TestServer {
    let routes = vec![route("GET", "/accounts", &["accounts:read"], upstream)];
    TestServer::start_with(move |c| {
        c.outbound.allow_private = true;
        c.outbound.ca_file = ca_file;
        c.gateway.routes = routes;
    })
    .await
}

async fn get_accounts(s: &TestServer, at: &str) -> u16 {
    let res = s
        .browser()
        .get(s.url("/gateway/accounts"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let _ = res.bytes().await;
    status
}

#[tokio::test]
async fn rfc9112_9_3_requests_reuse_an_open_connection_to_the_origin() {
    let origin = KeepAliveOrigin::start(Duration::from_secs(30), None).await;
    let s = provider(&origin.base, None).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    for i in 0..5 {
        assert_eq!(get_accounts(&s, &at).await, 200, "request {i}");
    }
    // One per serving thread at most: a request runs on the thread its caller's connection is
    // served by, and keeps to that thread's connections.
    let opened = origin.connections();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        (1..=threads).contains(&opened),
        "RFC 9112 §9.3: 5 requests in a row opened {opened} connections to the origin"
    );
}

#[tokio::test]
async fn rfc9112_9_6_a_connection_the_origin_closed_while_idle_is_replaced_not_502() {
    let origin = KeepAliveOrigin::start(Duration::from_millis(100), None).await;
    let s = provider(&origin.base, None).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    for i in 0..3 {
        assert_eq!(
            get_accounts(&s, &at).await,
            200,
            "RFC 9112 §9.6: request {i} after the origin closed its idle connection goes on a new one"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(origin.connections(), 3, "one new connection per request");
}

#[tokio::test]
async fn an_https_origin_is_reached_over_tls_trusting_outbound_ca_file_only() {
    let ca_dir = tempfile::tempdir().unwrap();
    let pki = consentry::tls::ensure_dev_pki(ca_dir.path(), &[]).unwrap();
    let tls =
        consentry::tls::server_config((pki.chain, pki.key), (pki.rsa_chain, pki.rsa_key)).unwrap();
    let origin = KeepAliveOrigin::start(
        Duration::from_secs(30),
        Some(tokio_rustls::TlsAcceptor::from(tls)),
    )
    .await;
    assert!(origin.base.starts_with("https://"));

    let s = provider(&origin.base, Some(ca_dir.path().join("ca.pem"))).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    assert_eq!(
        get_accounts(&s, &at).await,
        200,
        "its CA is outbound.ca_file"
    );
    assert_eq!(get_accounts(&s, &at).await, 200, "and again");

    // RFC 9110 §4.3.4: a certificate no trusted CA issued is no origin of ours.
    let s = provider(&origin.base, None).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    assert_eq!(get_accounts(&s, &at).await, 502, "an unknown CA is refused");
}
