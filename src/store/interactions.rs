//! Pending authorization requests between the authorization endpoint and login/consent.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

#[derive(Debug, Clone)]
pub struct Interaction {
    pub id: String,
    /// Digest of the browser-binding cookie: only the browser that started it may continue it.
    pub browser_hash: String,
    pub csrf_token: String,
    /// The validated authorization request, as JSON.
    pub request: String,
    pub user_id: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Option<String>,
    pub sid: Option<String>,
    pub expires_at: i64,
    /// The bank journey's progress as JSON, once one started.
    pub journey: Option<String>,
}

/// Interactions (a sign-in in progress), as one transaction sees them (`tx.interactions()`).
pub struct Interactions<'a> {
    pub(super) conn: Conn<'a>,
}

impl Interactions<'_> {
    pub fn insert(&self, i: &Interaction) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO interactions (id, browser_hash, csrf_token, request, user_id, auth_time, amr, sid, expires_at, journey)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            args![i.id, i.browser_hash, i.csrf_token, i.request, i.user_id, i.auth_time, i.amr, i.sid, i.expires_at, i.journey],
        )?;
        Ok(())
    }

    /// A live, not yet completed interaction.
    pub fn get(&self, id: &str, now: i64) -> StoreResult<Option<Interaction>> {
        self.conn.query_opt(
            "SELECT id, browser_hash, csrf_token, request, user_id, auth_time, amr, sid, expires_at, journey
                 FROM interactions WHERE id = ?1 AND expires_at > ?2 AND completed_at IS NULL",
            args![id, now],
            |r| {
                Ok(Interaction {
                    id: r.get(0)?,
                    browser_hash: r.get(1)?,
                    csrf_token: r.get(2)?,
                    request: r.get(3)?,
                    user_id: r.get(4)?,
                    auth_time: r.get(5)?,
                    amr: r.get(6)?,
                    sid: r.get(7)?,
                    expires_at: r.get(8)?,
                    journey: r.get(9)?,
                })
            })
    }

    /// Records who logged in for this interaction.
    pub fn set_login(
        &self,
        id: &str,
        user_id: &str,
        auth_time: i64,
        amr: &str,
        sid: &str,
    ) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE interactions SET user_id = ?2, auth_time = ?3, amr = ?4, sid = ?5 WHERE id = ?1",
            args![id, user_id, auth_time, amr, sid],
        )?;
        Ok(())
    }

    /// Marks the interaction finished; false if it was already (a replayed form post).
    pub fn complete(&self, id: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE interactions SET completed_at = ?2 WHERE id = ?1 AND completed_at IS NULL",
            args![id, now],
        )? == 1)
    }

    /// Saves the bank journey's progress.
    pub fn set_journey(&self, id: &str, journey: &str) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE interactions SET journey = ?2 WHERE id = ?1 AND completed_at IS NULL",
            args![id, journey],
        )?;
        Ok(())
    }
}
