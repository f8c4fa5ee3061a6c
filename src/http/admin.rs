//! The client administration API (`/admin/clients`): operator-only, behind `admin_token`.

use super::{params, provider, respond};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::clients::service::path_id;
use crate::protocol::clients::{views, ClientService, Registrar};
use crate::protocol::partner_api::admin;
use crate::secrets;
use crate::types::ClientId;
use salvo::prelude::*;
use serde_json::Value;

/// Closed (404) while `admin_token` is unset; otherwise the bearer token must be it (401).
#[handler]
pub async fn guard(req: &mut Request, depot: &mut Depot, res: &mut Response, ctrl: &mut FlowCtrl) {
    let p = provider(depot);
    let Some(expected) = &p.config.admin_token else {
        respond::oauth_error(res, &OAuthError::not_found("not found"), "");
        return ctrl.skip_rest();
    };
    let allowed = match params::bearer_token(req) {
        // Compare digests so the comparison is constant-time whatever the lengths.
        Some(given) => secrets::matches_digest(&given, &secrets::digest(expected)),
        None => {
            // RFC 6750 §3.1: no credentials, a bare challenge.
            respond::bearer_error(res, &OAuthError::no_token());
            return ctrl.skip_rest();
        }
    };
    if !allowed {
        let e = OAuthError::invalid_token("a valid admin token is required");
        respond::bearer_error(res, &e);
        return ctrl.skip_rest();
    }
    ctrl.call_next(req, depot, res).await;
}

async fn json_body(req: &mut Request) -> OAuthResult<Value> {
    params::json_body(req, OAuthError::invalid_client_metadata).await
}

fn client_id(req: &Request) -> OAuthResult<ClientId> {
    path_id(&req.param::<String>("client_id").unwrap_or_default())
}

fn answer(res: &mut Response, status: StatusCode, result: OAuthResult<Value>) {
    match result {
        Ok(body) => respond::json(res, status, &body),
        Err(e) => respond::oauth_error(res, &e, ""),
    }
}

fn no_content(res: &mut Response, result: OAuthResult<()>) {
    match result {
        Ok(()) => {
            respond::no_store(res);
            res.status_code(StatusCode::NO_CONTENT);
        }
        Err(e) => respond::oauth_error(res, &e, ""),
    }
}

#[handler]
pub async fn create(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let raw = json_body(req).await?;
        let saved = ClientService::of(&p.ctx())
            .register(raw, Registrar::Operator)
            .await?;
        Ok(views::admin_saved(&saved))
    }
    .await;
    answer(res, StatusCode::CREATED, result);
}

#[handler]
pub async fn list(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let q = params::unique(params::query_pairs(req))?;
        let (limit, offset) = admin::page_bounds(
            q.get("limit").map(String::as_str),
            q.get("offset").map(String::as_str),
        )?;
        let (clients, total) = ClientService::of(&p.ctx()).page(limit, offset).await?;
        Ok(serde_json::json!({
            "clients": clients.iter().map(views::admin).collect::<Vec<_>>(),
            "total": total,
        }))
    }
    .await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let client = ClientService::of(&p.ctx()).get(&client_id(req)?).await?;
        Ok(views::admin(&client))
    }
    .await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn replace(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let id = client_id(req)?;
        let raw = json_body(req).await?;
        let saved = ClientService::of(&p.ctx())
            .replace(&id, raw, Registrar::Operator)
            .await?;
        Ok(views::admin_saved(&saved))
    }
    .await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn delete(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async { ClientService::of(&p.ctx()).delete(&client_id(req)?).await }.await;
    no_content(res, result);
}

async fn set_disabled(
    p: &crate::provider::Provider,
    req: &Request,
    disabled: bool,
) -> OAuthResult<Value> {
    let client = ClientService::of(&p.ctx())
        .set_disabled(&client_id(req)?, disabled)
        .await?;
    Ok(views::admin(&client))
}

#[handler]
pub async fn disable(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = set_disabled(&p, req, true).await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn enable(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = set_disabled(&p, req, false).await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn rotate_secret(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let id = client_id(req)?;
        let secret = ClientService::of(&p.ctx()).rotate_secret(&id).await?;
        Ok(serde_json::json!({
            "client_id": id, "client_secret": secret, "client_secret_expires_at": 0,
        }))
    }
    .await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn connection_types(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let id = client_id(req)?;
        let body = json_body(req).await?;
        let saved = ClientService::of(&p.ctx())
            .grant_connection_types(&id, body)
            .await?;
        Ok(views::admin_saved(&saved))
    }
    .await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn scopes(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let id = client_id(req)?;
        let body = json_body(req).await?;
        let saved = ClientService::of(&p.ctx()).set_scope(&id, body).await?;
        Ok(views::admin_saved(&saved))
    }
    .await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn set_webhook(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        let id = client_id(req)?;
        let body = json_body(req).await?;
        ClientService::of(&p.ctx()).set_webhook(&id, body).await
    }
    .await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn remove_webhook(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let result = async {
        ClientService::of(&p.ctx())
            .remove_webhook(&client_id(req)?)
            .await
    }
    .await;
    no_content(res, result);
}
