//! The user's own dashboard (`/account`): the apps a signed-in user granted access to and
//! their bank connections, each of which the user can revoke, and the upstream identities
//! they sign in with ([`links`]). Open-banking access dashboards
//! let the customer end any access they gave, at any time.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::federation::links::{self, LinkedEntry};
use crate::protocol::interaction::live::{client_name, display_uri};
use crate::protocol::{client_cache, logout, oidc::scopes, Ctx};
use crate::store::grants::Grant;
use crate::store::StoreResult;
use crate::store::Tx;
use crate::types::ScopeSet;
use std::collections::BTreeMap;

/// The webhook event sent to an app when the user revokes its access on the dashboard.
pub const GRANT_REVOKED: &str = "grantRevoked";

/// An app with access to the user's data.
pub struct AppAccess {
    pub client_id: String,
    pub name: String,
    /// The registered `logo_uri`, when https.
    pub logo_uri: Option<String>,
    /// Each scope with the text the consent page shows for it.
    pub scopes: Vec<(String, &'static str)>,
    /// When the user last granted it access.
    pub granted_at: i64,
    /// When the last of its grants runs out; `None` when only the remembered consent is left
    /// (it lasts until revoked).
    pub expires_at: Option<i64>,
}

/// One of the user's bank connections.
pub struct ConnectionEntry {
    pub id: String,
    /// The institution's name (its id when its script is gone).
    pub institution: String,
    /// The app the connection was made through.
    pub app: String,
    pub status: String,
    pub created_at: i64,
    pub consent_expires_at: Option<i64>,
}

pub struct Dashboard {
    pub apps: Vec<AppAccess>,
    pub connections: Vec<ConnectionEntry>,
    /// The upstream identities linked to the user (federated login).
    pub identities: Vec<LinkedEntry>,
}

/// What one app holds of the user, gathered from its consent and live grants: every scope,
/// the latest grant and the latest expiry.
#[derive(Default)]
struct Granted {
    scopes: ScopeSet,
    at: i64,
    until: Option<i64>,
}

impl Granted {
    fn add(&mut self, scopes: &str, at: i64, until: Option<i64>) {
        ScopeSet::parse(scopes)
            .iter()
            .for_each(|s| self.scopes.insert(s));
        self.at = self.at.max(at);
        self.until = self.until.max(until);
    }
}

/// What the user's dashboard lists: every app with a live grant or a remembered consent, and
/// every connection and every linked identity, all of this user only.
pub async fn dashboard(cx: &Ctx<'_>, user_id: &str) -> OAuthResult<Dashboard> {
    let (uid, now) = (user_id.to_string(), cx.now);
    let (grants, consents, connections, identities) = cx
        .store
        .read(move |tx| {
            Ok((
                tx.grants().live_for_user(&uid, now)?,
                tx.consents().for_user(&uid)?,
                tx.connections().for_user(&uid)?,
                tx.federation().links_of(&uid)?,
            ))
        })
        .await?;
    let mut by_client: BTreeMap<String, Granted> = BTreeMap::new();
    for c in consents {
        by_client
            .entry(c.client_id)
            .or_default()
            .add(&c.scopes, c.granted_at, None);
    }
    for g in grants {
        by_client
            .entry(g.client_id)
            .or_default()
            .add(&g.scopes, g.created_at, Some(g.expires_at));
    }
    let mut apps = Vec::with_capacity(by_client.len());
    for (client_id, granted) in by_client {
        let client = client_cache::client(cx, &client_id).await?;
        let (name, logo_uri) = match &client {
            Some(c) => (client_name(c), display_uri(c, "logo_uri").map(String::from)),
            None => (client_id.clone(), None),
        };
        apps.push(AppAccess {
            scopes: granted
                .scopes
                .iter()
                .map(|s| (s.to_string(), scopes::description(s)))
                .collect(),
            client_id,
            name,
            logo_uri,
            granted_at: granted.at,
            expires_at: granted.until,
        });
    }
    apps.sort_by_key(|a| std::cmp::Reverse(a.granted_at));
    let mut entries = Vec::with_capacity(connections.len());
    for c in connections {
        let app = match client_cache::client(cx, &c.client_id).await? {
            Some(client) => client_name(&client),
            None => c.client_id.clone(),
        };
        entries.push(ConnectionEntry {
            institution: cx
                .plugins
                .get(&c.institution_id)
                .map(|i| i.meta.name.clone())
                .unwrap_or_else(|| c.institution_id.clone()),
            app,
            id: c.id,
            status: c.status,
            created_at: c.created_at,
            consent_expires_at: c.consent_expires_at,
        });
    }
    Ok(Dashboard {
        apps,
        connections: entries,
        identities: links::entries(cx, &identities),
    })
}

/// Ends an app's access: every grant `client_id` holds for this user is revoked with all its
/// access and refresh tokens, the remembered consent is forgotten, and the app is told
/// (a back-channel logout notice per session, [`notify_app_revoked`]'s webhook), all in one
/// transaction. Not found (nothing changed) when the app has no grant or consent of this
/// user.
pub async fn revoke_app(cx: &Ctx<'_>, user_id: &str, client_id: &str) -> OAuthResult<()> {
    let (uid, cid, now) = (user_id.to_string(), client_id.to_string(), cx.now);
    let ended = cx
        .store
        .write(move |tx| {
            let ending = logout::Ending::ClientGrants {
                user_id: uid.clone(),
                client_id: cid.clone(),
            };
            let grants = logout::end_in(tx, &ending, now)?.revoked;
            let forgotten = tx.consents().forget(&uid, &cid)?;
            if grants.is_empty() && !forgotten {
                return Ok(false);
            }
            notify_app_revoked(tx, &cid, &uid, &grants, now)?;
            Ok(true)
        })
        .await?;
    if !ended {
        return Err(OAuthError::not_found("no such app"));
    }
    cx.webhook_wake.notify_one();
    Ok(())
}

/// Tells the app that the user ended its access, in the transaction that ends it: the
/// `grantRevoked` webhook through the outbox (the back-channel logout notices for the grants'
/// sessions are [`logout::end_in`]'s).
pub fn notify_app_revoked(
    tx: &Tx<'_>,
    client_id: &str,
    user_id: &str,
    grants: &[Grant],
    now: i64,
) -> StoreResult<()> {
    let connection_ids: Vec<&str> = grants
        .iter()
        .filter_map(|g| g.connection_id.as_deref())
        .collect();
    let payload = serde_json::json!({
        "revokedAt": now,
        "revokedBy": "user",
        "connectionIds": connection_ids,
    });
    tx.outbox()
        .enqueue(client_id, GRANT_REVOKED, user_id, payload, now)?;
    Ok(())
}
