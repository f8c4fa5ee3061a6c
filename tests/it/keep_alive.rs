//! Persistent connections (RFC 9112 §9.3): a connection kept alive between two requests is
//! closed only after `server.idle_timeout_secs`, not after the shorter time a client has to
//! send one request's headers (`server.header_read_timeout_secs`, the slowloris bound). A
//! client reusing a pooled connection must not find it closed under it: the conformance run
//! saw a UserInfo request fail that way.

use crate::spawned::{Options, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Sends a keep-alive GET for /healthz on `s` and reads the whole answer; its status line.
fn get_healthz(s: &mut TcpStream) -> std::io::Result<String> {
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = &text[..end];
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + length {
                return Ok(head.lines().next().unwrap_or_default().to_string());
            }
        }
    }
}

#[test]
fn a_kept_alive_connection_idle_longer_than_the_header_read_timeout_serves_the_next_request() {
    let server = Server::start(Options {
        env: vec![
            ("CONSENTRY_SERVER__HEADER_READ_TIMEOUT_SECS", "1".into()),
            ("CONSENTRY_SERVER__IDLE_TIMEOUT_SECS", "60".into()),
        ],
        ..Default::default()
    });
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let first = get_healthz(&mut s).unwrap();
    assert!(first.contains(" 200"), "{first}");
    // Idle between requests for longer than the header read timeout, far less than the
    // idle timeout.
    std::thread::sleep(Duration::from_millis(2500));
    let second = get_healthz(&mut s)
        .expect("RFC 9112 §9.3: the kept-alive connection is still open within the idle timeout");
    assert!(second.contains(" 200"), "{second}");
}

/// The HTTP/2 connection preface and an empty SETTINGS frame (RFC 9113 §3.4, §6.5).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// Sends a PING (RFC 9113 §6.7) on `s` and reads frames until its acknowledgement.
fn h2_ping(s: &mut TcpStream, payload: [u8; 8]) -> std::io::Result<()> {
    let mut frame = vec![0, 0, 8, 6, 0, 0, 0, 0, 0];
    frame.extend_from_slice(&payload);
    s.write_all(&frame)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    loop {
        let mut head = [0u8; 9];
        s.read_exact(&mut head)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body)?;
        // A PING with the ACK flag carrying our payload.
        if head[3] == 6 && head[4] & 1 == 1 && body == payload {
            return Ok(());
        }
    }
}

/// HTTP/2 frames arriving between requests (settings, pings) are not a request's headers:
/// only the idle timeout closes such a connection, as for HTTP/1 (RFC 9113 §9.1).
#[test]
fn an_http2_connection_exchanging_frames_between_requests_outlives_the_header_read_timeout() {
    let server = Server::start(Options {
        env: vec![
            ("CONSENTRY_SERVER__HEADER_READ_TIMEOUT_SECS", "1".into()),
            ("CONSENTRY_SERVER__IDLE_TIMEOUT_SECS", "60".into()),
        ],
        ..Default::default()
    });
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.write_all(H2_PREFACE).unwrap();
    h2_ping(&mut s, *b"first-pg").expect("the server answers a PING");
    std::thread::sleep(Duration::from_millis(2500));
    h2_ping(&mut s, *b"second-p")
        .expect("RFC 9113 §9.1: the connection is still open within the idle timeout");
}
