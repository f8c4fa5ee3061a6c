//! Dynamic client registration (RFC 7591) and management (RFC 7592): authentication by the
//! initial or registration access token, and the answers; the work is the client service's.

use super::{params, provider, respond};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::clients::{views, ClientService, Registrar};
use crate::provider::Provider;
use crate::secrets;
use crate::types::Client;
use salvo::prelude::*;

use params::bearer_token as bearer;

async fn json_body(req: &mut Request) -> OAuthResult<serde_json::Value> {
    params::json_body(req, OAuthError::invalid_client_metadata).await
}

#[handler]
pub async fn register(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    // RFC 7591 §3: registration is protected by the configured initial access token.
    let allowed = match (&p.config.registration_token, bearer(req)) {
        (Some(expected), Some(given)) => secrets::ct_eq(expected, &given),
        _ => false,
    };
    if !allowed {
        let e = OAuthError::invalid_token(
            "a valid initial access token is required (RFC 7591 section 3)",
        );
        return respond::bearer_error(res, &e);
    }
    let result = async {
        let raw = json_body(req).await?;
        ClientService::of(&p.ctx())
            .register(raw, Registrar::Dynamic)
            .await
    }
    .await;
    match result {
        Ok(n) => {
            let body = views::registration_response(
                &n.client,
                n.secret.as_deref(),
                n.registration_token.as_deref(),
                &p.endpoints().registration,
            );
            respond::json(res, StatusCode::CREATED, &body)
        }
        Err(e) => respond::oauth_error(res, &e, "Bearer"),
    }
}

/// The client named in the path, if the registration access token is its own (RFC 7592 §3).
async fn managed(p: &Provider, req: &Request) -> OAuthResult<Client> {
    let id = req.param::<String>("client_id").unwrap_or_default();
    let token = bearer(req)
        .ok_or_else(|| OAuthError::invalid_token("the registration access token is required"))?;
    ClientService::of(&p.ctx())
        .by_registration_token(&id, &token)
        .await
}

#[handler]
pub async fn read(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    match managed(&p, req).await {
        Ok(c) => respond::json(
            res,
            StatusCode::OK,
            &views::registration_response(&c, None, None, &p.endpoints().registration),
        ),
        Err(e) => respond::bearer_error(res, &e),
    }
}

#[handler]
pub async fn update(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let client = match managed(&p, req).await {
        Ok(c) => c,
        Err(e) => return respond::bearer_error(res, &e),
    };
    let result = async {
        let raw = json_body(req).await?;
        ClientService::of(&p.ctx())
            .replace(&client.id, raw, Registrar::Dynamic)
            .await
    }
    .await;
    match result {
        Ok(s) => respond::json(
            res,
            StatusCode::OK,
            &views::registration_response(
                &s.client,
                s.secret.as_deref(),
                None,
                &p.endpoints().registration,
            ),
        ),
        Err(e) => respond::oauth_error(res, &e, "Bearer"),
    }
}

#[handler]
pub async fn delete(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let client = match managed(&p, req).await {
        Ok(c) => c,
        Err(e) => return respond::bearer_error(res, &e),
    };
    match ClientService::of(&p.ctx()).delete(&client.id).await {
        Ok(()) => {
            respond::no_store(res);
            res.status_code(StatusCode::NO_CONTENT);
        }
        Err(e) => respond::oauth_error(res, &e, "Bearer"),
    }
}
