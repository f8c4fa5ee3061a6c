//! `/admin/webhooks`: the dead-letter view of the webhook outbox, for operators (behind the
//! same `admin_token` as client administration).

use super::{provider, respond};
use crate::error::OAuthError;
use crate::store::outbox::{self, Event};
use salvo::prelude::*;
use serde_json::{json, Value};

const MAX_LIST: i64 = 500;

fn view(e: &Event) -> Value {
    json!({
        "id": e.id, "clientId": e.client_id, "eventType": e.event_type, "status": e.status,
        "attempts": e.attempts, "lastError": e.last_error, "createdAt": e.created_at,
        "body": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
    })
}

/// `GET /admin/webhooks/dead[?client_id=…&limit=…]`: events that ran out of attempts.
#[handler]
pub async fn dead(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let client = req.query::<String>("client_id");
    let limit = req.query::<i64>("limit").unwrap_or(100).clamp(1, MAX_LIST);
    match p
        .store
        .read(move |c| outbox::dead(c, client.as_deref(), limit))
        .await
    {
        Ok(events) => {
            let events: Vec<Value> = events.iter().map(view).collect();
            respond::json(res, StatusCode::OK, &json!({ "events": events }))
        }
        Err(e) => respond::oauth_error(res, &OAuthError::server(e), ""),
    }
}

/// `POST /admin/webhooks/{event_id}/redeliver`: a dead event goes back in the queue.
#[handler]
pub async fn redeliver(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let id = req.param::<String>("event_id").unwrap_or_default();
    let now = p.now();
    match p.store.write(move |c| outbox::redeliver(c, &id, now)).await {
        Ok(true) => {
            p.webhook_wake.notify_one();
            respond::json(res, StatusCode::ACCEPTED, &json!({ "status": "pending" }))
        }
        Ok(false) => respond::oauth_error(
            res,
            &OAuthError::not_found("no dead event with that id"),
            "",
        ),
        Err(e) => respond::oauth_error(res, &OAuthError::server(e), ""),
    }
}
