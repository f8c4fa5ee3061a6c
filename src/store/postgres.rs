//! The PostgreSQL backend, for several stateless nodes over one database (tokio-postgres,
//! deadpool). Writes are committed in groups (`group_commit`): each job in a transaction
//! shared with the other writes queued at the time. Reads run in a read-only
//! snapshot of their own. Single use holds across nodes because every consumption is a
//! conditional update or a unique insert that the database serialises.
//!
//! Jobs are synchronous closures (the repositories are shared with SQLite), so a job runs on a
//! blocking thread (reads) or a writer thread (writes), and each statement waits there for the
//! driver. Transaction control rides along with the next statement rather than costing a round
//! trip of its own. This backend's runtime drives the connections, so the CLI and start-up
//! code, which run outside any runtime, use it the same way.

use super::value::Value;
use super::{DriverError, StoreError, StoreResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use group_commit::GroupCommit;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::str::FromStr;
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// Settings an operator may give besides the URL.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections each node keeps open at most for reads and housekeeping; each of the
    /// group-commit writers has one more of its own.
    pub pool_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { pool_size: 16 }
    }
}

mod group_commit;

pub(crate) struct Postgres {
    pool: Pool,
    /// Write jobs waiting for their commit, and the threads that commit them.
    writes: GroupCommit,
    /// Drives the connections and runs the jobs' blocking threads.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.writes.close();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// One job's connection, inside its transaction. Transaction control (BEGIN) is
/// not sent on its own: it waits in `unsent` and travels with the next statement, in the same
/// flight (tokio-postgres pipelines requests sent together), so it costs no round trip.
pub(crate) struct Session {
    client: deadpool_postgres::Object,
    driver: Driver,
    unsent: RefCell<String>,
    /// Some control or statement went to the server since the transaction was opened.
    sent: Cell<bool>,
    /// A statement failed in this transaction: PostgreSQL then refuses everything else
    /// in the transaction until it is rolled back.
    failed: Cell<bool>,
    /// The current job has changed rows (or may have), or one of its statements failed: if it
    /// fails, its transaction must be rolled back.
    traces: Cell<bool>,
    /// A deadlock or a serialization failure ended the transaction: its work must run again.
    doomed: Cell<bool>,
}

/// How a job's transaction begins.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    /// One consistent snapshot, no writes.
    Read,
    /// Read committed: single-use rules hold through conditional updates and unique keys.
    Write,
}

/// How a transaction ended.
pub(crate) enum Ended {
    Committed,
    RolledBack,
    /// Ended by a deadlock or a serialization failure: nothing of it was kept, and running it
    /// again may succeed.
    Doomed,
    /// COMMIT itself failed: nothing of it was kept.
    Failed(StoreError),
}

impl Postgres {
    /// Connects, checking the URL and the credentials at once, and runs `setup` (migrations)
    /// on one connection.
    pub fn open(
        url: &str,
        options: &Options,
        setup: impl FnOnce(&Session) -> StoreResult<()> + Send,
    ) -> StoreResult<Postgres> {
        let (config, tls) = connection_settings(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(options.pool_size.max(1) * 2 + 4)
            .thread_name("postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unusable(format!("cannot start the database runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let connector = Connector { config, tls };
        let pool = connector.pool(options.pool_size.max(1))?;
        let writes = GroupCommit::start(&connector)?;
        let pg = Postgres {
            pool,
            runtime: Some(runtime),
            handle,
            writes,
        };
        // On a thread of its own: the caller may be inside a runtime, where waiting is not allowed.
        std::thread::scope(|s| {
            s.spawn(|| pg.blocking(setup))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        Ok(pg)
    }

    /// Runs `f` in a read-only transaction of its own, on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Session) -> StoreResult<T> + Send + 'static,
    {
        self.on_blocking_thread(move |s| {
            let mut out = None;
            s.alone(Access::Read, |s| {
                let r = f(s);
                let ok = r.is_ok();
                out = Some(r);
                ok
            });
            out.unwrap_or(Err(StoreError::Closed))
        })
        .await
    }

    /// Runs `f` in a write transaction: committed with the other writes queued at the time
    /// (group commit), resolved after the commit. A deadlock or a
    /// serialization failure runs `f` again, so it must not change anything but the database.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Session) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writes
            .push(Box::new(group_commit::Queued::new(f, reply)))?;
        match answer.await {
            Ok(Ok(out)) => out,
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err(StoreError::Closed),
        }
    }

    /// Like `write`, in a transaction of its own: for housekeeping whose rounds take
    /// milliseconds, which must not hold up the writes committed together.
    pub async fn write_alone<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: Fn(&Session) -> StoreResult<T> + Send + 'static,
    {
        self.on_blocking_thread(move |s| {
            let mut job = group_commit::Queued::unqueued(f);
            match group_commit::run_alone(s, &mut job) {
                None => job.take(),
                Some(e) => job.take().and(Err(e)),
            }
        })
        .await
    }

    /// Runs `f` on a pooled connection, on a blocking thread of this backend's runtime.
    async fn on_blocking_thread<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Session) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let handle = self.handle.clone();
        let job = self.handle.spawn_blocking(move || {
            // Taken here, inside this backend's runtime, so new connections are driven by it.
            let client = handle.block_on(pool.get()).map_err(pool_error)?;
            let session = Session::new(client, Driver::Shared(handle));
            let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&session)));
            session.release();
            out.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        job.await.map_err(|e| match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => StoreError::Closed,
        })?
    }

    /// Code outside any runtime (start-up, the CLI) waits for the database on the calling
    /// thread: `f` gets a connection and runs its own transactions.
    pub fn blocking<T>(&self, f: impl FnOnce(&Session) -> StoreResult<T>) -> StoreResult<T> {
        let client = self.handle.block_on(self.pool.get()).map_err(pool_error)?;
        let session = Session::new(client, Driver::Shared(self.handle.clone()));
        let out = f(&session);
        session.release();
        out
    }
}

impl Session {
    pub(super) fn new(client: deadpool_postgres::Object, driver: Driver) -> Session {
        Session {
            client,
            driver,
            unsent: RefCell::default(),
            sent: Cell::new(false),
            failed: Cell::new(false),
            traces: Cell::new(false),
            doomed: Cell::new(false),
        }
    }

    /// Runs `job` in a transaction of its own and ends it: committed when `job` says it
    /// succeeded, rolled back otherwise (or on a panic, which then goes on). A transaction
    /// that never sent a statement costs no round trip; a read's COMMIT is not waited for.
    pub fn alone(&self, access: Access, job: impl FnOnce(&Session) -> bool) -> Ended {
        self.sent.set(false);
        self.failed.set(false);
        self.doomed.set(false);
        self.defer(match access {
            Access::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            Access::Write => "BEGIN",
        });
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(self)));
        if !self.sent.get() {
            self.unsent.borrow_mut().clear();
            return match ok {
                Ok(true) => Ended::Committed,
                Ok(false) => Ended::RolledBack,
                Err(panic) => std::panic::resume_unwind(panic),
            };
        }
        let commit = matches!(ok, Ok(true)) && !self.failed.get() && !self.doomed.get();
        let ended = if self.doomed.get() {
            Ended::Doomed
        } else if commit {
            Ended::Committed
        } else {
            Ended::RolledBack
        };
        let end = if commit { "COMMIT" } else { "ROLLBACK" };
        let ended = match access {
            // Nothing of a read depends on its end: it goes out as the connection is released.
            Access::Read => {
                self.defer(end);
                ended
            }
            Access::Write => match self.batch(end) {
                Ok(()) => ended,
                Err(_) if self.doomed.get() => Ended::Doomed,
                Err(e) => Ended::Failed(e),
            },
        };
        match ok {
            Ok(_) => ended,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Queues transaction control to go out with the next statement.
    pub(super) fn defer(&self, control: &str) {
        let mut unsent = self.unsent.borrow_mut();
        unsent.push_str(control);
        unsent.push(';');
    }

    /// A job of a shared transaction starts: nothing it does is known yet.
    pub(super) fn start_job(&self) {
        self.traces.set(false);
    }

    /// The job has changed rows, or may have, or one of its statements failed.
    pub(super) fn job_left_traces(&self) -> bool {
        self.traces.get()
    }

    pub(super) fn statement_failed(&self) -> bool {
        self.failed.get()
    }

    pub(super) fn doomed(&self) -> bool {
        self.doomed.get()
    }

    /// Sends what the connection still owes (a read's COMMIT) and returns the connection to
    /// the pool once the server has answered it.
    fn release(self) {
        let owed = self.unsent.take();
        if owed.is_empty() {
            return;
        }
        let client = self.client;
        let end = async move {
            let _ = client.batch_execute(&owed).await;
        };
        match self.driver {
            Driver::Shared(handle) => drop(handle.spawn(end)),
            // Nobody else drives this connection: end it now.
            Driver::Own(runtime) => runtime.block_on(end),
        }
    }

    /// Sends `request` with the control queued before it, in one flight.
    fn send<T>(
        &self,
        request: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> StoreResult<T> {
        let control = self.unsent.take();
        self.sent.set(true);
        let out = if control.is_empty() {
            self.driver.block_on(request)
        } else {
            let (control, out) = self
                .driver
                .block_on(async { tokio::join!(self.client.batch_execute(&control), request) });
            // Transaction control that failed leaves the transaction in doubt: its work is
            // run again.
            if control.is_err() {
                self.doomed.set(true);
            }
            control.and(out)
        };
        out.map_err(|e| {
            self.failed.set(true);
            self.traces.set(true);
            if matches!(
                e.code(),
                Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE)
            ) {
                self.doomed.set(true);
            }
            StoreError::from(e)
        })
    }

    /// Runs statements given as text (no arguments), such as a migration.
    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        self.send(self.client.batch_execute(sql))
    }

    pub fn exec(&self, sql: &str, args: &[Value]) -> StoreResult<usize> {
        let sql = placeholders(sql);
        let changed = self.send(async {
            let stmt = self.client.prepare_cached(&sql).await?;
            let n = self.client.execute(&stmt, &refs(args)).await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })?;
        if changed > 0 {
            self.traces.set(true);
        }
        Ok(changed)
    }

    pub fn query(&self, sql: &str, args: &[Value]) -> StoreResult<Vec<tokio_postgres::Row>> {
        let rows = self.send(async {
            let stmt = self.client.prepare_cached(&placeholders(sql)).await?;
            self.client.query(&stmt, &refs(args)).await
        })?;
        // Rows from anything but a SELECT (an UPDATE ... RETURNING) are rows it changed.
        let select = sql
            .trim_start()
            .get(..6)
            .is_some_and(|w| w.eq_ignore_ascii_case("select"));
        if !select && !rows.is_empty() {
            self.traces.set(true);
        }
        Ok(rows)
    }
}

fn refs<'a>(args: &'a [Value<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn ToSql + Sync)).collect()
}

/// Rewrites SQLite's `?1` placeholders as PostgreSQL's `$1` (outside quoted text).
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => quoted = !quoted,
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

/// How to open connections: the settings of the backend's pool, and of each writer's own.
struct Connector {
    config: tokio_postgres::Config,
    tls: Option<Tls>,
}

impl Connector {
    fn pool(&self, size: usize) -> StoreResult<Pool> {
        let manager = match &self.tls {
            Some(tls) => Manager::from_config(self.config.clone(), tls.clone(), manager_config()),
            None => {
                Manager::from_config(self.config.clone(), tokio_postgres::NoTls, manager_config())
            }
        };
        Pool::builder(manager)
            .max_size(size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Unusable(format!("cannot create the connection pool: {e}")))
    }
}

/// What a session waits on for the driver.
#[derive(Clone)]
pub(crate) enum Driver {
    /// The backend's runtime, whose worker threads drive the pool's connections.
    Shared(Handle),
    /// A runtime of the calling thread's own, driving a connection only it uses: a statement
    /// then goes out and comes back on the thread that waits for it, with no hand-over
    /// between threads (a writer's).
    Own(Rc<Runtime>),
}

impl Driver {
    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        match self {
            Driver::Shared(handle) => handle.block_on(f),
            Driver::Own(runtime) => runtime.block_on(f),
        }
    }
}

fn manager_config() -> ManagerConfig {
    ManagerConfig {
        // A connection that broke is found out by its next statement; a round trip to check
        // every connection before each job would cost more than it saves.
        recycling_method: RecyclingMethod::Fast,
    }
}

type Tls = tokio_postgres_rustls::MakeRustlsConnect;

/// The driver's settings from a `postgres://` URL, and TLS when `sslmode` asks for it. Besides
/// the driver's own parameters, `sslrootcert=PATH` names the CA that signed the server's
/// certificate: TLS here always verifies the server, so `sslmode=require` (or `verify-ca`,
/// `verify-full`) needs it.
fn connection_settings(url: &str) -> StoreResult<(tokio_postgres::Config, Option<Tls>)> {
    let bad = |why: String| StoreError::Unusable(format!("bad database URL: {why}"));
    let mut parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    let mut root = None;
    let mut verify = false;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(k, v)| match k.as_ref() {
            "sslrootcert" => {
                root = Some(v.into_owned());
                None
            }
            "sslmode" if v == "verify-ca" || v == "verify-full" => {
                verify = true;
                Some((k.into_owned(), "require".to_string()))
            }
            _ => Some((k.into_owned(), v.into_owned())),
        })
        .collect();
    // Percent-encoded, not form-encoded: the driver reads `+` as a plus, not a space.
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let query: Vec<String> = kept
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    parsed.set_query((!query.is_empty()).then(|| query.join("&")).as_deref());
    let config =
        tokio_postgres::Config::from_str(parsed.as_str()).map_err(|e| bad(e.to_string()))?;
    let wants_tls = verify || config.get_ssl_mode() != tokio_postgres::config::SslMode::Disable;
    let tls = match (wants_tls, root) {
        (false, _) => None,
        (true, Some(path)) => Some(tls_to(&path)?),
        (true, None) if config.get_ssl_mode() == tokio_postgres::config::SslMode::Prefer => None,
        (true, None) => {
            return Err(bad(
                "TLS to the database verifies its certificate: add sslrootcert=PATH (the CA's PEM file)"
                    .into(),
            ))
        }
    };
    Ok((config, tls))
}

fn tls_to(ca_path: &str) -> StoreResult<Tls> {
    let bad = |why: String| StoreError::Unusable(format!("sslrootcert {ca_path}: {why}"));
    let pem = std::fs::read(ca_path).map_err(|e| bad(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(&pem) {
        let cert: rustls_pki_types::CertificateDer = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => StoreError::from(e),
        other => StoreError::Database(DriverError::Postgres(other.to_string())),
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> StoreError {
        match e.code() {
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict,
            Some(c) if *c == SqlState::DISK_FULL => StoreError::DiskFull,
            _ => StoreError::Database(DriverError::Postgres(match e.as_db_error() {
                // The driver's own text is only "db error": the server's says what happened.
                Some(db) => format!("{} ({})", db.message(), db.code().code()),
                None => with_causes(&e),
            })),
        }
    }
}

/// The driver's message with the causes it leaves out of its own text ("error connecting to
/// server" says nothing of a refused connection; "error performing TLS handshake" nothing of
/// an untrusted certificate).
fn with_causes(e: &tokio_postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let said = c.to_string();
        if !text.contains(&said) {
            text = format!("{text}: {said}");
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::placeholders;

    #[test]
    fn placeholders_are_numbered_the_postgres_way_outside_quoted_text() {
        assert_eq!(
            placeholders("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND d = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND d = $12"
        );
    }
}
