//! The connection a bank journey renews or creates: who owns it, and new ids.

use super::request::CONNECTION_CLAIM;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::store::connections::BankConnection;
use crate::types::Client;

/// A new connection id in the contract's `<institution hash>:<uuid>` form.
pub fn new_connection_id(institution: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, institution.as_bytes());
    let hash = crate::secrets::hex(&digest.as_ref()[..16]);
    format!("{hash}:{}", uuid::Uuid::new_v4())
}

/// Checks that a reauth/refresh connection belongs to the pinned user and to this client.
pub async fn owned_connection(
    cx: &Ctx<'_>,
    client: &Client,
    user_id: &str,
    connection_id: &str,
) -> OAuthResult<BankConnection> {
    let id = connection_id.to_string();
    let found = cx.store.read(move |tx| tx.connections().get(&id)).await?;
    match found {
        Some(c) if c.user_id == user_id && c.client_id == client.id => Ok(c),
        _ => Err(OAuthError::invalid_request(format!(
            "{CONNECTION_CLAIM} does not name a connection of this user made through this client"
        ))),
    }
}

/// Deletes one of `user_id`'s connections (its grants, tokens and sealed institution tokens go
/// with it) and records `connectionDeleted` in the same transaction; the partner API and the
/// user's own dashboard both end connections through this. Not found when the user has no
/// such connection, and nothing is changed then.
pub async fn delete_connection(
    cx: &Ctx<'_>,
    user_id: &str,
    connection_id: &str,
) -> OAuthResult<()> {
    let (uid, cid, now) = (user_id.to_string(), connection_id.to_string(), cx.now);
    let deleted = cx
        .store
        .write(move |tx| tx.connections().delete(&uid, &cid, now))
        .await?;
    if !deleted {
        return Err(OAuthError::not_found("no such connection"));
    }
    cx.webhook_wake.notify_one();
    Ok(())
}
