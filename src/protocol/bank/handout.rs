//! Upstream token hand-out (partner API `GET /users/{id}/connections/{id}/token`): a working
//! access token of the institution for one connection, refreshed first when it has expired or
//! is about to. One refresh at a time per connection, on any node, through a lease row in the
//! database: a rotating refresh token used twice would break the connection. Every hand-out
//! and refusal goes to the audit log (never the token).

use super::progress::ConnectionSecrets;
use super::upstream::{self, UpstreamTokens};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::plugins::Plugin;
use crate::protocol::Ctx;
use crate::store::connections::{BankConnection, ACTIVE};
use crate::store::token_handouts::{HandoutRecord, HANDED_OUT};
use serde::Serialize;
use std::time::Duration;

/// A token this close to its expiry is refreshed first, so the partner gets one it can use.
pub const REFRESH_MARGIN_SECS: i64 = 60;
/// Longer than an upstream token request may take (its timeout is 10 s), so a live holder keeps
/// its lease; a killed holder's lease frees itself after this.
pub const LEASE_SECS: i64 = 30;
/// How long a request waits for another's refresh, reading the database every `POLL`.
const WAIT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);
/// For this long after a refresh failed, others answer as it did instead of trying again with
/// a refresh token the institution has just refused.
const FAILURE_HOLD_SECS: i64 = 5;

/// The answer: the institution's access token and what the partner needs to use it.
#[derive(Debug, Serialize)]
pub struct HandedOut {
    pub access_token: String,
    pub token_type: String,
    /// Seconds since the epoch; null when the institution gave no lifetime.
    pub expires_at: Option<i64>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
}

/// Who asked for which connection: what each audit entry records.
#[derive(Clone)]
pub struct Audit {
    pub client_id: String,
    pub user_id: String,
    pub connection_id: String,
    pub institution_id: Option<String>,
}

impl Audit {
    fn entry(&self, now: i64, refreshed: bool, result: Result<(), &OAuthError>) -> HandoutRecord {
        let (outcome, detail) = match result {
            Ok(()) => (HANDED_OUT.to_string(), None),
            Err(e) => (
                e.code.as_str().to_string(),
                Some(e.description().to_string()),
            ),
        };
        HandoutRecord {
            id: uuid::Uuid::new_v4().to_string(),
            at: now,
            client_id: self.client_id.clone(),
            user_id: self.user_id.clone(),
            connection_id: self.connection_id.clone(),
            institution_id: self.institution_id.clone(),
            refreshed,
            outcome,
            detail,
        }
    }

    /// Records an outcome in a transaction of its own.
    pub async fn record(&self, cx: &Ctx<'_>, refreshed: bool, result: Result<(), &OAuthError>) {
        let entry = self.entry(cx.now, refreshed, result);
        if let Err(e) = cx
            .store
            .write(move |tx| tx.token_handouts().record(&entry))
            .await
        {
            tracing::error!(error = %e, "token hand-out audit entry not written");
        }
    }
}

/// What one attempt came to, and whether its audit entry is already written (a refresh
/// records it in the transaction that stores the new tokens).
struct Attempt {
    result: OAuthResult<UpstreamTokens>,
    refreshed: bool,
    recorded: bool,
}

impl Attempt {
    fn of(result: OAuthResult<UpstreamTokens>) -> Attempt {
        Attempt {
            result,
            refreshed: false,
            recorded: false,
        }
    }
}

/// Hands out `connection`'s upstream access token (its ownership already checked), audited.
pub async fn hand_out(
    cx: &Ctx<'_>,
    audit: &Audit,
    connection: BankConnection,
) -> OAuthResult<HandedOut> {
    let attempt = match usable_now(cx, &connection) {
        Ok((_, tokens)) if fresh(&tokens, cx.now) => Attempt::of(Ok(tokens)),
        Ok((_, tokens)) if tokens.refresh_token.is_none() => {
            cannot_refresh(cx, audit, &connection.id).await
        }
        Ok((plugin, _)) => refreshed_tokens(cx, audit, &plugin, &connection.id).await,
        Err(e) => Attempt::of(Err(e)),
    };
    if !attempt.recorded {
        audit
            .record(cx, attempt.refreshed, attempt.result.as_ref().map(|_| ()))
            .await;
    }
    let t = attempt.result?;
    Ok(HandedOut {
        token_type: t.token_type.unwrap_or_else(|| "Bearer".into()),
        expires_in: t.expires_at.map(|e| e - cx.now),
        expires_at: t.expires_at,
        scope: t.scope,
        access_token: t.access_token,
    })
}

/// The checks before any token leaves: the institution allows hand-out, the connection is
/// active and holds institution tokens.
fn usable_now(
    cx: &Ctx<'_>,
    c: &BankConnection,
) -> OAuthResult<(std::sync::Arc<Plugin>, UpstreamTokens)> {
    let plugin = cx.plugins.get(&c.institution_id).ok_or_else(|| {
        conflict(format!(
            "the connection's institution {} is no longer installed",
            c.institution_id
        ))
    })?;
    if !plugin.meta.token_handout {
        return Err(OAuthError::new(
            ErrorCode::AccessDenied,
            403,
            format!(
                "institution {} does not allow its tokens to be handed out (tokenHandout: false)",
                plugin.meta.id
            ),
        ));
    }
    if c.status != ACTIVE {
        return Err(conflict(
            "the connection needs reauthorisation before its tokens can be used (status reauth_required)",
        ));
    }
    let tokens = stored_tokens(cx, c)?;
    Ok((plugin, tokens))
}

fn stored_tokens(cx: &Ctx<'_>, c: &BankConnection) -> OAuthResult<UpstreamTokens> {
    ConnectionSecrets::open(cx, c.data_sealed.as_deref())
        .upstream
        .ok_or_else(|| {
            conflict(
                "the connection holds no institution tokens (only connections to institutions \
                 with their own authorization server do)",
            )
        })
}

fn conflict(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequest, 409, description)
}

/// Usable for at least the margin (a token without a stated lifetime is taken as usable).
fn fresh(t: &UpstreamTokens, now: i64) -> bool {
    t.expires_at.is_none_or(|e| e > now + REFRESH_MARGIN_SECS)
}

/// The stored token is stale and the institution issued no refresh token to renew it with:
/// nothing to ask the institution. The connection needs reauth; marked so, with the audit
/// entry, in one transaction.
async fn cannot_refresh(cx: &Ctx<'_>, audit: &Audit, id: &str) -> Attempt {
    let e = conflict(format!(
        "{}; the connection now needs reauthorisation (status reauth_required)",
        upstream::NO_REFRESH_TOKEN
    ));
    let entry = audit.entry(cx.now, false, Err(&e));
    let (cid, now) = (id.to_string(), cx.now);
    let written = cx
        .store
        .write(move |tx| {
            tx.connections().require_reauth(&cid, now)?;
            tx.token_handouts().record(&entry)
        })
        .await;
    if let Err(w) = written {
        return Attempt::of(Err(w.into()));
    }
    cx.webhook_wake.notify_one();
    Attempt {
        result: Err(e),
        refreshed: false,
        recorded: true,
    }
}

/// Why a refresh failed, as kept with the freed lease so that those who waited on it answer
/// the same: the institution refused (`invalid_grant`), or could not be used.
fn refresh_failure(code: &str, description: &str) -> OAuthError {
    if code == ErrorCode::InvalidGrant.as_str() {
        OAuthError::new(
            ErrorCode::InvalidGrant,
            502,
            format!(
                "the institution refused to refresh the connection's tokens ({description}); \
                 the user must reauthorise the connection"
            ),
        )
    } else {
        OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            503,
            "the institution's server could not refresh the connection's tokens; try again later",
        )
    }
}

/// Fresh tokens for a connection whose stored ones are stale: refreshed by this request if it
/// takes the lease, or by the request that holds it (polled until it is done).
async fn refreshed_tokens(cx: &Ctx<'_>, audit: &Audit, plugin: &Plugin, id: &str) -> Attempt {
    let holder = crate::secrets::random_token();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut waited_on_another = false;
    loop {
        let cid = id.to_string();
        let read = cx
            .store
            .read(move |tx| {
                Ok((
                    tx.connections().get(&cid)?,
                    tx.token_handouts().lease(&cid)?,
                ))
            })
            .await;
        let (c, lease) = match read {
            Ok((Some(c), lease)) => (c, lease),
            Ok((None, _)) => return Attempt::of(Err(OAuthError::not_found("no such connection"))),
            Err(e) => return Attempt::of(Err(e.into())),
        };
        match stored_tokens(cx, &c) {
            Ok(t) if fresh(&t, cx.now) => return Attempt::of(Ok(t)),
            Ok(_) => {}
            Err(e) => return Attempt::of(Err(e)),
        }
        match lease {
            Some(l) if l.expires_at > cx.now => waited_on_another = true,
            // The refresh we waited for (or one just before) failed: answer as it did.
            Some(l)
                if l.failure.is_some()
                    && (waited_on_another || cx.now - l.expires_at < FAILURE_HOLD_SECS) =>
            {
                let failure = l.failure.unwrap_or_default();
                let (code, description) = failure.split_once('|').unwrap_or((&failure, ""));
                return Attempt::of(Err(refresh_failure(code, description)));
            }
            _ => {
                let (cid, h, now) = (id.to_string(), holder.clone(), cx.now);
                let until = now + LEASE_SECS;
                // Taken only if no refresh failed within the hold: a caller that looked before
                // another's refresh failed must hear that failure, not ask the institution again.
                let failures_before = now - FAILURE_HOLD_SECS;
                match cx
                    .store
                    .write(move |tx| {
                        tx.token_handouts()
                            .take_lease(&cid, &h, now, until, failures_before)
                    })
                    .await
                {
                    Ok(true) => return refresh_as_holder(cx, audit, plugin, id, &holder).await,
                    Ok(false) => waited_on_another = true,
                    Err(e) => return Attempt::of(Err(e.into())),
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Attempt::of(Err(OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                503,
                "another request is still refreshing the connection's tokens; try again",
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Holding the lease: refreshes at the institution unless someone just did, then stores the
/// new tokens (the new refresh token replacing the old), frees the lease and writes the audit
/// entry in one transaction. A failure frees the lease with its reason.
async fn refresh_as_holder(
    cx: &Ctx<'_>,
    audit: &Audit,
    plugin: &Plugin,
    id: &str,
    holder: &str,
) -> Attempt {
    let cid = id.to_string();
    // Read again: a refresh that finished between our look and our lease is kept, not redone.
    let c = match cx.store.read(move |tx| tx.connections().get(&cid)).await {
        Ok(Some(c)) => c,
        Ok(None) => return Attempt::of(Err(OAuthError::not_found("no such connection"))),
        Err(e) => return Attempt::of(Err(e.into())),
    };
    // A refresh that found the grant gone marked the connection (RFC 6749 §5.2): not retried.
    if c.status != ACTIVE {
        let (cid, h) = (id.to_string(), holder.to_string());
        let _ = cx
            .store
            .write(move |tx| tx.token_handouts().release_lease(&cid, &h, None))
            .await;
        return Attempt::of(Err(conflict(
            "the connection needs reauthorisation before its tokens can be used (status reauth_required)",
        )));
    }
    let secrets = ConnectionSecrets::open(cx, c.data_sealed.as_deref());
    let stale = match stored_tokens(cx, &c) {
        Ok(t) if fresh(&t, cx.now) => {
            let (cid, h) = (id.to_string(), holder.to_string());
            let freed = cx
                .store
                .write(move |tx| tx.token_handouts().release_lease(&cid, &h, None))
                .await;
            return Attempt::of(freed.map(|_| t).map_err(Into::into));
        }
        Ok(t) => t,
        Err(e) => return Attempt::of(Err(e)),
    };
    // The failure is kept with the freed lease as `code|institution's error`.
    let mut grant_gone = false;
    let (result, failure) = match upstream::refresh(cx, plugin, &stale).await {
        Ok(upstream::Outcome {
            tokens: Some(t), ..
        }) => (Ok(t), String::new()),
        Ok(refused) => {
            grant_gone = upstream::grant_refused(&refused);
            let error = refused.result["error"].as_str().unwrap_or("invalid_grant");
            tracing::warn!(connection = %id, %error, "the institution refused a token refresh");
            let code = ErrorCode::InvalidGrant.as_str();
            (Err(refresh_failure(code, error)), format!("{code}|{error}"))
        }
        Err(e) => {
            tracing::warn!(connection = %id, error = %e, "a token refresh at the institution failed");
            let code = ErrorCode::TemporarilyUnavailable.as_str();
            (Err(refresh_failure(code, "")), format!("{code}|"))
        }
    };
    let entry = audit.entry(cx.now, true, result.as_ref().map(|_| ()));
    let (cid, h, now) = (id.to_string(), holder.to_string(), cx.now);
    let write = match &result {
        Ok(new) => {
            let old = c.data_sealed.clone().unwrap_or_default();
            let sealed = ConnectionSecrets {
                data: secrets.data,
                upstream: Some(new.clone()),
            }
            .seal(cx)
            .unwrap_or_default();
            cx.store
                .write(move |tx| {
                    let kept = tx.connections().replace_sealed(&cid, &old, &sealed, now)?;
                    tx.token_handouts().release_lease(&cid, &h, None)?;
                    tx.token_handouts().record(&entry)?;
                    Ok(kept)
                })
                .await
        }
        Err(_) => {
            cx.store
                .write(move |tx| {
                    tx.token_handouts()
                        .release_lease(&cid, &h, Some((&failure, now)))?;
                    tx.token_handouts().record(&entry)?;
                    // RFC 6749 §5.2 invalid_grant: the grant at the institution is gone.
                    if grant_gone {
                        tx.connections().require_reauth(&cid, now)?;
                    }
                    Ok(true)
                })
                .await
        }
    };
    if grant_gone {
        cx.webhook_wake.notify_one();
    }
    match write {
        // A journey renewed the connection meanwhile: its tokens stay; ours still work.
        Ok(false) => tracing::warn!(connection = %id, "connection renewed during a token refresh"),
        Ok(true) => {}
        Err(e) => return Attempt::of(Err(e.into())),
    }
    Attempt {
        result,
        refreshed: true,
        recorded: true,
    }
}
