//! The readiness write: one row rewritten on every `/readyz`, so the probe fails when writes do.

use super::{exec, StoreResult};
use rusqlite::Connection;

/// Records that a write succeeded at `now`.
pub fn touch(c: &Connection, now: i64) -> StoreResult<()> {
    exec(
        c,
        "INSERT INTO health (id, checked_at) VALUES (1, ?1)
         ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        [now],
    )?;
    Ok(())
}
