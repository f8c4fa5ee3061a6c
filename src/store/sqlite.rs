//! The SQLite backend: one read-write connection that commits many small writes per
//! transaction (group commit, each job in its own savepoint), a pool of read-only
//! connections, and a checkpoint thread that copies the WAL back into the database file.

use super::sql::Conn;
use super::{is_disk_full, migrate, StoreError, StoreResult, Tx};
use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Runs inside the write transaction (or learns why it could not begin); returns the hook
/// that delivers the result once the transaction's fate is known.
type WriteJob = Box<dyn FnOnce(Result<&Connection, &str>) -> Ran + Send>;

/// A write job once run in the batch's transaction: how to deliver its result when the batch's
/// fate is known, and whether it failed for want of disk space.
struct Ran {
    deliver: Box<dyn FnOnce(Fate) + Send>,
    disk_full: bool,
}

/// What became of a write transaction.
#[derive(Clone, Copy, PartialEq)]
enum Fate {
    Committed,
    RolledBack,
    /// The commit failed for want of disk space.
    DiskFull,
}

/// Most write jobs committed together in one transaction.
const GROUP_COMMIT_MAX: usize = 64;
/// How long the writer thread waits for a lock held by another connection (a checkpoint).
const WRITER_BUSY_WAIT: Duration = Duration::from_secs(5);
/// How long a read waits on a database another connection is recovering (WAL mode readers
/// wait for nothing else).
const READ_BUSY_WAIT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection: reads and writes share the read-write one, and
/// re-preparing a statement costs more than running it.
const STATEMENT_CACHE: usize = 256;

/// Write jobs waiting for a commit, and the one read-write connection. Whoever holds the
/// connection (a commit, or a read it is lent to) commits everything queued on letting go
/// (group commit). Writes commit on their caller's thread:
/// handing them to another thread cost more in wake-ups than the commit. The writer thread takes
/// housekeeping, and whatever a busy database or a long run of other threads' writes left.
struct Writes {
    queue: Mutex<Queue>,
    queued: Condvar,
    conn: Mutex<Connection>,
    /// Transactions committed so far: tells the checkpoint thread how much the WAL has grown.
    commits: Arc<AtomicU64>,
}

/// The read-write connection lent to a read. A write that finds it taken leaves its job queued
/// for whoever holds it, so giving it back commits what queued meanwhile (or, if the read
/// panicked, wakes the writer thread for it).
struct Lent<'a> {
    writes: &'a Writes,
    conn: Option<parking_lot::MutexGuard<'a, Connection>>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        self.conn.take();
        if self.writes.queue.lock().jobs.is_empty() {
            return;
        }
        if std::thread::panicking() {
            self.writes.queued.notify_one();
        } else {
            self.writes.commit_here();
        }
    }
}

/// Rounds a caller commits for others before leaving the rest to the writer thread, so one
/// serving thread is never kept from its own connections for long.
const ROUNDS_FOR_OTHERS: usize = 4;

#[derive(Default)]
struct Queue {
    jobs: Vec<WriteJob>,
    closed: bool,
}

impl Writes {
    fn push(&self, job: WriteJob) -> StoreResult<()> {
        let mut q = self.queue.lock();
        if q.closed {
            return Err(StoreError::Closed);
        }
        q.jobs.push(job);
        Ok(())
    }

    fn take(&self) -> Vec<WriteJob> {
        let mut q = self.queue.lock();
        let n = q.jobs.len().min(GROUP_COMMIT_MAX);
        q.jobs.drain(..n).collect()
    }

    /// Runs `jobs` in one transaction and delivers their results after the commit (or rollback).
    /// When the transaction cannot begin because another connection holds the lock, hands the
    /// jobs back untouched.
    fn commit(&self, conn: &Connection, jobs: Vec<WriteJob>) -> Result<(), Vec<WriteJob>> {
        if jobs.is_empty() {
            return Ok(());
        }
        // A job that panicked mid-transaction left it open; it never committed.
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        if let Err(e) = control(conn, "BEGIN IMMEDIATE") {
            let busy = matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy)
            );
            if busy {
                return Err(jobs);
            }
            let why = e.to_string();
            let fate = if is_disk_full(&e) {
                Fate::DiskFull
            } else {
                Fate::RolledBack
            };
            for job in jobs {
                (job(Err(&why)).deliver)(fate);
            }
            return Ok(());
        }
        let mut deliveries = Vec::with_capacity(jobs.len());
        let mut jobs = jobs.into_iter();
        while let Some(job) = jobs.next() {
            let ran = job(Ok(conn));
            deliveries.push(ran.deliver);
            // SQLite itself rolls the whole transaction back after some errors (SQLITE_FULL,
            // I/O errors): the writes of every job run so far are gone, so none of them may
            // hear that it committed. The jobs not yet run get a transaction of their own.
            if conn.is_autocommit() {
                tracing::error!("the database rolled a write transaction back mid-batch");
                let fate = if ran.disk_full {
                    Fate::DiskFull
                } else {
                    Fate::RolledBack
                };
                for deliver in deliveries {
                    deliver(fate);
                }
                return self.commit(conn, jobs.collect());
            }
        }
        let fate = match control(conn, "COMMIT") {
            Ok(()) => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                Fate::Committed
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                if is_disk_full(&e) {
                    tracing::error!("disk full: a write transaction could not commit");
                    Fate::DiskFull
                } else {
                    tracing::error!(error = %e, "a write transaction could not commit");
                    Fate::RolledBack
                }
            }
        };
        for deliver in deliveries {
            deliver(fate);
        }
        Ok(())
    }

    /// Commits what is queued on the calling thread if the connection is free and no other
    /// connection holds the database lock; anything left is the writer thread's.
    fn commit_here(&self) {
        for _ in 0..=ROUNDS_FOR_OTHERS {
            // Busy: its holder looks at the queue again after letting go.
            let Some(conn) = self.conn.try_lock() else {
                return;
            };
            let jobs = self.take();
            if jobs.is_empty() {
                return;
            }
            // Never wait for a lock here (the caller is an async thread): on a busy database the
            // jobs go back to the queue for the writer thread, untouched.
            let _ = conn.busy_timeout(Duration::ZERO);
            if let Err(unstarted) = self.commit(&conn, jobs) {
                let mut q = self.queue.lock();
                let later = std::mem::take(&mut q.jobs);
                q.jobs = unstarted;
                q.jobs.extend(later);
                drop(q);
                self.queued.notify_one();
                return;
            }
            drop(conn);
            if self.queue.lock().jobs.is_empty() {
                return;
            }
        }
        self.queued.notify_one();
    }
}

pub(crate) struct Sqlite {
    path: PathBuf,
    writes: Arc<Writes>,
    readers: Mutex<Vec<Connection>>,
    /// Held while the store is open: the checkpoint thread ends once it is gone.
    alive: Arc<()>,
}

impl Drop for Sqlite {
    /// The writer thread commits what is queued, then ends.
    fn drop(&mut self) {
        self.writes.queue.lock().closed = true;
        self.writes.queued.notify_one();
    }
}

impl Sqlite {
    /// Opens (creating if needed) the database, applies migrations, and starts the writer and
    /// checkpoint threads under `tasks`.
    pub fn open(path: &Path, tasks: &crate::supervise::Tasks) -> StoreResult<Sqlite> {
        without_memory_statistics();
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
        let commits = Arc::new(AtomicU64::new(0));
        let writes = Arc::new(Writes {
            queue: Mutex::new(Queue::default()),
            queued: Condvar::new(),
            conn: Mutex::new(conn),
            commits: commits.clone(),
        });
        let writer = writes.clone();
        let supervisor = tasks.clone();
        spawn("sqlite-writer", move || {
            supervisor.run_thread("sqlite-writer", || writer_loop(&writer))
        })?;
        let sqlite = Sqlite {
            path: path.to_path_buf(),
            writes,
            readers: Mutex::new(Vec::new()),
            alive: Arc::new(()),
        };
        let alive = Arc::downgrade(&sqlite.alive);
        let supervisor = tasks.clone();
        // (At most 15 characters: Linux cuts thread names there.)
        spawn("sqlite-checkpt", move || {
            supervisor.run_thread("wal-checkpoint", || {
                checkpoint_loop(&checkpointer, &commits, &alive)
            })
        })?;
        Ok(sqlite)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the calling thread: on the read-write connection when no commit holds it,
    /// else on a read-only connection from the pool. Reads here are lookups by key or bounded
    /// pages, a few microseconds against a page cache; handing them to a blocking thread cost
    /// several times that in wake-ups. SQLite drops a connection's page cache whenever another
    /// connection has written, so pooled readers re-read every page after each commit; the
    /// read-write connection's cache survives its own commits.
    pub fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Tx<'_>) -> StoreResult<T>,
    {
        let writes = &self.writes;
        if let Some(conn) = writes.conn.try_lock() {
            let lent = Lent {
                writes,
                conn: Some(conn),
            };
            let conn = lent.conn.as_ref().expect("lent connection");
            let _ = conn.busy_timeout(READ_BUSY_WAIT);
            return f(&Tx {
                conn: Conn::Sqlite(conn),
            });
        }
        let conn = match self.readers.lock().pop() {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let out = f(&Tx {
            conn: Conn::Sqlite(&conn),
        });
        self.readers.lock().push(conn);
        out
    }

    /// Runs `f` inside a write transaction (its own savepoint: an error rolls back only this
    /// job), committed with whatever else is queued. Resolves after the commit. Keep `f`
    /// small: it may run on the calling thread.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let rx = self.queue(f)?;
        // One turn for the other requests ready on this thread, so their writes join this commit.
        tokio::task::yield_now().await;
        self.writes.commit_here();
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Like `write`, but always committed by the writer thread: for housekeeping whose rounds
    /// take milliseconds, which must not hold up an async thread.
    pub async fn write_in_background<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let rx = self.queue(f)?;
        self.writes.queued.notify_one();
        rx.await.map_err(|_| StoreError::Closed)?
    }

    fn queue<T, F>(&self, f: F) -> StoreResult<oneshot::Receiver<StoreResult<T>>>
    where
        T: Send + 'static,
        F: FnOnce(&Tx<'_>) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: WriteJob = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => run_in_savepoint(conn, f),
                Err(why) => Err(StoreError::NotStarted(why.to_string())),
            };
            let disk_full = matches!(result, Err(StoreError::DiskFull));
            let deliver = Box::new(move |fate| {
                let out = match (fate, result) {
                    (Fate::Committed, r) => r,
                    (Fate::DiskFull, _) => Err(StoreError::DiskFull),
                    (Fate::RolledBack, Ok(_)) => {
                        Err(StoreError::Corrupt("transaction did not commit".into()))
                    }
                    (Fate::RolledBack, Err(e)) => Err(e),
                };
                let _ = tx.send(out);
            });
            Ran { deliver, disk_full }
        });
        self.writes.push(job)?;
        Ok(rx)
    }
}

fn run_in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Tx<'_>) -> StoreResult<T>,
) -> StoreResult<T> {
    control(conn, "SAVEPOINT job")?;
    match f(&Tx {
        conn: Conn::Sqlite(conn),
    }) {
        Ok(v) => {
            control(conn, "RELEASE job")?;
            Ok(v)
        }
        Err(e) => {
            // After some errors SQLite has rolled the whole transaction back already (the
            // batch sees it); the job's own error is the one to report.
            if !conn.is_autocommit() {
                conn.execute_batch("ROLLBACK TO job; RELEASE job")?;
            }
            Err(e)
        }
    }
}

/// Runs transaction control from the statement cache: it runs for every write, and parsing it
/// each time cost more than running it.
fn control(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| StoreError::Corrupt(format!("cannot start the {name} thread: {e}")))
}

/// How often the checkpoint thread looks at the WAL while the store is open. (Waiting a second
/// between checkpoints under sustained load meant more to copy and sync in each, and token p99
/// went from ~11 ms to ~140 ms; hence a check every 100 ms that copies back once enough
/// commits wait.)
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// A WAL longer than this (frames of one page: 64 MiB) is started over by a restarting
/// checkpoint. Keep it well under `journal_size_limit` (128 MiB): a WAL past that limit is
/// trimmed at every restart and grown again, which with 256 MiB here took token p99 from ~5 to
/// ~40 ms. Under it the threshold barely matters (16 MiB, or 256 MiB with the limit raised,
/// were within noise of this), and readers pay a little for a long WAL.
const RESTART_AFTER_FRAMES: i64 = 16384;
/// Commits that make a checkpoint due at once. Fewer wait for `CHECKPOINT_WITHIN`: each
/// checkpoint syncs the WAL and the database file, and pages written again and again (index
/// ends, sessions, interactions) are copied once per checkpoint, not once per commit.
const CHECKPOINT_AFTER_COMMITS: u64 = 64;
/// The longest a commit waits in the WAL for the next checkpoint, and so the longest a power
/// loss can take back (`synchronous=NORMAL` syncs at checkpoints; a crash of the process
/// alone loses nothing).
const CHECKPOINT_WITHIN: Duration = Duration::from_secs(1);

/// Passive checkpoints never block the writer or readers. Under sustained writes they never
/// quite catch up with the writer, so once the WAL is long a restarting checkpoint lets the
/// writer start it over. That one holds the writer back while it copies (and syncs) whatever
/// the passive ones left, so passive rounds first shrink that to a few frames. Ends when the
/// store is dropped.
fn checkpoint_loop(conn: &Connection, commits: &AtomicU64, alive: &std::sync::Weak<()>) {
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
    let mut copied_up_to = 0;
    let mut last = Instant::now();
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        let committed = commits.load(Ordering::Relaxed);
        let waiting = committed - copied_up_to;
        if waiting == 0
            || (waiting < CHECKPOINT_AFTER_COMMITS && last.elapsed() < CHECKPOINT_WITHIN)
        {
            continue;
        }
        match round() {
            Ok(()) => (copied_up_to, last) = (committed, Instant::now()),
            Err(e) if is_disk_full(&e) => tracing::warn!("WAL checkpoint failed: disk full"),
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

/// Frames a restarting checkpoint may be left to copy while the writer waits.
const LEFT_FOR_RESTART: i64 = 256;

/// Commits whatever callers left queued, until the store is dropped and the queue is empty.
fn writer_loop(w: &Writes) {
    loop {
        {
            let mut q = w.queue.lock();
            while q.jobs.is_empty() {
                if q.closed {
                    return;
                }
                w.queued.wait(&mut q);
            }
        }
        let conn = w.conn.lock();
        let _ = conn.busy_timeout(WRITER_BUSY_WAIT);
        loop {
            let jobs = w.take();
            if jobs.is_empty() {
                break;
            }
            if let Err(jobs) = w.commit(&conn, jobs) {
                for job in jobs {
                    let ran = job(Err("the database stayed locked by another connection"));
                    (ran.deliver)(Fate::RolledBack);
                }
            }
        }
    }
}

fn configure(conn: &Connection) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;
         PRAGMA journal_size_limit=134217728;",
    )?;
    Ok(())
}

/// Turns off SQLite's memory statistics, which take one process-wide mutex for every allocation
/// SQLite makes: the serving threads contended for it on every statement. Only possible before
/// SQLite's first use in the process (this module opens every connection, and calls this first).
fn without_memory_statistics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int. sqlite3_config must not run beside
        // other SQLite calls: the first `Store::open` calls it before any connection exists,
        // and any other `open` waits on the Once until it has returned.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            )
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(
                rc,
                "SQLite was already in use: its memory statistics stay on"
            );
        }
    });
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(READ_BUSY_WAIT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::args;
    use crate::store::{exec, Store};

    /// A store in a new folder (dropped with the returned guard) holding one table
    /// `t (v {column})`, and the database file's path.
    async fn store_with_table(column: &'static str) -> (tempfile::TempDir, PathBuf, Store) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        store
            .write(move |tx| exec(tx.conn, &format!("CREATE TABLE t (v {column})"), args![]))
            .await
            .unwrap();
        (dir, path, store)
    }

    /// A write that finds the database locked by another connection is not lost or failed:
    /// the caller's thread hands it, unrun, to the writer thread, which commits it once the
    /// lock is released.
    #[tokio::test]
    async fn a_write_behind_another_connections_lock_commits_once_the_lock_is_gone() {
        let (_dir, path, store) = store_with_table("INTEGER").await;
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let writer = store.clone();
        let queued = tokio::spawn(async move {
            writer
                .write(|tx| exec(tx.conn, "INSERT INTO t VALUES (1)", args![]))
                .await
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!queued.is_finished(), "the write waits for the lock");
        other.execute_batch("COMMIT").unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 1);
        let rows: i64 = store
            .read(|tx| {
                Ok(tx
                    .conn
                    .sqlite()
                    .query_row("SELECT count(*) FROM t", [], |r| r.get(0))?)
            })
            .await
            .unwrap();
        assert_eq!(rows, 1, "committed exactly once");
    }

    /// Starts a read that holds the read-write connection for 300 ms and then runs `then`,
    /// and while it holds it writes a row. Returns what the write inserted, failing the test
    /// if the write was still waiting 5 s later, and how the read ended.
    async fn write_behind_a_read<T: Send + 'static>(
        then: impl FnOnce(&Tx) -> StoreResult<T> + Send + 'static,
    ) -> (usize, Result<StoreResult<T>, tokio::task::JoinError>) {
        let (_dir, _, store) = store_with_table("INTEGER").await;
        let (held, holding) = oneshot::channel();
        let reader = store.clone();
        let read = tokio::spawn(async move {
            reader
                .read(move |c| {
                    let _ = held.send(());
                    std::thread::sleep(Duration::from_millis(300));
                    then(c)
                })
                .await
        });
        holding.await.unwrap();
        let write = store.write(|tx| exec(tx.conn, "INSERT INTO t VALUES (1)", args![]));
        let inserted = tokio::time::timeout(Duration::from_secs(5), write)
            .await
            .expect("the write was left waiting after the read let go")
            .unwrap();
        (inserted, read.await)
    }

    /// A read may hold the read-write connection (its page cache survives commits). A write
    /// that finds it taken leaves its job queued; the read commits it on letting go, rather
    /// than leaving it to wait for a writer no one woke.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_queued_behind_a_read_commits_when_the_read_ends() {
        let (inserted, read) = write_behind_a_read(|tx| {
            Ok(!tx.conn.sqlite().is_readonly(rusqlite::DatabaseName::Main)?)
        })
        .await;
        assert_eq!(inserted, 1);
        assert!(
            read.unwrap().unwrap(),
            "the read held the read-write connection"
        );
    }

    /// A read that panics while it holds the read-write connection still hands on the writes
    /// that queued behind it (a broken query must not stall every later sign-in).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_queued_behind_a_panicking_read_still_commits() {
        let (inserted, read) =
            write_behind_a_read(|_| -> StoreResult<()> { panic!("a broken read") }).await;
        assert_eq!(inserted, 1);
        assert!(read.unwrap_err().is_panic());
    }

    /// SQLite keeps no memory statistics (they take one process-wide mutex for every allocation
    /// it makes): the figure it reports stays at zero however much it has allocated.
    #[tokio::test]
    async fn sqlite_keeps_no_memory_statistics() {
        let (_dir, _, _store) = store_with_table("BLOB").await;
        // SAFETY: a plain read of a counter.
        let used = unsafe { rusqlite::ffi::sqlite3_memory_used() };
        assert_eq!(used, 0, "SQLite counted {used} bytes: statistics are on");
    }

    /// Many writers at once: each job commits exactly once, whoever ends up committing it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_each_commit_once() {
        let (_dir, _, store) = store_with_table("INTEGER PRIMARY KEY").await;
        let tasks: Vec<_> = (0..2000)
            .map(|i| {
                let s = store.clone();
                tokio::spawn(async move {
                    s.write(move |tx| exec(tx.conn, "INSERT INTO t VALUES (?1)", args![i]))
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 1);
        }
        let (rows, sum): (i64, i64) = store
            .read(|tx| {
                Ok(tx
                    .conn
                    .sqlite()
                    .query_row("SELECT count(*), sum(v) FROM t", [], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?)
            })
            .await
            .unwrap();
        assert_eq!((rows, sum), (2000, 1999 * 2000 / 2));
    }

    /// The writer never checkpoints; the checkpoint thread copies committed pages back into
    /// the database file on its own, while the store stays open. A lone commit (far fewer
    /// than `CHECKPOINT_AFTER_COMMITS`) is copied once `CHECKPOINT_WITHIN` has passed: that
    /// bounds what a power loss can take back under `synchronous=NORMAL`.
    #[tokio::test]
    async fn committed_writes_reach_the_database_file_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        store
            .write(|tx| {
                exec(tx.conn, "CREATE TABLE t (v BLOB)", args![])?;
                exec(tx.conn, "INSERT INTO t VALUES (zeroblob(1000000))", args![])
            })
            .await
            .unwrap();
        let started = std::time::Instant::now();
        while std::fs::metadata(&path).unwrap().len() < before + 1_000_000 {
            assert!(
                started.elapsed() < CHECKPOINT_WITHIN + Duration::from_secs(2),
                "the WAL was not checkpointed into the database file in time"
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
