//! RFC 6749 §4.4: a confidential client acting for itself, limited to its allowed scopes.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::tokens::{self, TokenResponse};
use crate::protocol::Ctx;
use crate::protocol::{oidc::scope_policy, oidc::scopes};
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
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    if client.metadata.is_public() {
        return Err(OAuthError::unauthorized_client(
            "public clients cannot use client_credentials (RFC 6749 section 4.4)",
        ));
    }
    let requested = ScopeSet::parse(form.get("scope").map(String::as_str).unwrap_or_default());
    for s in requested.iter() {
        if USER_ONLY.contains(&s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s} needs an end user and is not available with client_credentials"
            )));
        }
        scopes::check_for_client(s, client)?;
    }
    // Contract (Client credentials): `sub` asks for a data-access token for one of the
    // client's own users.
    let user = match form.get("sub").filter(|s| !s.is_empty()) {
        None => None,
        Some(sub) => Some(managed_user(cx, client, sub).await?),
    };
    cx.scope_policy.check(
        &requested,
        scope_policy::Flow::ClientCredentials {
            for_user: user.is_some(),
        },
        user.is_some(),
    )?;
    if user.is_some() && requested.is_empty() {
        return Err(OAuthError::invalid_scope(
            "a data-access token needs at least one data scope",
        ));
    }
    tokens::issue(
        cx,
        tokens::Issue {
            client,
            grant: None,
            user,
            audience: super::audience(form)?,
            scopes: requested,
            nonce: None,
            refresh: false,
            id_token: false,
            binding,
        },
    )
    .await
}

/// The `sub` of a data-access token must be a user this client manages (RFC 6749 §5.2: the
/// grant is not valid for anyone else).
async fn managed_user(cx: &Ctx<'_>, client: &Client, sub: &str) -> OAuthResult<String> {
    let unknown = || OAuthError::invalid_grant("sub is not a user this client manages");
    // A pairwise client names its users by their pairwise sub (OIDC Core §8.1).
    let id = crate::protocol::oidc::subject::user_of(cx, client, sub).ok_or_else(unknown)?;
    let user = cx.store.read(move |tx| tx.users().get(&id)).await?;
    match user {
        Some(u) if u.managed_by_client.as_deref() == Some(client.id.as_str()) => Ok(u.id),
        _ => Err(OAuthError::invalid_grant(
            "sub is not a user this client manages",
        )),
    }
}
