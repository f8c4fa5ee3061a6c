//! The replay cache: a JWT id may be seen once per scope until it expires.

use super::sql::{args, Conn};
use super::{exec, StoreError, StoreResult};

/// The replay cache, as one transaction sees it (`tx.replay()`).
pub struct Replay<'a> {
    pub(super) conn: Conn<'a>,
}

impl Replay<'_> {
    /// Records `jti` for `scope`; false when it was already seen (a replay).
    pub fn first_use(&self, scope: &str, jti: &str, expires_at: i64) -> StoreResult<bool> {
        match exec(
            self.conn,
            "INSERT INTO seen_jtis (scope, jti, expires_at) VALUES (?1, ?2, ?3)",
            args![scope, jti, expires_at],
        ) {
            Ok(_) => Ok(true),
            Err(StoreError::Conflict) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
