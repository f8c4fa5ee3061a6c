//! The replay cache: a JWT id may be seen once per scope until it expires.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// The replay cache, as one transaction sees it (`tx.replay()`).
pub struct Replay<'a> {
    pub(super) conn: Conn<'a>,
}

impl Replay<'_> {
    /// Records `jti` for `scope`; false when it was already seen (a replay).
    pub fn first_use(&self, scope: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        // No error for a replay: on PostgreSQL a failed statement would end the transaction
        // the job shares with others.
        let inserted = exec(
            self.conn,
            "INSERT INTO seen_jtis (scope, jti, expires_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
            args![scope, jti, expires_at],
        )?;
        Ok(inserted == 1)
    }
}
