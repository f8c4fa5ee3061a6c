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
];

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

/// Copies every row of `from` into `to`, whose tables must be empty (a new database that
/// `to`'s migrations just made). Tables are copied in batches, each committed on its own;
/// stop the nodes on `from` first, or what they write meanwhile is not copied.
pub async fn copy_all(from: &Store, to: &Store) -> StoreResult<Moved> {
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
        let list = columns.join(", ");
        let mut copied = 0usize;
        let mut offset = 0i64;
        loop {
            let select = format!("SELECT {list} FROM {table} ORDER BY 1 LIMIT ?1 OFFSET ?2");
            let rows: Vec<Vec<Cell>> = from
                .read(move |tx| {
                    tx.conn
                        .query_all(&select, super::sql::args![BATCH, offset], |r| {
                            (0..r.len())
                                .map(|i| r.get::<Cell>(i))
                                .collect::<StoreResult<Vec<_>>>()
                        })
                })
                .await?;
            if rows.is_empty() {
                break;
            }
            let n = rows.len();
            let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
            let insert = format!("INSERT INTO {table} ({list}) VALUES ({})", marks.join(", "));
            to.write(move |tx| {
                for row in &rows {
                    let args: Vec<&dyn Param> = row.iter().map(|c| c as &dyn Param).collect();
                    tx.conn.exec(&insert, &args)?;
                }
                Ok(())
            })
            .await?;
            copied += n;
            offset += BATCH;
        }
        moved.push((*table, copied));
    }
    Ok(moved)
}

/// The columns of `table` both schemas share (PostgreSQL's own `rowid` is made anew).
fn columns_of(conn: super::sql::Conn, table: &str) -> StoreResult<Vec<String>> {
    let names = match conn.dialect() {
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
    };
    Ok(names.into_iter().filter(|n| n != "rowid").collect())
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
