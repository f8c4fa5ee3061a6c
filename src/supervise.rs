//! Supervised background work. A background task that panics (the WAL checkpoint, the key
//! watcher, ...) would otherwise die silently while the server keeps answering: here its panic
//! is logged and counted, the task is marked down, and it is started again after a backoff.
//! `/readyz` reports the tasks that are down.

use crate::metrics::TaskLabel;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// First wait before a panicked task is restarted; doubles with each panic in a row.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A task that ran this long before panicking starts its backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The supervised tasks of one provider, and whether each is running.
#[derive(Clone, Default)]
pub struct Tasks {
    /// Task name -> running (false while waiting to be restarted after a panic).
    states: Arc<Mutex<BTreeMap<&'static str, bool>>>,
    /// Panics by task (shared with the metrics registry).
    pub panics: Family<TaskLabel, Counter>,
}

impl Tasks {
    /// Every supervised task still meant to run, and whether it is up.
    pub fn states(&self) -> Vec<(&'static str, bool)> {
        self.states.lock().iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn set(&self, name: &'static str, up: bool) {
        self.states.lock().insert(name, up);
    }

    /// The task ended by itself (its owner is gone, or it has nothing to do).
    fn ended(&self, name: &'static str) {
        self.states.lock().remove(name);
    }

    fn panicked(&self, name: &'static str, why: &str) {
        self.set(name, false);
        self.panics
            .get_or_create(&TaskLabel {
                task: name.to_string(),
            })
            .inc();
        tracing::error!(
            task = name,
            panic = why,
            "background task panicked; restarting it"
        );
    }

    /// Runs `body` on the calling thread until it returns, restarting it after each panic.
    pub fn run_thread(&self, name: &'static str, mut body: impl FnMut()) {
        self.set(name, true);
        let mut backoff = Backoff::default();
        loop {
            let started = Instant::now();
            let fault = fault::take(name);
            match catch_unwind(AssertUnwindSafe(|| {
                if let Some(trigger) = &fault {
                    while !trigger.exists() {
                        std::thread::sleep(fault::POLL);
                    }
                    panic!("injected fault");
                }
                body()
            })) {
                Ok(()) => return self.ended(name),
                Err(panic) => {
                    self.panicked(name, &message(&*panic));
                    std::thread::sleep(backoff.next(started.elapsed()));
                    self.set(name, true);
                }
            }
        }
    }

    /// Spawns `make()` on `set` (stopped when the set is), and again after each panic.
    pub fn spawn<F, Fut>(&self, set: &mut tokio::task::JoinSet<()>, name: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let tasks = self.clone();
        tasks.set(name, true);
        set.spawn(async move {
            let mut backoff = Backoff::default();
            loop {
                let started = Instant::now();
                let body = make();
                let fault = fault::take(name);
                // Aborted if the supervisor is: stopping the set stops the task.
                let mut run = AbortOnDrop(tokio::spawn(async move {
                    let Some(trigger) = fault else {
                        return body.await;
                    };
                    let triggered = async {
                        while !trigger.exists() {
                            tokio::time::sleep(fault::POLL).await;
                        }
                    };
                    tokio::select! {
                        () = body => {}
                        () = triggered => panic!("injected fault"),
                    }
                }));
                match (&mut run.0).await {
                    Ok(()) => return tasks.ended(name),
                    Err(e) if e.is_panic() => {
                        tasks.panicked(name, &message(&*e.into_panic()));
                        tokio::time::sleep(backoff.next(started.elapsed())).await;
                        tasks.set(name, true);
                    }
                    Err(_) => return tasks.ended(name),
                }
            }
        });
    }
}

/// Debug builds only (no real input makes a task panic any more, yet tests must prove that a live
/// server restarts one): `DEBUG_CONSENTRY_PANIC_TASK=<task>:<times>:<file>` makes that task panic
/// in `times` runs in a row, the first once `file` exists.
#[cfg(debug_assertions)]
mod fault {
    use parking_lot::Mutex;
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use std::time::Duration;

    /// How often a task waiting to panic looks for the trigger file.
    pub const POLL: Duration = Duration::from_millis(50);

    struct Plan {
        task: String,
        times: u32,
        trigger: PathBuf,
    }

    fn plan() -> Option<&'static Mutex<Plan>> {
        static PLAN: OnceLock<Option<Mutex<Plan>>> = OnceLock::new();
        PLAN.get_or_init(|| {
            let spec = std::env::var("DEBUG_CONSENTRY_PANIC_TASK").ok()?;
            let mut parts = spec.splitn(3, ':');
            let plan = Plan {
                task: parts.next()?.to_string(),
                times: parts.next()?.parse().ok()?,
                trigger: parts.next()?.into(),
            };
            tracing::warn!(%spec, "fault injection: a background task will panic");
            Some(Mutex::new(plan))
        })
        .as_ref()
    }

    /// Whether this run of `task` is to panic: then the file whose existence triggers it.
    pub fn take(task: &str) -> Option<PathBuf> {
        let mut plan = plan()?.lock();
        if plan.task != task || plan.times == 0 {
            return None;
        }
        plan.times -= 1;
        Some(plan.trigger.clone())
    }
}

#[cfg(not(debug_assertions))]
mod fault {
    pub const POLL: std::time::Duration = std::time::Duration::ZERO;

    pub fn take(_: &str) -> Option<std::path::PathBuf> {
        None
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Waits between restarts: growing while a task keeps panicking, reset once it ran a while.
#[derive(Default)]
struct Backoff {
    last: Option<Duration>,
}

impl Backoff {
    fn next(&mut self, ran: Duration) -> Duration {
        let wait = match self.last {
            Some(last) if ran < HEALTHY_RUN => (last * 2).min(MAX_BACKOFF),
            _ => FIRST_BACKOFF,
        };
        self.last = Some(wait);
        wait
    }
}

fn message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn panics_of(tasks: &Tasks, name: &str) -> u64 {
        tasks
            .panics
            .get_or_create(&TaskLabel { task: name.into() })
            .get()
    }

    /// Every background task is supervised (issue 18, item 2): a task that panics is counted,
    /// reported down while it waits, and restarted.
    #[tokio::test]
    async fn a_panicking_task_is_counted_reported_down_and_restarted() {
        let tasks = Tasks::default();
        let mut set = tokio::task::JoinSet::new();
        let runs = Arc::new(AtomicUsize::new(0));
        let counter = runs.clone();
        tasks.spawn(&mut set, "flaky", move || {
            let counter = counter.clone();
            async move {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    panic!("first run fails");
                }
                std::future::pending::<()>().await
            }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while panics_of(&tasks, "flaky") == 0 {
            assert!(Instant::now() < deadline, "the panic was not counted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            tasks.states(),
            vec![("flaky", false)],
            "down while waiting to restart"
        );
        while runs.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "the task was not restarted");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            tasks.states(),
            vec![("flaky", true)],
            "up again after the restart"
        );
        assert_eq!(panics_of(&tasks, "flaky"), 1);
        set.shutdown().await;
    }

    /// The same for tasks on threads of their own (the SQLite writer and WAL checkpoint).
    #[test]
    fn a_panicking_thread_body_is_restarted_and_ends_when_it_returns() {
        let tasks = Tasks::default();
        let mut runs = 0;
        tasks.run_thread("checkpoint", || {
            runs += 1;
            if runs < 3 {
                panic!("a failing round");
            }
        });
        assert_eq!(runs, 3);
        assert_eq!(panics_of(&tasks, "checkpoint"), 2);
        assert!(
            tasks.states().is_empty(),
            "a task that returned is no longer listed"
        );
    }

    #[test]
    fn backoff_grows_and_resets_after_a_healthy_run() {
        let mut b = Backoff::default();
        assert_eq!(b.next(Duration::ZERO), FIRST_BACKOFF);
        assert_eq!(b.next(Duration::ZERO), FIRST_BACKOFF * 2);
        for _ in 0..20 {
            b.next(Duration::ZERO);
        }
        assert_eq!(b.next(Duration::ZERO), MAX_BACKOFF);
        assert_eq!(b.next(HEALTHY_RUN), FIRST_BACKOFF);
    }
}
