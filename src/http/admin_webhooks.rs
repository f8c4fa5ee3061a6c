//! `/admin/webhooks`: the dead-letter view of the webhook outbox, and `/admin/token-handouts`:
//! the audit log of upstream token hand-outs, for operators (behind the same `admin_token` as
//! client administration).

use super::{provider, respond};
use crate::protocol::partner_api::admin;
use salvo::prelude::*;
use serde_json::json;

/// `GET /admin/webhooks/dead[?client_id=…&limit=…]`: events that ran out of attempts.
#[handler]
pub async fn dead(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let client = req.query::<String>("client_id");
    let limit = req.query::<String>("limit");
    match admin::dead_events(&p.ctx(), client, limit.as_deref()).await {
        Ok(body) => respond::json(res, StatusCode::OK, &body),
        Err(e) => respond::oauth_error(res, &e, ""),
    }
}

/// `POST /admin/webhooks/{event_id}/redeliver`: a dead event goes back in the queue.
#[handler]
pub async fn redeliver(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let id = req.param::<String>("event_id").unwrap_or_default();
    match admin::redeliver(&p.ctx(), &id).await {
        Ok(()) => respond::json(res, StatusCode::ACCEPTED, &json!({ "status": "pending" })),
        Err(e) => respond::oauth_error(res, &e, ""),
    }
}

/// `GET /admin/token-handouts[?client_id=…&connection_id=…&limit=…]`: the audit log.
#[handler]
pub async fn token_handouts(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let client = req.query::<String>("client_id");
    let connection = req.query::<String>("connection_id");
    let limit = req.query::<String>("limit");
    match admin::token_handouts(&p.ctx(), client, connection, limit.as_deref()).await {
        Ok(body) => {
            respond::no_store(res);
            respond::json(res, StatusCode::OK, &body)
        }
        Err(e) => respond::oauth_error(res, &e, ""),
    }
}
