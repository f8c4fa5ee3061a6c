//! The signing keys every node signs with and publishes: one row holding the whole key set as
//! one sealed document (opaque text here: sealing it and its format belong to `keys` and
//! `jose`), and a version that every change bumps. Nodes notice a rotation by reading that one
//! integer; a rotation replaces the row only at the version it read, so of two rotations
//! racing one wins and the other learns it lost.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// The key set as stored: its version and the sealed document.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKeySet {
    pub version: i64,
    pub sealed: String,
}

/// The stored signing keys, as one transaction sees them (`tx.signing_keys()`).
pub struct SigningKeys<'a> {
    pub(super) conn: Conn<'a>,
}

impl SigningKeys<'_> {
    /// The version of the stored key set, if there is one: what the key watcher polls.
    pub fn version(&self) -> StoreResult<Option<i64>> {
        self.conn.query_opt(
            "SELECT version FROM signing_keys WHERE id = 1",
            args![],
            |r| r.get(0),
        )
    }

    /// The stored key set, if there is one.
    pub fn get(&self) -> StoreResult<Option<SealedKeySet>> {
        self.conn.query_opt(
            "SELECT version, sealed_keys FROM signing_keys WHERE id = 1",
            args![],
            |r| {
                Ok(SealedKeySet {
                    version: r.get(0)?,
                    sealed: r.get(1)?,
                })
            },
        )
    }

    /// Stores the first key set (version 1) unless one is stored already; whether this one
    /// was. Of nodes starting at the same instant, one stores its set and the others then
    /// read that one.
    pub fn insert_if_absent(&self, sealed: &str, now: i64) -> StoreResult<bool> {
        let n = exec(
            self.conn,
            "INSERT INTO signing_keys (id, version, sealed_keys, updated_at)
             VALUES (1, 1, ?1, ?2)
             ON CONFLICT (id) DO NOTHING",
            args![sealed, now],
        )?;
        Ok(n == 1)
    }

    /// Replaces the key set stored at `version` with `sealed`, at `version + 1`; false (and
    /// nothing written) when the stored set is no longer at `version`.
    pub fn replace_if_version(&self, version: i64, sealed: &str, now: i64) -> StoreResult<bool> {
        let n = exec(
            self.conn,
            "UPDATE signing_keys SET version = version + 1, sealed_keys = ?2, updated_at = ?3
             WHERE id = 1 AND version = ?1",
            args![version, sealed, now],
        )?;
        Ok(n == 1)
    }
}
