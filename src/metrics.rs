//! Prometheus metrics: requests by endpoint and status, latency histograms, tokens issued,
//! login failures.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

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
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("consentry");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<EndpointLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let tokens_issued = Counter::default();
        let login_failures = Counter::default();
        let plugin_errors = Family::<PluginLabels, Counter>::default();
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
