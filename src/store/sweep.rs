//! Deletes what has expired, so the database stays bounded under sustained load.

use super::{exec, StoreResult};
use rusqlite::Connection;

const DELIVERED_EVENTS_KEPT_SECS: i64 = 7 * 24 * 3600;

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
    // Delivered webhook events are kept a while for support, then go.
    n += exec(
        conn,
        "DELETE FROM webhook_events WHERE status = 'delivered' AND delivered_at < ?1",
        [now - DELIVERED_EVENTS_KEPT_SECS],
    )?;
    Ok(n)
}
