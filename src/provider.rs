//! The running provider's shared state, handed to every handler.

use crate::clock::Clock;
use crate::config::Config;
use crate::jose::KeySet;
use crate::metrics::Metrics;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::sync::Arc;

pub struct Provider {
    pub config: Config,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
    /// The path every OIDC endpoint lives under (the issuer's path, e.g. `/oidc`).
    pub base_path: String,
    pub store: Store,
    pub keys: ArcSwap<KeySet>,
    /// The discovery document, serialised once.
    pub discovery: ArcSwap<String>,
    pub clock: Clock,
    pub metrics: Metrics,
    /// argon2id verification, off the async threads.
    pub passwords: crate::password_pool::PasswordPool,
    /// Keys the stateless DPoP nonces (shared by every node through the keys folder).
    pub dpop_nonce_key: ring::hmac::Key,
    /// Keys pairwise subject identifiers (OIDC Core §8.1); never logged.
    pub pairwise: crate::protocol::subject::PairwiseKey,
    /// Encryption at rest for recoverable secrets.
    pub sealer: crate::sealing::Sealer,
    /// Clients' `jwks_uri` key sets.
    pub jwks_cache: crate::protocol::jwks_fetch::JwksCache,
    /// Fetches request objects from clients' `request_uris`, under the outbound policy.
    pub request_uri_http: reqwest::Client,
    /// Trust anchors for `tls_client_auth` certificates, when configured.
    pub mtls_roots: Option<Arc<rustls::RootCertStore>>,
    /// Recently authenticated clients (cleared on every change to a client).
    pub client_cache: crate::protocol::client_cache::ClientCache,
    /// Wakes the webhook worker when an event was written.
    pub webhook_wake: tokio::sync::Notify,
    /// The scope rules enforced wherever scopes are asked for.
    pub scope_policy: crate::protocol::scope_policy::Policy,
    /// The institutions, as scripts under `plugins/`.
    pub plugins: crate::plugins::Registry,
    /// HTTP client for institutions' own servers.
    pub upstream_http: reqwest::Client,
    /// Institutions' ID-token signing keys.
    pub upstream_jwks: crate::protocol::jwks_fetch::JwksCache,
    /// Forwards gateway requests to their upstream origins, under the outbound policy.
    pub gateway_http: reqwest::Client,
}

/// The endpoint URLs, derived from the issuer once.
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
    pub introspection: String,
    pub revocation: String,
    pub registration: String,
    pub par: String,
}

impl Provider {
    pub fn endpoints(&self) -> Endpoints {
        let i = &self.issuer;
        Endpoints {
            authorization: format!("{i}/auth"),
            token: format!("{i}/token"),
            userinfo: format!("{i}/me"),
            jwks: format!("{i}/jwks"),
            introspection: format!("{i}/token/introspection"),
            revocation: format!("{i}/token/revocation"),
            registration: format!("{i}/reg"),
            par: format!("{i}/par"),
        }
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }
}
