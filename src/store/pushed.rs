//! Pushed authorization requests (RFC 9126), stored by the digest of their request_uri.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// Pushed authorization requests, as one transaction sees them (`tx.pushed()`).
pub struct Pushed<'a> {
    pub(super) conn: Conn<'a>,
}

impl Pushed<'_> {
    pub fn insert(
        &self,
        id_hash: &str,
        client_id: &str,
        request: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO pushed_requests (id_hash, client_id, request, expires_at) VALUES (?1, ?2, ?3, ?4)",
            args![id_hash, client_id, request, expires_at],
        )?;
        Ok(())
    }

    /// The stored request for a live, unused request_uri of `client_id`.
    pub fn get(&self, id_hash: &str, client_id: &str, now: i64) -> StoreResult<Option<String>> {
        self.conn.query_opt(
            "SELECT request FROM pushed_requests
                 WHERE id_hash = ?1 AND client_id = ?2 AND expires_at > ?3 AND used_at IS NULL",
            args![id_hash, client_id, now],
            |r| r.get(0),
        )
    }

    /// Marks a request_uri used once its authorization completes; false if it already was.
    pub fn mark_used(&self, id_hash: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE pushed_requests SET used_at = ?2 WHERE id_hash = ?1 AND used_at IS NULL",
            args![id_hash, now],
        )? == 1)
    }
}
