//! The UserInfo endpoint: a bearer token in the header (GET or POST) or a form body
//! (RFC 6750 §2), or a DPoP-bound token with its proof (RFC 9449 §7).

use super::{bearer, params, provider, respond};
use crate::protocol::fapi;
use crate::protocol::tokens::userinfo::{self as info, UserInfo};
use salvo::prelude::*;

#[handler]
pub async fn userinfo(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    interaction_id(req, res);
    respond::dpop_nonce(res, &cx);
    let cert = params::client_certificate(&cx, req).map(|c| c.thumbprint());
    let dpop = params::authorization_header(req)
        .is_some_and(|h| h.to_ascii_lowercase().starts_with("dpop "));
    let result = match bearer::presentation(&cx, req, &p.endpoints().userinfo).await {
        Ok(mut presented) => {
            presented.cert_thumbprint = cert;
            info::claims_for(&cx, presented).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(UserInfo::Json(claims)) => respond::json(res, StatusCode::OK, &claims),
        Ok(UserInfo::Jwt(jwt)) => {
            respond::no_store(res);
            res.headers_mut().insert(
                salvo::http::header::CONTENT_TYPE,
                salvo::http::HeaderValue::from_static("application/jwt"),
            );
            let _ = res.write_body(jwt);
        }
        Err(e) => respond::resource_error(res, &e, dpop),
    }
}

/// FAPI 1 Part 1 §6.2.1-11: every answer carries `x-fapi-interaction-id` (the protocol chooses
/// its value).
pub(super) fn interaction_id(req: &Request, res: &mut Response) {
    const NAME: &str = "x-fapi-interaction-id";
    let sent = req.headers().get(NAME).and_then(|v| v.to_str().ok());
    let id = fapi::interaction_id(sent);
    if let Ok(v) = salvo::http::HeaderValue::from_str(&id) {
        res.headers_mut().insert(NAME, v);
    }
}
