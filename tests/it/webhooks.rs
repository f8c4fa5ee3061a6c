//! Webhooks (contract: Webhooks): events written with the change that causes them, delivered
//! signed to a real receiver on loopback, retried after failures, never lost across a restart,
//! and kept as dead after the last attempt until an operator redelivers them.

use crate::banks::{connect_sandbox, redeem, BankJourney};
use crate::harness::*;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdefghijklmnop";

/// One request the receiver saw.
#[derive(Clone, Debug)]
pub struct Received {
    signature: String,
    event_id: String,
    body: String,
}

/// An HTTP server on loopback that records webhook POSTs and answers 500 while `failing` > 0.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Vec<Received>>>,
    failing: Arc<Mutex<u32>>,
}

/// One HTTP/1.1 request as a test's receiver on loopback read it.
pub(crate) struct Request {
    head: String,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (names compared without case); empty when absent.
    pub fn header(&self, name: &str) -> String {
        self.head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default()
    }
}

/// Reads one request from `stream`: headers, then as much body as Content-Length says.
pub(crate) async fn read_request(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head, body_start) = loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break (String::from_utf8_lossy(&buf[..i]).to_string(), i + 4);
        }
    };
    let mut request = Request {
        head,
        body: Vec::new(),
    };
    let len: usize = request.header("content-length").parse().unwrap_or(0);
    while buf.len() < body_start + len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    request.body = buf.split_off(body_start);
    Some(request)
}

impl Receiver {
    pub async fn start(failing: u32) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, failing)
    }

    fn serve(listener: tokio::net::TcpListener, failing: u32) -> Receiver {
        let r = Receiver {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            seen: Default::default(),
            failing: Arc::new(Mutex::new(failing)),
        };
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(me.clone().handle(stream));
            }
        });
        r
    }

    async fn handle(self, mut stream: tokio::net::TcpStream) {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let header = |name: &str| request.header(name);
        let body = String::from_utf8_lossy(&request.body).to_string();
        self.seen.lock().push(Received {
            signature: header("consentry-signature"),
            event_id: header("consentry-event-id"),
            body,
        });
        let status = {
            let mut f = self.failing.lock();
            if *f > 0 {
                *f -= 1;
                "500 Internal Server Error"
            } else {
                "204 No Content"
            }
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
    }

    /// Waits (bounded) until `n` requests have arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.seen.lock().clone();
            if seen.len() >= n {
                return seen;
            }
            assert!(
                Instant::now() < until,
                "only {} of {n} deliveries arrived: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Verifies `t=…,v1=…` as a receiver would: HMAC-SHA256 over "<t>.<body>".
fn verify(secret: &str, r: &Received) -> bool {
    let (t, v1) = r.signature.split_once(",v1=").unwrap_or_default();
    let t = t.strip_prefix("t=").unwrap_or_default();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let Ok(mac) = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v1[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return false;
    };
    ring::hmac::verify(&key, format!("{t}.{}", r.body).as_bytes(), &mac).is_ok()
}

pub fn tweak(c: &mut consentry::config::Config) {
    c.admin_token = Some(ADMIN_TOKEN.into());
    c.webhooks.retry_base_secs = 1;
    c.webhooks.poll_interval_ms = 50;
}

/// Points `client`'s webhook at `url` through the admin API; returns the signing secret.
pub async fn set_webhook(s: &TestServer, client: &TestClient, url: &str) -> String {
    let res = s
        .browser()
        .put(format!("{}/admin/clients/{}/webhook", s.base, client.id))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    v["secret"].as_str().unwrap().to_string()
}

/// Waits until the provider has recorded the event as delivered.
async fn settled(s: &TestServer, id: &Value) {
    let id = id.as_str().unwrap().to_string();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let i = id.clone();
        let e = s
            .provider
            .store
            .read(move |tx| tx.outbox().get(&i))
            .await
            .unwrap()
            .unwrap();
        if e.status == "delivered" {
            return;
        }
        assert!(Instant::now() < until, "{id} never recorded as delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn body(r: &Received) -> Value {
    serde_json::from_str(&r.body).unwrap()
}

#[tokio::test]
async fn events_arrive_signed_and_are_retried_until_the_receiver_recovers() {
    let receiver = Receiver::start(2).await;
    let s = TestServer::start_with(tweak).await;
    let c = s
        .client(json!({"scope": "openid user:read user:delete accounts:read"}))
        .await;
    let secret = set_webhook(&s, &c, &receiver.url).await;
    let (user, con_id) = connect_sandbox(&s, &c).await;

    // Two 500s, then success: three deliveries of the same event.
    let seen = receiver.wait_for(3).await;
    let ids: Vec<&str> = seen.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2], "a retry carries the same event id");
    let e = body(&seen[2]);
    assert_eq!(e["id"], ids[0]);
    assert_eq!(e["eventType"], "connectionCreated");
    assert_eq!(e["userId"], user.as_str());
    assert_eq!(e["payload"]["connectionId"], con_id.as_str());
    assert!(
        seen.iter().all(|r| verify(&secret, r)),
        "every delivery is signed"
    );
    assert!(!verify("another-secret", &seen[0]), "the check can fail");

    // A refresh journey reports new transactions (the connect above raised none: its three
    // deliveries were all connectionCreated).
    let (verifier, challenge) = pkce();
    let claims =
        json!({"id_token": {"sub": {"value": user}, "mh:con_id": {"value": con_id}}}).to_string();
    let b = BankJourney::new(&s);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid refresh"), ("claims", &claims)],
        ))
        .await;
    let (status, cb) = b.approve(&i, "Sandbox Bank").await;
    assert_eq!(status, 303);
    redeem(&s, &c, &cb, &verifier).await;
    let e = body(&receiver.wait_for(4).await[3]);
    assert_eq!(e["eventType"], "newTransactions");
    assert_eq!(e["userId"], user.as_str());
    assert_eq!(e["payload"]["accounts"][0]["id"], "SANDBOX-0001");
    assert_eq!(
        e["payload"]["accounts"][0]["transactions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Consent running out: connectionReauthRequired. (The clock jump must not find a delivery
    // still in flight, whose lease it would end.)
    settled(&s, &e["id"]).await;
    s.provider.clock.advance(91 * 24 * 3600);
    consentry::sweep_once(&s.provider).await.unwrap();
    let e = body(&receiver.wait_for(5).await[4]);
    assert_eq!(e["eventType"], "connectionReauthRequired");
    assert_eq!(e["payload"]["connectionId"], con_id.as_str());

    // Deleting the user: connectionDeleted then userDeleted.
    let (_, t) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "user:delete"),
            ],
        )
        .await;
    let res = s
        .browser()
        .delete(format!("{}/users/{user}", s.base))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let seen = receiver.wait_for(7).await;
    let mut kinds: Vec<String> = seen[5..]
        .iter()
        .map(|r| body(r)["eventType"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["connectionDeleted", "userDeleted"]);
    // Each event once by id after success.
    let mut ids: Vec<String> = seen.iter().map(|r| r.event_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5, "{ids:?}");
}

#[tokio::test]
async fn an_event_survives_a_restart_between_the_change_and_its_delivery() {
    // A port with nobody listening yet: every attempt before the restart fails.
    let parked = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = parked.local_addr().unwrap();
    drop(parked);
    let s = TestServer::start_with(tweak).await;
    let c = s.client(json!({})).await;
    let secret = set_webhook(&s, &c, &format!("http://{addr}/hooks")).await;
    let (_, con_id) = connect_sandbox(&s, &c).await;
    let dir = s.stop().await;

    let receiver = Receiver::serve(tokio::net::TcpListener::bind(addr).await.unwrap(), 0);
    let s = TestServer::start_in(dir, tweak).await;
    let seen = receiver.wait_for(1).await;
    let e = body(&seen[0]);
    assert_eq!(e["eventType"], "connectionCreated");
    assert_eq!(e["payload"]["connectionId"], con_id.as_str());
    assert!(verify(&secret, &seen[0]));
    // Delivered once: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.seen.lock().len(), 1);
    drop(s);
}

#[tokio::test]
async fn after_the_last_attempt_an_event_is_dead_until_redelivered() {
    let receiver = Receiver::start(u32::MAX).await;
    let s = TestServer::start_with(|c| {
        tweak(c);
        c.webhooks.max_attempts = 2;
    })
    .await;
    let c = s.client(json!({})).await;
    set_webhook(&s, &c, &receiver.url).await;
    connect_sandbox(&s, &c).await;
    receiver.wait_for(2).await;
    let admin = |path: String| {
        s.browser()
            .get(format!("{}{path}", s.base))
            .bearer_auth(ADMIN_TOKEN)
    };
    let until = Instant::now() + Duration::from_secs(20);
    let dead = loop {
        let v: Value = admin(format!("/admin/webhooks/dead?client_id={}", c.id))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break v;
        }
        assert!(Instant::now() < until, "the event never went dead: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let event = &dead["events"][0];
    assert_eq!(event["eventType"], "connectionCreated");
    assert_eq!(event["attempts"], 2);
    assert!(event["lastError"].as_str().unwrap().contains("500"));
    // No more attempts while dead.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.seen.lock().len(), 2);

    // The receiver is fixed; the operator redelivers.
    *receiver.failing.lock() = 0;
    let res = s
        .browser()
        .post(format!(
            "{}/admin/webhooks/{}/redeliver",
            s.base,
            event["id"].as_str().unwrap()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    let seen = receiver.wait_for(3).await;
    assert_eq!(seen[2].event_id, event["id"].as_str().unwrap());
    // Redelivering what is not dead is refused.
    let res = s
        .browser()
        .post(format!(
            "{}/admin/webhooks/{}/redeliver",
            s.base,
            event["id"].as_str().unwrap()
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_failing_endpoint_never_holds_up_another() {
    let broken = Receiver::start(u32::MAX).await;
    let healthy = Receiver::start(0).await;
    let s = TestServer::start_with(tweak).await;
    let a = s.client(json!({})).await;
    let b = s.client(json!({})).await;
    set_webhook(&s, &a, &broken.url).await;
    let secret = set_webhook(&s, &b, &healthy.url).await;
    connect_sandbox(&s, &a).await;
    broken.wait_for(1).await;
    connect_sandbox(&s, &b).await;
    // B's event arrives while A's keeps failing and being retried.
    let seen = healthy.wait_for(1).await;
    assert_eq!(body(&seen[0])["eventType"], "connectionCreated");
    assert!(verify(&secret, &seen[0]));
    broken.wait_for(2).await;
    assert_eq!(healthy.seen.lock().len(), 1);
}
