//! SQLite storage: one writer thread that commits many small writes per transaction (group
//! commit), and a pool of read-only connections. SQL lives only below this module.

pub mod clients;
pub mod connections;
pub mod consents;
pub mod grants;
pub mod interactions;
mod migrate;
pub mod outbox;
pub mod pushed;
pub mod replay;
pub mod sessions;
pub mod sweep;
pub mod users;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("a row with that key already exists")]
    Conflict,
    #[error("storage is shut down")]
    Closed,
    /// A write job refused its own work; everything it wrote is rolled back.
    #[error("write rolled back: {0}")]
    Rejected(&'static str),
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
        StoreError::Sqlite(e)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Runs inside the writer's transaction; returns the hook that delivers the result once the
/// transaction's fate is known.
type WriteJob = Box<dyn FnOnce(&Connection) -> Box<dyn FnOnce(bool) + Send> + Send>;

/// Most write jobs committed together in one transaction.
const GROUP_COMMIT_MAX: usize = 64;

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Option<mpsc::Sender<WriteJob>>>,
    readers: Mutex<Vec<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database, applies migrations, and starts the writer.
    pub fn open(path: &Path) -> StoreResult<Store> {
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        migrate::apply(&mut conn)?;
        // Checkpoints (copying the WAL back into the database, with an fsync) run on their own
        // thread, so the writer never stalls every request behind one.
        conn.execute_batch("PRAGMA wal_autocheckpoint=0")?;
        let checkpointer = Connection::open(path)?;
        configure(&checkpointer)?;
        // A restarting checkpoint holds the writer back while it waits for readers to move off
        // the WAL: give up quickly (and try again next round) rather than stall every write
        // behind a long read.
        checkpointer.busy_timeout(std::time::Duration::from_millis(20))?;
        let (tx, rx) = mpsc::channel::<WriteJob>();
        spawn("sqlite-writer", move || writer_loop(conn, rx))?;
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            readers: Mutex::new(Vec::new()),
        });
        let alive = Arc::downgrade(&inner);
        spawn("sqlite-checkpoint", move || {
            checkpoint_loop(checkpointer, alive)
        })?;
        Ok(Store { inner })
    }

    /// Runs `f` on a read-only connection from the pool, on the calling thread. Reads here
    /// are lookups by key or bounded pages, a few microseconds against a page cache; handing
    /// them to a blocking thread cost several times that in wake-ups. (Async so that a read
    /// which ever grows heavy can move off the async threads without touching its callers.)
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        let conn = match self.inner.readers.lock().pop() {
            Some(c) => c,
            None => open_reader(&self.inner.path)?,
        };
        let out = f(&conn);
        self.inner.readers.lock().push(conn);
        out
    }

    /// Runs `f` inside the writer's transaction (its own savepoint: an error rolls back only
    /// this job). Resolves after the transaction has committed.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: WriteJob = Box::new(move |conn| {
            let result = run_in_savepoint(conn, f);
            Box::new(move |committed| {
                let out = match (committed, result) {
                    (true, r) => r,
                    (false, Ok(_)) => Err(StoreError::Corrupt("transaction did not commit".into())),
                    (false, Err(e)) => Err(e),
                };
                let _ = tx.send(out);
            })
        });
        let sender = self.inner.writer.lock().clone().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// A synchronous read for start-up and CLI code that runs outside the runtime.
    pub fn read_blocking<T>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let conn = open_reader(&self.inner.path)?;
        f(&conn)
    }
}

fn run_in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.execute_batch("SAVEPOINT job")?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            Err(e)
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| StoreError::Corrupt(format!("cannot start the {name} thread: {e}")))
}

/// How often the WAL is copied back into the database while the store is open.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// A WAL longer than this (frames of one page: 64 MiB) is started over by a restarting
/// checkpoint. Longer means fewer, but not longer, pauses of the writer; readers pay a little
/// for a long WAL.
const RESTART_AFTER_FRAMES: i64 = 16384;

/// Passive checkpoints never block the writer or readers. Under sustained writes they never
/// quite catch up with the writer, so once the WAL is long a restarting checkpoint lets the
/// writer start it over. That one holds the writer back while it copies (and syncs) whatever
/// the passive ones left, so passive rounds first shrink that to a few frames. Ends when the
/// store is dropped.
fn checkpoint_loop(conn: Connection, alive: std::sync::Weak<Inner>) {
    // (frames in the WAL, frames already copied back)
    let checkpoint = |mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        })
    };
    let round = || -> rusqlite::Result<()> {
        let (mut log, mut copied) = checkpoint("PASSIVE")?;
        for _ in 0..3 {
            if log <= RESTART_AFTER_FRAMES || log - copied < LEFT_FOR_RESTART {
                break;
            }
            (log, copied) = checkpoint("PASSIVE")?;
        }
        if log > RESTART_AFTER_FRAMES {
            checkpoint("RESTART")?;
        }
        Ok(())
    };
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        if let Err(e) = round() {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// Frames a restarting checkpoint may be left to copy while the writer waits.
const LEFT_FOR_RESTART: i64 = 256;

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteJob>) {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let began = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
        let deliveries: Vec<_> = jobs.into_iter().map(|job| job(&conn)).collect();
        let committed = began && conn.execute_batch("COMMIT").is_ok();
        if !committed && began {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for deliver in deliveries {
            deliver(committed);
        }
    }
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
         PRAGMA journal_size_limit=134217728;",
    )?;
    Ok(())
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Reads an optional single row, mapping "no rows" to `None`.
pub(crate) fn optional<T>(r: rusqlite::Result<T>) -> StoreResult<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
        Err(e) => Err(StoreError::from_sqlite(e)),
    }
}

/// Executes a statement, mapping unique violations to `Conflict`.
pub(crate) fn exec(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<usize> {
    conn.prepare_cached(sql)
        .and_then(|mut s| s.execute(params))
        .map_err(StoreError::from_sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer never checkpoints; the checkpoint thread copies committed pages back into
    /// the database file on its own, while the store stays open.
    #[tokio::test]
    async fn committed_writes_reach_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        store
            .write(|c| {
                exec(c, "CREATE TABLE t (v BLOB)", [])?;
                exec(c, "INSERT INTO t VALUES (zeroblob(1000000))", [])
            })
            .await
            .unwrap();
        let started = std::time::Instant::now();
        while std::fs::metadata(&path).unwrap().len() < before + 1_000_000 {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(5),
                "the WAL was not checkpointed into the database file"
            );
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
        let wal = std::fs::metadata(path.with_extension("sqlite-wal"))
            .unwrap()
            .len();
        assert!(
            wal > 1_000_000,
            "the write went through the WAL ({wal} bytes)"
        );
    }
}
