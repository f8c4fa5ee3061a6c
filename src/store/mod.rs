//! Storage behind a backend-neutral API. Every read and write job receives a [`Tx`], a handle
//! on one transaction (or, for reads, one consistent snapshot), and reaches the data through
//! one small repository per concept: `tx.clients().get(id)`, `tx.grants().redeem(...)`,
//! `tx.replay().first_use(...)`, `tx.connections()`, `tx.outbox()`, and so on. Those
//! repository methods, their row types and [`Refusal`] are the whole contract: no connection,
//! row, SQL string or driver error ever leaves this module. A job refuses its own work with
//! `StoreError::Refused(refusal)`, which rolls back everything that job wrote.
//!
//! Two backends hold the data behind the same repositories (`sql.rs`: one statement text for
//! both). SQLite, the embedded default (`sqlite.rs`): one read-write connection that commits
//! many small writes per transaction (group commit, each job in its own savepoint), a pool of
//! read-only connections, and a checkpoint thread. PostgreSQL (`postgres.rs`), for several
//! nodes over one database: writer threads that also commit many writes per transaction (a
//! failed job that changed rows sends them all round again, each alone), and a pool of
//! connections for reads. On both,
//! single-use artefacts are consumed by a conditional update or a unique constraint in the
//! transaction that issues what they buy, and a refusal is a `Refusal`.

pub mod budgets;
pub mod ciba;
pub mod clients;
pub mod connections;
pub mod consents;
pub mod device_authorizations;
pub mod federation;
pub mod grants;
pub mod health;
pub mod interactions;
pub mod login_failures;
mod migrate;
pub mod outbox;
pub mod plugin_storage;
pub mod postgres;
pub mod pushed;
mod refusal;
pub mod replay;
pub mod saml_requests;
pub mod saml_sp_key;
pub mod sessions;
pub mod signing_keys;
pub(crate) mod sql;
mod sqlite;
pub mod sweep;
pub mod token_handouts;
pub mod transfer;
pub mod users;
mod value;

use sql::Conn;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use refusal::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Any other failure of the database: its detail is for logs only.
    #[error("database: {0}")]
    Database(DriverError),
    /// SQLite could not grow a file (ENOSPC, SQLITE_FULL): nothing of the write was kept.
    #[error("disk full: the database could not be written")]
    DiskFull,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("a row with that key already exists")]
    Conflict,
    #[error("storage is shut down")]
    Closed,
    /// A write job refused its own work; everything it wrote is rolled back.
    #[error("write rolled back: {0}")]
    Refused(Refusal),
    /// The transaction a write was queued for could not begin; nothing of it was written.
    #[error("the write transaction could not begin: {0}")]
    NotStarted(String),
    /// The database cannot be reached as configured (its URL, its TLS settings): the reason,
    /// for the operator starting a node.
    #[error("{0}")]
    Unusable(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        if is_disk_full(&e) {
            return StoreError::DiskFull;
        }
        StoreError::Database(DriverError::Sqlite(e))
    }
}

/// The database driver's own error, kept opaque: callers log it, never inspect it.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(String),
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

impl StoreError {
    /// Maps unique-constraint failures to `Conflict` so callers can answer with a clear error.
    fn from_sqlite(e: rusqlite::Error) -> StoreError {
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            if f.code == rusqlite::ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
            {
                return StoreError::Conflict;
            }
        }
        StoreError::from(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// One transaction (a write job's savepoint, or a read's snapshot): what every job passed to
/// [`Store::read`] or [`Store::write`] receives. Its repositories are the store's operations.
pub struct Tx<'a> {
    conn: Conn<'a>,
}

impl<'a> Tx<'a> {
    fn postgres(s: &'a postgres::Session) -> Tx<'a> {
        Tx {
            conn: Conn::Postgres(s),
        }
    }

    pub fn budgets(&self) -> budgets::Budgets<'a> {
        budgets::Budgets { conn: self.conn }
    }

    pub fn ciba(&self) -> ciba::Ciba<'a> {
        ciba::Ciba { conn: self.conn }
    }

    pub fn clients(&self) -> clients::Clients<'a> {
        clients::Clients { conn: self.conn }
    }

    pub fn connections(&self) -> connections::Connections<'a> {
        connections::Connections { conn: self.conn }
    }

    pub fn consents(&self) -> consents::Consents<'a> {
        consents::Consents { conn: self.conn }
    }

    pub fn device_authorizations(&self) -> device_authorizations::DeviceAuthorizations<'a> {
        device_authorizations::DeviceAuthorizations { conn: self.conn }
    }

    pub fn federation(&self) -> federation::Federation<'a> {
        federation::Federation { conn: self.conn }
    }

    pub fn grants(&self) -> grants::Grants<'a> {
        grants::Grants { conn: self.conn }
    }

    pub fn interactions(&self) -> interactions::Interactions<'a> {
        interactions::Interactions { conn: self.conn }
    }

    pub fn login_failures(&self) -> login_failures::LoginFailures<'a> {
        login_failures::LoginFailures { conn: self.conn }
    }

    pub fn outbox(&self) -> outbox::Outbox<'a> {
        outbox::Outbox { conn: self.conn }
    }

    pub fn plugin_storage(&self) -> plugin_storage::PluginStorage<'a> {
        plugin_storage::PluginStorage { conn: self.conn }
    }

    pub fn pushed(&self) -> pushed::Pushed<'a> {
        pushed::Pushed { conn: self.conn }
    }

    pub fn replay(&self) -> replay::Replay<'a> {
        replay::Replay { conn: self.conn }
    }

    pub fn saml_requests(&self) -> saml_requests::SamlRequests<'a> {
        saml_requests::SamlRequests { conn: self.conn }
    }

    pub fn saml_sp_key(&self) -> saml_sp_key::SamlSpKey<'a> {
        saml_sp_key::SamlSpKey { conn: self.conn }
    }

    pub fn sessions(&self) -> sessions::Sessions<'a> {
        sessions::Sessions { conn: self.conn }
    }

    pub fn signing_keys(&self) -> signing_keys::SigningKeys<'a> {
        signing_keys::SigningKeys { conn: self.conn }
    }

    pub fn sweep(&self) -> sweep::Sweep<'a> {
        sweep::Sweep { conn: self.conn }
    }

    pub fn token_handouts(&self) -> token_handouts::TokenHandouts<'a> {
        token_handouts::TokenHandouts { conn: self.conn }
    }

    pub fn users(&self) -> users::Users<'a> {
        users::Users { conn: self.conn }
    }
}

/// Where the data lives: an SQLite file (the default) or a PostgreSQL database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// A `postgres://` (or `postgresql://`) URL, or `sqlite:PATH`.
    pub fn parse(url: &str) -> Result<Location, String> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Location::Postgres(url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            Ok(Location::Sqlite(PathBuf::from(path)))
        } else {
            Err("a database URL starts with postgres:// (or sqlite:PATH)".into())
        }
    }

    /// Whether several nodes may share it (PostgreSQL), so that what every node must agree
    /// on, such as the data key, has to come from the operator.
    pub fn is_shared(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// The location without credentials, for logs and the start banner.
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => match url::Url::parse(url) {
                Ok(mut u) => {
                    let _ = u.set_password(None);
                    u.set_query(None);
                    u.to_string()
                }
                Err(_) => "postgres://(unparsable)".into(),
            },
        }
    }
}

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    location: Location,
    /// Background threads, supervised; the provider adds its own tasks here.
    tasks: crate::supervise::Tasks,
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

pub use postgres::Options as PostgresOptions;

impl Store {
    /// Opens (creating if needed) an SQLite database, applies migrations, and starts its writer.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let tasks = crate::supervise::Tasks::default();
        let backend = Backend::Sqlite(sqlite::Sqlite::open(path, &tasks)?);
        Ok(Store {
            inner: Arc::new(Inner {
                backend,
                location: Location::Sqlite(path.to_path_buf()),
                tasks,
            }),
        })
    }

    /// Opens the database at `location`, applying migrations.
    pub fn open_at(location: &Location, options: &PostgresOptions) -> StoreResult<Store> {
        match location {
            Location::Sqlite(path) => Store::open(path),
            Location::Postgres(url) => Ok(Store {
                inner: Arc::new(Inner {
                    backend: Backend::Postgres(postgres::Postgres::open(
                        url,
                        options,
                        migrate::apply_postgres,
                    )?),
                    location: location.clone(),
                    tasks: crate::supervise::Tasks::default(),
                }),
            }),
        }
    }

    /// Where the data lives.
    pub fn location(&self) -> &Location {
        &self.inner.location
    }

    /// The store's supervised threads; the provider adds its own background tasks here.
    pub fn tasks(&self) -> &crate::supervise::Tasks {
        &self.inner.tasks
    }

    /// Runs `f` on one consistent view of the data. On SQLite it runs on the calling thread
    /// (lookups by key take microseconds there); on PostgreSQL on a blocking thread, in a
    /// read-only transaction.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        match &self.inner.backend {
            Backend::Sqlite(s) => s.read(f),
            Backend::Postgres(p) => p.read(move |s| f(&Tx::postgres(s))).await,
        }
    }

    /// Runs `f` inside a write transaction: everything it wrote commits together, or, if it
    /// fails or refuses, nothing of it. Resolves after the commit. Keep `f` small: on SQLite
    /// it may run on the calling thread, committed with whatever else is queued. On PostgreSQL
    /// a deadlock or a serialization failure runs it again, so it must change nothing but the
    /// database.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        match &self.inner.backend {
            Backend::Sqlite(s) => s.write(f).await,
            Backend::Postgres(p) => p.write(move |s| f(&Tx::postgres(s))).await,
        }
    }

    /// Like `write`, but never on the calling thread: for housekeeping whose rounds take
    /// milliseconds, which must not hold up an async thread.
    pub async fn write_in_background<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        match &self.inner.backend {
            Backend::Sqlite(s) => s.write_in_background(f).await,
            Backend::Postgres(p) => p.write_alone(move |s| f(&Tx::postgres(s))).await,
        }
    }

    /// The SQLite file, when the data is in one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &self.inner.backend {
            Backend::Sqlite(s) => Some(s.path()),
            Backend::Postgres(_) => None,
        }
    }
}

/// Runs a statement on `conn`; how many rows it changed (unique violations are `Conflict`).
fn exec(conn: Conn, sql: &str, args: &[&dyn sql::Param]) -> StoreResult<usize> {
    conn.exec(sql, args)
}
