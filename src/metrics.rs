//! Prometheus metrics: requests by endpoint and status, latency histograms, tokens issued,
//! login failures, dropped log lines, background-task panics and accept errors.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::LazyLock;

/// Log lines the log writer could not write (full disk, closed stderr). Process-wide: the
/// logger is installed before any provider exists, and outlives it.
pub static LOG_WRITE_FAILURES: LazyLock<Counter> = LazyLock::new(Counter::default);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub endpoint: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabels {
    pub institution: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabel {
    pub task: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: String,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 4 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<EndpointLabel, Histogram, fn() -> Histogram>,
    pub tokens_issued: Counter,
    pub login_failures: Counter,
    /// Institution script failures by institution and kind (compile, runtime, limit).
    pub plugin_errors: Family<PluginLabels, Counter>,
    /// Failed `accept` calls (file-descriptor limit and the like).
    pub accept_errors: Counter,
    /// Gateway WebSocket tunnels open now.
    pub gateway_tunnels: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Family::default())
    }
}

impl Metrics {
    /// Metrics that also report `task_panics`, the supervised tasks' panics by task (each
    /// one restarted), counted where the tasks are supervised.
    pub fn new(task_panics: Family<TaskLabel, Counter>) -> Self {
        let mut registry = Registry::with_prefix("consentry");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let tokens_issued = Counter::default();
        let login_failures = Counter::default();
        let plugin_errors = Family::<PluginLabels, Counter>::default();
        let accept_errors = Counter::default();
        let gateway_tunnels = Gauge::default();
        registry.register(
            "gateway_tunnels",
            "Gateway WebSocket tunnels open (each holds one of server.max_connections)",
            gateway_tunnels.clone(),
        );
        registry.register(
            "log_write_failures",
            "Log lines dropped because the log could not be written",
            LOG_WRITE_FAILURES.clone(),
        );
        registry.register(
            "background_task_panics",
            "Panics of background tasks (each restarted), by task",
            task_panics,
        );
        registry.register(
            "accept_errors",
            "Failed accepts of new connections (e.g. at the file-descriptor limit)",
            accept_errors.clone(),
        );
        registry.register(
            "plugin_errors",
            "Institution script failures by institution and kind",
            plugin_errors.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by endpoint, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by endpoint",
            latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Access tokens issued",
            tokens_issued.clone(),
        );
        registry.register(
            "login_failures",
            "Failed login attempts",
            login_failures.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            tokens_issued,
            login_failures,
            plugin_errors,
            accept_errors,
            gateway_tunnels,
        }
    }
}

impl Metrics {
    pub fn plugin_error(&self, institution: &str, kind: &str) {
        self.plugin_errors
            .get_or_create(&PluginLabels {
                institution: institution.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
