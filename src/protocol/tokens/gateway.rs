//! The scope-checked gateway: configured routes (`[[gateway.routes]]`) map a method and a
//! path pattern to the scopes an access token needs and the upstream origin that serves them.
//! The provider checks the token itself (the resource check UserInfo uses: live, audience,
//! DPoP or certificate binding), then the scopes, and forwards the request with the caller's
//! identity in a JWT it signs with its own key (`Consentry-Identity`), which the origin
//! verifies against the provider's JWKS; so a header the caller sends cannot pass for it.

use crate::config::gateway::Route;
use crate::error::{OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::protocol::tokens::resource::{self, Presentation};
use crate::protocol::tokens::ActiveAccessToken;
use crate::protocol::Ctx;
use crate::types::ScopeSet;
use hyper::header::HeaderValue;
use parking_lot::RwLock;
use serde_json::json;
use std::collections::HashMap;

/// The header carrying the signed identity to the origin.
pub const IDENTITY_HEADER: &str = "consentry-identity";
/// The JWT `typ` of the identity assertion, so it cannot be taken for another JWT we sign.
pub const IDENTITY_TYP: &str = "consentry-identity+jwt";
/// How long the origin may accept an identity assertion (seconds).
const IDENTITY_SECS: i64 = 60;
/// How long an upstream may take to answer, or to send the next chunk of its body, before
/// the gateway gives up (502, or the relayed body cut short).
pub const UPSTREAM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The largest upstream body the gateway relays (bytes).
pub const MAX_UPSTREAM_BODY: usize = 16 * 1024 * 1024;
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
    cx: &Ctx<'_>,
    route: &Route,
    presented: &Presentation,
) -> OAuthResult<ActiveAccessToken> {
    let token = resource::authenticate(cx, presented).await?;
    let missing = missing_scopes(route, &token);
    if !missing.is_empty() {
        return Err(OAuthError::insufficient_scope(format!(
            "the access token lacks the scope {missing}"
        )));
    }
    Ok(token)
}

/// Whether the access token `jti` is still live (not revoked, not expired, its client not
/// disabled): an open WebSocket tunnel asks again every `gateway.websocket_recheck_secs`.
pub async fn still_active(cx: &Ctx<'_>, jti: &str) -> OAuthResult<bool> {
    let (jti, now) = (jti.to_string(), cx.now);
    let row = cx
        .store
        .read(move |tx| tx.grants().active_access_token(&jti, now))
        .await?;
    Ok(row.is_some())
}

/// The caller's path and query, as the origin gets them (the origin's URL has no path).
pub fn upstream_target(path: &str, query: Option<&str>) -> String {
    let mut target = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1));
    target.push_str(path);
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        target.push('?');
        target.push_str(q);
    }
    target
}

/// The signed identity the origin trusts: who the token is for (`sub`), which client holds
/// it, its scopes; for this origin only (`aud`), short-lived, unique (`jti`). One assertion
/// serves a token's requests to one origin while it has at least half its life left, so a
/// busy caller costs one signature per half-minute rather than one per request. Kept as the
/// header value itself: a request reuses it without copying or checking it again.
pub fn identity(
    cx: &Ctx<'_>,
    route: &Route,
    token: &ActiveAccessToken,
) -> OAuthResult<HeaderValue> {
    let audience = route.upstream.trim_end_matches('/');
    if let Some(jwt) = cx
        .gateway_identities
        .fresh(&token.row.jti, audience, cx.now)
    {
        return Ok(jwt);
    }
    let now = cx.now;
    let claims = json!({
        "iss": cx.issuer,
        "aud": audience,
        "sub": token.claims["sub"],
        "client_id": token.row.client_id,
        "scope": token.row.scopes,
        "iat": now,
        "exp": now + IDENTITY_SECS,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let jwt = cx
        .keys()
        .sign(Alg::ES256, Some(IDENTITY_TYP), &claims)
        .map_err(OAuthError::server)?;
    let mut jwt = HeaderValue::try_from(jwt).map_err(OAuthError::server)?;
    jwt.set_sensitive(true);
    cx.gateway_identities
        .keep(&token.row.jti, audience, jwt.clone(), now + IDENTITY_SECS);
    Ok(jwt)
}

/// Identity assertions already signed, by access token `jti` and origin. An entry is never
/// used past its assertion's half-life, nor for a token that no longer passes the check (the
/// check runs before every lookup). Bounded: a full map sheds its stale entries, or all.
#[derive(Default)]
pub struct IdentityCache {
    /// By token `jti` (looked up without building a key), then by origin: a token's routes
    /// reach a handful of origins at most.
    entries: RwLock<HashMap<String, Vec<Signed>>>,
}

struct Signed {
    audience: String,
    jwt: HeaderValue,
    exp: i64,
}

/// Bounds memory when many distinct tokens call within one half-life.
const MAX_IDENTITIES: usize = 10_000;

impl IdentityCache {
    fn fresh(&self, jti: &str, audience: &str, now: i64) -> Option<HeaderValue> {
        let entries = self.entries.read();
        let signed = entries.get(jti)?.iter().find(|s| s.audience == audience)?;
        (signed.exp - now >= IDENTITY_SECS / 2).then(|| signed.jwt.clone())
    }

    fn keep(&self, jti: &str, audience: &str, jwt: HeaderValue, exp: i64) {
        let mut entries = self.entries.write();
        if entries.len() >= MAX_IDENTITIES {
            let now = exp - IDENTITY_SECS;
            entries.retain(|_, signed| {
                signed.retain(|s| s.exp - now >= IDENTITY_SECS / 2);
                !signed.is_empty()
            });
            if entries.len() >= MAX_IDENTITIES {
                entries.clear();
            }
        }
        let signed = entries.entry(jti.to_string()).or_default();
        signed.retain(|s| s.audience != audience);
        signed.push(Signed {
            audience: audience.to_string(),
            jwt,
            exp,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_reused_only_within_its_half_life_and_per_token_and_origin() {
        let cache = IdentityCache::default();
        let jwt = |s: &'static str| HeaderValue::from_static(s);
        cache.keep("t1", "https://a", jwt("jwt-1"), 1_060);
        assert_eq!(cache.fresh("t1", "https://a", 1_000), Some(jwt("jwt-1")));
        assert_eq!(cache.fresh("t1", "https://a", 1_030), Some(jwt("jwt-1")));
        assert_eq!(
            cache.fresh("t1", "https://a", 1_031),
            None,
            "past half its life"
        );
        assert_eq!(cache.fresh("t2", "https://a", 1_000), None, "another token");
        assert_eq!(
            cache.fresh("t1", "https://b", 1_000),
            None,
            "another origin"
        );
    }

    #[test]
    fn a_full_cache_sheds_stale_entries_first() {
        let cache = IdentityCache::default();
        let jwt = |s: &'static str| HeaderValue::from_static(s);
        for i in 0..MAX_IDENTITIES {
            cache.keep(&format!("old{i}"), "https://a", jwt("jwt"), 1_000);
        }
        cache.keep("new", "https://a", jwt("jwt-new"), 2_000);
        let entries = cache.entries.read();
        assert_eq!(entries.len(), 1, "every stale entry went");
        drop(entries);
        assert_eq!(cache.fresh("new", "https://a", 1_950), Some(jwt("jwt-new")));
    }
}
