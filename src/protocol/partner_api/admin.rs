//! Operator administration beside client management (`clients::ClientService`): paging
//! bounds for lists, the dead webhook events (list, redeliver), and the audit log of upstream
//! token hand-outs.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::store;
use serde_json::{json, Value};

/// Clients per page unless asked otherwise, and the most one page may hold.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// Parses `limit` and `offset` (RFC-style bad input is `invalid_request`).
pub fn page_bounds(limit: Option<&str>, offset: Option<&str>) -> OAuthResult<(u32, u64)> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                OAuthError::invalid_request(format!("limit must be a number from 1 to {MAX_LIMIT}"))
            })?,
    };
    let offset = match offset {
        None => 0,
        Some(o) => o.parse::<u64>().map_err(|_| {
            OAuthError::invalid_request("offset must be a number of clients to skip")
        })?,
    };
    Ok((limit, offset))
}

/// Dead webhook events, newest first (`GET /admin/webhooks/dead`), optionally for one client.
pub async fn dead_events(
    cx: &Ctx<'_>,
    client_id: Option<String>,
    limit: Option<&str>,
) -> OAuthResult<Value> {
    let (limit, _) = page_bounds(limit, None)?;
    let events = cx
        .store
        .read(move |tx| tx.outbox().dead(client_id.as_deref(), i64::from(limit)))
        .await?;
    let view = |e: &store::outbox::Event| {
        json!({
            "id": e.id, "clientId": e.client_id, "eventType": e.event_type, "status": e.status,
            "attempts": e.attempts, "lastError": e.last_error, "createdAt": e.created_at,
            "body": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
        })
    };
    Ok(json!({ "events": events.iter().map(view).collect::<Vec<_>>() }))
}

/// Puts a dead event back in the queue and wakes the worker; not found unless it is dead.
pub async fn redeliver(cx: &Ctx<'_>, event_id: &str) -> OAuthResult<()> {
    let (id, now) = (event_id.to_string(), cx.now);
    if !cx
        .store
        .write(move |tx| tx.outbox().redeliver(&id, now))
        .await?
    {
        return Err(OAuthError::not_found("no dead event with that id"));
    }
    cx.webhook_wake.notify_one();
    Ok(())
}

/// The audit log of upstream token hand-outs, newest first (`GET /admin/token-handouts`).
pub async fn token_handouts(
    cx: &Ctx<'_>,
    client_id: Option<String>,
    connection_id: Option<String>,
    limit: Option<&str>,
) -> OAuthResult<Value> {
    let (limit, _) = page_bounds(limit, None)?;
    let entries = cx
        .store
        .read(move |tx| {
            tx.token_handouts().list(
                client_id.as_deref(),
                connection_id.as_deref(),
                i64::from(limit),
            )
        })
        .await?;
    let view = |e: &store::token_handouts::HandoutRecord| {
        json!({
            "id": e.id, "at": e.at, "clientId": e.client_id, "userId": e.user_id,
            "connectionId": e.connection_id, "institutionId": e.institution_id,
            "refreshed": e.refreshed, "outcome": e.outcome, "detail": e.detail,
        })
    };
    Ok(json!({ "entries": entries.iter().map(view).collect::<Vec<_>>() }))
}
