//! The partner API routes (contract: User Management), each behind a client-credentials token
//! with the right `user:*` scope.

use super::{bearer, params, provider, respond};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::partner_api::partner::{self, Caller};
use crate::provider::Provider;
use salvo::prelude::*;

const MAX_BODY: usize = 16 * 1024;
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// Authenticates the caller's token for `scope`; on failure writes the RFC 6750 answer.
async fn caller(
    p: &Provider,
    req: &mut Request,
    res: &mut Response,
    scope: &str,
) -> Option<Caller> {
    let origin = p.issuer.strip_suffix(&p.base_path).unwrap_or(&p.issuer);
    let htu = format!("{origin}{}", req.uri().path());
    let dpop = params::authorization_header(req)
        .is_some_and(|h| h.to_ascii_lowercase().starts_with("dpop "));
    let cx = p.ctx();
    let result = match bearer::presentation(&cx, req, &htu).await {
        Ok(mut presented) => {
            presented.cert_thumbprint = params::client_certificate(p, req).map(|c| c.thumbprint());
            partner::caller(&cx, &presented, scope).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(c) => Some(c),
        Err(e) => {
            respond::resource_error(res, &e, dpop);
            None
        }
    }
}

/// Errors after authentication: plain JSON bodies (404, 400) with their status.
fn answer<T: serde::Serialize>(res: &mut Response, status: StatusCode, result: OAuthResult<T>) {
    respond::no_store(res);
    match result {
        Ok(body) => respond::json(res, status, &body),
        Err(e) => {
            let code = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            respond::json(res, code, &e.body())
        }
    }
}

fn no_content(res: &mut Response, result: OAuthResult<()>) {
    match result {
        Ok(()) => {
            respond::no_store(res);
            res.status_code(StatusCode::NO_CONTENT);
        }
        Err(e) => answer::<()>(res, StatusCode::OK, Err(e)),
    }
}

/// The optional JSON body of `POST /users`: `{"clientUserId": "...", "claims": {...}}`.
async fn new_user(req: &mut Request) -> OAuthResult<partner::NewUser> {
    let body = params::payload(req, MAX_BODY).await?;
    let body = &body[..];
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Default::default());
    }
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| OAuthError::invalid_request("the body must be a JSON object"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| OAuthError::invalid_request("the body must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| *k != "clientUserId" && *k != "claims") {
        return Err(OAuthError::invalid_request(format!(
            "unknown member {k}: the body takes only clientUserId and claims"
        )));
    }
    let client_user_id = match obj.get("clientUserId") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(OAuthError::invalid_request("clientUserId must be a string")),
    };
    Ok(partner::NewUser {
        client_user_id,
        claims: obj.get("claims").cloned(),
    })
}

#[handler]
pub async fn create_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:create").await else {
        return;
    };
    let result = match new_user(req).await {
        Ok(new) => partner::create_user(&p.ctx(), &c, new).await,
        Err(e) => Err(e),
    };
    answer(res, StatusCode::CREATED, result);
}

fn page_param(req: &Request, name: &str, default: i64, max: i64) -> OAuthResult<i64> {
    match req.query::<String>(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (0..=max).contains(n))
            .ok_or_else(|| OAuthError::invalid_request(format!("{name} must be 0 to {max}"))),
    }
}

#[handler]
pub async fn list_users(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:read").await else {
        return;
    };
    let page = page_param(req, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        .and_then(|l| Ok((l, page_param(req, "offset", 0, i64::MAX)?)));
    let result = match page {
        Ok((limit, offset)) => partner::list_users(&p.ctx(), &c, limit, offset).await,
        Err(e) => Err(e),
    };
    if let Ok((_, total)) = &result {
        if let Ok(v) = salvo::http::HeaderValue::from_str(&total.to_string()) {
            res.headers_mut().insert("x-total-count", v);
        }
    }
    answer(res, StatusCode::OK, result.map(|(list, _)| list));
}

fn path(req: &Request, name: &str) -> String {
    req.param::<String>(name).unwrap_or_default()
}

#[handler]
pub async fn get_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:read").await else {
        return;
    };
    let result = partner::get_user(&p.ctx(), &c, &path(req, "user_id")).await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn user_connections(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:read").await else {
        return;
    };
    let result = partner::user_connections(&p.ctx(), &c, &path(req, "user_id")).await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn delete_connection(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:delete").await else {
        return;
    };
    let (user, connection) = (path(req, "user_id"), path(req, "connection_id"));
    no_content(
        res,
        partner::delete_connection(&p.ctx(), &c, &user, &connection).await,
    );
}

/// `GET /users/{id}/connections/{connection-id}/token`: the institution's access token
/// (`Cache-Control: no-store`, like every answer here).
#[handler]
pub async fn connection_token(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "connections:token").await else {
        return;
    };
    let (user, connection) = (path(req, "user_id"), path(req, "connection_id"));
    let result = partner::connection_token(&p.ctx(), &c, &user, &connection).await;
    answer(res, StatusCode::OK, result);
}

#[handler]
pub async fn delete_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:delete").await else {
        return;
    };
    no_content(
        res,
        partner::delete_user(&p.ctx(), &c, &path(req, "user_id")).await,
    );
}

#[handler]
pub async fn user_grants(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:read").await else {
        return;
    };
    let result = partner::user_grants(&p.ctx(), &c, &path(req, "user_id")).await;
    answer(res, StatusCode::OK, result);
}

/// Setting a budget provisions the user's access: the `user:create` scope.
#[handler]
pub async fn set_budget(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:create").await else {
        return;
    };
    let (user, grant) = (path(req, "user_id"), path(req, "grant_id"));
    let result = match json_body(req).await {
        Ok(body) => partner::set_budget(&p.ctx(), &c, &user, &grant, &body).await,
        Err(e) => Err(e),
    };
    answer(res, StatusCode::OK, result);
}

/// Removing a budget changes the user's access as setting one does: `user:create`.
#[handler]
pub async fn remove_budget(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(c) = caller(&p, req, res, "user:create").await else {
        return;
    };
    let (user, grant) = (path(req, "user_id"), path(req, "grant_id"));
    no_content(
        res,
        partner::remove_budget(&p.ctx(), &c, &user, &grant).await,
    );
}

async fn json_body(req: &mut Request) -> OAuthResult<serde_json::Value> {
    let body = params::payload(req, MAX_BODY).await?;
    serde_json::from_slice(&body)
        .map_err(|_| OAuthError::invalid_request("the body must be a JSON object"))
}
