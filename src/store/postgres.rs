//! The PostgreSQL backend, for several stateless nodes over one database. Each job runs in a
//! transaction of its own on a pooled connection (tokio-postgres, deadpool): PostgreSQL orders
//! concurrent writers itself, so there is no group commit here, and single use holds across
//! nodes because every consumption is a conditional update or a unique insert that the
//! database serialises.
//!
//! Jobs are synchronous closures (the repositories are shared with SQLite), so a job runs on a
//! blocking thread of this backend's own runtime, and each statement waits there for the
//! driver. That runtime also drives the connections, so the CLI and start-up code, which run
//! outside any runtime, use it the same way.

use super::value::Value;
use super::{DriverError, StoreError, StoreResult};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use tokio::runtime::{Handle, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// Settings an operator may give besides the URL.
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections each node keeps open at most.
    pub pool_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { pool_size: 16 }
    }
}

pub(crate) struct Postgres {
    pool: Pool,
    /// Drives the connections and runs the jobs' blocking threads.
    runtime: Option<Runtime>,
    handle: Handle,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// One job's connection, inside its transaction.
pub(crate) struct Session {
    client: deadpool_postgres::Object,
    handle: Handle,
}

/// How a job's transaction begins.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    /// One consistent snapshot, no writes.
    Read,
    /// Read committed: single-use rules hold through conditional updates and unique keys.
    Write,
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
        let manager = match tls {
            Some(tls) => Manager::from_config(config, tls, manager_config()),
            None => Manager::from_config(config, tokio_postgres::NoTls, manager_config()),
        };
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .create_timeout(Some(std::time::Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Unusable(format!("cannot create the connection pool: {e}")))?;
        let pg = Postgres {
            pool,
            runtime: Some(runtime),
            handle,
        };
        // On a thread of its own: the caller may be inside a runtime, where waiting is not allowed.
        std::thread::scope(|s| {
            s.spawn(|| pg.blocking(setup))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })?;
        Ok(pg)
    }

    /// Runs `f` in its own transaction on a blocking thread; resolves once it has committed
    /// (or rolled back: an error, a refusal or a panic keeps nothing of it).
    pub async fn run<T, F>(&self, access: Access, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Session) -> StoreResult<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let handle = self.handle.clone();
        let job = self.handle.spawn_blocking(move || {
            // Taken here, inside this backend's runtime, so new connections are driven by it.
            let client = handle.block_on(pool.get()).map_err(pool_error)?;
            let session = Session { client, handle };
            session.transaction(access, f)
        });
        job.await.map_err(|e| match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => StoreError::Closed,
        })?
    }

    /// Like `run`, for code outside any runtime (start-up, the CLI): waits for the database on
    /// the calling thread.
    pub fn blocking<T>(&self, f: impl FnOnce(&Session) -> StoreResult<T>) -> StoreResult<T> {
        let client = self.handle.block_on(self.pool.get()).map_err(pool_error)?;
        f(&Session {
            client,
            handle: self.handle.clone(),
        })
    }
}

impl Session {
    /// Runs `f` between BEGIN and COMMIT; an error rolls back everything it wrote.
    pub fn transaction<T>(
        &self,
        access: Access,
        f: impl FnOnce(&Session) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.batch(match access {
            Access::Read => "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
            Access::Write => "BEGIN",
        })?;
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
        match out {
            Ok(Ok(v)) => {
                self.batch("COMMIT")?;
                Ok(v)
            }
            Ok(Err(e)) => {
                self.batch("ROLLBACK")?;
                Err(e)
            }
            Err(panic) => {
                let _ = self.batch("ROLLBACK");
                std::panic::resume_unwind(panic)
            }
        }
    }

    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        Ok(self.handle.block_on(self.client.batch_execute(sql))?)
    }

    pub fn exec(&self, sql: &str, args: &[Value]) -> StoreResult<usize> {
        let sql = placeholders(sql);
        self.handle.block_on(async {
            let stmt = self.client.prepare_cached(&sql).await?;
            let n = self.client.execute(&stmt, &refs(args)).await?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    pub fn query(&self, sql: &str, args: &[Value]) -> StoreResult<Vec<tokio_postgres::Row>> {
        let sql = placeholders(sql);
        self.handle.block_on(async {
            let stmt = self.client.prepare_cached(&sql).await?;
            Ok(self.client.query(&stmt, &refs(args)).await?)
        })
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
