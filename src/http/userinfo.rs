//! The UserInfo endpoint: bearer token in the header (GET or POST) or in a form body (RFC 6750 §2).

use super::{params, provider, respond};
use crate::error::OAuthError;
use crate::protocol::userinfo as info;
use salvo::prelude::*;

#[handler]
pub async fn userinfo(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let header = params::authorization_header(req);
    let from_header = header.as_deref().map(|h| {
        h.strip_prefix("Bearer ")
            .or_else(|| h.strip_prefix("bearer "))
            .map(str::trim)
    });
    let from_body = if req.method() == salvo::http::Method::POST && header.is_none() {
        params::form_pairs(req).await.ok().and_then(|f| {
            f.into_iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v)
        })
    } else {
        None
    };
    let token = match (from_header, from_body) {
        (Some(Some(t)), None) if !t.is_empty() => t.to_string(),
        (None, Some(t)) if !t.is_empty() => t,
        (Some(None), _) => {
            return respond::bearer_error(
                res,
                &OAuthError::invalid_request("the Authorization header must use the Bearer scheme"),
            )
        }
        _ => {
            // RFC 6750 §3.1: no credentials at all gets a bare challenge.
            let e = OAuthError::invalid_token("an access token is required");
            return respond::bearer_error(res, &e);
        }
    };
    match info::claims_for(&p, &token).await {
        Ok(claims) => respond::json(res, StatusCode::OK, &claims),
        Err(e) => respond::bearer_error(res, &e),
    }
}
