//! The hook call running on this thread: what the host functions may know about it (the
//! institution, its settings and hosts, the provider's HTTP client and keys) and its
//! wall-clock deadline. Hooks run on blocking threads, one call at a time per thread, so
//! thread-locals are exact.

use super::http_stub::HttpStub;
use crate::jose::KeySet;
use rhai::EvalAltResult;
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub type HostResult<T> = Result<T, Box<EvalAltResult>>;

/// What the host functions know about the hook call running on this thread.
#[derive(Default, Clone)]
pub struct CallContext {
    pub institution: String,
    pub settings: std::collections::BTreeMap<String, String>,
    /// Hosts `http_*` may reach: the script's declared ones ...
    pub hosts: Vec<String>,
    /// ... and the operator's (setting `hosts`).
    pub operator_hosts: Vec<String>,
    /// HTTP and keys; absent while a script's metadata is read at load time.
    pub services: Option<Services>,
    /// `newTransactions` payloads the script raised during this call.
    pub new_transactions: Vec<serde_json::Value>,
    /// Only in a rehearsal (`consentry plugins test`): canned answers in place of the network.
    pub http_stub: Option<Arc<HttpStub>>,
}

/// Reads the current call's context.
pub fn context<T>(f: impl FnOnce(&CallContext) -> T) -> T {
    CONTEXT.with(|c| f(&c.borrow()))
}

thread_local! {
    pub(super) static CONTEXT: std::cell::RefCell<CallContext> = std::cell::RefCell::new(CallContext::default());
}

/// Runs `f` with `ctx` visible to the host functions on this thread; returns what `f`
/// returned and the context as the call left it.
pub fn with_context<T>(ctx: CallContext, f: impl FnOnce() -> T) -> (T, CallContext) {
    CONTEXT.with(|c| *c.borrow_mut() = ctx);
    let out = f();
    let left = CONTEXT.with(|c| std::mem::take(&mut *c.borrow_mut()));
    (out, left)
}

pub fn fail<T>(msg: impl Into<String>) -> HostResult<T> {
    Err(msg.into().into())
}

/// What the I/O functions need from the running provider.
#[derive(Clone)]
pub struct Services {
    pub http: reqwest::Client,
    pub runtime: tokio::runtime::Handle,
    pub keys: Arc<KeySet>,
    /// The provider's database, for the scripts' own storage (`host_storage`).
    pub store: crate::store::Store,
}

thread_local! {
    /// When the hook running on this thread must stop. Hooks run on blocking threads, one
    /// call at a time per thread, so a thread-local is exact.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `f` with the wall-clock deadline armed for this thread.
pub fn with_deadline<T>(limit: Duration, f: impl FnOnce() -> T) -> T {
    DEADLINE.with(|d| d.set(Some(Instant::now() + limit)));
    let out = f();
    DEADLINE.with(|d| d.set(None));
    out
}

/// Time left before this thread's hook must stop, if one is running.
pub fn remaining() -> Option<Duration> {
    DEADLINE.with(|d| {
        d.get()
            .map(|at| at.saturating_duration_since(Instant::now()))
    })
}

/// The value a script is terminated with when its deadline passes.
pub const DEADLINE_PASSED: &str = "deadline passed";

/// Whether this thread's hook has run past its deadline.
pub fn deadline_passed() -> bool {
    DEADLINE.with(|d| d.get().is_some_and(|at| Instant::now() >= at))
}
