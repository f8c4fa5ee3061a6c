//! Remembered consent per user and client.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// Remembered consents, as one transaction sees them (`tx.consents()`).
pub struct Consents<'a> {
    pub(super) conn: Conn<'a>,
}

impl Consents<'_> {
    /// The scopes the user has already consented to for this client.
    pub fn get(&self, user_id: &str, client_id: &str) -> StoreResult<Option<String>> {
        self.conn.query_opt(
            "SELECT scopes FROM consents WHERE user_id = ?1 AND client_id = ?2",
            args![user_id, client_id],
            |r| r.get(0),
        )
    }

    pub fn remember(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &str,
        now: i64,
    ) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO consents (user_id, client_id, scopes, granted_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
            args![user_id, client_id, scopes, now],
        )?;
        Ok(())
    }
}
