//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole grant. Unknown
//! tokens, and tokens of other clients, get the same 200 so revocation is no token oracle.

use super::secrets;
use super::tokens::active_access_token;
use crate::error::OAuthResult;
use crate::provider::Provider;
use crate::store::grants;
use crate::types::Client;

pub async fn revoke(p: &Provider, client: &Client, token: &str) -> OAuthResult<()> {
    let now = p.now();
    if let Some(at) = active_access_token(p, token).await? {
        if at.row.client_id == client.id {
            let jti = at.row.jti.clone();
            p.store
                .write(move |c| grants::revoke_access_token(c, &jti, now))
                .await?;
        }
        return Ok(());
    }
    let hash = secrets::digest(token);
    let client_id = client.id.clone();
    p.store
        .write(move |c| {
            if let Some((t, g)) = grants::active_refresh_token(c, &hash, now)? {
                if t.client_id == client_id {
                    grants::revoke_grant(c, &g.id, now)?;
                }
            }
            Ok(())
        })
        .await
        .map_err(Into::into)
}
