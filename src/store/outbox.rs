//! The webhook outbox. `enqueue` runs inside the transaction of the change it reports, so an
//! event exists exactly when its change does; workers claim due events with a lease so that
//! several nodes never deliver the same attempt twice.

use super::{exec, optional, StoreResult};
use rusqlite::{params, Connection, Row};
use serde_json::{json, Value};

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const DEAD: &str = "dead";

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
}

const COLUMNS: &str = "id, client_id, event_type, body, status, attempts, next_attempt_at, last_error, created_at, delivered_at";

fn from_row(r: &Row) -> rusqlite::Result<Event> {
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
    })
}

/// The webhook outbox, as one transaction sees it (`tx.outbox()`).
pub struct Outbox<'a> {
    pub(super) conn: &'a Connection,
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
             SELECT ?1, ?2, ?3, ?4, 'pending', ?5, ?5 FROM clients
             WHERE id = ?2 AND webhook_secret_sealed IS NOT NULL AND disabled_at IS NULL",
            params![id, client_id, event_type, body, now],
        )? == 1)
    }

    /// Claims up to `limit` due events for `lease_secs`; each is returned to exactly one caller.
    pub fn claim_due(&self, now: i64, lease_secs: i64, limit: i64) -> StoreResult<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "UPDATE webhook_events SET next_attempt_at = ?1 + ?2
             WHERE id IN (SELECT id FROM webhook_events
                          WHERE status = 'pending' AND next_attempt_at <= ?1
                          ORDER BY next_attempt_at LIMIT ?3)
             RETURNING {COLUMNS}"
        ))?;
        let rows = stmt.query_map(params![now, lease_secs, limit], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn mark_delivered(&self, id: &str, now: i64) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE webhook_events SET status = 'delivered', delivered_at = ?2, attempts = attempts + 1, last_error = NULL
             WHERE id = ?1",
            params![id, now],
        )?;
        Ok(())
    }

    /// Records a failed attempt: retried at `retry_at`, or dead when `retry_at` is `None`.
    pub fn mark_failed(&self, id: &str, error: &str, retry_at: Option<i64>) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE webhook_events SET attempts = attempts + 1, last_error = ?2,
                 status = CASE WHEN ?3 IS NULL THEN 'dead' ELSE 'pending' END,
                 next_attempt_at = COALESCE(?3, next_attempt_at)
             WHERE id = ?1",
            params![id, error, retry_at],
        )?;
        Ok(())
    }

    /// Dead events, newest first, optionally for one client.
    pub fn dead(&self, client_id: Option<&str>, limit: i64) -> StoreResult<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM webhook_events
             WHERE status = 'dead' AND (?1 IS NULL OR client_id = ?1)
             ORDER BY created_at DESC, rowid DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![client_id, limit], from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn get(&self, id: &str) -> StoreResult<Option<Event>> {
        optional(
            self.conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM webhook_events WHERE id = ?1"
                ))?
                .query_row([id], from_row),
        )
    }

    /// Puts a dead event back in the queue with a fresh set of attempts.
    pub fn redeliver(&self, id: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE webhook_events SET status = 'pending', attempts = 0, next_attempt_at = ?2
             WHERE id = ?1 AND status = 'dead'",
            params![id, now],
        )? == 1)
    }
}
