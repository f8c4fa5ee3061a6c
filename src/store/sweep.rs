//! Deletes what has expired, and audit entries past their retention, so the database stays
//! bounded under sustained load.

use super::sql::{args, Conn, Dialect};
use super::token_handouts::TokenHandouts;
use super::{exec, StoreResult};

/// Any fixed number: the advisory lock of the node that sweeps (PostgreSQL).
pub const SWEEP_LOCK: i64 = 0x7377_6565_7000;

const DELIVERED_EVENTS_KEPT_SECS: i64 = 7 * 24 * 3600;

/// An expired CIBA request is kept this long, so a client polling it hears `expired_token`
/// (CIBA Core §11) rather than that it is unknown.
const CIBA_REQUESTS_KEPT_SECS: i64 = 600;

/// Each table, and how to name its rows (access tokens are keyed by jti, without rowids).
const EXPIRING: &[(&str, &str)] = &[
    ("authorization_codes", "rowid"),
    ("access_tokens", "jti"),
    ("refresh_tokens", "rowid"),
    ("interactions", "rowid"),
    ("sessions", "rowid"),
    ("seen_jtis", "rowid"),
    ("pushed_requests", "rowid"),
    ("device_authorizations", "rowid"),
    ("ciba_requests", "rowid"),
    ("saml_requests", "rowid"),
    ("federated_logins", "rowid"),
    ("login_failures", "key_hash"),
    ("plugin_storage", "rowid"),
    // A grant outlives its tokens only while one of them can still be used.
    ("grants", "rowid"),
];

/// What one round removed, and whether rows it had no room for are left.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub rows: usize,
    pub more: bool,
}

/// Deletes expired rows within one transaction (`tx.sweep()`).
pub struct Sweep<'a> {
    pub(super) conn: Conn<'a>,
}

impl Sweep<'_> {
    /// Removes at most `limit` expired rows from each table. Small rounds keep every write that
    /// queues behind one (they share the single writer) waiting only briefly; callers repeat while
    /// `more` is set.
    pub fn expired(&self, now: i64, limit: i64) -> StoreResult<Swept> {
        self.expired_and_audit(now, None, limit)
    }

    /// As `expired`, and with `handouts_before`, at most `limit` hand-out audit entries
    /// recorded before it (`handout.audit_retention_days`).
    pub fn expired_and_audit(
        &self,
        now: i64,
        handouts_before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Swept> {
        let mut swept = Swept::default();
        // Several nodes share one PostgreSQL database: one sweeps at a time (the others skip
        // the round), so their deletes never wait on each other's row locks or deadlock.
        if self.conn.dialect() == Dialect::Postgres
            && !self.conn.query_one(
                "SELECT pg_try_advisory_xact_lock(?1)",
                args![SWEEP_LOCK],
                |r| r.get::<bool>(0),
            )?
        {
            return Ok(swept);
        }
        for (table, key) in EXPIRING {
            // PostgreSQL has no rowid: its tuple id names a row within one statement.
            let key = match (*key, self.conn.dialect()) {
                ("rowid", Dialect::Postgres) => "ctid",
                (key, _) => key,
            };
            let cutoff = match *table {
                "ciba_requests" => now - CIBA_REQUESTS_KEPT_SECS,
                _ => now,
            };
            let n = exec(
                self.conn,
                &format!(
                    "DELETE FROM {table} WHERE {key} IN
                     (SELECT {key} FROM {table} WHERE expires_at < ?1 LIMIT ?2)"
                ),
                args![cutoff, limit],
            )?;
            swept.rows += n;
            swept.more |= n as i64 == limit;
        }
        // Delivered webhook events are kept a while for support, then go.
        let n = exec(
            self.conn,
            &format!(
                "DELETE FROM webhook_events WHERE {key} IN
                 (SELECT {key} FROM webhook_events WHERE status = 'delivered' AND delivered_at < ?1 LIMIT ?2)",
                key = match self.conn.dialect() {
                    Dialect::Sqlite => "rowid",
                    Dialect::Postgres => "ctid",
                }
            ),
            args![now - DELIVERED_EVENTS_KEPT_SECS, limit],
        )?;
        swept.rows += n;
        swept.more |= n as i64 == limit;
        if let Some(cutoff) = handouts_before {
            let n = TokenHandouts { conn: self.conn }.delete_before(cutoff, limit)?;
            swept.rows += n;
            swept.more |= n as i64 == limit;
        }
        Ok(swept)
    }
}
