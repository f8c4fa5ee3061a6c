//! RFC 6749 §4.1.3: exchange a single-use code bound to client, redirect_uri and PKCE.

use super::required;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::pkce;
use crate::protocol::tokens::{self, TokenResponse};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::grants::SingleUse;
use crate::types::{Client, ScopeSet};
use std::collections::HashMap;

pub async fn exchange(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    let code_hash = secrets::digest(required(form, "code")?);
    let now = cx.now;
    // Every check reads only: a refused request changes nothing.
    let h = code_hash.clone();
    let found = cx
        .store
        .read(move |tx| {
            let Some((code, used)) = tx.grants().find_code(&h)? else {
                return Ok(None);
            };
            let grant = tx.grants().get_grant(&code.grant_id)?;
            Ok(Some((code, used, grant)))
        })
        .await?;
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid or expired");
    let Some((code, used, grant)) = found else {
        return Err(invalid());
    };
    // RFC 6749 section 4.1.3: the code must have been issued to the authenticated client.
    // Another client's attempt is no replay by the owner: it is refused and changes nothing.
    if code.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if used {
        let grant_id = code.grant_id.clone();
        cx.store
            .write(move |tx| tx.grants().revoke_grant(&grant_id, now))
            .await?;
        return Err(replayed(client, &code.grant_id));
    }
    let Some(grant) = grant.filter(|g| g.revoked_at.is_none() && code.expires_at > now) else {
        return Err(invalid());
    };
    if form.get("redirect_uri").map(String::as_str) != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the one in the authorization request (RFC 6749 section 4.1.3)",
        ));
    }
    // RFC 9449 §10: a code bound by dpop_jkt is redeemed only with that key.
    if code.dpop_jkt.is_some() && code.dpop_jkt != binding.dpop_jkt {
        return Err(OAuthError::invalid_grant(
            "the code is bound to another DPoP key (RFC 9449 section 10)",
        ));
    }
    pkce::verify(
        code.code_challenge.as_deref(),
        form.get("code_verifier").map(String::as_str),
    )?;
    let scopes = ScopeSet::parse(&grant.scopes);
    let refresh =
        scopes.contains("offline_access") && client.metadata.allows_grant("refresh_token");
    let prepared = tokens::prepare(
        cx,
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
    .await?;
    // Using the code and storing its tokens commit together, or not at all.
    let code = SingleUse::Code(code_hash);
    super::redeem(cx, code, prepared, now, |g| replayed(client, g), invalid).await
}

fn replayed(client: &Client, grant_id: &str) -> OAuthError {
    tracing::warn!(client_id = %client.id, %grant_id, "authorization code replayed; grant revoked");
    OAuthError::invalid_grant(
        "the authorization code was already used; tokens issued from it are revoked (RFC 6749 section 4.1.2)",
    )
}
