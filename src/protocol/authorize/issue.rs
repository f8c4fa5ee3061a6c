//! Issuing what an authorization asks for (RFC 6749 §4.1.2, OIDC Core §3.1.2.5, §3.2.2.5):
//! the grant with a single-use code and/or tokens, written in one transaction with whatever
//! else the authorization completes, and packed in the request's response mode.

use super::decision::Authentication;
use super::refusal::redirect_refusal;
use super::request::AuthorizationRequest;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::oidc::response::{self, Delivery};
use crate::protocol::tokens;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::{self, grants};
use crate::types::{Client, ScopeSet};

/// What else an authorization writes, in the one transaction that creates its grant and code,
/// so a refusal leaves none of it behind.
#[derive(Default)]
pub struct Completion {
    /// The interaction this authorization ends; it ends exactly once.
    pub interaction_id: Option<String>,
    /// Remember the user's approval of the request's scopes for this client.
    pub remember_consent: bool,
    /// A finished bank journey's connection.
    pub connection: Option<store::connections::JourneyWrite>,
}

/// Why `respond` issued nothing.
#[derive(Debug)]
enum NotIssued {
    /// The interaction had already ended (its form was posted twice); nothing was written.
    AlreadyEnded,
    /// Refused, for the client to hear; the interaction (if any) has ended without a grant.
    Refused(OAuthError),
}

/// Completes the authorization: creates the grant and a single-use code and/or signs the ID
/// token the response type asks for, and packs the success response in the request's mode.
async fn respond(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    auth: &Authentication,
    along: Completion,
) -> Result<Delivery, NotIssued> {
    let Completion {
        interaction_id,
        remember_consent,
        connection,
    } = along;
    let device = req.device_id();
    if let Some(sub) = req.required_sub() {
        if sub != auth.user_id {
            let e = OAuthError::access_denied(
                "the authenticated user is not the user the request asked for (OIDC Core section 5.5.1)",
            );
            return Err(end_refused(cx, interaction_id, device, e).await);
        }
    }
    let now = cx.now;
    let life = &cx.config.lifetimes;
    let offline = req.scopes().contains("offline_access");
    let grant = grants::Grant {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: req.client_id.clone(),
        user_id: Some(auth.user_id.clone()),
        scopes: req.scope.clone(),
        claims: req
            .claims
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok()),
        auth_time: Some(auth.auth_time),
        amr: Some(auth.amr.clone()),
        acr: None,
        sid: Some(auth.sid.clone()),
        created_at: now,
        expires_at: now
            + if offline {
                life.refresh_token_secs
            } else {
                life.access_token_secs.max(life.authorization_code_secs)
            },
        revoked_at: None,
        connection_id: connection.as_ref().map(|c| c.connection_id().to_string()),
        access_token_secs: req.expires_in,
    };
    let budget = req.budget.as_ref().map(|b| b.row(&grant.id, now));
    let code = req.returns("code").then(secrets::random_token);
    // An access token from the authorization endpoint (OIDC Core §3.2.2.5, §3.3.2.5): signed
    // now, valid once its row commits with the grant. Never a refresh token (RFC 6749 §4.2.2).
    let front_token = if req.returns("token") {
        match front_channel_token(cx, client, &grant).await {
            Ok(t) => Some(t),
            Err(e) => return Err(end_refused(cx, interaction_id, device, e).await),
        }
    } else {
        None
    };
    let access_row = front_token.as_ref().map(|t| t.rows.access.clone());
    let row = code.as_ref().map(|code| grants::AuthorizationCode {
        code_hash: secrets::digest(code),
        grant_id: grant.id.clone(),
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        dpop_jkt: req.dpop_jkt.clone(),
        expires_at: now + life.authorization_code_secs,
    });
    let (pushed, stored_grant, ending, approving) = (
        req.pushed.clone(),
        grant.clone(),
        interaction_id.clone(),
        device.clone(),
    );
    let remember =
        remember_consent.then(|| (auth.user_id.clone(), client.id.clone(), req.scope.clone()));
    let stored = cx
        .store
        .write(move |tx| {
            if let Some(id) = &ending {
                if !tx.interactions().complete(id, now)? {
                    return Ok(false);
                }
            }
            if let Some((user_id, client_id, scope)) = &remember {
                tx.consents().remember(user_id, client_id, scope, now)?;
            }
            // RFC 9126 §4: a pushed request is good for one authorization.
            if let Some(h) = &pushed {
                if !tx.pushed().mark_used(h, now)? {
                    return Err(store::StoreError::Refused(
                        store::Refusal::PushedRequestUsed,
                    ));
                }
            }
            if let Some(w) = &connection {
                w.apply(tx, now)?;
            }
            // A bank journey's grant is kept even without a code: its ID token names it. A
            // device's grant waits for the device's next poll (RFC 8628 §3.5).
            if row.is_some() || access_row.is_some() || connection.is_some() || approving.is_some()
            {
                tx.grants().insert_grant(&stored_grant)?;
                if let Some(b) = &budget {
                    tx.budgets().set(b, now)?;
                }
            }
            if let Some(id) = &approving {
                if !tx
                    .device_authorizations()
                    .approve(id, &stored_grant.id, now)?
                {
                    return Err(store::StoreError::Refused(
                        store::Refusal::DeviceAuthorizationEnded,
                    ));
                }
            }
            if let Some(row) = &row {
                tx.grants().insert_code(row)?;
            }
            if let Some(access) = &access_row {
                tx.grants().insert_access_token(access)?;
            }
            Ok(true)
        })
        .await;
    let refusal = match stored {
        Ok(true) => None,
        Ok(false) => return Err(NotIssued::AlreadyEnded),
        Err(store::StoreError::Refused(why)) => Some(OAuthError::invalid_request(format!(
            "the authorization cannot complete: {why}"
        ))),
        Err(e) => Some(e.into()),
    };
    if let Some(e) = refusal {
        return Err(end_refused(cx, interaction_id, device, e).await);
    }
    if device.is_some() {
        return Ok(Delivery::DeviceDone(None));
    }
    let mut params = Vec::new();
    if let Some(code) = &code {
        params.push(("code".to_string(), code.clone()));
    }
    let access_token = front_token.map(|t| tokens::issued(cx, t.response));
    if let Some(t) = &access_token {
        params.extend([
            ("access_token".to_string(), t.access_token.clone()),
            ("token_type".to_string(), t.token_type.to_string()),
            ("expires_in".to_string(), t.expires_in.to_string()),
            // RFC 6749 §4.2.2: required when it differs from the request's (dropped scopes).
            ("scope".to_string(), t.scope.clone()),
        ]);
    }
    if req.returns("id_token") {
        // An ID token with a code or access token binds them (c_hash, at_hash; s_hash for
        // state) and carries no profile claims, which the token endpoint or UserInfo give;
        // an ID token alone carries the claims its scopes release (OIDC Core §5.4).
        let extras = tokens::IdTokenExtras {
            access_token: access_token.as_ref().map(|t| t.access_token.as_str()),
            code: code.as_deref(),
            state: req.state.as_deref(),
            scope_claims: code.is_none() && access_token.is_none(),
        };
        let id_token = tokens::id_token(cx, client, &grant, req.nonce.as_deref(), extras, now)
            .await
            .map_err(NotIssued::Refused)?;
        params.push(("id_token".to_string(), id_token));
    }
    if let Some(s) = &req.state {
        params.push(("state".to_string(), s.clone()));
    }
    response::deliver(cx, client, &req.redirect_uri, req.response_mode, params)
        .map_err(NotIssued::Refused)
}

/// A bearer access token for the user's grant, issued at the authorization endpoint: it is
/// for UserInfo and the grant's scopes, with no refresh token and no ID token of its own.
async fn front_channel_token(
    cx: &Ctx<'_>,
    client: &Client,
    grant: &grants::Grant,
) -> OAuthResult<tokens::Prepared> {
    tokens::prepare(
        cx,
        tokens::Issue {
            client,
            grant: Some(grant),
            user: None,
            audience: None,
            scopes: ScopeSet::parse(&grant.scopes),
            nonce: None,
            refresh: false,
            id_token: false,
            binding: tokens::Binding::default(),
        },
    )
    .await
}

/// A refusal ends the interaction too, so the client hears one answer per interaction; if it
/// had already ended, that other answer stands. A device hears `access_denied` when it polls.
async fn end_refused(
    cx: &Ctx<'_>,
    interaction_id: Option<String>,
    device: Option<String>,
    e: OAuthError,
) -> NotIssued {
    let Some(id) = interaction_id else {
        return NotIssued::Refused(e);
    };
    let now = cx.now;
    match cx
        .store
        .write(move |tx| {
            let ended = tx.interactions().complete(&id, now)?;
            if let Some(d) = &device {
                tx.device_authorizations().deny(d)?;
            }
            Ok(ended)
        })
        .await
    {
        Ok(false) => NotIssued::AlreadyEnded,
        _ => NotIssued::Refused(e),
    }
}

/// Completes the authorization, turning a refusal into an error response to the client.
pub async fn finish(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    auth: &Authentication,
    along: Completion,
) -> OAuthResult<Delivery> {
    match respond(cx, req, client, auth, along).await {
        Ok(d) => Ok(d),
        Err(NotIssued::AlreadyEnded) => Err(OAuthError::invalid_request(
            "this sign-in request was already completed",
        )),
        Err(NotIssued::Refused(e)) => redirect_refusal(cx, req, client, e),
    }
}
