//! The two backends' migrations describe one schema: every table and column SQLite's
//! migrations create, PostgreSQL's create too, and nothing more. A migration written for one
//! backend and forgotten for the other fails here, not on the first node that runs it.

use crate::harness::{new_postgres_schema, postgres_client};
use consentry::store::{Location, PostgresOptions, Store};
use std::collections::{BTreeMap, BTreeSet};

type Schema = BTreeMap<String, BTreeSet<String>>;

/// Bookkeeping of the PostgreSQL migrator (SQLite keeps its version in `user_version`).
const POSTGRES_ONLY: &[&str] = &["schema_migrations"];

fn sqlite_schema() -> Schema {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schema.sqlite");
    drop(Store::open_at(&Location::Sqlite(path.clone()), &PostgresOptions::default()).unwrap());
    let db = rusqlite::Connection::open(&path).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|t| {
            let columns = db
                .prepare(&format!("SELECT name FROM pragma_table_info('{t}')"))
                .unwrap()
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (t, columns)
        })
        .collect()
}

async fn postgres_schema() -> Schema {
    let url = new_postgres_schema().await;
    let store = Store::open_at(
        &Location::Postgres(url.clone()),
        &PostgresOptions::default(),
    )
    .unwrap();
    // Opening applies the migrations; a write proves they are done.
    store.read(|tx| tx.users().get("nobody")).await.unwrap();
    let client = postgres_client(&url).await;
    let rows = client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema()",
            &[],
        )
        .await
        .unwrap();
    let mut schema = Schema::new();
    for r in rows {
        let (table, column): (String, String) = (r.get(0), r.get(1));
        // `rowid`: SQLite's implicit one (every table here has it) made explicit where
        // queries order by it.
        if !POSTGRES_ONLY.contains(&table.as_str()) && column != "rowid" {
            schema.entry(table).or_default().insert(column);
        }
    }
    schema
}

#[tokio::test]
async fn sqlite_and_postgres_migrations_make_the_same_tables_and_columns() {
    let (sqlite, postgres) = (sqlite_schema(), postgres_schema().await);
    let mut differences = Vec::new();
    for table in sqlite
        .keys()
        .chain(postgres.keys())
        .collect::<BTreeSet<_>>()
    {
        match (sqlite.get(table), postgres.get(table)) {
            (Some(_), None) => differences.push(format!("table {table}: only on SQLite")),
            (None, Some(_)) => differences.push(format!("table {table}: only on PostgreSQL")),
            (Some(a), Some(b)) => {
                for c in a.difference(b) {
                    differences.push(format!("{table}.{c}: only on SQLite"));
                }
                for c in b.difference(a) {
                    differences.push(format!("{table}.{c}: only on PostgreSQL"));
                }
            }
            (None, None) => unreachable!(),
        }
    }
    assert!(sqlite.len() > 10, "the SQLite schema was read: {sqlite:?}");
    assert!(
        differences.is_empty(),
        "the schemas differ:\n{}",
        differences.join("\n")
    );
}
