use super::{AuthMethod, ClientId, FapiProfile, RedirectUri, SubjectType};
use serde::{Deserialize, Serialize};

/// Registered client metadata (RFC 7591 §2, OpenID Connect Registration §2). Unknown members
/// are kept so that what a client registered is what it reads back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientMetadata {
    #[serde(default)]
    pub redirect_uris: Vec<RedirectUri>,
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    #[serde(default = "default_response_types")]
    pub response_types: Vec<String>,
    #[serde(default = "default_auth_method")]
    pub token_endpoint_auth_method: AuthMethod,
    /// Scopes this client may be granted, space separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// The one algorithm this client signs request objects with (RFC 9101 §10.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    /// The one algorithm this client signs client assertions with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// RFC 8705 §3.4: bind access tokens to the client's TLS certificate.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tls_client_certificate_bound_access_tokens: bool,
    /// RFC 8705 §2.1.2: the one certificate subject (or SAN) `tls_client_auth` accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    /// The FAPI profile this client runs under: `fapi1_advanced` or `fapi2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fapi_profile: Option<FapiProfile>,
    /// RFC 9449 §5.2: this client's access tokens are always DPoP-bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// OIDC Core §10.2: encrypt ID tokens to the client with this key-management algorithm…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_alg: Option<String>,
    /// … and this content encryption (default A128CBC-HS256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_enc: Option<String>,
    /// OIDC Core §5.3.2: sign UserInfo responses with this algorithm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    /// JARM: the algorithm for signed authorization responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<String>,
    /// RFC 9126 §6: authorization requests must come through PAR.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// RFC 9101 §10.5: authorization requests must be signed request objects (FAPI 2 Message
    /// Signing §5.3.1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_signed_request_object: bool,
    /// Connection types beyond `test` (always available) this client may use: `api`, `legacy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connection_types: Vec<String>,
    /// Where this client's webhook events are delivered (https, or http on loopback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// OIDC Registration §2: `public` (the default) or `pairwise` (OIDC Core §8.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<SubjectType>,
    /// OIDC Core §8.1.1: an https document listing the client's redirect_uris; its host is
    /// the sector of a pairwise client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// OpenID RP-Initiated Logout 1.0 §3.1: where the end-session endpoint may send the
    /// browser back after a logout (exact match, like redirect_uris).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// OpenID Back-Channel Logout 1.0 §2.2: where logout tokens are POSTed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// … and whether they must carry `sid` (ours always do).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    /// OpenID Front-Channel Logout 1.0 §2: the page the logged-out page loads in an iframe…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// … with the `iss` and `sid` query parameters when this is true.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frontchannel_logout_session_required: bool,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn default_grant_types() -> Vec<String> {
    vec!["authorization_code".into()]
}
fn default_response_types() -> Vec<String> {
    vec!["code".into()]
}
fn default_auth_method() -> AuthMethod {
    AuthMethod::ClientSecretBasic
}

impl ClientMetadata {
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == AuthMethod::None
    }
    /// Authenticates with a shared secret (and so has one).
    pub fn uses_secret(&self) -> bool {
        self.token_endpoint_auth_method.uses_secret()
    }
    /// The one rule for which scopes a client may be granted, at the authorization endpoint
    /// and with client_credentials alike: those it registered in `scope`; a client that
    /// registered none may be granted any scope the provider supports (RFC 7591 §2 leaves
    /// the default to the server). Whether the scope exists is checked by the caller.
    pub fn allows_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_none_or(|registered| registered.split(' ').any(|s| s == scope))
    }
    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
    /// OIDC Core §8.1: this client knows users by pairwise subject identifiers.
    pub fn is_pairwise(&self) -> bool {
        self.subject_type == Some(SubjectType::Pairwise)
    }
    /// RFC 9700 §4.1.3: `uri` is exactly one of the registered redirect_uris.
    pub fn registers_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r.matches_exactly(uri))
    }
    /// OpenID RP-Initiated Logout 1.0 §3: `uri` is exactly one of the registered
    /// post_logout_redirect_uris.
    pub fn registers_post_logout_redirect_uri(&self, uri: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|r| r.matches_exactly(uri))
    }
    /// The sector a pairwise client's subject identifiers are computed for (OIDC Core §8.1):
    /// the host of its `sector_identifier_uri`, else of its redirect_uris (registration made
    /// sure they share one). `None` for public clients.
    pub fn pairwise_sector(&self) -> Option<String> {
        if !self.is_pairwise() {
            return None;
        }
        match &self.sector_identifier_uri {
            Some(u) => url::Url::parse(u)
                .ok()
                .and_then(|u| u.host_str().map(str::to_ascii_lowercase)),
            None => self.redirect_uris.first().and_then(RedirectUri::host),
        }
    }
    /// Test connections are open to every client; api and legacy ones only when granted.
    pub fn allows_connection_type(&self, kind: &str) -> bool {
        kind == "test" || self.connection_types.iter().any(|t| t == kind)
    }
}

/// A registered client as stored.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: ClientId,
    /// SHA-256 digest (base64url) of the client secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub metadata: ClientMetadata,
    /// The secret itself, sealed, for `client_secret_jwt` (HMAC needs it).
    pub secret_sealed: Option<String>,
    /// SHA-256 digest of the RFC 7592 registration access token.
    pub registration_hash: Option<String>,
    pub created_at: i64,
    /// When an operator disabled the client; a disabled client looks absent to the protocol.
    pub disabled_at: Option<i64>,
}
