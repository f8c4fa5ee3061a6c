//! The threads that serve connections: one single-threaded runtime per core, each accepted
//! connection handed to the next one in turn and served there until it closes.
//!
//! Why not one work-stealing runtime: a request that arrives at an idle server wakes one thread
//! there, and that one, finding work, wakes another to share it, which finds nothing and parks
//! again; under load the threads also trade tasks and wake-ups across cores. A connection that
//! stays on one thread costs one wake-up per request. What it gives up is stealing: a long
//! request holds up the other connections of its core, so anything long (password hashing,
//! plugin scripts, batched writes) already runs on threads of its own.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Running serving threads; dropping this stops them and every connection they serve.
pub struct Cores {
    cores: Vec<Core>,
    next: AtomicUsize,
}

struct Core {
    handle: Handle,
    /// Dropped with the `Cores`: the thread's runtime then shuts down.
    _stop: oneshot::Sender<()>,
}

/// How long a stopping thread waits for its blocking tasks (plugin scripts) to return.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(1);

impl Cores {
    /// Starts `n` serving threads (`server.threads`: by default one per core this process may
    /// use).
    pub fn start(n: usize) -> std::io::Result<Cores> {
        let cores = (0..n).map(start_core).collect::<std::io::Result<_>>()?;
        Ok(Cores {
            cores,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `task` on the next serving thread.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.cores.len();
        self.cores[i].handle.spawn(task);
    }
}

fn start_core(i: usize) -> std::io::Result<Core> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = oneshot::channel::<()>();
    std::thread::Builder::new()
        .name(format!("serve-{i}"))
        .spawn(move || {
            crate::per_core::enter_serving_core(i);
            let _ = runtime.block_on(stopped);
            runtime.shutdown_timeout(SHUTDOWN_WAIT);
        })?;
    Ok(Core {
        handle,
        _stop: stop,
    })
}
