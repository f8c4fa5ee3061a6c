//! The token, introspection and revocation endpoints: all client-authenticated form posts.

use super::{params, provider, respond};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::{client_auth, grants, introspection as intro, revocation as revoke};
use crate::provider::Provider;
use crate::types::Client;
use salvo::prelude::*;
use std::collections::HashMap;

/// Reads the form and authenticates the client. On failure, the error's 401 challenge names
/// the scheme the client tried.
async fn authenticated(
    p: &Provider,
    req: &mut Request,
) -> Result<(Client, HashMap<String, String>), (OAuthError, &'static str)> {
    let header = params::authorization_header(req);
    let scheme = if header.is_some() { "Basic" } else { "Form" };
    let form = params::form_pairs(req)
        .await
        .and_then(params::unique)
        .map_err(|e| (e, scheme))?;
    let presented = client_auth::presented(header.as_deref(), &form).map_err(|e| (e, scheme))?;
    let client = client_auth::authenticate(p, presented)
        .await
        .map_err(|e| (e, scheme))?;
    Ok((client, form))
}

fn token_param(form: &HashMap<String, String>) -> OAuthResult<&str> {
    form.get("token")
        .map(String::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))
}

#[handler]
pub async fn token(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let (client, form) = match authenticated(&p, req).await {
        Ok(v) => v,
        Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
    };
    match grants::token(&p, &client, &form).await {
        Ok(body) => respond::json(res, StatusCode::OK, &body),
        Err(e) => respond::oauth_error(res, &e, "Basic"),
    }
}

#[handler]
pub async fn introspection(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let (client, form) = match authenticated(&p, req).await {
        Ok(v) => v,
        Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
    };
    let result = match token_param(&form) {
        Ok(t) => intro::introspect(&p, &client, t).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => respond::json(res, StatusCode::OK, &body),
        Err(e) => respond::oauth_error(res, &e, "Basic"),
    }
}

#[handler]
pub async fn revocation(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let (client, form) = match authenticated(&p, req).await {
        Ok(v) => v,
        Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
    };
    let result = match token_param(&form) {
        Ok(t) => revoke::revoke(&p, &client, t).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            respond::no_store(res);
            res.status_code(StatusCode::OK);
        }
        Err(e) => respond::oauth_error(res, &e, "Basic"),
    }
}
