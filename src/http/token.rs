//! The token, introspection and revocation endpoints: all client-authenticated form posts.

use super::{params, provider, respond};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::protocol::{
    client_auth, fapi::dpop, fapi::par, tokens::grants, tokens::introspection as intro,
    tokens::revocation as revoke,
};
use crate::types::Client;
use salvo::prelude::*;
use std::collections::HashMap;

/// Reads the form and authenticates the client. On failure, the error's 401 challenge names
/// the scheme the client tried.
pub(super) async fn authenticated(
    cx: &Ctx<'_>,
    req: &mut Request,
    endpoint: &str,
) -> Result<(Client, HashMap<String, String>), (OAuthError, &'static str)> {
    let header = params::authorization_header(req);
    let scheme = if header.is_some() { "Basic" } else { "" };
    let form = params::form_pairs(req)
        .await
        .and_then(params::unique)
        .map_err(|e| (e, scheme))?;
    let presented = client_auth::presented(header.as_deref(), &form).map_err(|e| (e, scheme))?;
    let cert = params::client_certificate(cx, req);
    let client = client_auth::authenticate(cx, presented, endpoint, cert.as_ref())
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
    // One instant for every rule of this request.
    let cx = p.ctx();
    respond::dpop_nonce(res, &cx);
    let (client, form) = match authenticated(&cx, req, &p.endpoints().token).await {
        Ok(v) => v,
        Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
    };
    let result = match dpop_key(&cx, req, &p.endpoints().token).await {
        Ok(jkt) => {
            let cert = params::client_certificate(&cx, req);
            grants::token(&cx, &client, &form, jkt, cert.as_ref()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => respond::json(res, StatusCode::OK, &body),
        Err(e) => respond::oauth_error(res, &e, "Basic"),
    }
}

/// The key thumbprint of the request's DPoP proof (RFC 9449 §4.3), if it sent one.
async fn dpop_key(cx: &Ctx<'_>, req: &Request, url: &str) -> OAuthResult<Option<String>> {
    match params::dpop_proof(req)? {
        Some(proof) => dpop::check(cx, &proof, "POST", url, None, 400)
            .await
            .map(Some),
        None => Ok(None),
    }
}

#[handler]
pub async fn introspection(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let (client, form) = match authenticated(&cx, req, &p.endpoints().introspection).await {
        Ok(v) => v,
        Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
    };
    let result = match token_param(&form) {
        Ok(t) => intro::introspect(&cx, &client, t).await,
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
    let cx = p.ctx();
    let (client, form) = match authenticated(&cx, req, &p.endpoints().revocation).await {
        Ok(v) => v,
        Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
    };
    let result = match token_param(&form) {
        Ok(t) => revoke::revoke(&cx, &client, t).await,
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

/// RFC 9126 §2: the pushed authorization request endpoint.
#[handler]
pub async fn pushed_authorization_request(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) {
    let p = provider(depot);
    let cx = p.ctx();
    respond::dpop_nonce(res, &cx);
    let header = params::authorization_header(req);
    let scheme = if header.is_some() { "Basic" } else { "" };
    let raw = match params::form_pairs(req).await {
        Ok(r) => r,
        Err(e) => return respond::oauth_error(res, &e, scheme),
    };
    // Client authentication reads the credential members; the rest are the request.
    let creds: HashMap<String, String> = raw
        .iter()
        .filter(|(k, _)| {
            [
                "client_id",
                "client_secret",
                "client_assertion",
                "client_assertion_type",
            ]
            .contains(&k.as_str())
        })
        .cloned()
        .collect();
    let presented = match client_auth::presented(header.as_deref(), &creds) {
        Ok(p) => p,
        Err(e) => return respond::oauth_error(res, &e, scheme),
    };
    let cert = params::client_certificate(&cx, req);
    let client =
        match client_auth::authenticate(&cx, presented, &p.endpoints().par, cert.as_ref()).await {
            Ok(c) => c,
            Err(e) => return respond::oauth_error(res, &e, scheme),
        };
    let request: Vec<(String, String)> = raw
        .into_iter()
        .filter(|(k, _)| {
            !["client_secret", "client_assertion", "client_assertion_type"].contains(&k.as_str())
        })
        .collect();
    let result = match dpop_key(&cx, req, &p.endpoints().par).await {
        Ok(jkt) => par::push(&cx, &client, &request, jkt).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(body) => respond::json(res, StatusCode::CREATED, &body),
        Err(e) => respond::oauth_error(res, &e, "Basic"),
    }
}

/// RFC 8628 §3.1: the device authorization endpoint, client-authenticated as the token
/// endpoint is (a public client sends only its client_id).
#[handler]
pub async fn device_authorization(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let url = p.endpoints().device_authorization.clone();
    let (client, form) = match authenticated(&cx, req, &url).await {
        Ok(v) => v,
        Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
    };
    let request: Vec<(String, String)> = form
        .into_iter()
        .filter(|(k, _)| {
            !["client_secret", "client_assertion", "client_assertion_type"].contains(&k.as_str())
        })
        .collect();
    match crate::protocol::device::authorization::authorize(&cx, &client, &request).await {
        Ok(body) => respond::json(res, StatusCode::OK, &body),
        Err(e) => respond::oauth_error(res, &e, "Basic"),
    }
}
