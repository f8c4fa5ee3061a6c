//! Delivering the outbox: webhooks (signed POSTs to each client's endpoint) and back-channel
//! logout notices (logout tokens POSTed to its `backchannel_logout_uri`), retried with
//! exponential backoff and jitter, each event on its own task so a slow or failing endpoint
//! never holds up another. After the last attempt an event is kept as dead for an operator
//! to inspect and redeliver.

use crate::config::webhooks::WebhookConfig;
use crate::provider::Provider;
use crate::secrets;
use crate::store::outbox::Event;
use std::sync::Arc;
use std::time::Duration;

/// Slack beyond the delivery timeout before a claim lapses: for looking up the client's
/// webhook and recording the outcome.
const LEASE_MARGIN_SECS: i64 = 5;

/// How long a claimed event is its claimer's alone. One attempt never outlasts the delivery
/// timeout (`deliver` cuts it off there), so a claim whose node died lapses soon after that
/// timeout instead of after a fixed minute, without a live attempt ever being doubled.
fn lease_secs(cfg: &WebhookConfig) -> i64 {
    i64::try_from(cfg.timeout_secs)
        .unwrap_or(i64::MAX)
        .saturating_add(LEASE_MARGIN_SECS)
}

const BATCH: i64 = 32;

/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
/// Receivers recompute it, compare in constant time, and reject old timestamps.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mac = ring::hmac::sign(&key, format!("{timestamp}.{body}").as_bytes());
    format!("t={timestamp},v1={}", secrets::hex(mac.as_ref()))
}

pub const SIGNATURE_HEADER: &str = "consentry-signature";
pub const EVENT_ID_HEADER: &str = "consentry-event-id";

/// When attempt `attempts + 1` may run, or `None` when there is none left.
fn next_attempt(cfg: &WebhookConfig, attempts_made: i64, now: i64) -> Option<i64> {
    if attempts_made >= cfg.max_attempts {
        return None;
    }
    let exp = cfg
        .retry_base_secs
        .saturating_mul(1 << (attempts_made - 1).clamp(0, 20))
        .min(cfg.retry_max_secs);
    let r = u16::from_le_bytes(secrets::random_bytes::<2>());
    let jitter = (exp / 4) * i64::from(r) / i64::from(u16::MAX);
    Some(now + exp.max(1) + jitter)
}

/// The HTTP clients of the deliveries: webhooks go to the operator-set `webhook_url`; logout
/// tokens to a URI the client registered, so under the outbound policy.
#[derive(Clone)]
struct Http {
    webhook: reqwest::Client,
    logout: reqwest::Client,
}

/// Runs forever: claims due events and delivers each on its own task.
pub async fn run(p: Arc<Provider>) {
    let cfg = p.config.webhooks.clone();
    let timeout = Duration::from_secs(cfg.timeout_secs);
    let webhook = match reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "webhook delivery disabled: no HTTP client");
            return;
        }
    };
    let http = Http {
        webhook,
        logout: crate::protocol::logout::backchannel::http_client(&p.ctx(), timeout),
    };
    let every = Duration::from_millis(cfg.poll_interval_ms.max(10));
    let lease = lease_secs(&cfg);
    loop {
        let now = p.now();
        match p
            .store
            .write(move |tx| tx.outbox().claim_due(now, lease, BATCH))
            .await
        {
            Ok(events) => {
                for e in events {
                    tokio::spawn(deliver(p.clone(), http.clone(), e));
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhook outbox unreadable"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = p.webhook_wake.notified() => {}
        }
    }
}

async fn deliver(p: Arc<Provider>, http: Http, e: Event) {
    // Bounded by the delivery timeout as a whole (not only the HTTP exchange), which is what
    // keeps the attempt inside its lease.
    let timeout = Duration::from_secs(p.config.webhooks.timeout_secs);
    let result = tokio::time::timeout(timeout, attempt(&p, &http, &e))
        .await
        .unwrap_or_else(|_| Err("no answer within the delivery timeout".into()));
    let (now, id) = (p.now(), e.id.clone());
    let cfg = &p.config.webhooks;
    let outcome = match result {
        Ok(()) => {
            tracing::info!(event = %e.id, client = %e.client_id, kind = %e.event_type, "webhook delivered");
            p.store
                .write(move |tx| tx.outbox().mark_delivered(&id, now))
                .await
        }
        Err(why) => {
            let retry = next_attempt(cfg, e.attempts + 1, now);
            match retry {
                Some(_) => {
                    tracing::info!(event = %e.id, client = %e.client_id, %why, "webhook failed; will retry")
                }
                None => {
                    tracing::warn!(event = %e.id, client = %e.client_id, %why, "webhook dead after the last attempt")
                }
            }
            p.store
                .write(move |tx| tx.outbox().mark_failed(&id, &why, retry))
                .await
        }
    };
    if let Err(err) = outcome {
        tracing::warn!(event = %e.id, error = %err, "webhook outcome not recorded; it will be retried");
    }
}

async fn attempt(p: &Provider, http: &Http, e: &Event) -> Result<(), String> {
    if e.kind == crate::store::outbox::BACKCHANNEL_LOGOUT {
        let cx = p.ctx();
        return crate::protocol::logout::backchannel::deliver(
            &cx,
            &http.logout,
            &e.client_id,
            &e.body,
        )
        .await;
    }
    let http = &http.webhook;
    let hook = crate::protocol::clients::service::webhook(&p.ctx(), &e.client_id)
        .await
        .map_err(|err| err.description().to_string())?
        .ok_or_else(|| "the client has no webhook configured".to_string())?;
    let now = p.now();
    let body = with_client_subject(p, &hook.client, &e.body);
    let res = http
        .post(&hook.url)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature(&hook.secret, now, &body))
        .header(EVENT_ID_HEADER, &e.id)
        .body(body)
        .send()
        .await
        .map_err(|err| format!("{}: {err}", hook.url))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("{} answered {}", hook.url, res.status()))
    }
}

/// The event as the client sees it: a pairwise client (OIDC Core §8.1) gets the `userId` it
/// knows the user by, computed at delivery from the stored local id.
fn with_client_subject(p: &Provider, client: &crate::types::Client, body: &str) -> String {
    if !client.metadata.is_pairwise() {
        return body.to_string();
    }
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_string();
    };
    if let Some(user) = v["userId"].as_str().map(String::from) {
        v["userId"] = crate::protocol::oidc::subject::for_client(&p.ctx(), client, &user).into();
    }
    v.to_string()
}
