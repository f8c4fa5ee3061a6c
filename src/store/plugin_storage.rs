//! Institution scripts' own key-value storage: one row per institution and key, its value as
//! JSON text, until `expires_at`. Expired rows are invisible here and the sweeper removes them.
//! Every method takes the institution, so a script only ever reaches its own keys.

use super::sql::{args, Conn, Dialect};
use super::{exec, StoreResult};

/// Why a write that would add a key was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The institution already holds as many live keys as it may.
    Full,
    /// `incr` on a key whose live value is not an integer.
    NotACounter,
}

/// The storage of institution scripts, as one transaction sees it (`tx.plugin_storage()`).
pub struct PluginStorage<'a> {
    pub(super) conn: Conn<'a>,
}

impl PluginStorage<'_> {
    /// The live value of `name`, as JSON text.
    pub fn get(&self, institution: &str, name: &str, now: i64) -> StoreResult<Option<String>> {
        self.conn.query_opt(
            "SELECT value FROM plugin_storage
             WHERE institution = ?1 AND name = ?2 AND expires_at > ?3",
            args![institution, name, now],
            |r| r.get(0),
        )
    }

    /// Whether `name` may be written: it is live already, or the institution holds fewer
    /// than `max_keys` live keys.
    fn has_room(
        &self,
        institution: &str,
        name: &str,
        now: i64,
        max_keys: i64,
    ) -> StoreResult<bool> {
        if self.get(institution, name, now)?.is_some() {
            return Ok(true);
        }
        // A new key: on PostgreSQL, writers adding keys for one institution take turns (an
        // advisory lock until the transaction ends), so two cannot both count 9,999 and both
        // add; the count below, a new statement, sees the previous writer's commit. SQLite's
        // single writer already makes this one step.
        if self.conn.dialect() == Dialect::Postgres {
            self.conn.query_one(
                "SELECT pg_advisory_xact_lock(hashtextextended(?1, 0))",
                args![format!("plugin_storage:{institution}")],
                |_| Ok(()),
            )?;
        }
        let live: i64 = self.conn.query_one(
            "SELECT COUNT(*) FROM plugin_storage WHERE institution = ?1 AND expires_at > ?2",
            args![institution, now],
            |r| r.get(0),
        )?;
        Ok(live < max_keys)
    }

    /// Writes `value` (JSON text) under `name` until `expires_at`.
    pub fn set(
        &self,
        institution: &str,
        name: &str,
        value: &str,
        now: i64,
        expires_at: i64,
        max_keys: i64,
    ) -> StoreResult<Result<(), Refused>> {
        if !self.has_room(institution, name, now, max_keys)? {
            return Ok(Err(Refused::Full));
        }
        exec(
            self.conn,
            "INSERT INTO plugin_storage (institution, name, value, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (institution, name) DO UPDATE SET value = ?3, expires_at = ?4",
            args![institution, name, value, expires_at],
        )?;
        Ok(Ok(()))
    }

    /// Removes `name`; whether a live value was there.
    pub fn delete(&self, institution: &str, name: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "DELETE FROM plugin_storage WHERE institution = ?1 AND name = ?2 AND expires_at > ?3",
            args![institution, name, now],
        )? == 1)
    }

    /// Adds one to the counter `name` and returns the new count. A counter that is not live
    /// starts at 1 and lives until `expires_at`; later increments keep that expiry (a fixed
    /// window). One conditional UPSERT, so increments on several nodes at once each count.
    pub fn incr(
        &self,
        institution: &str,
        name: &str,
        now: i64,
        expires_at: i64,
        max_keys: i64,
    ) -> StoreResult<Result<i64, Refused>> {
        // Checked first so that PostgreSQL is never asked to read text as a number.
        if let Some(v) = self.get(institution, name, now)? {
            if v.parse::<i64>().is_err() {
                return Ok(Err(Refused::NotACounter));
            }
        } else if !self.has_room(institution, name, now, max_keys)? {
            return Ok(Err(Refused::Full));
        }
        let count: String = self.conn.query_one(
            "INSERT INTO plugin_storage (institution, name, value, expires_at) VALUES (?1, ?2, '1', ?4)
             ON CONFLICT (institution, name) DO UPDATE SET
                 value = CASE WHEN plugin_storage.expires_at > ?3
                     THEN CAST(CAST(plugin_storage.value AS BIGINT) + 1 AS TEXT) ELSE '1' END,
                 expires_at = CASE WHEN plugin_storage.expires_at > ?3
                     THEN plugin_storage.expires_at ELSE ?4 END
             RETURNING value",
            args![institution, name, now, expires_at],
            |r| r.get(0),
        )?;
        Ok(Ok(count.parse().unwrap_or(i64::MAX)))
    }
}
