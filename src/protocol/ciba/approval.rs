//! The user's answer to a backchannel authentication request (CIBA Core §5, step 3): shown on
//! the approval page to the signed-in user it names, approved or denied once. Approval writes
//! the grant in the transaction that records the decision; in ping mode the same transaction
//! queues the client's notification (CIBA Core §10.2) in the outbox.

use super::PingSecrets;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::authorize::decision::Authentication;
use crate::protocol::budget::Budget;
use crate::protocol::{client_cache, oidc::scopes, Ctx};
use crate::store::ciba::CibaRequest;
use crate::store::grants::Grant;
use crate::store::outbox::CIBA_PING;
use crate::types::ScopeSet;

/// A pending request as the approval page shows it.
pub struct Pending {
    pub id: String,
    pub client_name: String,
    pub scopes: Vec<(String, &'static str)>,
    pub binding_message: Option<String>,
    /// The grant's spending limit in words, as the consent page says it.
    pub budget: Option<String>,
    pub expires_at: i64,
}

/// The user's undecided requests, with the app's name and what it asks for.
pub async fn pending(cx: &Ctx<'_>, user_id: &str) -> OAuthResult<Vec<Pending>> {
    let (uid, now) = (user_id.to_string(), cx.now);
    let rows = cx
        .store
        .read(move |tx| tx.ciba().pending_for_user(&uid, now))
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(client) = client_cache::client(cx, &r.client_id).await? else {
            continue;
        };
        let client_name = client
            .metadata
            .client_name
            .clone()
            .unwrap_or_else(|| client.id.to_string());
        out.push(Pending {
            budget: budget_of(&r).map(|b| b.describe()),
            id: r.id,
            client_name,
            scopes: ScopeSet::parse(&r.scopes)
                .iter()
                .map(|s| (s.to_string(), scopes::description(s)))
                .collect(),
            binding_message: r.binding_message,
            expires_at: r.expires_at,
        });
    }
    Ok(out)
}

/// Records the signed-in user's decision on their request `id`. On approval the grant is
/// created with the decision; in ping mode the notification is queued with it. Refused when
/// the request is not this user's, has expired or was decided already.
pub async fn decide(
    cx: &Ctx<'_>,
    auth: &Authentication,
    id: &str,
    approve: bool,
) -> OAuthResult<()> {
    let (rid, now) = (id.to_string(), cx.now);
    let user_id = auth.user_id.clone();
    let gone = || {
        OAuthError::invalid_request(
            "this request has expired, was already answered, or is not yours",
        )
    };
    let request = cx
        .store
        .read(move |tx| {
            Ok(tx
                .ciba()
                .pending_for_user(&user_id, now)?
                .into_iter()
                .find(|r| r.id == rid))
        })
        .await?
        .ok_or_else(gone)?;
    let grant = approve.then(|| grant_for(cx, auth, &request));
    // The budget the request asked for goes on the grant, as at the authorization endpoint.
    let budget = grant
        .as_ref()
        .and_then(|g| Some(budget_of(&request)?.row(&g.id, now)));
    let ping = request.ping_sealed.clone();
    let (rid, uid, client_id) = (
        request.id.clone(),
        auth.user_id.clone(),
        request.client_id.clone(),
    );
    let decided = cx
        .store
        .write(move |tx| {
            let grant_id = grant.as_ref().map(|g| g.id.as_str());
            let Some(decided) = tx.ciba().decide(&rid, &uid, grant_id, now)? else {
                return Ok(false);
            };
            if let Some(g) = &grant {
                tx.grants().insert_grant(g)?;
            }
            if let Some(b) = &budget {
                tx.budgets().set(b, now)?;
            }
            if let Some(sealed) = ping.as_deref().filter(|_| decided.delivery_mode == "ping") {
                tx.outbox()
                    .enqueue_delivery(&client_id, CIBA_PING, "ciba_ping", sealed, now)?;
            }
            Ok(true)
        })
        .await?;
    if !decided {
        return Err(gone());
    }
    if request.ping_sealed.is_some() {
        cx.webhook_wake.notify_one();
    }
    Ok(())
}

/// The budget the request asks its grant to carry (checked when the request was made).
pub fn budget_of(request: &CibaRequest) -> Option<Budget> {
    Budget::parse(request.budget.as_deref()?).ok()
}

/// The grant an approval creates: the request's scopes, the user's sign-in, and a lifetime
/// that outlasts the request (or the refresh chain, with `offline_access`).
fn grant_for(cx: &Ctx<'_>, auth: &Authentication, request: &CibaRequest) -> Grant {
    let now = cx.now;
    let life = &cx.config.lifetimes;
    let offline = ScopeSet::parse(&request.scopes).contains("offline_access");
    Grant {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: request.client_id.clone(),
        user_id: Some(auth.user_id.clone()),
        scopes: request.scopes.clone(),
        claims: None,
        auth_time: Some(auth.auth_time),
        amr: Some(auth.amr.clone()),
        acr: None,
        sid: Some(auth.sid.clone()),
        created_at: now,
        expires_at: if offline {
            now + life.refresh_token_secs
        } else {
            (now + life.access_token_secs).max(request.expires_at)
        },
        revoked_at: None,
        connection_id: None,
        access_token_secs: None,
    }
}

/// The secrets a ping carries, opened from their seal.
pub fn ping_secrets(sealer: &crate::sealing::Sealer, sealed: &str) -> Option<PingSecrets> {
    serde_json::from_str(&sealer.open(sealed)?).ok()
}
