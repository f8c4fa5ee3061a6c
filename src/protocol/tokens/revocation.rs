//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole grant. Unknown
//! tokens get a 200 (§2.2); a token issued to another client is refused and left alone (§2.1).

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::tokens::active_access_token;
use crate::protocol::Ctx;
use crate::secrets;
use crate::types::Client;

pub async fn revoke(cx: &Ctx<'_>, client: &Client, token: &str) -> OAuthResult<()> {
    let now = cx.now;
    if let Some(at) = active_access_token(cx, token).await? {
        if at.row.client_id != client.id {
            return Err(not_yours());
        }
        let jti = at.row.jti.clone();
        cx.store
            .write(move |tx| tx.grants().revoke_access_token(&jti, now))
            .await?;
        return Ok(());
    }
    let hash = secrets::digest(token);
    let client_id = client.id.clone();
    let owned = cx
        .store
        .write(move |tx| {
            let Some((t, g)) = tx.grants().active_refresh_token(&hash, now)? else {
                return Ok(true);
            };
            if t.client_id != client_id {
                return Ok(false);
            }
            tx.grants().revoke_grant(&g.id, now)?;
            Ok(true)
        })
        .await?;
    if owned {
        Ok(())
    } else {
        Err(not_yours())
    }
}

/// RFC 7009 §2.1: the server verifies the token was issued to the requesting client, and
/// refuses the request when it was not.
fn not_yours() -> OAuthError {
    OAuthError::unauthorized_client("the token was not issued to this client")
}
