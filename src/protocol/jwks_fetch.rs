//! Clients' `jwks_uri` key sets: fetched with size and time limits, cached, and fetched again
//! when a JWT names a key the cached set lacks, at most once per refetch interval (counted
//! from the last such forced fetch, not from the cache fill, so a key the client adds right
//! after its set was read is accepted on first use).

use crate::error::{OAuthError, OAuthResult};
use crate::outbound::OutboundPolicy;
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

const CACHE_SECS: i64 = 300;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_JWKS_BYTES: usize = 64 * 1024;

pub struct JwksCache {
    http: reqwest::Client,
    /// The outbound policy every URI is checked against; `None` for institutions' servers,
    /// which the operator configured (plugins), not a client.
    policy: Option<OutboundPolicy>,
    /// Least time between two forced fetches of one URI (`refetch`).
    refetch_interval: i64,
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    set: Value,
    /// When the set was fetched.
    fetched_at: i64,
    /// When a fetch was last forced by a JWT the set could not verify.
    forced_at: Option<i64>,
}

/// A key set and whether it was fetched just now (so fetching again would not help).
pub struct Fetched {
    pub set: Value,
    pub fresh: bool,
}

impl JwksCache {
    /// A cache for clients' `jwks_uri`s: fetched only where `policy` allows, checked on the
    /// address actually connected to.
    pub fn for_clients(policy: OutboundPolicy) -> JwksCache {
        JwksCache {
            http: policy.http_client(FETCH_TIMEOUT),
            refetch_interval: i64::try_from(policy.jwks_refetch_interval_secs).unwrap_or(i64::MAX),
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
            refetch_interval: i64::try_from(OutboundPolicy::default().jwks_refetch_interval_secs)
                .unwrap_or(i64::MAX),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The key set at `uri`, from the cache while it is younger than `CACHE_SECS`.
    /// `now` is the provider's clock, in seconds.
    pub async fn current(&self, uri: &str, now: i64) -> OAuthResult<Fetched> {
        let cached = self
            .entries
            .lock()
            .get(uri)
            .filter(|e| now - e.fetched_at < CACHE_SECS)
            .map(|e| e.set.clone());
        if let Some(set) = cached {
            return Ok(Fetched { set, fresh: false });
        }
        let set = self.fetch(uri).await?;
        let mut entries = self.entries.lock();
        let forced_at = entries.get(uri).and_then(|e| e.forced_at);
        entries.insert(
            uri.to_string(),
            Entry {
                set: set.clone(),
                fetched_at: now,
                forced_at,
            },
        );
        Ok(Fetched { set, fresh: true })
    }

    /// Fetches the set at `uri` again because a JWT named a key the cached set lacks (the
    /// client may just have added it), unless a fetch was forced less than the refetch
    /// interval ago: then `None`, and the JWT is judged by the cached set.
    pub async fn refetch(&self, uri: &str, now: i64) -> OAuthResult<Option<Value>> {
        {
            let mut entries = self.entries.lock();
            let entry = entries.get_mut(uri);
            if let Some(entry) = entry {
                if entry
                    .forced_at
                    .is_some_and(|at| now - at < self.refetch_interval)
                {
                    return Ok(None);
                }
                // Claimed before fetching, so concurrent JWTs cause one fetch, not many.
                entry.forced_at = Some(now);
            }
        }
        let set = self.fetch(uri).await?;
        self.entries.lock().insert(
            uri.to_string(),
            Entry {
                set: set.clone(),
                fetched_at: now,
                forced_at: Some(now),
            },
        );
        Ok(Some(set))
    }

    /// The key set at `uri`, fetched again (as `refetch` allows) when the cached one lacks
    /// `need_kid`.
    pub async fn get(&self, uri: &str, need_kid: Option<&str>, now: i64) -> OAuthResult<Value> {
        let Fetched { set, fresh } = self.current(uri, now).await?;
        let has_kid = need_kid.is_none_or(|kid| {
            set["keys"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k["kid"] == kid))
        });
        if has_kid || fresh {
            return Ok(set);
        }
        Ok(self.refetch(uri, now).await?.unwrap_or(set))
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
        let res = self
            .http
            .get(uri)
            .send()
            .await
            .map_err(|e| fail(e.to_string()))?;
        if !res.status().is_success() {
            return Err(fail(format!("{uri} answered {}", res.status())));
        }
        let body = crate::outbound::read_capped(res, MAX_JWKS_BYTES)
            .await
            .map_err(|e| fail(format!("{uri}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| fail(format!("{uri}: {e}")))
    }
}
