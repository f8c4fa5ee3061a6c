//! Response types (OAuth 2.0 Multiple Response Types, OIDC Core §3): the ones served, and the
//! one rule for which of them a client may use, applied when it registers and when it asks.
//!
//! Those returning an access token from the authorization endpoint (`token` in the set) are
//! opt-in: a client gets them only by registering them, and never under a FAPI profile or
//! with sender-constrained tokens, since a token in a browser redirect is a bearer token.

use crate::error::{OAuthError, OAuthResult};
use crate::types::FapiProfile as Profile;
use crate::types::{Client, ClientMetadata};

/// The response types we serve, in canonical (sorted) form. `token` alone (OAuth without an
/// ID token) is not among them.
pub const SUPPORTED: &[&str] = &[
    "code",
    "code id_token",
    "code id_token token",
    "code token",
    "id_token",
    "id_token token",
];

/// Response types are space-separated sets: `id_token code` is `code id_token`.
pub fn normalize(rt: &str) -> String {
    let mut parts: Vec<&str> = rt.split(' ').filter(|s| !s.is_empty()).collect();
    parts.sort_unstable();
    parts.join(" ")
}

/// Whether the response type `rt` includes `part` (`code`, `id_token` or `token`).
pub fn includes(rt: &str, part: &str) -> bool {
    rt.split(' ').any(|p| p == part)
}

/// Why a client may not receive access tokens from the authorization endpoint, if it may not.
fn front_channel_tokens_refused(m: &ClientMetadata, profile: Option<Profile>) -> Option<&str> {
    if profile.is_some() {
        Some("FAPI clients receive no access token from the authorization endpoint (FAPI 1 Adv. section 5.2.2-2, FAPI 2 section 5.3.2.2-2)")
    } else if m.dpop_bound_access_tokens || m.tls_client_certificate_bound_access_tokens {
        Some("this client's access tokens are sender-constrained, which a token from the authorization endpoint cannot be")
    } else {
        None
    }
}

/// Registration (RFC 7591 §2, §2.1): every response type is served, matches the grant types
/// (code with `authorization_code`; `id_token` or `token` with `implicit`; and back), and
/// token-returning ones are registered only by clients that may use them.
pub fn check_registered(m: &ClientMetadata) -> OAuthResult<()> {
    for r in &m.response_types {
        if !SUPPORTED.contains(&normalize(r).as_str()) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "response_type {r} is not supported"
            )));
        }
    }
    let has = |part: &str| m.response_types.iter().any(|r| includes(r, part));
    let implicit = has("id_token") || has("token");
    if m.allows_grant("authorization_code") != has("code") || m.allows_grant("implicit") != implicit
    {
        return Err(OAuthError::invalid_client_metadata(
            "response_types and grant_types do not match (RFC 7591 section 2.1: code needs authorization_code, id_token and token need implicit)",
        ));
    }
    let profile = m.fapi_profile;
    if has("token") {
        if let Some(why) = front_channel_tokens_refused(m, profile) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "response types returning a token: {why}"
            )));
        }
    }
    Ok(())
}

/// Authorization (RFC 6749 §4.1.2.1, §4.2.2.1): the response type `rt` asked for, in canonical
/// form, when we serve it (`unsupported_response_type`) and this client, under `profile`, may
/// use it (`unauthorized_client`).
pub fn check_requested(
    client: &Client,
    profile: Option<Profile>,
    rt: Option<&str>,
) -> OAuthResult<String> {
    let rt = rt
        .filter(|r| !r.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("response_type is missing"))?;
    let rt = normalize(rt);
    if !SUPPORTED.contains(&rt.as_str()) {
        return Err(OAuthError::unsupported_response_type(format!(
            "response_type {rt} is not supported"
        )));
    }
    if !client
        .metadata
        .response_types
        .iter()
        .any(|r| normalize(r) == rt)
    {
        return Err(OAuthError::unauthorized_client(format!(
            "the client is not registered for response_type {rt}"
        )));
    }
    // Registration refuses these already; the provider's own FAPI profile applies to clients
    // registered before it was set.
    if includes(&rt, "token") {
        if let Some(why) = front_channel_tokens_refused(&client.metadata, profile) {
            return Err(OAuthError::unauthorized_client(format!(
                "response_type {rt}: {why}"
            )));
        }
    }
    Ok(rt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_type_is_in_canonical_form() {
        for rt in SUPPORTED {
            assert_eq!(normalize(rt), *rt);
        }
        assert_eq!(normalize("token  id_token code"), "code id_token token");
        assert!(includes("code id_token token", "token"));
        assert!(!includes("id_token", "token"), "parts, not substrings");
    }
}
