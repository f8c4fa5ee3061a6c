//! Moving an installation between databases (`consentry migrate-store`), and SQLite's online
//! backup (`consentry backup`).

use super::sql::{Column, Param, Value};
use super::{Store, StoreError, StoreResult};
use std::path::Path;

/// Every table, parents before the tables whose rows point at them.
const TABLES: &[&str] = &[
    "clients",
    "users",
    "sessions",
    "interactions",
    "consents",
    "connections",
    "grants",
    "grant_budgets",
    "authorization_codes",
    "access_tokens",
    "refresh_tokens",
    "ciba_requests",
    "seen_jtis",
    "pushed_requests",
    "device_authorizations",
    "webhook_events",
    "login_failures",
    "signing_keys",
    "saml_sp_key",
    "federated_identities",
    "federated_logins",
    "saml_requests",
    "upstream_refresh_leases",
    "token_handouts",
    "plugin_storage",
];

/// Tables left behind on purpose: `health` is the node's own readiness probe, rewritten at
/// every check; `schema_migrations` is PostgreSQL's record of its own migrations (the target
/// has its own).
const NOT_COPIED: &[&str] = &["health", "schema_migrations"];

/// How many rows one copying transaction takes.
const BATCH: i64 = 1000;

/// One stored value, as both backends hold the provider's columns (integers and text).
#[derive(Debug, Clone)]
enum Cell {
    Null,
    Int(i64),
    Text(String),
}

impl Column for Cell {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self> {
        Ok(match r.get_ref(i)? {
            rusqlite::types::ValueRef::Null => Cell::Null,
            rusqlite::types::ValueRef::Integer(v) => Cell::Int(v),
            other => Cell::Text(other.as_str()?.to_string()),
        })
    }
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
        use tokio_postgres::types::Type;
        Ok(match *r.columns()[i].type_() {
            Type::TEXT | Type::VARCHAR => {
                Option::<String>::from_postgres(r, i)?.map_or(Cell::Null, Cell::Text)
            }
            _ => Option::<i64>::from_postgres(r, i)?.map_or(Cell::Null, Cell::Int),
        })
    }
}

impl Param for Cell {
    fn value(&self) -> Value<'_> {
        match self {
            Cell::Null => Value::Null,
            Cell::Int(v) => Value::Int(*v),
            Cell::Text(s) => Value::Text(s),
        }
    }
}

/// What a move copied: rows per table.
pub type Moved = Vec<(&'static str, usize)>;

/// The tables of `store`'s live schema that the copy neither copies nor leaves behind on
/// purpose: a table added to the schema must be added to `TABLES` (or `NOT_COPIED`).
pub async fn unlisted_tables(store: &Store) -> StoreResult<Vec<String>> {
    let live = store
        .read(|tx| match tx.conn.dialect() {
            super::sql::Dialect::Sqlite => tx.conn.query_all(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
                &[],
                |r| r.get::<String>(0),
            ),
            super::sql::Dialect::Postgres => tx.conn.query_all(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                &[],
                |r| r.get::<String>(0),
            ),
        })
        .await?;
    let mut unlisted: Vec<String> = live
        .into_iter()
        .filter(|t| !TABLES.contains(&t.as_str()) && !NOT_COPIED.contains(&t.as_str()))
        .collect();
    unlisted.sort();
    Ok(unlisted)
}

/// Copies every row of `from` into `to`, whose tables must be empty (a new database that
/// `to`'s migrations just made). Tables are copied in batches, each committed on its own,
/// paged by a unique key (never by an offset over a non-unique order, which can skip or repeat
/// rows); stop the nodes on `from` first, or what they write meanwhile is not copied.
pub async fn copy_all(from: &Store, to: &Store) -> StoreResult<Moved> {
    let unlisted = unlisted_tables(from).await?;
    if !unlisted.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "this version does not know how to copy the tables {}: use the matching consentry",
            unlisted.join(", ")
        )));
    }
    let mut moved = Vec::new();
    for table in TABLES {
        let existing: i64 = to
            .read(move |tx| {
                tx.conn
                    .query_one(&format!("SELECT count(*) FROM {table}"), &[], |r| r.get(0))
            })
            .await?;
        if existing > 0 {
            return Err(StoreError::Corrupt(format!(
                "the target database already has rows in {table}: move into a new database"
            )));
        }
        let columns = from.read(move |tx| columns_of(tx.conn, table)).await?;
        let key = from.read(move |tx| page_key(tx.conn, table)).await?;
        let copied = copy_table(from, to, table, &columns, &key).await?;
        moved.push((*table, copied));
    }
    Ok(moved)
}

/// Copies `table` in batches ordered by `key`, each batch starting after the last key seen.
async fn copy_table(
    from: &Store,
    to: &Store,
    table: &'static str,
    columns: &[String],
    key: &[String],
) -> StoreResult<usize> {
    let list = columns.join(", ");
    let keys = key.join(", ");
    let k = key.len();
    let after: Vec<String> = (1..=k).map(|i| format!("?{i}")).collect();
    let first = format!("SELECT {keys}, {list} FROM {table} ORDER BY {keys} LIMIT ?1");
    let next = format!(
        "SELECT {keys}, {list} FROM {table} WHERE ({keys}) > ({}) ORDER BY {keys} LIMIT ?{}",
        after.join(", "),
        k + 1
    );
    let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let insert = format!("INSERT INTO {table} ({list}) VALUES ({})", marks.join(", "));
    let mut last: Option<Vec<Cell>> = None;
    let mut copied = 0usize;
    loop {
        let (select, bound) = match &last {
            None => (first.clone(), vec![Cell::Int(BATCH)]),
            Some(seen) => {
                let mut bound = seen.clone();
                bound.push(Cell::Int(BATCH));
                (next.clone(), bound)
            }
        };
        let rows: Vec<Vec<Cell>> = from
            .read(move |tx| {
                let args: Vec<&dyn Param> = bound.iter().map(|c| c as &dyn Param).collect();
                tx.conn.query_all(&select, &args, |r| {
                    (0..r.len())
                        .map(|i| r.get::<Cell>(i))
                        .collect::<StoreResult<Vec<_>>>()
                })
            })
            .await?;
        let Some(end) = rows.last() else {
            break;
        };
        last = Some(end[..k].to_vec());
        let n = rows.len();
        let insert = insert.clone();
        to.write(move |tx| {
            for row in &rows {
                let args: Vec<&dyn Param> = row[k..].iter().map(|c| c as &dyn Param).collect();
                tx.conn.exec(&insert, &args)?;
            }
            Ok(())
        })
        .await?;
        copied += n;
        if n < BATCH as usize {
            break;
        }
    }
    Ok(copied)
}

/// What a table's rows are paged by: the order they were inserted in where the source keeps
/// one (SQLite's `rowid`, PostgreSQL's `rowid` column), so the copy keeps it too (lists order
/// by it); else the primary key. Either is unique.
fn page_key(conn: super::sql::Conn, table: &str) -> StoreResult<Vec<String>> {
    let (has_rowid, primary_key) = match conn.dialect() {
        super::sql::Dialect::Sqlite => {
            let without_rowid: i64 = conn.query_one(
                "SELECT wr FROM pragma_table_list WHERE name = ?1 AND schema = 'main'",
                super::sql::args![table],
                |r| r.get(0),
            )?;
            let pk = conn.query_all(
                &format!("SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"),
                &[],
                |r| r.get::<String>(0),
            )?;
            (without_rowid == 0, pk)
        }
        super::sql::Dialect::Postgres => {
            let has_rowid = columns_all(conn, table)?.iter().any(|c| c == "rowid");
            let pk = conn.query_all(
                "SELECT k.column_name::text FROM information_schema.table_constraints c
                 JOIN information_schema.key_column_usage k
                   ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema
                  AND k.table_name = c.table_name
                 WHERE c.table_name = ?1 AND c.table_schema = current_schema()
                   AND c.constraint_type = 'PRIMARY KEY'
                 ORDER BY k.ordinal_position",
                super::sql::args![table],
                |r| r.get::<String>(0),
            )?;
            (has_rowid, pk)
        }
    };
    if has_rowid {
        return Ok(vec!["rowid".into()]);
    }
    if primary_key.is_empty() {
        return Err(StoreError::Corrupt(format!(
            "{table} has neither a rowid nor a primary key to copy it by"
        )));
    }
    Ok(primary_key)
}

/// The columns of `table` both schemas share (PostgreSQL's own `rowid` is made anew).
fn columns_of(conn: super::sql::Conn, table: &str) -> StoreResult<Vec<String>> {
    let names = columns_all(conn, table)?;
    Ok(names.into_iter().filter(|n| n != "rowid").collect())
}

/// Every column of `table`, in order.
fn columns_all(conn: super::sql::Conn, table: &str) -> StoreResult<Vec<String>> {
    Ok(match conn.dialect() {
        super::sql::Dialect::Sqlite => conn.query_all(
            &format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
            &[],
            |r| r.get::<String>(0),
        )?,
        super::sql::Dialect::Postgres => conn.query_all(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_name = ?1 AND table_schema = current_schema() ORDER BY ordinal_position",
            super::sql::args![table],
            |r| r.get::<String>(0),
        )?,
    })
}

/// Writes a consistent copy of the SQLite database at `db` to `to` while the provider keeps
/// serving (SQLite's online backup: pages copied in steps, restarted if a write lands
/// between them).
pub fn backup_sqlite(db: &Path, to: &Path) -> StoreResult<()> {
    if to.exists() {
        return Err(StoreError::Corrupt(format!(
            "{} already exists: name a new file",
            to.display()
        )));
    }
    let src =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut dst = rusqlite::Connection::open(to)?;
    let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
    backup.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
    Ok(())
}
