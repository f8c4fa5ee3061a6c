//! RFC 6749 §6: refresh tokens rotate on every use; reusing a rotated one revokes the grant
//! (RFC 9700 §4.14.2).

use super::required;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::secrets;
use crate::protocol::tokens::{self, TokenResponse};
use crate::provider::Provider;
use crate::store::grants::{self, Consumed};
use crate::store::StoreError;
use crate::types::{Client, ScopeSet};
use std::collections::HashMap;

pub async fn exchange(
    p: &Provider,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    let hash = secrets::digest(required(form, "refresh_token")?);
    let asked = form
        .get("scope")
        .filter(|s| !s.is_empty())
        .map(|s| ScopeSet::parse(s));
    let now = p.now();
    let client_id = client.id.clone();
    let narrowed = asked.clone();
    let proof_key = binding.dpop_jkt.clone();
    let cert = binding.x5t.clone();
    // Rotation, reuse detection and the checks that must not burn the token happen in one
    // transaction: a refused request rolls back its rotation.
    let consumed = p
        .store
        .write(move |c| {
            let r = grants::rotate_refresh_token(c, &hash, now)?;
            match &r {
                Consumed::Replayed { grant_id } => grants::revoke_grant(c, grant_id, now)?,
                Consumed::Fresh(t, _) if t.client_id != client_id => {
                    return Err(StoreError::Rejected("other client"))
                }
                // RFC 9449 §5: a DPoP-bound refresh token needs a proof with the same key.
                Consumed::Fresh(t, _) if t.jkt.is_some() && t.jkt != proof_key => {
                    return Err(StoreError::Rejected("other key"))
                }
                // RFC 8705 §4: a certificate-bound refresh token needs the same certificate.
                Consumed::Fresh(t, _) if t.x5t.is_some() && t.x5t != cert => {
                    return Err(StoreError::Rejected("other certificate"))
                }
                Consumed::Fresh(t, _)
                    if narrowed
                        .as_ref()
                        .is_some_and(|a| !a.is_subset(&ScopeSet::parse(&t.scopes))) =>
                {
                    return Err(StoreError::Rejected("wider scope"));
                }
                _ => {}
            }
            Ok(r)
        })
        .await;
    let (token, grant) = match consumed {
        Ok(Consumed::Fresh(t, g)) => (t, *g),
        Ok(Consumed::Replayed { grant_id }) => {
            tracing::warn!(client_id = %client.id, %grant_id, "rotated refresh token reused; grant revoked");
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; the grant is revoked (RFC 9700 §4.14.2)",
            ));
        }
        Err(StoreError::Rejected("wider scope")) => {
            return Err(OAuthError::invalid_scope(
                "a refresh may not widen the original grant's scope (RFC 6749 §6)",
            ))
        }
        Ok(Consumed::Invalid) | Err(StoreError::Rejected(_)) => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let scopes = asked.unwrap_or_else(|| ScopeSet::parse(&token.scopes));
    tokens::issue(
        p,
        tokens::Issue {
            user: None,
            audience: super::audience(form)?,
            client,
            grant: Some(&grant),
            id_token: scopes.contains("openid"),
            scopes,
            nonce: None,
            refresh: true,
            binding,
        },
    )
    .await
}
