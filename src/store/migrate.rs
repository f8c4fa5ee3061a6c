//! Schema migrations, tracked in SQLite's `user_version`.

use super::StoreResult;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_core.sql"),
    include_str!("migrations/0002_fapi.sql"),
    include_str!("migrations/0003_dpop.sql"),
    include_str!("migrations/0004_refresh_x5t.sql"),
    include_str!("migrations/0005_sealed_secret.sql"),
    include_str!("migrations/0006_connections.sql"),
    include_str!("migrations/0007_client_admin.sql"),
    include_str!("migrations/0008_webhooks.sql"),
    include_str!("migrations/0009_access_token_digest.sql"),
    include_str!("migrations/0010_access_tokens_by_jti.sql"),
    include_str!("migrations/0011_health.sql"),
    include_str!("migrations/0012_login_throttle.sql"),
    include_str!("migrations/0013_refresh_successor.sql"),
];

pub fn apply(conn: &mut Connection) -> StoreResult<()> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}
