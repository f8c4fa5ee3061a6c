//! The demo client and user created on a zero-config start, so the provider can be tried at once.

use crate::protocol::clients::{ClientService, Registrar};
use crate::protocol::login::new_local_user;
use crate::provider::Provider;
use serde_json::json;

pub const CLIENT_ID: &str = "demo-client";
pub const CLIENT_SECRET: &str = "demo-client-secret-0123456789abcdefghij";
pub const REDIRECT_URI: &str = "https://localhost:3000/callback";
pub const USERNAME: &str = "demo";
pub const PASSWORD: &str = "demo-password";

/// Creates the demo client and user unless they exist. Several nodes starting at the same
/// instant on one database may race here: the one whose insert loses finds the other's.
pub async fn ensure(p: &Provider) -> anyhow::Result<()> {
    let now = p.now();
    let client_exists = || async {
        anyhow::Ok(
            p.store
                .read(|tx| tx.clients().get_any(CLIENT_ID))
                .await?
                .is_some(),
        )
    };
    if !client_exists().await? {
        let meta = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "client_name": "Demo app",
            "redirect_uris": [REDIRECT_URI, "http://localhost:3000/callback"],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile email address phone offline_access accounts:read transactions:read:all user:create user:read user:delete",
        });
        let registered = ClientService::of(&p.ctx())
            .register(meta, Registrar::Operator)
            .await;
        if let Err(e) = registered {
            if !client_exists().await? {
                return Err(anyhow::Error::msg(e));
            }
        }
    }
    let user_exists = p
        .store
        .read(|tx| tx.users().by_username(USERNAME))
        .await?
        .is_some();
    if !user_exists {
        let claims = json!({
            "name": "Demo User", "given_name": "Demo", "family_name": "User",
            "email": "demo@example.com", "email_verified": true,
        });
        // argon2id is slow by design: off the async threads.
        let user =
            tokio::task::spawn_blocking(move || new_local_user(USERNAME, PASSWORD, &claims, now))
                .await?
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        match p.store.write(move |tx| tx.users().insert(&user)).await {
            Ok(()) | Err(crate::store::StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
