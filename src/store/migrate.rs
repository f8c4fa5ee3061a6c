//! Schema migrations: SQLite's, tracked in its `user_version`, and PostgreSQL's, tracked in a
//! table and applied under an advisory lock so that nodes starting together apply each once.

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
    include_str!("migrations/0014_signing_keys.sql"),
    include_str!("migrations/0015_device_authorizations.sql"),
    include_str!("migrations/0016_logout.sql"),
    include_str!("migrations/0017_ciba.sql"),
    include_str!("migrations/0018_ciba_bank_reference.sql"),
    include_str!("migrations/0019_grant_budgets.sql"),
    include_str!("migrations/0020_federation.sql"),
    include_str!("migrations/0021_token_handouts.sql"),
    include_str!("migrations/0022_saml_requests.sql"),
    include_str!("migrations/0023_plugin_storage.sql"),
    include_str!("migrations/0024_ciba_budget.sql"),
    include_str!("migrations/0025_grants_by_user.sql"),
    include_str!("migrations/0026_saml_sp_key.sql"),
    include_str!("migrations/0027_dashboard_federated_logins.sql"),
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

const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_schema.sql"),
    include_str!("migrations/postgres/0002_signing_keys.sql"),
    include_str!("migrations/postgres/0003_device_authorizations.sql"),
    include_str!("migrations/postgres/0004_logout.sql"),
    include_str!("migrations/postgres/0005_ciba.sql"),
    include_str!("migrations/postgres/0006_ciba_bank_reference.sql"),
    include_str!("migrations/postgres/0007_grant_budgets.sql"),
    include_str!("migrations/postgres/0008_federation.sql"),
    include_str!("migrations/postgres/0009_token_handouts.sql"),
    include_str!("migrations/postgres/0010_saml_requests.sql"),
    include_str!("migrations/postgres/0011_plugin_storage.sql"),
    include_str!("migrations/postgres/0012_ciba_budget.sql"),
    include_str!("migrations/postgres/0013_grants_by_user.sql"),
    include_str!("migrations/postgres/0014_saml_sp_key.sql"),
    include_str!("migrations/postgres/0015_dashboard_federated_logins.sql"),
];

/// Any fixed number: the advisory lock every node takes while it migrates.
const MIGRATION_LOCK: i64 = 0x636f_6e73_656e_7472;

pub fn apply_postgres(s: &super::postgres::Session) -> StoreResult<()> {
    s.batch("BEGIN")?;
    let applied = (|| {
        s.batch(&format!(
            "SELECT pg_advisory_xact_lock({MIGRATION_LOCK});
             CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"
        ))?;
        let rows = s.query(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?;
        let current: i64 = rows.first().map(|r| r.get(0)).unwrap_or(0);
        for (i, sql) in POSTGRES_MIGRATIONS
            .iter()
            .enumerate()
            .skip(current as usize)
        {
            s.batch(sql)?;
            s.batch(&format!(
                "INSERT INTO schema_migrations VALUES ({}, extract(epoch from now())::bigint)",
                i + 1
            ))?;
        }
        Ok(())
    })();
    match applied {
        Ok(()) => s.batch("COMMIT"),
        Err(e) => {
            let _ = s.batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The files of `dir`, in file-name (= number) order.
    fn files_in_order(dir: &str) -> Vec<String> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Migrations are applied by their position in the lists, so each list must hold every
    /// file of its folder in number order: branches adding migrations side by side can merge
    /// them out of order, and a database would then skip or repeat one.
    #[test]
    fn every_migration_is_listed_once_in_number_order() {
        let sqlite = files_in_order("src/store/migrations");
        assert!(sqlite
            .iter()
            .map(String::as_str)
            .eq(MIGRATIONS.iter().copied()));
        let postgres = files_in_order("src/store/migrations/postgres");
        assert!(postgres
            .iter()
            .map(String::as_str)
            .eq(POSTGRES_MIGRATIONS.iter().copied()));
    }

    /// A sign-in in progress written before migration 0027 (an interaction's) and its SAML
    /// request read back after it as the interaction's, and are consumed as before.
    #[tokio::test]
    async fn sign_ins_in_progress_written_before_0027_still_work() {
        use crate::store::federation::LoginFor;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..26] {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 26;
             INSERT INTO interactions (id, browser_hash, csrf_token, request, expires_at)
                 VALUES ('i1', 'b', 'c', '{}', 100);
             INSERT INTO federated_logins (interaction_id, provider, state_hash, data_sealed, expires_at)
                 VALUES ('i1', 'up', 'h', 'sealed', 100);
             INSERT INTO saml_requests (relay_hash, request_id, provider, interaction_id, expires_at)
                 VALUES ('h', 'r1', 'up', 'i1', 100);",
        )
        .unwrap();
        drop(conn);
        let store = crate::store::Store::open(&path).unwrap();
        let (pending, request) = store
            .read(|tx| {
                Ok((
                    tx.federation().pending_by_state("h", 50)?,
                    tx.saml_requests().get("h", 50)?,
                ))
            })
            .await
            .unwrap();
        let pending = pending.expect("the row is kept");
        assert_eq!(pending.login_for, LoginFor::Interaction("i1".into()));
        assert_eq!(
            (pending.state_hash.as_str(), pending.data_sealed.as_str()),
            ("h", "sealed")
        );
        assert_eq!(request.unwrap().interaction_id.as_deref(), Some("i1"));
        let taken = store
            .write(|tx| tx.federation().take_login("h", "up"))
            .await
            .unwrap();
        assert!(taken, "consumed once, by its state digest");
    }
}
