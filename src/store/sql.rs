//! The one way repositories talk to a database, whichever backend holds it: a statement's text
//! (written once, with `?1`-style placeholders, in the SQL both SQLite and PostgreSQL accept),
//! its arguments, and typed reads of the rows it returns.

pub use super::value::Value;
use super::{postgres::Session, StoreError, StoreResult};
use rusqlite::types::ValueRef;
use tokio_postgres::types::Type;

/// One transaction's connection, of either backend.
#[derive(Clone, Copy)]
pub(crate) enum Conn<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a Session),
}

/// The arguments of one statement: `args![a, b]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(&$a as &dyn $crate::store::sql::Param),*] as &[&dyn $crate::store::sql::Param] };
}
pub(crate) use args;

/// Which backend a statement runs on, for the few places whose SQL differs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl<'a> Conn<'a> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection itself, for tests that look below the repositories.
    #[cfg(test)]
    pub fn sqlite(&self) -> &'a rusqlite::Connection {
        match self {
            Conn::Sqlite(c) => c,
            Conn::Postgres(_) => panic!("not an SQLite connection"),
        }
    }

    /// Runs a statement; how many rows it changed. A unique or primary-key violation is
    /// [`StoreError::Conflict`].
    pub fn exec(&self, sql: &str, args: &[&dyn Param]) -> StoreResult<usize> {
        match self {
            Conn::Sqlite(c) => c
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(rusqlite::params_from_iter(values(args))))
                .map_err(StoreError::from_sqlite),
            Conn::Postgres(s) => s.exec(sql, &values(args)),
        }
    }

    /// The first row a query returns, if any.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[&dyn Param],
        map: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<Option<T>> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values(args)))?;
                match rows.next()? {
                    Some(r) => map(&Row::Sqlite(r)).map(Some),
                    None => Ok(None),
                }
            }
            Conn::Postgres(s) => match s.query(sql, &values(args))?.first() {
                Some(r) => map(&Row::Postgres(r)).map(Some),
                None => Ok(None),
            },
        }
    }

    /// The row a query must return.
    pub fn query_one<T>(
        &self,
        sql: &str,
        args: &[&dyn Param],
        map: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.query_opt(sql, args, map)?
            .ok_or_else(|| StoreError::Corrupt(format!("no row for: {sql}")))
    }

    /// Every row a query returns.
    pub fn query_all<T>(
        &self,
        sql: &str,
        args: &[&dyn Param],
        mut map: impl FnMut(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        match self {
            Conn::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values(args)))?;
                let mut out = Vec::new();
                while let Some(r) = rows.next()? {
                    out.push(map(&Row::Sqlite(r))?);
                }
                Ok(out)
            }
            Conn::Postgres(s) => s
                .query(sql, &values(args))?
                .iter()
                .map(|r| map(&Row::Postgres(r)))
                .collect(),
        }
    }
}

/// One row of a query's result.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r tokio_postgres::Row),
}

impl Row<'_> {
    /// How many columns the row has.
    pub fn len(&self) -> usize {
        match self {
            Row::Sqlite(r) => r.as_ref().column_count(),
            Row::Postgres(r) => r.len(),
        }
    }

    /// Column `i` (from 0) as a `T`.
    pub fn get<T: Column>(&self, i: usize) -> StoreResult<T> {
        match self {
            Row::Sqlite(r) => T::from_sqlite(r, i).map_err(StoreError::from),
            Row::Postgres(r) => T::from_postgres(r, i).map_err(StoreError::from),
        }
    }
}

fn values<'a>(args: &'a [&'a dyn Param]) -> Vec<Value<'a>> {
    args.iter().map(|a| a.value()).collect()
}

/// What may be passed as a statement's argument.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(self)
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(self)
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Bool(*self)
    }
}

macro_rules! int_param {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
int_param!(i64, i32, u32, u64, usize);

/// What a column may be read as.
pub trait Column: Sized {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self>;
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error>;
}

impl Column for String {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self> {
        r.get(i)
    }
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
        r.try_get(i)
    }
}

impl Column for Vec<u8> {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self> {
        r.get(i)
    }
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
        r.try_get(i)
    }
}

impl Column for i64 {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self> {
        r.get(i)
    }
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
        match *r.columns()[i].type_() {
            Type::INT4 => r.try_get::<_, i32>(i).map(i64::from),
            Type::INT2 => r.try_get::<_, i16>(i).map(i64::from),
            Type::BOOL => r.try_get::<_, bool>(i).map(i64::from),
            _ => r.try_get(i),
        }
    }
}

impl Column for u32 {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self> {
        r.get(i)
    }
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
        let v = i64::from_postgres(r, i)?;
        Ok(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
    }
}

impl Column for bool {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self> {
        r.get(i)
    }
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
        match *r.columns()[i].type_() {
            Type::BOOL => r.try_get(i),
            _ => i64::from_postgres(r, i).map(|v| v != 0),
        }
    }
}

impl<T: Column> Column for Option<T> {
    fn from_sqlite(r: &rusqlite::Row, i: usize) -> rusqlite::Result<Self> {
        match r.get_ref(i)? {
            ValueRef::Null => Ok(None),
            _ => T::from_sqlite(r, i).map(Some),
        }
    }
    fn from_postgres(r: &tokio_postgres::Row, i: usize) -> Result<Self, tokio_postgres::Error> {
        if r.try_get::<_, IsNullColumn>(i)?.0 {
            return Ok(None);
        }
        T::from_postgres(r, i).map(Some)
    }
}

/// Reads only whether a PostgreSQL column is NULL, whatever its type.
struct IsNullColumn(bool);

impl<'a> tokio_postgres::types::FromSql<'a> for IsNullColumn {
    fn from_sql(_: &Type, _: &'a [u8]) -> Result<Self, super::value::BoxError> {
        Ok(IsNullColumn(false))
    }
    fn from_sql_null(_: &Type) -> Result<Self, super::value::BoxError> {
        Ok(IsNullColumn(true))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}
