//! Group commit on PostgreSQL: write jobs queue, and a few writer threads each run whatever is
//! queued in one transaction, then commit once. A commit (and
//! its WAL flush) is the dear part of a small write; sharing it lets one node issue many
//! tokens per commit, as the SQLite backend does. Each job's result is held until the commit,
//! so nothing is acknowledged before it is durable.
//!
//! Batches hold their row locks until they commit, so two batches (of two nodes, or two
//! writers) that lock the same rows in opposite orders can deadlock. PostgreSQL then ends one of
//! them; its jobs are run again, each in a transaction of its own, and only their callers
//! notice (a little later). Jobs are therefore `Fn` and change nothing but the database.

use super::{pool_error, Access, Connector, Driver, Ended, Session};
use crate::store::{StoreError, StoreResult};
use deadpool_postgres::Pool;
use parking_lot::{Condvar, Mutex};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

/// Most jobs committed together.
const BATCH_MAX: usize = 64;
/// Most writer threads per node: while one waits for its commit, another fills the next batch.
const MAX_WRITERS: usize = 4;
/// Times a job is run alone when deadlocks or serialization failures keep ending it.
const ATTEMPTS: usize = 3;

/// What a job's caller receives: its result, or the panic it raised.
type Answer<T> = std::thread::Result<StoreResult<T>>;

/// A write job, its result kept until its transaction ends.
pub(super) trait Job: Send {
    /// Runs the job; true when it succeeded and its writes may commit.
    fn run(&mut self, s: &Session) -> bool;
    /// Answers the caller: the job's own result if its writes committed (or it failed by
    /// itself), or `failure` when the transaction its success was part of did not commit.
    fn finish(self: Box<Self>, failure: Option<&StoreError>);
}

pub(super) struct Queued<T, F> {
    f: F,
    answer: Option<Answer<T>>,
    reply: Option<oneshot::Sender<Answer<T>>>,
}

impl<T, F> Queued<T, F>
where
    F: Fn(&Session) -> StoreResult<T>,
{
    pub fn new(f: F, reply: oneshot::Sender<Answer<T>>) -> Self {
        Queued {
            f,
            answer: None,
            reply: Some(reply),
        }
    }

    /// A job run by its caller's thread rather than queued.
    pub fn unqueued(f: F) -> Self {
        Queued {
            f,
            answer: None,
            reply: None,
        }
    }

    /// The job's result (a panic goes on here).
    pub fn take(&mut self) -> StoreResult<T> {
        match self.answer.take() {
            Some(Ok(out)) => out,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(StoreError::Closed),
        }
    }
}

impl<T, F> Job for Queued<T, F>
where
    T: Send,
    F: Fn(&Session) -> StoreResult<T> + Send,
{
    fn run(&mut self, s: &Session) -> bool {
        let answer = catch_unwind(AssertUnwindSafe(|| (self.f)(s)));
        // PostgreSQL keeps nothing of a job after one of its statements failed, even if the
        // job carried on: it must not report success.
        let answer = match answer {
            Ok(Ok(_)) if s.statement_failed() => Ok(Err(StoreError::Corrupt(
                "a write job went on after one of its statements failed".into(),
            ))),
            other => other,
        };
        let ok = matches!(answer, Ok(Ok(_)));
        self.answer = Some(answer);
        ok
    }

    fn finish(mut self: Box<Self>, failure: Option<&StoreError>) {
        let answer = match (failure, self.answer.take()) {
            // Never run (the group ended before its turn): the group's failure is its own.
            (Some(e), None) | (Some(e), Some(Ok(Ok(_)))) => Ok(Err(again(e))),
            (None, None) => Ok(Err(StoreError::Closed)),
            (_, Some(answer)) => answer,
        };
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(answer);
        }
    }
}

/// The same failure, for every job of a transaction that did not commit.
fn again(e: &StoreError) -> StoreError {
    match e {
        StoreError::DiskFull => StoreError::DiskFull,
        StoreError::Closed => StoreError::Closed,
        other => StoreError::NotStarted(format!("the transaction did not commit: {other}")),
    }
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Box<dyn Job>>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    queued: Condvar,
}

pub(super) struct GroupCommit {
    shared: Arc<Shared>,
}

/// One writer per core the node may run on, up to `MAX_WRITERS`. More writers than cores
/// commit smaller batches that compete for the CPU: on one core (`benches/run.sh`, pinned) one
/// writer issued 10,400 tokens/s and four 4,400; on two cores two writers issued 13,600 and four
/// 10,900. `available_parallelism` follows the CPU affinity and cgroup quota the node runs under.
fn writers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_WRITERS)
}

impl GroupCommit {
    /// Starts the writer threads, each with a connection and a runtime of its own.
    pub fn start(connector: &Connector) -> StoreResult<GroupCommit> {
        let shared = Arc::new(Shared::default());
        for i in 0..writers() {
            let pool = connector.pool(1)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    StoreError::Unusable(format!("cannot start a database writer: {e}"))
                })?;
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("postgres-writer-{i}"))
                .spawn(move || writer_loop(&shared, &pool, Rc::new(runtime)))
                .map_err(|e| {
                    StoreError::Unusable(format!("cannot start a database writer: {e}"))
                })?;
        }
        Ok(GroupCommit { shared })
    }

    pub fn push(&self, job: Box<dyn Job>) -> StoreResult<()> {
        let mut q = self.shared.queue.lock();
        if q.closed {
            return Err(StoreError::Closed);
        }
        q.jobs.push(job);
        drop(q);
        self.shared.queued.notify_one();
        Ok(())
    }

    /// The writers commit what is queued, then end.
    pub fn close(&self) {
        self.shared.queue.lock().closed = true;
        self.shared.queued.notify_all();
    }
}

fn writer_loop(shared: &Shared, pool: &Pool, runtime: Rc<Runtime>) {
    loop {
        let jobs = {
            let mut q = shared.queue.lock();
            while q.jobs.is_empty() {
                if q.closed {
                    return;
                }
                shared.queued.wait(&mut q);
            }
            let n = q.jobs.len().min(BATCH_MAX);
            let jobs: Vec<_> = q.jobs.drain(..n).collect();
            // More left: another writer takes them meanwhile.
            if !q.jobs.is_empty() {
                shared.queued.notify_one();
            }
            jobs
        };
        let client = match runtime.block_on(pool.get()) {
            Ok(client) => client,
            Err(e) => {
                let e = pool_error(e);
                for job in jobs {
                    job.finish(Some(&e));
                }
                continue;
            }
        };
        let session = Session::new(client, Driver::Own(runtime.clone()));
        commit_together(&session, jobs);
        session.release();
    }
}

/// Runs `jobs` in one transaction and answers them after the commit. A job that fails having
/// changed nothing harms no one; one that fails after changing rows (or whose statement failed)
/// needs its changes undone, and so, without a savepoint per job (two more statements and a
/// subtransaction each, for a case the token path never meets), the whole transaction is
/// rolled back and every job is run again alone.
fn commit_together(s: &Session, mut jobs: Vec<Box<dyn Job>>) {
    let ended = s.alone(Access::Write, |s| {
        for job in jobs.iter_mut() {
            s.start_job();
            let ok = job.run(s);
            if (!ok && s.job_left_traces()) || s.doomed() {
                return false;
            }
        }
        true
    });
    match ended {
        Ended::Committed => {
            for job in jobs {
                job.finish(None);
            }
        }
        Ended::Failed(e) => {
            tracing::error!(error = %e, "a write transaction could not commit");
            for job in jobs {
                job.finish(Some(&e));
            }
        }
        Ended::RolledBack | Ended::Doomed => {
            tracing::debug!(
                jobs = jobs.len(),
                "a group commit was rolled back; running its jobs alone"
            );
            for mut job in jobs {
                let failure = run_alone(s, job.as_mut());
                job.finish(failure.as_ref());
            }
        }
    }
}

/// Runs `job` in transactions of its own until one is not ended by a deadlock or a
/// serialization failure; the failure that kept its writes from committing, if any.
pub(super) fn run_alone(s: &Session, job: &mut dyn Job) -> Option<StoreError> {
    for _ in 0..ATTEMPTS {
        match s.alone(Access::Write, |s| job.run(s)) {
            Ended::Committed | Ended::RolledBack => return None,
            Ended::Failed(e) => return Some(e),
            Ended::Doomed => continue,
        }
    }
    Some(StoreError::NotStarted(
        "deadlocks or serialization failures ended every attempt".into(),
    ))
}
