//! RFC 6749 §4.4: a confidential client acting for itself, limited to its allowed scopes.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::scopes;
use crate::protocol::tokens::{self, TokenResponse};
use crate::provider::Provider;
use crate::types::{Client, ScopeSet};
use std::collections::HashMap;

/// Scopes that only make sense for an end user, never for a client acting for itself.
const USER_ONLY: &[&str] = &[
    "openid",
    "offline_access",
    "profile",
    "email",
    "address",
    "phone",
];

pub async fn exchange(
    p: &Provider,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    if client.metadata.is_public() {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials (RFC 6749 §4.4)",
        ));
    }
    let allowed = ScopeSet::parse(client.metadata.scope.as_deref().unwrap_or_default());
    let requested = ScopeSet::parse(form.get("scope").map(String::as_str).unwrap_or_default());
    for s in requested.iter() {
        if USER_ONLY.contains(&s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s} needs an end user and is not available with client_credentials"
            )));
        }
        if !scopes::is_supported(s) && !allowed.contains(s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s} is not supported"
            )));
        }
        if !allowed.contains(s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s} is not allowed for this client"
            )));
        }
    }
    tokens::issue(
        p,
        tokens::Issue {
            client,
            grant: None,
            scopes: requested,
            nonce: None,
            refresh: false,
            id_token: false,
            binding,
        },
    )
    .await
}
