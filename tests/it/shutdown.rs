//! Stopping drains (issue 18, item 4): on SIGTERM or SIGINT the server stops accepting, lets the
//! requests in flight finish within the grace period, and exits 0, so a deploy is not a crash.

use crate::spawned::{self, Options, Server};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Starts a token request and leaves it in flight (its body half sent), then sends `signal`.
/// Checks that new connections are refused meanwhile, that the request in flight is answered
/// 200 once its body is complete, and that the process exits 0.
fn drains_on(signal: &str) {
    let mut server = Server::start(Options::default());
    let (mut in_flight, rest) = spawned::token_request_in_flight(server.port);
    server.signal(signal);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", server.port)).is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "new connections are refused once stopping"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server waits for the request in flight"
    );
    in_flight.write_all(&rest).unwrap();
    let (status, body) = spawned::read_answer(&mut in_flight).unwrap();
    assert_eq!(status, 200, "the request in flight is answered: {body}");
    assert!(body.contains("access_token"), "{body}");
    let exit = server.exit_status(Duration::from_secs(20));
    assert_eq!(exit.code(), Some(0), "exit 0 after draining: {exit}");
    assert!(server.log_text().contains("shutting down"));
}

/// SIGTERM (what deploys and orchestrators send) drains instead of killing at once (exit 143).
#[test]
fn sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0() {
    drains_on("TERM");
}

/// SIGINT (Ctrl-C) drains the same way.
#[test]
fn sigint_finishes_requests_in_flight_and_exits_0() {
    drains_on("INT");
}

/// The grace period bounds the drain: a request that never completes does not hold the
/// process past `server.shutdown_grace_secs`, and the exit is still clean.
#[test]
fn a_request_stuck_past_the_grace_period_does_not_stop_the_exit() {
    let mut server = Server::start(Options {
        env: vec![("CONSENTRY_SERVER__SHUTDOWN_GRACE_SECS", "1".into())],
        ..Default::default()
    });
    let (_stuck, _never_sent) = spawned::token_request_in_flight(server.port);
    server.signal("TERM");
    // Well before the default grace period (20 s).
    let exit = server.exit_status(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0), "{exit}");
    assert!(server.log_text().contains("grace period over"));
}
