//! The hardened Rhai engine every institution script runs in: no modules or files, no `eval`,
//! bounded operations, recursion and data sizes, and a wall-clock deadline per hook call.
//! Scripts reach the outside world only through the host functions registered here.

use rhai::{Dynamic, Engine};
use std::time::Duration;

/// Limits one hook call runs under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 5_000_000,
            max_call_levels: 32,
            max_string_size: 256 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            // Room for a few HTTPS calls to the institution; loops are cut off at this too.
            deadline: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// The operator's limits (`[plugins]`), the rest at their defaults.
    pub fn from_config(c: &crate::config::PluginsConfig) -> Limits {
        Limits {
            max_operations: c.max_operations,
            deadline: Duration::from_millis(c.hook_timeout_ms),
            ..Default::default()
        }
    }
}

/// Builds the engine. `print`/`debug` go to tracing under the institution named by the
/// calling thread's log target, which the caller sets with `tracing` spans.
pub fn engine(limits: &Limits) -> Engine {
    let mut e = Engine::new();
    // No `import`: a resolver that finds nothing.
    e.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    e.disable_symbol("eval");
    e.set_max_operations(limits.max_operations);
    e.set_max_call_levels(limits.max_call_levels);
    e.set_max_expr_depths(64, 32);
    e.set_max_string_size(limits.max_string_size);
    e.set_max_array_size(limits.max_array_size);
    e.set_max_map_size(limits.max_map_size);
    e.set_max_variables(1_000);
    e.set_max_functions(200);
    e.set_strict_variables(true);
    e.on_progress(|ops| {
        // Reading the clock on every operation is wasteful; every 1024th is precise enough.
        if ops % 1024 != 0 {
            return None;
        }
        super::call::deadline_passed().then(|| Dynamic::from(super::call::DEADLINE_PASSED))
    });
    e.on_print(|s| tracing::info!(target: "consentry::plugin", "{s}"));
    e.on_debug(|s, _, pos| tracing::debug!(target: "consentry::plugin", line = pos.line(), "{s}"));
    super::host::register(&mut e);
    e
}
