//! Clients' `jwks_uri` key sets: fetched with size and time limits, cached, and fetched again
//! (at most every few seconds) when a JWT names a `kid` the cached set lacks.

use crate::error::{OAuthError, OAuthResult};
use crate::outbound::OutboundPolicy;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const CACHE_SECS: i64 = 300;
const REFETCH_NO_SOONER_SECS: i64 = 10;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_JWKS_BYTES: usize = 64 * 1024;

pub struct JwksCache {
    http: reqwest::Client,
    /// The outbound policy every URI is checked against; `None` for institutions' servers,
    /// which the operator configured (plugins), not a client.
    policy: Option<OutboundPolicy>,
    entries: Mutex<HashMap<String, (i64, Value)>>,
}

impl JwksCache {
    /// A cache for clients' `jwks_uri`s: fetched only where `policy` allows, checked on the
    /// address actually connected to.
    pub fn for_clients(policy: OutboundPolicy) -> JwksCache {
        JwksCache {
            http: policy.http_client(FETCH_TIMEOUT),
            policy: Some(policy),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// A cache that fetches with `http` (e.g. one trusting extra CAs), for operator-configured
    /// servers.
    pub fn with_client(http: reqwest::Client) -> JwksCache {
        JwksCache {
            http,
            policy: None,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key set at `uri`; `need_kid` forces a fresh fetch when the cached set lacks it.
    /// `now` is the provider's clock, in seconds.
    pub async fn get(&self, uri: &str, need_kid: Option<&str>, now: i64) -> OAuthResult<Value> {
        let cached = self.entries.lock().get(uri).cloned();
        if let Some((at, set)) = &cached {
            let has_kid = need_kid.is_none_or(|kid| {
                set["keys"]
                    .as_array()
                    .is_some_and(|k| k.iter().any(|k| k["kid"] == kid))
            });
            let age = now - at;
            if age < CACHE_SECS && (has_kid || age < REFETCH_NO_SOONER_SECS) {
                return Ok(set.clone());
            }
        }
        let set = self.fetch(uri).await?;
        self.entries
            .lock()
            .insert(uri.to_string(), (now, set.clone()));
        Ok(set)
    }

    async fn fetch(&self, uri: &str) -> OAuthResult<Value> {
        let fail = |d: String| {
            OAuthError::invalid_client("the client's jwks_uri could not be read").with_detail(d)
        };
        if let Some(policy) = &self.policy {
            policy
                .check_uri(uri)
                .map_err(|why| fail(format!("{uri}: {why}")))?;
        }
        let mut res = self
            .http
            .get(uri)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !res.status().is_success() {
            return Err(fail(format!("{uri} answered {}", res.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| fail(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(fail(format!("{uri} is larger than {MAX_JWKS_BYTES} bytes")));
            }
        }
        serde_json::from_slice(&body).map_err(|e| fail(format!("{uri}: {e}")))
    }
}
