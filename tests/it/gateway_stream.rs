//! The gateway streams: response chunks reach the caller as the origin sends them, request
//! bodies reach the origin as the caller sends them (capped), and WebSocket routes are
//! tunnelled to the origin's WebSocket after the same token checks (RFC 6455, RFC 6750,
//! RFC 9449). Real origins on loopback.

use crate::fapi_dpop::token_with_proof;
use crate::gateway::{client_token, header_of, route, status_line, tls_stream};
use crate::harness::*;
use crate::keys::DpopKey;
use futures_util::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message};

const WAIT: Duration = Duration::from_secs(10);
/// The gateway's cap on a request body (`http::gateway::MAX_REQUEST_BODY`).
const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    (listener, base)
}

/// The request head, and what of the body came with it.
async fn read_head(sock: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let n = sock.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the connection closed before the head ended");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_string();
            return (head, buf[i + 4..].to_vec());
        }
    }
}

fn content_length(head: &str) -> usize {
    header_of(head, "content-length").map_or(0, |v| v.parse().unwrap())
}

async fn provider_with(routes: Vec<consentry::config::gateway::Route>) -> TestServer {
    TestServer::start_with(|c| {
        c.outbound.allow_private = true;
        c.gateway.routes = routes;
    })
    .await
}

#[tokio::test]
async fn response_chunks_reach_the_caller_before_the_origin_finishes() {
    // Server-sent events: the first event is relayed while the origin still holds the second.
    let (listener, base) = listen().await;
    let (go_on, wait_for_go) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        read_head(&mut sock).await;
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        let first = "data: first\n\n";
        let chunk = format!("{head}{:x}\r\n{first}\r\n", first.len());
        sock.write_all(chunk.as_bytes()).await.unwrap();
        wait_for_go.await.unwrap();
        let second = "data: second\n\n";
        let rest = format!("{:x}\r\n{second}\r\n0\r\n\r\n", second.len());
        sock.write_all(rest.as_bytes()).await.unwrap();
    });
    let s = provider_with(vec![route("GET", "/events", &["accounts:read"], &base)]).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    let mut res = s
        .browser()
        .get(s.url("/gateway/events"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let first = tokio::time::timeout(WAIT, res.chunk())
        .await
        .expect("the first chunk arrives while the origin waits (not buffered)")
        .unwrap();
    assert_eq!(first.as_deref(), Some(&b"data: first\n\n"[..]));
    go_on.send(()).unwrap();
    let mut rest = Vec::new();
    while let Some(chunk) = res.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"data: second\n\n");
}

#[tokio::test]
async fn a_request_body_reaches_the_origin_as_the_caller_sends_it() {
    // Half the body is sent, then the caller waits until the origin has it: a gateway that
    // held the body whole would never forward that half. The origin then sees it all.
    const HALF: usize = 2 * 1024 * 1024;
    let (listener, base) = listen().await;
    let (got_half, origin_has_half) = oneshot::channel::<()>();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let (head, mut body) = read_head(&mut sock).await;
        let length = content_length(&head);
        let mut got_half = Some(got_half);
        let mut chunk = vec![0u8; 65536];
        while body.len() < length {
            if body.len() >= HALF {
                if let Some(tx) = got_half.take() {
                    tx.send(()).unwrap();
                }
            }
            let n = sock.read(&mut chunk).await.unwrap();
            assert!(n > 0);
            body.extend_from_slice(&chunk[..n]);
        }
        *record.lock() = body;
        let _ = sock
            .write_all(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await;
    });
    let s = provider_with(vec![route("POST", "/uploads", &["accounts:write"], &base)]).await;
    let c = s.client(json!({"scope": "openid accounts:write"})).await;
    let at = client_token(&s, &c, "accounts:write").await;
    let body: Vec<u8> = (0..2 * HALF).map(|i| (i % 251) as u8).collect();
    let mut tls = tls_stream(&s).await;
    let head = format!(
        "POST /oidc/gateway/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {at}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body[..HALF]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::timeout(WAIT, origin_has_half)
        .await
        .expect("the first half reaches the origin before the caller sends the rest")
        .unwrap();
    tls.write_all(&body[HALF..]).await.unwrap();
    let status = status_line(&mut tls).await;
    assert!(status.starts_with("HTTP/1.1 201"), "{status}");
    assert!(*seen.lock() == body, "the origin got the body whole");
}

#[tokio::test]
async fn a_declared_body_over_the_cap_gets_413_before_forwarding() {
    // RFC 9110 §15.5.14: Content Too Large; the origin is not called.
    let (listener, base) = listen().await;
    let reached = Arc::new(Mutex::new(false));
    let flag = reached.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            *flag.lock() = true;
        }
    });
    let s = provider_with(vec![route("POST", "/uploads", &["accounts:write"], &base)]).await;
    let c = s.client(json!({"scope": "openid accounts:write"})).await;
    let at = client_token(&s, &c, "accounts:write").await;
    let mut tls = tls_stream(&s).await;
    // Expect: 100-continue, so the refusal comes without the body being sent.
    let head = format!(
        "POST /oidc/gateway/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {at}\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        MAX_REQUEST_BODY + 1
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let status = status_line(&mut tls).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{status}");
    assert!(!*reached.lock(), "nothing reached the origin");
}

#[tokio::test]
async fn a_chunked_body_past_the_cap_is_cut_off_and_gets_413() {
    // A body of no declared length is counted as it streams: past the cap the forwarded
    // request is aborted (the origin never sees it end) and the caller gets 413.
    let (listener, base) = listen().await;
    let ended = Arc::new(Mutex::new(false));
    let flag = ended.clone();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut all = Vec::new();
        let mut chunk = vec![0u8; 65536];
        while let Ok(n) = sock.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&chunk[..n]);
            if all.ends_with(b"\r\n0\r\n\r\n") {
                *flag.lock() = true;
            }
        }
    });
    let s = provider_with(vec![route("POST", "/uploads", &["accounts:write"], &base)]).await;
    let c = s.client(json!({"scope": "openid accounts:write"})).await;
    let at = client_token(&s, &c, "accounts:write").await;
    let (mut reader, mut writer) = tokio::io::split(tls_stream(&s).await);
    let head = format!(
        "POST /oidc/gateway/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {at}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await.unwrap();
        let piece = vec![b'x'; 1024 * 1024];
        // One MiB more than the cap, then the last chunk; the gateway may stop reading first.
        for _ in 0..MAX_REQUEST_BODY / piece.len() + 1 {
            let chunk = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
            if writer.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT * 3, reader.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 413"),
        "{}",
        text.lines().next().unwrap_or("")
    );
    assert!(!*ended.lock(), "the origin never got a whole body");
}

/// A WebSocket origin on loopback (`ws://`, or `wss://` with `start_tls`): it records each
/// handshake's headers and whether the caller closed, echoes text, and closes itself on `bye`.
struct EchoOrigin {
    base: String,
    handshakes: Arc<Mutex<Vec<tungstenite::http::HeaderMap>>>,
    closed_by_caller: Arc<Mutex<usize>>,
    /// The status code of each Close frame it got.
    close_codes: Arc<Mutex<Vec<u16>>>,
    /// TCP connections accepted.
    connections: Arc<Mutex<usize>>,
}

/// What an `EchoOrigin` records, shared with its connections.
#[derive(Clone)]
struct EchoLog {
    handshakes: Arc<Mutex<Vec<tungstenite::http::HeaderMap>>>,
    closes: Arc<Mutex<usize>>,
    codes: Arc<Mutex<Vec<u16>>>,
}

impl EchoOrigin {
    async fn start() -> EchoOrigin {
        Self::serve(None).await
    }

    /// Over TLS, with the certificate `tls` serves.
    async fn start_tls(tls: tokio_rustls::TlsAcceptor) -> EchoOrigin {
        Self::serve(Some(tls)).await
    }

    async fn serve(tls: Option<tokio_rustls::TlsAcceptor>) -> EchoOrigin {
        let (listener, mut base) = listen().await;
        if tls.is_some() {
            base = base.replace("http://", "https://");
        }
        let log = EchoLog {
            handshakes: Default::default(),
            closes: Default::default(),
            codes: Default::default(),
        };
        let connections = Arc::new(Mutex::new(0));
        let (shared, accepted) = (log.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                *accepted.lock() += 1;
                let (log, tls) = (shared.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(tls) => {
                            if let Ok(sock) = tls.accept(sock).await {
                                echo_session(sock, log).await
                            }
                        }
                        None => echo_session(sock, log).await,
                    }
                });
            }
        });
        EchoOrigin {
            base,
            handshakes: log.handshakes,
            closed_by_caller: log.closes,
            close_codes: log.codes,
            connections,
        }
    }
}

/// One WebSocket connection to an `EchoOrigin`.
async fn echo_session(
    sock: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    log: EchoLog,
) {
    // tungstenite's callback type fixes the error type.
    #[allow(clippy::result_large_err)]
    let record = |req: &tungstenite::handshake::server::Request, res| {
        log.handshakes.lock().push(req.headers().clone());
        Ok(res)
    };
    let mut ws = tokio_tungstenite::accept_hdr_async(sock, record)
        .await
        .unwrap();
    while let Some(Ok(msg)) = ws.next().await {
        match msg {
            Message::Text(t) if t.as_str() == "bye" => {
                let _ = ws.close(None).await;
            }
            Message::Text(t) => ws.send(Message::Text(t)).await.unwrap(),
            Message::Close(frame) => {
                *log.closes.lock() += 1;
                log.codes.lock().extend(frame.map(|f| u16::from(f.code)));
            }
            _ => {}
        }
    }
}

fn ws_route(upstream: &str) -> consentry::config::gateway::Route {
    let mut r = route("GET", "/live/{id}", &["accounts:read"], upstream);
    r.websocket = true;
    r
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A WebSocket handshake through the gateway with `authorization`: the stream, or the
/// HTTP status the gateway refused it with.
async fn ws_connect(s: &TestServer, path: &str, authorization: Option<&str>) -> Result<Ws, u16> {
    let url = s
        .url(&format!("/gateway{path}"))
        .replace("https://", "wss://");
    let mut request = url.into_client_request().unwrap();
    if let Some(a) = authorization {
        request
            .headers_mut()
            .insert("authorization", a.parse().unwrap());
    }
    match tokio_tungstenite::client_async(request, tls_stream(s).await).await {
        Ok((ws, res)) => {
            assert_eq!(res.status(), 101);
            Ok(ws)
        }
        Err(tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

async fn next_message(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(WAIT, ws.next())
        .await
        .expect("a frame or the end in time")
        .map(|m| m.unwrap())
}

#[tokio::test]
async fn websockets_are_tunnelled_with_the_signed_identity_both_ways() {
    let origin = EchoOrigin::start().await;
    let s = provider_with(vec![ws_route(&origin.base)]).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    let bearer = format!("Bearer {at}");
    let mut ws = ws_connect(&s, "/live/7", Some(&bearer)).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Some(Message::text("hello")));
    ws.send(Message::text("again")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Some(Message::text("again")));

    let headers = origin.handshakes.lock()[0].clone();
    assert!(headers.get("authorization").is_none(), "no token upstream");
    let identity = headers["consentry-identity"].to_str().unwrap().to_string();
    let claims = verify_with_jwks(&s, &identity).await;
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(claims["aud"], origin.base);

    // RFC 6455 §5.5.1: the caller's Close reaches the origin, whose Close comes back, and
    // then the connection ends.
    ws.send(Message::Close(None)).await.unwrap();
    assert!(matches!(
        next_message(&mut ws).await,
        Some(Message::Close(_))
    ));
    assert!(next_message(&mut ws).await.is_none(), "the tunnel ends");
    assert_eq!(*origin.closed_by_caller.lock(), 1);

    // The origin closing closes the caller's side too.
    let mut ws = ws_connect(&s, "/live/8", Some(&bearer)).await.unwrap();
    ws.send(Message::text("bye")).await.unwrap();
    assert!(matches!(
        next_message(&mut ws).await,
        Some(Message::Close(_))
    ));
    assert!(next_message(&mut ws).await.is_none(), "the tunnel ends");
}

#[tokio::test]
async fn websocket_handshakes_without_a_good_token_are_refused_before_any_upgrade() {
    // RFC 6750 §3.1: no token or a bad one 401, too few scopes 403; RFC 9449 §7.1: a
    // DPoP-bound token needs its proof. None of them reaches the origin.
    let origin = EchoOrigin::start().await;
    let s = provider_with(vec![
        ws_route(&origin.base),
        route("GET", "/plain", &[], &origin.base),
    ])
    .await;
    let c = s
        .client(json!({"scope": "openid accounts:read accounts:write"}))
        .await;
    assert_eq!(ws_connect(&s, "/live/1", None).await.err(), Some(401));
    let bad = Some("Bearer not-a-token");
    assert_eq!(ws_connect(&s, "/live/1", bad).await.err(), Some(401));
    let write_only = format!("Bearer {}", client_token(&s, &c, "accounts:write").await);
    assert_eq!(
        ws_connect(&s, "/live/1", Some(&write_only)).await.err(),
        Some(403),
        "RFC 6750 §3.1 insufficient_scope"
    );

    let key = DpopKey::new();
    let proof = key.proof("POST", &s.url("/token"), None, s.provider.now());
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
    ];
    let (_, body) = token_with_proof(&s, &c, &form, Some(&proof)).await;
    let bound = body["access_token"].as_str().unwrap();
    let without_proof = format!("DPoP {bound}");
    assert_eq!(
        ws_connect(&s, "/live/1", Some(&without_proof)).await.err(),
        Some(401),
        "RFC 9449 §7.1: a DPoP-bound token without its proof"
    );
    assert_eq!(
        ws_connect(&s, "/live/1", Some(&format!("Bearer {bound}")))
            .await
            .err(),
        Some(401),
        "RFC 9449 §7.2: a DPoP-bound token as a bearer token"
    );
    // A route without `websocket = true` takes no upgrade (RFC 6455 §4.2.2 lets a server
    // refuse with a plain HTTP answer).
    let good = format!("Bearer {}", client_token(&s, &c, "accounts:read").await);
    assert_eq!(ws_connect(&s, "/plain", Some(&good)).await.err(), Some(400));
    assert!(origin.handshakes.lock().is_empty(), "no handshake upstream");

    // With its proof (htm GET, htu the gateway's https URL), the DPoP-bound token opens it.
    let url = s.url("/gateway/live/1");
    let now = s.provider.now();
    let url_ws = url.replace("https://", "wss://");
    let mut request = url_ws.into_client_request().unwrap();
    let h = request.headers_mut();
    h.insert("authorization", without_proof.parse().unwrap());
    let proof = key.proof("GET", &url, Some(bound), now);
    h.insert("dpop", proof.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(request, tls_stream(&s).await)
        .await
        .expect("RFC 9449 §4.3: a proof for the https URL of the route");
    ws.send(Message::text("proved")).await.unwrap();
    assert_eq!(next_message(&mut ws).await, Some(Message::text("proved")));
}

/// A provider with the WebSocket route to `origin`, its config then tweaked.
async fn tunnel_provider(
    origin: &EchoOrigin,
    tweak: impl FnOnce(&mut consentry::config::Config),
) -> TestServer {
    TestServer::start_with(|c| {
        c.outbound.allow_private = true;
        c.gateway.routes = vec![ws_route(&origin.base)];
        tweak(c);
    })
    .await
}

/// The Close frame the gateway sent (its code and reason), after which the tunnel ends.
async fn closed_by_gateway(ws: &mut Ws) -> (u16, String) {
    let message = next_message(ws).await;
    let Some(Message::Close(Some(frame))) = message else {
        panic!("a Close frame with a status code, not {message:?}");
    };
    assert!(
        next_message(ws).await.is_none(),
        "the tunnel ends after its Close"
    );
    (u16::from(frame.code), frame.reason.to_string())
}

/// Waits until the origin got a Close frame with `code`.
async fn origin_closed_with(origin: &EchoOrigin, code: u16) {
    let asked = std::time::Instant::now();
    while !origin.close_codes.lock().contains(&code) {
        assert!(
            asked.elapsed() < WAIT,
            "the origin got a Close {code}, not {:?}",
            origin.close_codes.lock()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `consentry_gateway_tunnels` reads `n`.
async fn tunnels_open(s: &TestServer, n: i64) {
    let asked = std::time::Instant::now();
    while s.provider.metrics.gateway_tunnels.get() != n {
        assert!(asked.elapsed() < WAIT, "{n} tunnels open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn echo(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.unwrap();
    assert_eq!(next_message(ws).await, Some(Message::text(text)));
}

#[tokio::test]
async fn rfc6455_7_4_1_a_tunnel_closes_with_1008_when_its_access_token_expires() {
    let origin = EchoOrigin::start().await;
    let s = tunnel_provider(&origin, |c| c.lifetimes.access_token_secs = 3).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    let exp = jwt_claims(&at)["exp"].as_i64().unwrap();
    let bearer = format!("Bearer {at}");
    let mut ws = ws_connect(&s, "/live/1", Some(&bearer)).await.unwrap();
    echo(&mut ws, "before expiry").await;
    tunnels_open(&s, 1).await;
    // The revocation lookup runs every 30 s: the expiry alone ends the tunnel, on time.
    let (code, reason) = closed_by_gateway(&mut ws).await;
    assert_eq!(code, 1008, "RFC 6455 §7.4.1 policy violation: {reason}");
    assert!(reason.contains("expired"), "{reason}");
    assert!(s.provider.now() >= exp, "not before the token's exp");
    origin_closed_with(&origin, 1008).await;
    tunnels_open(&s, 0).await;
}

#[tokio::test]
async fn rfc6455_7_4_1_a_tunnel_closes_with_1008_once_its_access_token_is_revoked() {
    let origin = EchoOrigin::start().await;
    let s = tunnel_provider(&origin, |c| c.gateway.websocket_recheck_secs = 1).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    let bearer = format!("Bearer {at}");
    let mut ws = ws_connect(&s, "/live/1", Some(&bearer)).await.unwrap();
    echo(&mut ws, "before revocation").await;
    // Still open past a lookup or two while the token is live.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    echo(&mut ws, "still live").await;
    let res = s
        .browser()
        .post(s.url("/token/revocation"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "RFC 7009 §2.2");
    let (code, reason) = closed_by_gateway(&mut ws).await;
    assert_eq!(code, 1008, "RFC 6455 §7.4.1 policy violation: {reason}");
    assert!(reason.contains("no longer active"), "{reason}");
    origin_closed_with(&origin, 1008).await;
    tunnels_open(&s, 0).await;
}

#[tokio::test]
async fn rfc6455_7_4_1_an_idle_tunnel_closes_with_1001_and_traffic_keeps_it_open() {
    let origin = EchoOrigin::start().await;
    let s = tunnel_provider(&origin, |c| c.gateway.websocket_idle_timeout_secs = 2).await;
    let c = s.client(json!({})).await;
    let bearer = format!("Bearer {}", client_token(&s, &c, "accounts:read").await);
    let mut ws = ws_connect(&s, "/live/1", Some(&bearer)).await.unwrap();
    // Traffic every 1.2 s carries it past twice the idle timeout.
    for i in 0..4 {
        echo(&mut ws, &format!("ping {i}")).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    let quiet_from = std::time::Instant::now();
    let (code, reason) = closed_by_gateway(&mut ws).await;
    assert_eq!(code, 1001, "RFC 6455 §7.4.1 going away: {reason}");
    assert!(reason.contains("idle"), "{reason}");
    assert!(
        quiet_from.elapsed() >= Duration::from_millis(700),
        "only once idle"
    );
    origin_closed_with(&origin, 1001).await;
}

#[tokio::test]
async fn open_tunnels_hold_their_connection_slot_in_server_max_connections() {
    let origin = EchoOrigin::start().await;
    let s = tunnel_provider(&origin, |c| c.server.max_connections = 2).await;
    let c = s.client(json!({})).await;
    let bearer = format!("Bearer {}", client_token(&s, &c, "accounts:read").await);
    let mut first = ws_connect(&s, "/live/1", Some(&bearer)).await.unwrap();
    let mut second = ws_connect(&s, "/live/2", Some(&bearer)).await.unwrap();
    echo(&mut first, "one").await;
    echo(&mut second, "two").await;
    tunnels_open(&s, 2).await;
    // A raw TLS handshake, dropped on timeout (an HTTP client may keep finishing its
    // connection in the background, and that connection would then take the free slot).
    let handshake = |timeout: Duration| tokio::time::timeout(timeout, tls_stream(&s));
    assert!(
        handshake(Duration::from_millis(1500)).await.is_err(),
        "a third connection waits while two tunnels hold both slots"
    );
    // The caller closes (RFC 6455 §7.1.1: the Close handshake, then its TCP connection).
    first.send(Message::Close(None)).await.unwrap();
    assert!(matches!(
        next_message(&mut first).await,
        Some(Message::Close(_))
    ));
    drop(first);
    handshake(WAIT)
        .await
        .expect("a slot is free once a tunnel ends");
    tunnels_open(&s, 1).await;
    echo(&mut second, "still open").await;
}

#[tokio::test]
async fn rfc6455_7_4_1_a_graceful_stop_closes_tunnels_with_1001_without_waiting_its_grace() {
    let origin = EchoOrigin::start().await;
    let s = tunnel_provider(&origin, |c| c.server.shutdown_grace_secs = 30).await;
    let c = s.client(json!({})).await;
    let bearer = format!("Bearer {}", client_token(&s, &c, "accounts:read").await);
    let mut ws = ws_connect(&s, "/live/1", Some(&bearer)).await.unwrap();
    echo(&mut ws, "before the stop").await;
    let started = std::time::Instant::now();
    let stopping = tokio::spawn(s.shut_down());
    let (code, reason) = closed_by_gateway(&mut ws).await;
    assert_eq!(code, 1001, "RFC 6455 §7.4.1 going away: {reason}");
    origin_closed_with(&origin, 1001).await;
    tokio::time::timeout(WAIT, stopping)
        .await
        .expect("the stop does not wait out its 30 s grace for the tunnel")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[tokio::test]
async fn a_websocket_upstream_resolving_to_a_private_address_is_refused_by_the_outbound_policy() {
    // The route names a host (`localhost`), so the configuration cannot see it is private:
    // the address it resolves to is checked when connecting, and refused.
    let ca_dir = tempfile::tempdir().unwrap();
    let pki = consentry::tls::ensure_dev_pki(ca_dir.path(), &[]).unwrap();
    let tls =
        consentry::tls::server_config((pki.chain, pki.key), (pki.rsa_chain, pki.rsa_key)).unwrap();
    let origin = EchoOrigin::start_tls(tokio_rustls::TlsAcceptor::from(tls)).await;
    let upstream = origin.base.replace("127.0.0.1", "localhost");
    let ca = ca_dir.path().join("ca.pem");
    let s = TestServer::start_with(move |c| {
        assert!(!c.outbound.allow_private && !c.gateway.private_origins);
        c.outbound.ca_file = Some(ca);
        c.gateway.routes = vec![ws_route(&upstream)];
    })
    .await;
    let c = s.client(json!({})).await;
    let bearer = format!("Bearer {}", client_token(&s, &c, "accounts:read").await);
    assert_eq!(
        ws_connect(&s, "/live/1", Some(&bearer)).await.err(),
        Some(502),
        "outbound.allow_private = false: a loopback address is no upstream"
    );
    assert_eq!(*origin.connections.lock(), 0, "nothing connected to it");
}

#[tokio::test]
async fn a_wss_upstream_is_reached_trusting_outbound_ca_file() {
    let ca_dir = tempfile::tempdir().unwrap();
    let pki = consentry::tls::ensure_dev_pki(ca_dir.path(), &[]).unwrap();
    let tls =
        consentry::tls::server_config((pki.chain, pki.key), (pki.rsa_chain, pki.rsa_key)).unwrap();
    let origin = EchoOrigin::start_tls(tokio_rustls::TlsAcceptor::from(tls)).await;
    assert!(origin.base.starts_with("https://"));
    let ca = ca_dir.path().join("ca.pem");
    let s = tunnel_provider(&origin, |c| c.outbound.ca_file = Some(ca)).await;
    let c = s.client(json!({})).await;
    let bearer = format!("Bearer {}", client_token(&s, &c, "accounts:read").await);
    let mut ws = ws_connect(&s, "/live/1", Some(&bearer)).await.unwrap();
    echo(&mut ws, "over TLS").await;
    echo(&mut ws, "and again").await;
    let identity = origin.handshakes.lock()[0]["consentry-identity"].clone();
    let claims = verify_with_jwks(&s, identity.to_str().unwrap()).await;
    assert_eq!(claims["aud"], origin.base);
    ws.send(Message::Close(None)).await.unwrap();
    assert!(matches!(
        next_message(&mut ws).await,
        Some(Message::Close(_))
    ));
    assert!(next_message(&mut ws).await.is_none(), "the tunnel ends");

    // RFC 9110 §4.3.4: without its CA, the origin's certificate is not trusted.
    let s = tunnel_provider(&origin, |_| {}).await;
    let c = s.client(json!({})).await;
    let bearer = format!("Bearer {}", client_token(&s, &c, "accounts:read").await);
    assert_eq!(
        ws_connect(&s, "/live/1", Some(&bearer)).await.err(),
        Some(502),
        "an unknown CA is refused"
    );
    assert_eq!(origin.handshakes.lock().len(), 1, "no second handshake");
}
