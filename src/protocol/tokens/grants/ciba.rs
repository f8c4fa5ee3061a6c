//! CIBA Core §10.1 and §11: the client redeems its `auth_req_id` at the token endpoint. While
//! the user has not answered it hears `authorization_pending` (or `slow_down` when it polls
//! sooner than its interval, which then grows by 5 s); after that `access_denied`,
//! `expired_token`, or the tokens, once.

use super::required;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::tokens::TokenResponse;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::ciba::{Poll, APPROVED, DENIED};
use crate::store::grants::SingleUse;
use crate::types::Client;
use std::collections::HashMap;

fn polling(code: ErrorCode, description: &str) -> OAuthError {
    OAuthError::new(code, 400, description)
}

pub async fn exchange(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    let hash = secrets::digest(required(form, "auth_req_id")?);
    let now = cx.now;
    let unknown = || OAuthError::invalid_grant("auth_req_id is unknown (CIBA Core section 11)");
    let h = hash.clone();
    let found = cx.store.read(move |tx| tx.ciba().by_hash(&h)).await?;
    let request = found.ok_or_else(unknown)?;
    // CIBA Core §11: an auth_req_id is bound to the client it was issued to; another client's
    // attempt changes nothing.
    if request.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "auth_req_id was issued to another client (CIBA Core section 11)",
        ));
    }
    if let (Some(_), Some(grant_id)) = (request.consumed_at, request.grant_id.clone()) {
        cx.store
            .write(move |tx| tx.grants().revoke_grant(&grant_id, now))
            .await?;
        return Err(used());
    }
    if request.expires_at <= now {
        return Err(polling(
            ErrorCode::ExpiredToken,
            "the auth_req_id has expired; start a new authentication request (CIBA Core section 11)",
        ));
    }
    let h = hash.clone();
    let Poll { request, too_fast } = cx
        .store
        .write(move |tx| tx.ciba().record_poll(&h, now))
        .await?
        .ok_or_else(unknown)?;
    match request.status.as_str() {
        DENIED => {
            return Err(OAuthError::access_denied(
                "the user denied the request (CIBA Core section 11)",
            ))
        }
        APPROVED => {}
        _ if too_fast => {
            return Err(polling(
                ErrorCode::SlowDown,
                &format!(
                    "polled sooner than the interval; wait {} seconds between polls (CIBA Core section 11)",
                    request.interval_secs
                ),
            ))
        }
        _ => {
            return Err(polling(
                ErrorCode::AuthorizationPending,
                "the user has not answered yet (CIBA Core section 11)",
            ))
        }
    }
    let grant_id = request.grant_id.clone().ok_or_else(unknown)?;
    let grant = cx
        .store
        .read(move |tx| tx.grants().get_grant(&grant_id))
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(|| OAuthError::invalid_grant("the grant of this auth_req_id was revoked"))?;
    let prepared = super::prepare_for_approved(cx, client, form, binding, &grant).await?;
    // Using the auth_req_id and storing its tokens commit together, or not at all.
    super::redeem(
        cx,
        SingleUse::AuthReqId(hash),
        prepared,
        now,
        |_| used(),
        || OAuthError::invalid_grant("auth_req_id is invalid or expired (CIBA Core section 11)"),
    )
    .await
}

fn used() -> OAuthError {
    OAuthError::invalid_grant(
        "auth_req_id was already used; tokens issued from it are revoked (CIBA Core section 11)",
    )
}
