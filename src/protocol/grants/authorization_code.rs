//! RFC 6749 §4.1.3: exchange a single-use code bound to client, redirect_uri and PKCE.

use super::required;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::tokens::{self, TokenResponse};
use crate::protocol::{pkce, secrets};
use crate::provider::Provider;
use crate::store::grants::{self, Consumed};
use crate::types::{Client, ScopeSet};
use std::collections::HashMap;

pub async fn exchange(
    p: &Provider,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    let code_hash = secrets::digest(required(form, "code")?);
    let now = p.now();
    // Consuming and (on replay) revoking happen in one transaction.
    let consumed = p
        .store
        .write(move |c| {
            let r = grants::consume_code(c, &code_hash, now)?;
            if let Consumed::Replayed { grant_id } = &r {
                grants::revoke_grant(c, grant_id, now)?;
            }
            Ok(r)
        })
        .await?;
    let (code, grant) = match consumed {
        Consumed::Fresh(code, grant) => (code, *grant),
        Consumed::Replayed { grant_id } => {
            tracing::warn!(client_id = %client.id, %grant_id, "authorization code replayed; grant revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; tokens issued from it are revoked (RFC 6749 §4.1.2)",
            ));
        }
        Consumed::Invalid => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid or expired",
            ))
        }
    };
    if code.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if form.get("redirect_uri").map(String::as_str) != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request (RFC 6749 §4.1.3)",
        ));
    }
    // RFC 9449 §10: a code bound by dpop_jkt is redeemed only with that key.
    if code.dpop_jkt.is_some() && code.dpop_jkt != binding.dpop_jkt {
        return Err(OAuthError::invalid_grant(
            "the code is bound to another DPoP key (RFC 9449 §10)",
        ));
    }
    pkce::verify(
        code.code_challenge.as_deref(),
        form.get("code_verifier").map(String::as_str),
    )?;
    let scopes = ScopeSet::parse(&grant.scopes);
    let refresh =
        scopes.contains("offline_access") && client.metadata.allows_grant("refresh_token");
    tokens::issue(
        p,
        tokens::Issue {
            user: None,
            audience: super::audience(form)?,
            client,
            grant: Some(&grant),
            id_token: scopes.contains("openid"),
            scopes,
            nonce: code.nonce,
            refresh,
            binding,
        },
    )
    .await
}
