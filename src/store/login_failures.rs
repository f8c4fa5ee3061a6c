//! Login failure counters (the throttle's memory), one row per key digest. A row lives
//! `window` seconds after its last failure (`expires_at`); a failure after that starts
//! counting again.

use super::sql::{args, Conn, Dialect};
use super::{exec, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// The last failure's time plus the window it was counted for.
    pub expires_at: i64,
}

/// Failed sign-in counters, as one transaction sees them (`tx.login_failures()`).
pub struct LoginFailures<'a> {
    pub(super) conn: Conn<'a>,
}

impl LoginFailures<'_> {
    /// The live counter for `key_hash`, if any.
    pub fn get(&self, key_hash: &str, now: i64) -> StoreResult<Option<Failures>> {
        self.conn.query_opt(
            "SELECT failures, expires_at FROM login_failures WHERE key_hash = ?1 AND expires_at > ?2",
            args![key_hash, now],
            |r| {
                Ok(Failures {
                    count: r.get(0)?,
                    expires_at: r.get(1)?,
                })
            })
    }

    /// Holds `key_hash` until the transaction ends, so that judging an attempt and counting it
    /// are one step even when nodes admit attempts for the same key at once (SQLite's single
    /// writer already makes them one; on PostgreSQL an advisory lock on the key's hash does).
    /// Hold several keys in one order (`hold_all`) so two attempts never wait on each other.
    pub fn hold_all(&self, keys: &[&str]) -> StoreResult<()> {
        if self.conn.dialect() == Dialect::Postgres {
            let mut keys = keys.to_vec();
            keys.sort_unstable();
            for key in keys {
                self.conn.query_one(
                    "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))",
                    args![key],
                    |_| Ok(()),
                )?;
            }
        }
        Ok(())
    }

    /// Counts one more failure for `key_hash` at `now`, kept for `window` seconds.
    pub fn record(&self, key_hash: &str, now: i64, window: i64) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO login_failures (key_hash, failures, expires_at)
             VALUES (?1, 1, CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT))
             ON CONFLICT (key_hash) DO UPDATE SET
                 failures = CASE WHEN login_failures.expires_at > ?2 THEN login_failures.failures + 1 ELSE 1 END,
                 expires_at = CAST(?2 AS BIGINT) + CAST(?3 AS BIGINT)",
            args![key_hash, now, window],
        )?;
        Ok(())
    }

    /// Takes back one failure counted for `key_hash` (an attempt counted up front that succeeded).
    pub fn forgive(&self, key_hash: &str) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE login_failures SET failures = failures - 1 WHERE key_hash = ?1 AND failures > 0",
            args![key_hash],
        )?;
        Ok(())
    }

    pub fn clear(&self, key_hash: &str) -> StoreResult<()> {
        exec(
            self.conn,
            "DELETE FROM login_failures WHERE key_hash = ?1",
            args![key_hash],
        )?;
        Ok(())
    }
}
