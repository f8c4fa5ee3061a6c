//! The scope-checked gateway: configured routes (`[[gateway.routes]]`) map a method and a
//! path pattern to the scopes an access token needs and the upstream origin that serves them.
//! The provider checks the token itself (the resource check UserInfo uses: live, audience,
//! DPoP or certificate binding), then the scopes, and forwards the request with the caller's
//! identity in a JWT it signs with its own key (`Consentry-Identity`), which the origin
//! verifies against the provider's JWKS; so a header the caller sends cannot pass for it.

use super::resource::{self, Presentation};
use super::tokens::ActiveAccessToken;
use crate::error::{OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::outbound::OutboundPolicy;
use crate::provider::Provider;
use crate::types::ScopeSet;
use serde::Deserialize;
use serde_json::json;

/// The header carrying the signed identity to the origin.
pub const IDENTITY_HEADER: &str = "consentry-identity";
/// The JWT `typ` of the identity assertion, so it cannot be taken for another JWT we sign.
pub const IDENTITY_TYP: &str = "consentry-identity+jwt";
/// How long the origin may accept an identity assertion (seconds).
const IDENTITY_SECS: i64 = 60;
/// How long an upstream may take to answer before the gateway gives up (502).
pub const UPSTREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The largest upstream body the gateway relays (bytes).
pub const MAX_UPSTREAM_BODY: usize = 16 * 1024 * 1024;
/// The methods a route may name.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    pub routes: Vec<Route>,
}

/// One gateway route: requests to `/gateway{path}` with `method` need every scope in
/// `scopes` and go to `upstream` + path.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub method: String,
    /// `/accounts` or `/accounts/{id}`: a `{name}` segment matches any one segment.
    pub path: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The origin (scheme, host, port) the request is forwarded to.
    pub upstream: String,
}

impl GatewayConfig {
    /// Each route must name a method, a path from `/`, and an upstream origin the outbound
    /// policy allows (https, public unless `outbound.allow_private`).
    pub fn validate(&self, outbound: &OutboundPolicy) -> Result<(), String> {
        for r in &self.routes {
            let name = format!("gateway route {} {}", r.method, r.path);
            if !METHODS.contains(&r.method.to_ascii_uppercase().as_str()) {
                return Err(format!(
                    "{name}: method must be one of {}",
                    METHODS.join(", ")
                ));
            }
            if !r.path.starts_with('/') {
                return Err(format!("{name}: path must start with /"));
            }
            let url = outbound
                .check_uri(&r.upstream)
                .map_err(|e| format!("{name}: upstream {e}"))?;
            if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
                return Err(format!("{name}: upstream must be an origin (no path)"));
            }
        }
        Ok(())
    }

    /// The first route for `method` whose pattern matches `path`.
    pub fn find(&self, method: &str, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.method.eq_ignore_ascii_case(method) && matches(&r.path, path))
    }
}

/// Segment by segment: equal, or a `{name}` pattern segment against a non-empty one. A path
/// with a dot segment (`.`, `..`, also percent-encoded) matches nothing: the upstream URL
/// would resolve it (RFC 3986 §5.2.4) and reach a path no route allows.
fn matches(pattern: &str, path: &str) -> bool {
    if path.split('/').any(is_dot_segment) {
        return false;
    }
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') && !g.is_empty() => {}
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

fn is_dot_segment(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    decoded == "." || decoded == ".."
}

/// The route's scopes the token lacks, space-separated (empty when it has them all).
pub fn missing_scopes(route: &Route, token: &ActiveAccessToken) -> String {
    let granted = ScopeSet::parse(&token.row.scopes);
    route
        .scopes
        .iter()
        .filter(|s| !granted.contains(s))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The token behind a presentation, checked for the route: `invalid_token` (401) or
/// `insufficient_scope` (403, RFC 6750 §3.1) naming the scopes the route needs.
pub async fn admit(
    p: &Provider,
    route: &Route,
    presented: &Presentation,
) -> OAuthResult<ActiveAccessToken> {
    let token = resource::authenticate(p, presented).await?;
    let missing = missing_scopes(route, &token);
    if !missing.is_empty() {
        return Err(OAuthError::insufficient_scope(format!(
            "the access token lacks the scope {missing}"
        )));
    }
    Ok(token)
}

/// Where the request goes: the route's origin with the caller's path and query.
pub fn upstream_url(route: &Route, path: &str, query: Option<&str>) -> String {
    let mut url = format!("{}{path}", route.upstream.trim_end_matches('/'));
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// The signed identity the origin trusts: who the token is for (`sub`), which client holds
/// it, its scopes; for this origin only (`aud`), short-lived, unique (`jti`).
pub fn identity(p: &Provider, route: &Route, token: &ActiveAccessToken) -> OAuthResult<String> {
    let now = p.now();
    let claims = json!({
        "iss": p.issuer,
        "aud": route.upstream.trim_end_matches('/'),
        "sub": token.claims["sub"],
        "client_id": token.row.client_id,
        "scope": token.row.scopes,
        "iat": now,
        "exp": now + IDENTITY_SECS,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    p.keys()
        .sign(Alg::ES256, Some(IDENTITY_TYP), &claims)
        .map_err(OAuthError::server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_segments() {
        assert!(matches("/accounts", "/accounts"));
        assert!(matches("/accounts/{id}", "/accounts/42"));
        assert!(!matches("/accounts/{id}", "/accounts/"));
        assert!(!matches("/accounts/{id}", "/accounts/42/more"));
        assert!(!matches("/accounts", "/accounts/42"));
        assert!(!matches("/accounts", "/accountsx"));
        // A captured segment cannot climb out of the route (RFC 3986 §5.2.4).
        for dots in ["..", ".", "%2e%2e", "%2E.", ".%2e"] {
            assert!(
                !matches("/accounts/{id}", &format!("/accounts/{dots}")),
                "{dots}"
            );
        }
        assert!(matches("/accounts/{id}", "/accounts/..x"));
    }

    #[test]
    fn upstreams_must_be_allowed_origins() {
        let route = |upstream: &str| GatewayConfig {
            routes: vec![Route {
                method: "GET".into(),
                path: "/a".into(),
                scopes: vec![],
                upstream: upstream.into(),
            }],
        };
        let strict = OutboundPolicy::default();
        let open = OutboundPolicy {
            allow_private: true,
            ..Default::default()
        };
        assert!(route("https://api.example.com").validate(&strict).is_ok());
        assert!(route("http://127.0.0.1:9000").validate(&strict).is_err());
        assert!(route("http://127.0.0.1:9000").validate(&open).is_ok());
        assert!(route("https://api.example.com/base")
            .validate(&strict)
            .is_err());
    }
}
