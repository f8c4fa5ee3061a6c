//! RFC 6749 §6: refresh tokens rotate on every use; reusing a rotated one revokes the grant
//! (RFC 9700 §4.14.2).

use super::required;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::secrets;
use crate::protocol::tokens::{self, TokenResponse};
use crate::provider::Provider;
use crate::store::grants::{self, Consumed};
use crate::types::{Client, ScopeSet};
use std::collections::HashMap;

pub async fn exchange(p: &Provider, client: &Client, form: &HashMap<String, String>) -> OAuthResult<TokenResponse> {
    let hash = secrets::digest(required(form, "refresh_token")?);
    let now = p.now();
    let client_id = client.id.clone();
    let consumed = p
        .store
        .write(move |c| {
            let r = grants::rotate_refresh_token(c, &hash, now)?;
            match &r {
                Consumed::Replayed { grant_id } => grants::revoke_grant(c, grant_id, now)?,
                // A token presented by another client must not be burnt by it; undo the rotation.
                Consumed::Fresh(t, _) if t.client_id != client_id => {
                    return Err(crate::store::StoreError::Conflict);
                }
                _ => {}
            }
            Ok(r)
        })
        .await;
    let (token, grant) = match consumed {
        Ok(Consumed::Fresh(t, g)) => (t, g),
        Ok(Consumed::Replayed { grant_id }) => {
            tracing::warn!(client_id = %client.id, %grant_id, "rotated refresh token reused; grant revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the grant is revoked (RFC 9700 §4.14.2)",
            ));
        }
        Ok(Consumed::Invalid) | Err(crate::store::StoreError::Conflict) => {
            return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"))
        }
        Err(e) => return Err(e.into()),
    };
    let granted = ScopeSet::parse(&token.scopes);
    let scopes = match form.get("scope").filter(|s| !s.is_empty()) {
        Some(s) => {
            let asked = ScopeSet::parse(s);
            if !asked.is_subset(&granted) {
                return Err(OAuthError::invalid_scope(
                    "a refresh may not widen the original grant's scope (RFC 6749 §6)",
                ));
            }
            asked
        }
        None => granted,
    };
    tokens::issue(
        p,
        tokens::Issue {
            client,
            grant: Some(&grant),
            id_token: scopes.contains("openid"),
            scopes,
            nonce: None,
            refresh: true,
        },
    )
    .await
}
