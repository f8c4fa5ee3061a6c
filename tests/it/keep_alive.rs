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
