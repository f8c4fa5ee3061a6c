//! Remembered consent per user and client.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// A remembered consent: the scopes a user approved for a client, and when.
#[derive(Debug, Clone)]
pub struct Consent {
    pub client_id: String,
    pub scopes: String,
    pub granted_at: i64,
}

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

    /// Every consent the user remembered, by client.
    pub fn for_user(&self, user_id: &str) -> StoreResult<Vec<Consent>> {
        self.conn.query_all(
            "SELECT client_id, scopes, granted_at FROM consents WHERE user_id = ?1 ORDER BY granted_at, client_id",
            args![user_id],
            |r| {
                Ok(Consent {
                    client_id: r.get(0)?,
                    scopes: r.get(1)?,
                    granted_at: r.get(2)?,
                })
            },
        )
    }

    /// Forgets the user's consent for this client; whether there was one.
    pub fn forget(&self, user_id: &str, client_id: &str) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "DELETE FROM consents WHERE user_id = ?1 AND client_id = ?2",
            args![user_id, client_id],
        )? == 1)
    }
}
