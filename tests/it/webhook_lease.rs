//! A webhook event claimed by a node that died mid-delivery is delivered again once the claim's
//! lease lapses, and the lease follows the configured delivery timeout (not a fixed minute).
//! The real server binary is killed with SIGKILL while the receiver holds the delivery open.

use crate::harness::*;
use crate::spawned;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnop";
/// The delivery timeout both servers run with. The lease is this plus a few seconds; the
/// fixed lease it replaced was 60 s.
const TIMEOUT_SECS: u64 = 20;

/// A webhook endpoint on loopback that counts the event ids it is sent, and answers 204 or,
/// while `hang` is set, never answers.
#[derive(Clone)]
struct Receiver {
    url: String,
    hang: Arc<AtomicBool>,
    seen: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            hang: Arc::new(AtomicBool::new(true)),
            seen: Default::default(),
        };
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let me = me.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).to_lowercase();
                    let id = head
                        .lines()
                        .find_map(|l| l.strip_prefix("consentry-event-id:"))
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    me.seen.lock().push(id);
                    if me.hang.load(Ordering::SeqCst) {
                        // Hold the delivery open until the sender goes away.
                        let _ = stream.read(&mut chunk).await;
                        return;
                    }
                    let _ = stream
                        .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                        .await;
                });
            }
        });
        r
    }

    async fn wait_for(&self, n: usize, within: Duration) -> bool {
        let until = Instant::now() + within;
        while self.seen.lock().len() < n {
            if Instant::now() > until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

fn tweak(c: &mut consentry::config::Config) {
    c.admin_token = Some(ADMIN_TOKEN.into());
    c.webhooks.poll_interval_ms = 50;
    c.webhooks.timeout_secs = TIMEOUT_SECS;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_claimed_by_a_node_that_died_is_redelivered_after_the_delivery_timeout() {
    let receiver = Receiver::start().await;
    let s = TestServer::start_with(tweak).await;
    let client = s.client(json!({})).await;
    let res = s
        .browser()
        .put(format!("{}/admin/clients/{}/webhook", s.base, client.id))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let dir = s.stop().await;

    // An event waiting in the outbox for the next server to deliver.
    let store = consentry::store::Store::open_at(
        &store_location(dir.path()),
        &consentry::store::PostgresOptions::default(),
    )
    .unwrap();
    let now = consentry::clock::Clock::default().now();
    let id = client.id.clone();
    let recorded = store
        .write(move |tx| {
            tx.outbox()
                .enqueue(&id, "userDeleted", "user-1", json!({}), now)
        })
        .await
        .unwrap();
    assert!(recorded);
    drop(store);

    // The real server claims it and starts delivering; the receiver keeps the delivery open,
    // and the server dies.
    let mut server = spawned::Server::start(spawned::Options {
        env: vec![
            ("CONSENTRY_WEBHOOKS__TIMEOUT_SECS", TIMEOUT_SECS.to_string()),
            ("CONSENTRY_WEBHOOKS__POLL_INTERVAL_MS", "50".into()),
        ],
        data_dir: Some(dir.path().to_path_buf()),
        ..Default::default()
    });
    let claimed = receiver.wait_for(1, Duration::from_secs(60)).await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();
    assert!(claimed, "the server never delivered the event");
    let event_id = receiver.seen.lock()[0].clone();

    // Restarted, the server leaves the claim alone while its lease runs: the dead node's
    // attempt could still have been in flight.
    receiver.hang.store(false, Ordering::SeqCst);
    let s = TestServer::start_in(dir, tweak).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        receiver.seen.lock().len(),
        1,
        "delivered again inside the lease"
    );

    // Once the delivery timeout and the lease's 5 s of slack have passed, the event is
    // delivered again, well before the fixed 60 s it used to wait.
    let lease = TIMEOUT_SECS as i64 + 5;
    s.provider.clock.advance(lease + 1);
    assert!(
        receiver.wait_for(2, Duration::from_secs(10)).await,
        "the event was not delivered again after the lease ({lease} s) ran out"
    );
    assert_eq!(receiver.seen.lock()[1], event_id, "the same event");
}
