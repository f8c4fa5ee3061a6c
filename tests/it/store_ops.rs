//! The database's own operations from the command line: an online SQLite backup that restores,
//! and moving a running installation from SQLite into PostgreSQL.

use crate::cli::consentry;
use crate::harness::*;
use serde_json::json;

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `consentry backup --to FILE` copies the database while the provider serves; a provider
/// started on the copy (with the same keys folder) knows its clients, users and tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_into_a_working_provider() {
    let s = TestServer::start_with(|c| c.database_url = None).await;
    let client = s.client(json!({})).await;
    s.user("alice").await;
    let tokens = tokens_for(&s, &client, "alice").await;
    let data = s.provider.config.data_dir.clone();
    let copy = tempfile::tempdir().unwrap();
    let file = copy.path().join("consentry.sqlite");
    ok(&consentry(
        &[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            file.to_str().unwrap(),
        ],
        None,
    ));
    // A second backup to the same file is refused rather than overwriting it.
    let again = consentry(
        &[
            "backup",
            "--data-dir",
            data.to_str().unwrap(),
            "--to",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!again.status.success());
    let keys = copy.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for entry in std::fs::read_dir(data.join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), keys.join(entry.file_name())).unwrap();
    }
    // The same installation, restored: the same issuer, whatever port it listens on now.
    let issuer = s.provider.config.issuer();
    drop(s);
    let restored = TestServer::start_in(copy, move |c| {
        c.database_url = None;
        c.issuer = Some(issuer);
    })
    .await;
    let info = restored
        .introspect(&client, tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info["active"], true, "{info}");
    let (status, body) = restored
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
}

/// `consentry migrate-store` moves an installation from SQLite into PostgreSQL: a flow started
/// before the move (a code not yet redeemed, a refresh token) completes after it, on a
/// provider running on PostgreSQL with the same data folder (its keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_started_before_a_move_to_postgres_completes_after_it() {
    let s = TestServer::start_with(|c| c.database_url = None).await;
    let client = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let earlier = tokens_for(&s, &client, "alice").await;
    let (code, verifier) = code_for(&s, &client, "alice").await;
    rows_in_the_later_tables(&s, &alice, &client.id).await;
    let before = later_table_counts(&s).await;
    let issuer = s.provider.config.issuer();
    let dir = s.stop().await;
    let target = new_postgres_schema().await;
    let sqlite = format!("sqlite:{}", dir.path().join("consentry.sqlite").display());
    let out = ok(&consentry(
        &["migrate-store", "--from", &sqlite, "--to", &target],
        None,
    ));
    assert!(out.contains("authorization_codes: "), "{out}");
    // Into a database that already holds rows: refused, nothing overwritten.
    let again = consentry(&["migrate-store", "--from", &sqlite, "--to", &target], None);
    assert!(!again.status.success());
    let moved = TestServer::start_in(dir, move |c| {
        c.database_url = Some(target);
        c.issuer = Some(issuer);
    })
    .await;
    assert!(moved.provider.store.sqlite_path().is_none());
    assert_eq!(
        later_table_counts(&moved).await,
        before,
        "federation, SAML, hand-out and plugin storage rows are all copied, each once"
    );
    assert_eq!(
        moved
            .sql_count(
                "SELECT count(DISTINCT name) FROM plugin_storage WHERE institution = 'bank-a'"
            )
            .await,
        2500,
        "paged by a unique key: no row skipped or repeated across batches"
    );
    let (status, body) = moved.exchange_code(&client, &code, &verifier).await;
    assert_eq!(status, 200, "the code issued before the move: {body}");
    let (status, body) = moved
        .refresh(&client, earlier["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(
        status, 200,
        "the refresh token issued before the move: {body}"
    );
}

/// Far in the future, so no sweep removes the rows before they are counted.
const LATER: &str = "4102444800";

/// Rows in the tables added after the first schema, with their parents: 2,500 storage keys
/// of one institution (more than a copy batch, all sharing the first column) in an order
/// unlike their key order.
async fn rows_in_the_later_tables(s: &TestServer, user: &str, client: &str) {
    let rows: &[(&str, &[&str])] = &[
        (
            "INSERT INTO interactions (id, browser_hash, csrf_token, request, expires_at)
             VALUES ('mv-i', 'b', 'c', '{}', ?1)",
            &[LATER],
        ),
        (
            "INSERT INTO federated_identities (provider, subject, user_id, created_at)
             VALUES ('idp', 'sub-1', ?1, 1)",
            &[user],
        ),
        (
            "INSERT INTO federated_logins (interaction_id, provider, state_hash, data_sealed, expires_at)
             VALUES ('mv-i', 'idp', 'h', 'sealed', ?1)",
            &[LATER],
        ),
        (
            "INSERT INTO saml_requests (relay_hash, request_id, provider, interaction_id, expires_at)
             VALUES ('relay-1', 'req-1', 'idp', 'mv-i', ?1)",
            &[LATER],
        ),
        (
            "INSERT INTO connections (id, user_id, client_id, institution_id, status, created_at, updated_at)
             VALUES ('mv-c', ?1, ?2, 'bank-a', 'active', 1, 1)",
            &[user, client],
        ),
        (
            "INSERT INTO upstream_refresh_leases (connection_id, holder, expires_at)
             VALUES ('mv-c', 'node-a', ?1)",
            &[LATER],
        ),
        (
            "INSERT INTO token_handouts (id, at, client_id, user_id, connection_id, refreshed, outcome)
             VALUES ('h-2', ?3, ?1, ?2, 'mv-c', 0, 'ok'), ('h-1', ?3, ?1, ?2, 'mv-c', 1, 'ok')",
            &[client, user, LATER],
        ),
        (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2500)
             INSERT INTO plugin_storage (institution, name, value, expires_at)
             SELECT 'bank-a', printf('k%05d', (i * 7919) % 2500), 'v' || i, ?1 FROM n",
            &[LATER],
        ),
    ];
    for (sql, args) in rows {
        assert!(s.sql_exec(sql, args).await > 0, "{sql}");
    }
}

async fn later_table_counts(s: &TestServer) -> Vec<(&'static str, i64)> {
    let mut counts = Vec::new();
    for table in [
        "federated_identities",
        "federated_logins",
        "saml_requests",
        "upstream_refresh_leases",
        "token_handouts",
        "plugin_storage",
    ] {
        let n = s.sql_count(&format!("SELECT count(*) FROM {table}")).await;
        assert!(n > 0, "{table} has rows");
        counts.push((table, n));
    }
    counts
}

/// `migrate-store` copies every table of the live schema (or leaves it behind on purpose): a
/// table added by a migration but not to the copy's list is found, and the move refuses.
#[tokio::test]
async fn every_table_of_the_live_schema_is_in_the_copy_list() {
    let s = TestServer::start().await;
    let unlisted = consentry::store::transfer::unlisted_tables(&s.provider.store)
        .await
        .unwrap();
    assert!(
        unlisted.is_empty(),
        "tables migrate-store would not copy (add them to TABLES in src/store/transfer.rs): {unlisted:?}"
    );
    s.sql_exec("CREATE TABLE newly_added (id TEXT PRIMARY KEY)", &[])
        .await;
    let unlisted = consentry::store::transfer::unlisted_tables(&s.provider.store)
        .await
        .unwrap();
    assert_eq!(
        unlisted,
        ["newly_added"],
        "a table missing from the list is found"
    );
}

/// And back: `migrate-store` from PostgreSQL into a new SQLite file copies each row once,
/// though the rows outnumber a batch and share their first column (an offset over an order by
/// that column alone may skip or repeat rows between batches).
#[tokio::test]
async fn a_move_from_postgres_to_sqlite_copies_every_row_once() {
    let source = new_postgres_schema().await;
    ok(&consentry(&["migrate", "--database-url", &source], None));
    postgres_client(&source)
        .await
        .batch_execute(
            "INSERT INTO plugin_storage (institution, name, value, expires_at)
             SELECT 'bank-a', 'k' || lpad(((i * 7919) % 2500)::text, 5, '0'), 'v' || i, 4102444800
             FROM generate_series(1, 2500) AS i",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("moved.sqlite");
    let target = format!("sqlite:{}", file.display());
    let out = ok(&consentry(
        &["migrate-store", "--from", &source, "--to", &target],
        None,
    ));
    assert!(out.contains("plugin_storage: 2500 rows"), "{out}");
    let db = rusqlite::Connection::open(&file).unwrap();
    let (rows, names): (i64, i64) = db
        .query_row(
            "SELECT count(*), count(DISTINCT name) FROM plugin_storage",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((rows, names), (2500, 2500), "each row copied once");
}
