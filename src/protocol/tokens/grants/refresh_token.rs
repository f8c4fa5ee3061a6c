//! RFC 6749 §6: refresh tokens rotate on every use; reusing a rotated one revokes the grant
//! (RFC 9700 §4.14.2), except a confidential client's prompt retry of a rotation whose answer
//! it never received (see `lost_answer_retry`).

use super::required;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::tokens::{self, TokenResponse};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::grants::{Rotation, SingleUse};
use crate::types::{Client, ScopeSet};
use std::collections::HashMap;

pub async fn exchange(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    let hash = secrets::digest(required(form, "refresh_token")?);
    let asked = form
        .get("scope")
        .filter(|s| !s.is_empty())
        .map(|s| ScopeSet::parse(s));
    let now = cx.now;
    // Every check reads only: a refused request changes nothing.
    let h = hash.clone();
    let found = cx
        .store
        .read(move |tx| {
            let Some((token, rotation)) = tx.grants().find_refresh_token(&h)? else {
                return Ok(None);
            };
            let grant = tx.grants().get_grant(&token.grant_id)?;
            Ok(Some((token, rotation, grant)))
        })
        .await?;
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    let Some((token, rotation, grant)) = found else {
        return Err(invalid());
    };
    // RFC 6749 section 6: the token must have been issued to the authenticated client. Another
    // client's attempt is no reuse by the owner: it is refused and changes nothing.
    if token.client_id != client.id {
        return Err(invalid());
    }
    // RFC 9449 §5: a DPoP-bound refresh token needs a proof with the same key.
    // RFC 8705 §4: a certificate-bound refresh token needs the same certificate.
    let bound = (token.jkt.is_none() || token.jkt == binding.dpop_jkt)
        && (token.x5t.is_none() || token.x5t == binding.x5t);
    // Rotation, or the retry's replacement of the lost pair.
    let what = match rotation {
        None => SingleUse::RefreshToken(hash),
        Some(rotation) => match lost_answer_retry(cx, client, rotation, bound, now) {
            Some(successor) => SingleUse::LostAnswerRetry {
                token: hash,
                successor,
            },
            None => {
                let grant_id = token.grant_id.clone();
                cx.store
                    .write(move |tx| tx.grants().revoke_grant(&grant_id, now))
                    .await?;
                return Err(replayed(client, &token.grant_id));
            }
        },
    };
    let Some(grant) = grant.filter(|g| g.revoked_at.is_none() && token.expires_at > now) else {
        return Err(invalid());
    };
    if !bound {
        return Err(invalid());
    }
    if asked
        .as_ref()
        .is_some_and(|a| !a.is_subset(&ScopeSet::parse(&token.scopes)))
    {
        return Err(OAuthError::invalid_scope(
            "a refresh may not widen the original grant's scope (RFC 6749 section 6)",
        ));
    }
    let scopes = asked.unwrap_or_else(|| ScopeSet::parse(&token.scopes));
    let prepared = tokens::prepare(
        cx,
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
    .await?;
    // The rotation (or replacement) and the new tokens commit together, or not at all.
    super::redeem(cx, what, prepared, now, |g| replayed(client, g), invalid).await
}

/// A rotated refresh token presented again is a retry of a rotation whose answer was lost,
/// not a reuse (RFC 9700 §4.14.2), only when a thief cannot be behind it: the client
/// authenticated (a public client's presenter could be anyone holding the token), the token's
/// binding holds, the rotation is at most `lifetimes.refresh_retry_grace_secs` old, and the
/// refresh token it issued was never used. Returns that unused successor, to be replaced.
fn lost_answer_retry(
    cx: &Ctx<'_>,
    client: &Client,
    rotation: Rotation,
    bound: bool,
    now: i64,
) -> Option<String> {
    let grace = cx.config.lifetimes.refresh_retry_grace_secs;
    let recent = grace > 0 && now - rotation.rotated_at <= grace;
    (!client.metadata.is_public() && bound && recent)
        .then_some(rotation.unused_successor)
        .flatten()
}

fn replayed(client: &Client, grant_id: &str) -> OAuthError {
    tracing::warn!(client_id = %client.id, %grant_id, "rotated refresh token reused; grant revoked");
    OAuthError::invalid_grant(
        "the refresh token was already used; the grant is revoked (RFC 9700 section 4.14.2)",
    )
}
