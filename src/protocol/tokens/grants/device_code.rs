//! RFC 8628 §3.4–3.5: the device polls with its device code until the user has answered.
//! Each poll is recorded (so `slow_down` and the grown interval hold on every node); an
//! approved code is spent in the transaction that stores the tokens it buys.

use super::required;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::device::SLOW_DOWN_STEP_SECS;
use crate::protocol::tokens::TokenResponse;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::device_authorizations::Status;
use crate::store::grants::{Grant, SingleUse};
use crate::types::Client;
use std::collections::HashMap;

/// What a poll found.
enum Poll {
    Unknown,
    OtherClient,
    Used,
    Expired,
    Denied,
    SlowDown,
    Pending,
    Approved(Option<Box<Grant>>),
}

pub async fn exchange(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
    binding: super::Binding,
) -> OAuthResult<TokenResponse> {
    let hash = secrets::digest(required(form, "device_code")?);
    let (now, h, cid) = (cx.now, hash.clone(), client.id.to_string());
    let poll = cx
        .store
        .write(move |tx| {
            let devices = tx.device_authorizations();
            let Some(d) = devices.by_device_code(&h)? else {
                return Ok(Poll::Unknown);
            };
            // §3.5: the code is bound to its client; another client's poll changes nothing.
            if d.client_id != cid {
                return Ok(Poll::OtherClient);
            }
            if d.status == Status::Used {
                return Ok(Poll::Used);
            }
            if d.expires_at <= now {
                return Ok(Poll::Expired);
            }
            Ok(match d.status {
                Status::Denied => Poll::Denied,
                Status::Approved => {
                    let grant = match &d.grant_id {
                        Some(g) => tx.grants().get_grant(g)?.map(Box::new),
                        None => None,
                    };
                    Poll::Approved(grant)
                }
                _ => {
                    let too_soon = d.last_polled_at.is_some_and(|t| now - t < d.interval_secs);
                    devices.polled(&d.id, now, too_soon, SLOW_DOWN_STEP_SECS)?;
                    if too_soon {
                        Poll::SlowDown
                    } else {
                        Poll::Pending
                    }
                }
            })
        })
        .await?;
    let grant = match poll {
        Poll::Unknown => return Err(invalid()),
        Poll::OtherClient => {
            return Err(OAuthError::invalid_grant(
                "the device code was issued to another client (RFC 8628 section 3.5)",
            ))
        }
        Poll::Used => {
            return Err(OAuthError::invalid_grant(
                "the device code was already used (RFC 8628 section 3.5)",
            ))
        }
        Poll::Expired => {
            return Err(OAuthError::new(
                ErrorCode::ExpiredToken,
                400,
                "the device code has expired; start a new device authorization (RFC 8628 section 3.5)",
            ))
        }
        Poll::Denied => {
            return Err(OAuthError::access_denied(
                "the user denied the authorization request (RFC 8628 section 3.5)",
            ))
        }
        Poll::SlowDown => {
            return Err(OAuthError::new(
                ErrorCode::SlowDown,
                400,
                format!(
                    "polling faster than the interval; it is now {SLOW_DOWN_STEP_SECS} seconds longer (RFC 8628 section 3.5)"
                ),
            ))
        }
        Poll::Pending => {
            return Err(OAuthError::new(
                ErrorCode::AuthorizationPending,
                400,
                "the user has not yet answered (RFC 8628 section 3.5)",
            ))
        }
        Poll::Approved(grant) => grant
            .filter(|g| g.revoked_at.is_none())
            .ok_or_else(invalid)?,
    };
    let prepared = super::prepare_for_approved(cx, client, form, binding, &grant).await?;
    // Spending the code and storing its tokens commit together: of two polls, one issues.
    let code = SingleUse::DeviceCode {
        hash,
        client_id: client.id.to_string(),
    };
    super::redeem(cx, code, prepared, now, |_| invalid(), invalid).await
}

fn invalid() -> OAuthError {
    OAuthError::invalid_grant(
        "the device code is unknown, expired, already used, or its grant ended",
    )
}
