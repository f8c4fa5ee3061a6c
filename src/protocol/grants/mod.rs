//! The token endpoint's grant types (RFC 6749 §4), one file each.

mod authorization_code;
mod client_credentials;
mod refresh_token;

use super::tokens::TokenResponse;
use crate::error::{OAuthError, OAuthResult};
use crate::provider::Provider;
use crate::types::Client;
use std::collections::HashMap;

/// Runs the requested grant for an authenticated client.
/// `dpop_jkt` is the key thumbprint of a valid DPoP proof sent with the request, if any.
pub async fn token(
    p: &Provider,
    client: &Client,
    form: &HashMap<String, String>,
    dpop_jkt: Option<String>,
) -> OAuthResult<TokenResponse> {
    let grant_type = form
        .get("grant_type")
        .filter(|g| !g.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let supported = ["authorization_code", "refresh_token", "client_credentials"];
    if !supported.contains(&grant_type.as_str()) {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {grant_type} is not supported"
        )));
    }
    if !client.metadata.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "the client is not registered for the {grant_type} grant"
        )));
    }
    if client.metadata.dpop_bound_access_tokens && dpop_jkt.is_none() {
        return Err(OAuthError::invalid_request(
            "this client's tokens must be DPoP-bound: send a DPoP proof (RFC 9449 §5.2)",
        ));
    }
    match grant_type.as_str() {
        "authorization_code" => authorization_code::exchange(p, client, form, dpop_jkt).await,
        "refresh_token" => refresh_token::exchange(p, client, form, dpop_jkt).await,
        _ => client_credentials::exchange(p, client, form, dpop_jkt).await,
    }
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> OAuthResult<&'a str> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
}
