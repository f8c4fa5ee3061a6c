//! The webhook outbox. `enqueue` runs inside the transaction of the change it reports, so an
//! event exists exactly when its change does; workers claim due events with a lease so that
//! several nodes never deliver the same attempt twice.

use super::sql::{args, Conn, Dialect, Row};
use super::{exec, StoreResult};
use serde_json::{json, Value};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

/// How an event is delivered: a signed webhook POST to the client's `webhook_url`, or a
/// logout token POSTed to its `backchannel_logout_uri` (OpenID Back-Channel Logout 1.0 §2.5).
pub const WEBHOOK: &str = "webhook";
pub const BACKCHANNEL_LOGOUT: &str = "backchannel_logout";

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: String,
    pub client_id: String,
    pub event_type: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
    /// [`WEBHOOK`] or [`BACKCHANNEL_LOGOUT`].
    pub kind: String,
}

const COLUMNS: &str = "id, client_id, event_type, body, status, attempts, next_attempt_at, last_error, created_at, delivered_at, kind";

fn from_row(r: &Row) -> StoreResult<Event> {
    Ok(Event {
        id: r.get(0)?,
        client_id: r.get(1)?,
        event_type: r.get(2)?,
        body: r.get(3)?,
        status: r.get(4)?,
        attempts: r.get(5)?,
        next_attempt_at: r.get(6)?,
        last_error: r.get(7)?,
        created_at: r.get(8)?,
        delivered_at: r.get(9)?,
        kind: r.get(10)?,
    })
}

/// The webhook outbox, as one transaction sees it (`tx.outbox()`).
pub struct Outbox<'a> {
    pub(super) conn: Conn<'a>,
}

impl Outbox<'_> {
    /// Records an event for `client_id` if it has a webhook and is enabled; returns whether one
    /// was recorded.
    /// The body is the contract's shape: `{id, eventType, userId, payload}`.
    pub fn enqueue(
        &self,
        client_id: &str,
        event_type: &str,
        user_id: &str,
        payload: Value,
        now: i64,
    ) -> StoreResult<bool> {
        let id = uuid::Uuid::new_v4().to_string();
        let body =
            json!({"id": id, "eventType": event_type, "userId": user_id, "payload": payload})
                .to_string();
        Ok(exec(
            self.conn,
            "INSERT INTO webhook_events (id, client_id, event_type, body, status, next_attempt_at, created_at)
             SELECT CAST(?1 AS TEXT), CAST(?2 AS TEXT), CAST(?3 AS TEXT), CAST(?4 AS TEXT), 'pending', CAST(?5 AS BIGINT), CAST(?5 AS BIGINT) FROM clients
             WHERE id = ?2 AND webhook_secret_sealed IS NOT NULL AND disabled_at IS NULL",
            args![id, client_id, event_type, body, now],
        )? == 1)
    }

    /// Records a back-channel logout notice for `client_id` (enabled, with a
    /// `backchannel_logout_uri`: the caller checked): the user it is about and the session
    /// that ended, if one did. The logout token is made at each delivery attempt, so its
    /// short `exp` holds on a retry too.
    pub fn enqueue_logout(
        &self,
        client_id: &str,
        user_id: &str,
        sid: Option<&str>,
        now: i64,
    ) -> StoreResult<()> {
        let id = uuid::Uuid::new_v4().to_string();
        let body = json!({"userId": user_id, "sid": sid}).to_string();
        exec(
            self.conn,
            "INSERT INTO webhook_events (id, client_id, event_type, body, status, next_attempt_at, created_at, kind)
             VALUES (?1, ?2, 'backchannelLogout', ?3, 'pending', ?4, ?4, 'backchannel_logout')",
            args![id, client_id, body, now],
        )?;
        Ok(())
    }

    /// Claims up to `limit` due events for `lease_secs`; each is returned to exactly one caller.
    pub fn claim_due(&self, now: i64, lease_secs: i64, limit: i64) -> StoreResult<Vec<Event>> {
        self.conn.query_all(
            &format!(
                "UPDATE webhook_events SET next_attempt_at = CAST(?1 AS BIGINT) + CAST(?2 AS BIGINT)
                 WHERE id IN (SELECT id FROM webhook_events
                              WHERE status = 'pending' AND next_attempt_at <= ?1
                              ORDER BY next_attempt_at LIMIT ?3 {SKIP_LOCKED})
                 RETURNING {COLUMNS}",
                SKIP_LOCKED = match self.conn.dialect() {
                    Dialect::Sqlite => "",
                    Dialect::Postgres => "FOR UPDATE SKIP LOCKED",
                }
            ),
            args![now, lease_secs, limit],
            from_row,
        )
    }

    pub fn mark_delivered(&self, id: &str, now: i64) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE webhook_events SET status = 'delivered', delivered_at = ?2, attempts = attempts + 1, last_error = NULL
             WHERE id = ?1",
            args![id, now],
        )?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or dead when `retry_at` is `None`.
    pub fn mark_failed(&self, id: &str, error: &str, retry_at: Option<i64>) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE webhook_events SET attempts = attempts + 1, last_error = ?2,
                 status = CASE WHEN CAST(?3 AS BIGINT) IS NULL THEN 'dead' ELSE 'pending' END,
                 next_attempt_at = COALESCE(CAST(?3 AS BIGINT), next_attempt_at)
             WHERE id = ?1",
            args![id, error, retry_at],
        )?;
        Ok(())
    }

    /// Dead events, newest first, optionally for one client.
    pub fn dead(&self, client_id: Option<&str>, limit: i64) -> StoreResult<Vec<Event>> {
        self.conn.query_all(
            &format!(
                "SELECT {COLUMNS} FROM webhook_events
                 WHERE status = 'dead' AND (CAST(?1 AS TEXT) IS NULL OR client_id = ?1)
                 ORDER BY created_at DESC, rowid DESC LIMIT ?2"
            ),
            args![client_id, limit],
            from_row,
        )
    }

    pub fn get(&self, id: &str) -> StoreResult<Option<Event>> {
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM webhook_events WHERE id = ?1"),
            args![id],
            from_row,
        )
    }

    /// Puts a dead event back in the queue with a fresh set of attempts.
    pub fn redeliver(&self, id: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = ?2
             WHERE id = ?1 AND status = 'dead'",
            args![id, now],
        )? == 1)
    }
}
