//! The scope-checked gateway's routes (`[[gateway.routes]]`): which method and path pattern
//! need which scopes, and the upstream origin that serves them. Read by `protocol::tokens::gateway`.

use crate::outbound::OutboundPolicy;
use serde::Deserialize;

/// The methods a route may name.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    pub routes: Vec<Route>,
    /// A WebSocket tunnel with no bytes either way for this long is closed (seconds).
    pub websocket_idle_timeout_secs: u64,
    /// How often an open tunnel's access token is looked up again, so a revoked token ends
    /// its tunnel within this long (seconds); its expiry ends it on time regardless.
    pub websocket_recheck_secs: u64,
    /// The routes' upstreams are the operator's own services, on loopback or a private
    /// network, over plain http too. Unlike `outbound.allow_private`, this leaves strict what
    /// clients can make the server fetch (their `jwks_uri`, `request_uri`s...).
    pub private_origins: bool,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            routes: Vec::new(),
            websocket_idle_timeout_secs: 300,
            websocket_recheck_secs: 30,
            private_origins: false,
        }
    }
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
    /// What a request spends from its grant's budget: a fixed number of calls...
    #[serde(default)]
    pub cost: Option<i64>,
    /// ... or the amount (minor units) at this JSON pointer (RFC 6901) in the request body.
    #[serde(default)]
    pub cost_from: Option<String>,
    /// A `GET` route whose `Upgrade: websocket` requests are tunnelled to the upstream's
    /// WebSocket (RFC 6455) once the token is checked; other routes refuse upgrades.
    #[serde(default)]
    pub websocket: bool,
}

impl GatewayConfig {
    /// The policy the gateway reaches its origins under: the outbound policy, with private
    /// addresses and plain http allowed when `private_origins` says the origins are ours.
    pub fn origin_policy(&self, outbound: &OutboundPolicy) -> OutboundPolicy {
        OutboundPolicy {
            allow_private: outbound.allow_private || self.private_origins,
            ..outbound.clone()
        }
    }

    /// Each route must name a method, a path from `/`, and an upstream origin the origin
    /// policy allows (https, public unless `private_origins` or `outbound.allow_private`).
    pub fn validate(&self, outbound: &OutboundPolicy) -> Result<(), String> {
        let outbound = &self.origin_policy(outbound);
        if self.websocket_idle_timeout_secs == 0 || self.websocket_recheck_secs == 0 {
            return Err(
                "gateway.websocket_idle_timeout_secs and websocket_recheck_secs must be positive"
                    .into(),
            );
        }
        for r in &self.routes {
            let name = format!("gateway route {} {}", r.method, r.path);
            if !METHODS.contains(&r.method.to_ascii_uppercase().as_str()) {
                return Err(format!(
                    "{name}: method must be one of {}",
                    METHODS.join(", ")
                ));
            }
            if r.websocket && !r.method.eq_ignore_ascii_case("GET") {
                // RFC 6455 §4.1: the opening handshake is a GET.
                return Err(format!("{name}: websocket routes must be GET"));
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
            match (r.cost, &r.cost_from) {
                (Some(_), Some(_)) => {
                    return Err(format!("{name}: cost and cost_from are exclusive"))
                }
                (Some(n), None) if n < 0 => {
                    return Err(format!("{name}: cost must be a non-negative integer"))
                }
                (None, Some(p)) if !p.starts_with('/') => {
                    return Err(format!(
                        "{name}: cost_from must be a JSON pointer such as /amount"
                    ))
                }
                _ => {}
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
    fn websocket_routes_must_be_get() {
        // RFC 6455 §4.1: the opening handshake is a GET.
        let route = |method: &str| GatewayConfig {
            routes: vec![Route {
                method: method.into(),
                path: "/live".into(),
                scopes: vec![],
                upstream: "https://api.example.com".into(),
                cost: None,
                cost_from: None,
                websocket: true,
            }],
            ..Default::default()
        };
        let policy = OutboundPolicy::default();
        assert!(route("GET").validate(&policy).is_ok());
        assert!(route("POST").validate(&policy).is_err());
    }

    #[test]
    fn upstreams_must_be_allowed_origins() {
        let route = |upstream: &str| GatewayConfig {
            routes: vec![Route {
                method: "GET".into(),
                path: "/a".into(),
                scopes: vec![],
                upstream: upstream.into(),
                cost: None,
                cost_from: None,
                websocket: false,
            }],
            ..Default::default()
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

    #[test]
    fn cost_rules_are_checked_at_startup() {
        let with = |cost: Option<i64>, cost_from: Option<&str>| GatewayConfig {
            routes: vec![Route {
                method: "POST".into(),
                path: "/payments".into(),
                scopes: vec![],
                upstream: "https://api.example.com".into(),
                cost,
                cost_from: cost_from.map(String::from),
                websocket: false,
            }],
            ..Default::default()
        };
        let p = OutboundPolicy::default();
        assert!(with(Some(1), None).validate(&p).is_ok());
        assert!(with(None, Some("/amount")).validate(&p).is_ok());
        assert!(with(Some(1), Some("/amount")).validate(&p).is_err());
        assert!(with(Some(-1), None).validate(&p).is_err());
        assert!(with(None, Some("amount")).validate(&p).is_err());
    }
}
