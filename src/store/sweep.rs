//! Deletes what has expired, so the database stays bounded under sustained load.

use super::{exec, StoreResult};
use rusqlite::Connection;

/// Removes expired rows; returns how many went.
pub fn expired(conn: &Connection, now: i64) -> StoreResult<usize> {
    let mut n = 0;
    for sql in [
        "DELETE FROM authorization_codes WHERE expires_at < ?1",
        "DELETE FROM access_tokens WHERE expires_at < ?1",
        "DELETE FROM refresh_tokens WHERE expires_at < ?1",
        "DELETE FROM interactions WHERE expires_at < ?1",
        "DELETE FROM sessions WHERE expires_at < ?1",
        "DELETE FROM seen_jtis WHERE expires_at < ?1",
        "DELETE FROM pushed_requests WHERE expires_at < ?1",
        // A grant outlives its tokens only while one of them can still be used.
        "DELETE FROM grants WHERE expires_at < ?1",
    ] {
        n += exec(conn, sql, [now])?;
    }
    Ok(n)
}
