//! Webhook delivery settings (`[webhooks]`): retries, back-off and timeouts.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookConfig {
    /// Attempts before an event is dead.
    pub max_attempts: i64,
    /// Delay before the first retry (seconds); doubled each time, plus up to 25 % jitter.
    pub retry_base_secs: i64,
    pub retry_max_secs: i64,
    /// How often the outbox is checked for due events (milliseconds).
    pub poll_interval_ms: u64,
    /// Time allowed for one delivery (seconds).
    pub timeout_secs: u64,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            max_attempts: 8,
            retry_base_secs: 10,
            retry_max_secs: 3600,
            poll_interval_ms: 1000,
            timeout_secs: 10,
        }
    }
}
