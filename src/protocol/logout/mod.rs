//! Logout: ending browser sessions and grants, and telling the clients that took part.
//!
//! - [`end`] is the one way anything ends a session or a user's grant with a client: the
//!   end-session endpoint, and the account pages when a user revokes an app. What it ends
//!   and the notices it owes are written in one transaction.
//! - `end_session`: the end-session endpoint's request (OpenID RP-Initiated Logout 1.0).
//! - `backchannel`: logout tokens, delivered through the outbox (Back-Channel Logout 1.0).
//! - `frontchannel`: the iframes of the logged-out page (Front-Channel Logout 1.0).

pub mod backchannel;
pub mod end_session;
pub mod frontchannel;

use crate::error::OAuthResult;
use crate::protocol::Ctx;
use crate::store::grants::Grant;
use crate::store::Tx;
use crate::types::ScopeSet;

/// What to end.
#[derive(Debug, Clone)]
pub enum Ending {
    /// One browser session, by its `sid` (the end-session endpoint).
    Session { sid: String },
    /// Every browser session of a user ("sign out everywhere").
    AllSessionsOf { user_id: String },
    /// Every grant of a user to one client (the user revokes the app); their browser
    /// sessions stay.
    ClientGrants { user_id: String, client_id: String },
}

/// A client that took part in an ended session, with the session's `sid`: who the logged-out
/// page must reach through the front channel.
#[derive(Debug, Clone)]
pub struct Participant {
    pub client_id: String,
    pub sid: Option<String>,
}

/// What [`end`] did.
#[derive(Debug, Clone, Default)]
pub struct Ended {
    /// The sessions ended (their `sid`s).
    pub sessions: Vec<String>,
    /// Each client that took part, once per session.
    pub participants: Vec<Participant>,
    /// The grants revoked.
    pub revoked: Vec<Grant>,
}

/// Ends `what`, in one transaction: deletes the sessions; revokes their grants lacking
/// `offline_access` (Back-Channel Logout 1.0 §2.7), or every grant for `ClientGrants`; and
/// enqueues a back-channel logout notice for each client with a `backchannel_logout_uri`
/// that took part, per session. The outbox worker is woken once it is committed.
pub async fn end(cx: &Ctx<'_>, what: Ending) -> OAuthResult<Ended> {
    let now = cx.now;
    let ended = cx.store.write(move |tx| end_in(tx, &what, now)).await?;
    if !ended.participants.is_empty() {
        cx.webhook_wake.notify_one();
    }
    Ok(ended)
}

/// [`end`], inside a transaction of the caller's, for work that must commit together with it
/// (the account page's revocation of an app). The caller wakes the outbox worker.
pub fn end_in(tx: &Tx<'_>, what: &Ending, now: i64) -> crate::store::StoreResult<Ended> {
    let (sessions, grants, revoke_all) = match what {
        Ending::Session { sid } => {
            let ended: Vec<String> = tx.sessions().end(sid)?.map(|s| s.sid).into_iter().collect();
            let grants = session_grants(tx, &ended)?;
            (ended, grants, false)
        }
        Ending::AllSessionsOf { user_id } => {
            let ended: Vec<String> = tx
                .sessions()
                .end_all_of(user_id)?
                .into_iter()
                .map(|s| s.sid)
                .collect();
            let grants = session_grants(tx, &ended)?;
            (ended, grants, false)
        }
        Ending::ClientGrants { user_id, client_id } => (
            Vec::new(),
            tx.grants().live_of_user_and_client(user_id, client_id)?,
            true,
        ),
    };
    let mut participants: Vec<Participant> = Vec::new();
    let mut revoked = Vec::new();
    for g in &grants {
        // Back-Channel Logout 1.0 §2.7: refresh tokens issued for offline access outlive the
        // session; the others end with it.
        if revoke_all || !ScopeSet::parse(&g.scopes).contains("offline_access") {
            tx.grants().revoke_grant(&g.id, now)?;
            revoked.push(g.clone());
        }
        let seen = participants
            .iter()
            .any(|p| p.client_id == g.client_id && p.sid == g.sid);
        if seen {
            continue;
        }
        let (Some(user_id), Some(client)) = (&g.user_id, tx.clients().get(&g.client_id)?) else {
            continue;
        };
        if client.metadata.backchannel_logout_uri.is_some() {
            tx.outbox()
                .enqueue_logout(&g.client_id, user_id, g.sid.as_deref(), now)?;
        }
        participants.push(Participant {
            client_id: g.client_id.clone(),
            sid: g.sid.clone(),
        });
    }
    Ok(Ended {
        sessions,
        participants,
        revoked,
    })
}

fn session_grants(tx: &Tx<'_>, sids: &[String]) -> crate::store::StoreResult<Vec<Grant>> {
    let mut all = Vec::new();
    for sid in sids {
        all.extend(tx.grants().live_of_session(sid)?);
    }
    Ok(all)
}
