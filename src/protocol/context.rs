//! What every protocol operation runs with: the provider's shared [`Services`] and the time
//! the request arrived, in one [`Ctx`]. The wiring layer (`crate::provider`) builds them;
//! nothing in `protocol` reads the clock, so a rule can be run at any instant in a test.

use crate::config::Config;
use crate::jose::KeySet;
use crate::metrics::Metrics;
use crate::store::Store;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// The long-lived parts an operation may use: configuration, storage, keys and caches.
pub struct Services {
    pub config: Config,
    /// The issuer identifier, without a trailing slash.
    pub issuer: String,
    /// The path every OIDC endpoint lives under (the issuer's path, e.g. `/oidc`).
    pub base_path: String,
    pub store: Store,
    pub keys: ArcSwap<KeySet>,
    pub metrics: Metrics,
    /// argon2id verification, off the async threads.
    pub passwords: super::password_pool::PasswordPool,
    /// Keys the stateless DPoP nonces (shared by every node through the keys folder).
    pub dpop_nonce_key: ring::hmac::Key,
    /// Keys pairwise subject identifiers (OIDC Core §8.1); never logged.
    pub pairwise: super::oidc::subject::PairwiseKey,
    /// Encryption at rest for recoverable secrets.
    pub sealer: crate::sealing::Sealer,
    /// Clients' `jwks_uri` key sets.
    pub jwks_cache: super::jwks_fetch::JwksCache,
    /// Fetches request objects from clients' `request_uris` (and SAML IdP metadata), under
    /// the outbound policy.
    pub request_uri_http: reqwest::Client,
    /// SAML identity providers' metadata fetched from their `idp_metadata_url`.
    pub saml_metadata: super::federation::saml_metadata::MetadataCache,
    /// The SAML SP's signing key and certificate, when a SAML provider is configured.
    pub saml_sp_key: Option<super::federation::saml_keys::SpKey>,
    /// Trust anchors for `tls_client_auth` certificates, when configured.
    pub mtls_roots: Option<Arc<rustls::RootCertStore>>,
    /// Recently authenticated clients (cleared on every change to a client).
    pub client_cache: super::client_cache::ClientCache,
    /// Wakes the webhook worker when an event was written.
    pub webhook_wake: tokio::sync::Notify,
    /// The scope rules enforced wherever scopes are asked for.
    pub scope_policy: super::oidc::scope_policy::Policy,
    /// The institutions, as scripts under `plugins/`.
    pub plugins: crate::plugins::Registry,
    /// HTTP client for institutions' own servers.
    pub upstream_http: reqwest::Client,
    /// Institutions' ID-token signing keys.
    pub upstream_jwks: super::jwks_fetch::JwksCache,
    /// The upstream OpenID providers of federated login: HTTP clients and caches.
    pub federation: super::federation::oidc::Upstreams,
    /// Forwards gateway requests to their upstream origins, under the outbound policy, on
    /// pooled connections. One per serving thread (`per_core`): the forwarded request, its
    /// connection and the answer stay on the caller's thread. WebSocket tunnels open their
    /// upstream half here too, on connections of their own.
    pub gateway_origins: crate::per_core::PerCore<crate::origin_pool::OriginPool>,
    /// Signed gateway identities, reused within their half-life.
    pub gateway_identities: super::tokens::gateway::IdentityCache,
    /// The endpoint URLs, derived from `issuer` once (every request reads one or two); read
    /// through `endpoints()`.
    pub(crate) endpoints: Endpoints,
}

/// The endpoint URLs, derived from the issuer.
pub struct Endpoints {
    pub authorization: String,
    pub token: String,
    pub userinfo: String,
    pub jwks: String,
    pub introspection: String,
    pub revocation: String,
    pub registration: String,
    pub par: String,
    pub end_session: String,
    pub device_authorization: String,
    pub backchannel: String,
}

impl Endpoints {
    pub fn for_issuer(i: &str) -> Endpoints {
        Endpoints {
            authorization: format!("{i}/auth"),
            token: format!("{i}/token"),
            userinfo: format!("{i}/me"),
            jwks: format!("{i}/jwks"),
            introspection: format!("{i}/token/introspection"),
            revocation: format!("{i}/token/revocation"),
            registration: format!("{i}/reg"),
            par: format!("{i}/par"),
            end_session: format!("{i}/session/end"),
            device_authorization: format!("{i}/device/auth"),
            backchannel: format!("{i}/backchannel"),
        }
    }
}

impl Services {
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The signing keys as they are now (rotation swaps them).
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }
}

/// One request's view: the services, and `now` (seconds since the epoch) read once when the
/// request arrived, so every rule of one request judges the same instant.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub now: i64,
    services: &'a Services,
}

impl<'a> Ctx<'a> {
    pub fn new(services: &'a Services, now: i64) -> Ctx<'a> {
        Ctx { now, services }
    }

    pub fn services(&self) -> &'a Services {
        self.services
    }
}

impl std::ops::Deref for Ctx<'_> {
    type Target = Services;

    fn deref(&self) -> &Services {
        self.services
    }
}
