//! Upstream token hand-out: the per-connection refresh lease that lets exactly one request (on
//! any node) refresh a connection's institution tokens at a time, and the operator's audit log
//! of every hand-out and refusal.

use super::sql::{args, Conn, Row};
use super::{exec, StoreResult};

/// A connection's refresh lease as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    pub holder: String,
    pub expires_at: i64,
    /// Why the last holder's refresh failed (the lease is then free).
    pub failure: Option<String>,
}

/// One audit entry: who asked for which connection's token, and what happened. Never the token.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoutRecord {
    pub id: String,
    pub at: i64,
    pub client_id: String,
    pub user_id: String,
    pub connection_id: String,
    pub institution_id: Option<String>,
    pub refreshed: bool,
    /// `handed_out`, or the error code of the refusal.
    pub outcome: String,
    pub detail: Option<String>,
}

pub const HANDED_OUT: &str = "handed_out";

const COLUMNS: &str =
    "id, at, client_id, user_id, connection_id, institution_id, refreshed, outcome, detail";

fn from_row(r: &Row) -> StoreResult<HandoutRecord> {
    Ok(HandoutRecord {
        id: r.get(0)?,
        at: r.get(1)?,
        client_id: r.get(2)?,
        user_id: r.get(3)?,
        connection_id: r.get(4)?,
        institution_id: r.get(5)?,
        refreshed: r.get::<i64>(6)? != 0,
        outcome: r.get(7)?,
        detail: r.get(8)?,
    })
}

/// Leases and the audit log, as one transaction sees them (`tx.token_handouts()`).
pub struct TokenHandouts<'a> {
    pub(super) conn: Conn<'a>,
}

impl TokenHandouts<'_> {
    /// Takes the refresh lease of a connection for `holder` until `until`, unless another
    /// holder's lease is still live at `now` or a refresh failed after `failures_before`;
    /// whether it was taken. A concurrent taker waits
    /// on the row (PostgreSQL) or the single writer (SQLite) and then sees the lease live.
    pub fn take_lease(
        &self,
        connection_id: &str,
        holder: &str,
        now: i64,
        until: i64,
        failures_before: i64,
    ) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "INSERT INTO upstream_refresh_leases (connection_id, holder, expires_at, failure)
             VALUES (?1, ?2, ?4, NULL)
             ON CONFLICT (connection_id) DO UPDATE
                 SET holder = excluded.holder, expires_at = excluded.expires_at, failure = NULL
                 WHERE upstream_refresh_leases.expires_at <= ?3
                   AND (upstream_refresh_leases.failure IS NULL
                        OR upstream_refresh_leases.expires_at <= ?5)",
            args![connection_id, holder, now, until, failures_before],
        )? == 1)
    }

    pub fn lease(&self, connection_id: &str) -> StoreResult<Option<Lease>> {
        self.conn.query_opt(
            "SELECT holder, expires_at, failure FROM upstream_refresh_leases WHERE connection_id = ?1",
            args![connection_id],
            |r| {
                Ok(Lease {
                    holder: r.get(0)?,
                    expires_at: r.get(1)?,
                    failure: r.get(2)?,
                })
            },
        )
    }

    /// Ends `holder`'s lease; `failure` (why its refresh failed, and when) stays for those
    /// waiting on it, the lease free from then. False when the lease was no longer `holder`'s
    /// (it expired and was taken).
    pub fn release_lease(
        &self,
        connection_id: &str,
        holder: &str,
        failure: Option<(&str, i64)>,
    ) -> StoreResult<bool> {
        let changed = match failure {
            None => exec(
                self.conn,
                "DELETE FROM upstream_refresh_leases WHERE connection_id = ?1 AND holder = ?2",
                args![connection_id, holder],
            )?,
            Some((why, at)) => exec(
                self.conn,
                "UPDATE upstream_refresh_leases SET holder = '', expires_at = ?4, failure = ?3
                 WHERE connection_id = ?1 AND holder = ?2",
                args![connection_id, holder, why, at],
            )?,
        };
        Ok(changed == 1)
    }

    pub fn record(&self, r: &HandoutRecord) -> StoreResult<()> {
        exec(
            self.conn,
            &format!(
                "INSERT INTO token_handouts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            args![
                r.id,
                r.at,
                r.client_id,
                r.user_id,
                r.connection_id,
                r.institution_id,
                i64::from(r.refreshed),
                r.outcome,
                r.detail
            ],
        )?;
        Ok(())
    }

    /// Deletes at most `limit` entries recorded before `cutoff` (oldest first, by the `at`
    /// index); how many went.
    pub fn delete_before(&self, cutoff: i64, limit: i64) -> StoreResult<usize> {
        exec(
            self.conn,
            "DELETE FROM token_handouts WHERE id IN
             (SELECT id FROM token_handouts WHERE at < ?1 ORDER BY at LIMIT ?2)",
            args![cutoff, limit],
        )
    }

    /// The newest entries first, optionally for one client and/or one connection.
    pub fn list(
        &self,
        client_id: Option<&str>,
        connection_id: Option<&str>,
        limit: i64,
    ) -> StoreResult<Vec<HandoutRecord>> {
        self.conn.query_all(
            &format!(
                "SELECT {COLUMNS} FROM token_handouts
                 WHERE (CAST(?1 AS TEXT) IS NULL OR client_id = ?1)
                   AND (CAST(?2 AS TEXT) IS NULL OR connection_id = ?2)
                 ORDER BY at DESC, rowid DESC LIMIT ?3"
            ),
            args![client_id, connection_id, limit],
            from_row,
        )
    }
}
