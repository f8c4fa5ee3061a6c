//! A live server survives a panicking background task (issue 18, item 2; DESIGN "Failure
//! model": every background task is supervised and restarted, and `/readyz` names any that is
//! down). No real input makes a task panic any more, so the real binary, built with debug
//! assertions, is told to make one panic once a file appears (`DEBUG_CONSENTRY_PANIC_TASK`,
//! absent from release builds); the rest is the product's own path: its supervisor, `/readyz`,
//! `/metrics`, its log.

use crate::spawned::{self, Options, Server};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How many times in a row the task is made to panic: the supervisor's backoff (100 ms
/// doubling) then keeps it down for 100 + 200 + 400 + 800 ms, long enough to be seen.
const PANICS: u32 = 4;

/// The server, serving and ready, with `task` then made to panic [`PANICS`] times in a row.
fn start_with_panicking(task: &str, dir: &std::path::Path) -> Server {
    let trigger = dir.join("panic-now");
    let server = Server::start(Options {
        env: vec![(
            "DEBUG_CONSENTRY_PANIC_TASK",
            format!("{task}:{PANICS}:{}", trigger.display()),
        )],
        data_dir: Some(dir.join("data")),
        ..Default::default()
    });
    let (status, body) = readyz(server.port);
    assert_eq!(status, 200, "ready before the panic: {body}");
    assert_eq!(body["tasks"][task], "up", "{body}");
    assert_eq!(panics_of(server.port, task), 0);
    std::fs::write(&trigger, b"").unwrap();
    server
}

/// `consentry_background_task_panics_total` for `task`, read from the server's `/metrics`.
fn panics_of(port: u16, task: &str) -> u64 {
    let (status, body) = spawned::get(port, "/metrics").unwrap();
    assert_eq!(status, 200, "{body}");
    let series = format!("consentry_background_task_panics_total{{task=\"{task}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&series)?.parse().ok())
        .unwrap_or(0)
}

/// `/readyz`: its status and JSON body.
fn readyz(port: u16) -> (u16, serde_json::Value) {
    let (status, body) = spawned::get(port, "/readyz").unwrap();
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, body)
}

/// Discovery and a client-credentials token request both succeed.
fn serves_protocol_requests(port: u16) {
    let (status, body) = spawned::get(port, "/oidc/.well-known/openid-configuration").unwrap();
    assert_eq!(status, 200, "discovery: {body}");
    let (head, rest) = spawned::token_request();
    let (status, body) = spawned::exchange(port, &[head, rest].concat()).unwrap();
    assert_eq!(status, 200, "token: {body}");
    assert!(body.contains("access_token"), "{body}");
}

/// Watches a server whose `task` panics [`PANICS`] times: protocol requests succeed all along,
/// `/readyz` answers 503 naming the task while it is down, and once the task is restarted
/// after its last panic the server is ready again with every panic counted.
fn survives_panics_of(server: &Server, task: &str) {
    let port = server.port;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_down = false;
    loop {
        serves_protocol_requests(port);
        // Counted before readiness is read: a last panic counted after a `200` was read
        // could otherwise pass for one already restarted from.
        let counted = panics_of(port, task);
        let (status, body) = readyz(port);
        if status == 503 {
            assert_eq!(body["tasks"][task], "down", "{body}");
            assert_eq!(body["down"], serde_json::json!([task]), "{body}");
            let reasons = body["reasons"].to_string();
            assert!(
                reasons.contains(&format!("background task down: {task}")),
                "{body}"
            );
            seen_down = true;
        } else {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["tasks"][task], "up", "{body}");
            if seen_down && counted == u64::from(PANICS) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not ready again after {PANICS} panics of {task} (seen down: {seen_down}, \
             panics counted: {}): {body}\n{}",
            panics_of(port, task),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Restarted for good: it stays up, and no panic beyond the injected ones.
    std::thread::sleep(Duration::from_millis(500));
    let (status, body) = readyz(port);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tasks"][task], "up", "{body}");
    assert_eq!(panics_of(port, task), u64::from(PANICS));
    serves_protocol_requests(port);
    let log = server.log_text();
    assert!(
        log.contains("background task panicked; restarting it") && log.contains(task),
        "the panic is logged: {log}"
    );
}

fn published_kids(port: u16) -> HashSet<String> {
    let (status, body) = spawned::get(port, "/oidc/jwks").unwrap();
    assert_eq!(status, 200, "{body}");
    let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// An async task (the key watcher) panics in a running server: counted, reported down,
/// restarted, and once restarted it does its job again (it publishes keys rotated by
/// `consentry keys rotate`).
#[test]
fn a_panicking_key_watcher_is_counted_reported_and_restarted_while_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_panicking("key-watcher", dir.path());
    survives_panics_of(&server, "key-watcher");
    let before = published_kids(server.port);
    let data = dir.path().join("data");
    let mut rotate = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"));
    rotate.args(["keys", "rotate", "--data-dir"]).arg(&data);
    // The keys live in the database: on the suite's PostgreSQL run, the server's schema.
    if let Some(url) = crate::harness::postgres_schema_for(&data) {
        rotate.env("CONSENTRY_DATABASE_URL", url);
    }
    let out = rotate.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while published_kids(server.port) == before {
        assert!(
            Instant::now() < deadline,
            "the restarted key watcher did not reload the rotated keys: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A task on a thread of its own (the WAL checkpoint) panics in a running server: counted,
/// reported down, restarted, and the server serves throughout.
#[test]
fn a_panicking_wal_checkpoint_thread_is_counted_reported_and_restarted_while_the_server_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with_panicking("wal-checkpoint", dir.path());
    survives_panics_of(&server, "wal-checkpoint");
}
