//! The gateway endpoint, `/gateway/{path}`: the route's token and scope check, then the
//! request forwarded to the route's upstream with the caller's signed identity instead of
//! its credentials, and the upstream's answer relayed (`gateway_relay`: bodies stream both
//! ways, nothing is held whole). WebSocket routes are tunnelled (`gateway_tunnel`).

use super::gateway_relay::{bad_gateway, forwarded_headers, relay, Capped, INTERACTION_ID};
use super::{bearer, gateway_tunnel, params, provider, respond, userinfo};
use crate::config::gateway::Route;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::origin_pool::OutBody;
use crate::protocol::budget;
use crate::protocol::tokens::gateway::{self as rule, IDENTITY_HEADER};
use crate::protocol::Ctx;
use crate::Provider;
use http_body_util::{BodyExt, Empty};
use hyper::body::Body;
use hyper::Uri;
use salvo::http::header::{self, HeaderName, HeaderValue};
use salvo::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The largest request body forwarded (bytes), counted as it streams through.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

const IDENTITY: HeaderName = HeaderName::from_static(IDENTITY_HEADER);

#[handler]
pub async fn forward(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    userinfo::interaction_id(req, res);
    respond::dpop_nonce(res, &cx);
    let prefix = format!("{}/gateway", p.base_path);
    let path = req
        .uri()
        .path()
        .strip_prefix(&prefix)
        .unwrap_or_default()
        .to_string();
    let method = req.method().as_str().to_string();
    let Some(route) = p.config.gateway.find(&method, &path) else {
        let e = OAuthError::not_found("no gateway route for this method and path");
        return respond::oauth_error(res, &e, "");
    };
    let dpop = params::authorization_header(req)
        .is_some_and(|h| h.to_ascii_lowercase().starts_with("dpop "));
    // RFC 9449 §4.3: htu is the URL the caller sent to, without its query.
    let htu = format!("{}/gateway{path}", p.issuer);
    let cert = params::client_certificate(&cx, req).map(|c| c.thumbprint());
    // The Authorization header only (RFC 6750 §2.1): a token in a form body would be
    // forwarded to the origin with the body.
    let presented = match params::authorization_header(req) {
        Some(_) => bearer::presentation(&cx, req, &htu).await,
        None => Err(OAuthError::no_token()),
    };
    let token = match presented {
        Ok(mut presented) => {
            presented.cert_thumbprint = cert;
            rule::admit(&cx, route, &presented).await
        }
        Err(e) => Err(e),
    };
    let token = match token {
        Ok(t) => t,
        Err(e) => {
            respond::resource_error(res, &e, dpop);
            // RFC 6750 §3: an insufficient_scope challenge names the scope the route needs.
            if e.code == ErrorCode::InsufficientScope {
                add_scope_to_challenge(res, &route.scopes.join(" "));
            }
            return;
        }
    };
    let identity = match rule::identity(&cx, route, &token) {
        Ok(jwt) => jwt,
        Err(e) => return respond::resource_error(res, &e, dpop),
    };
    // The grant's budget is spent before the upstream is called, and not refunded whatever
    // the upstream answers (README: Budgets).
    if let Err(e) = spend_budget(req, &cx, route, token.row.grant_id.as_deref()).await {
        return match e.code {
            ErrorCode::InsufficientBudget => respond::resource_error(res, &e, dpop),
            _ => respond::oauth_error(res, &e, ""),
        };
    }
    if gateway_tunnel::wants_websocket(req) {
        // Boxed: a tunnel's future is large, and unboxed every request's would be as large.
        let open = gateway_tunnel::open(&p, route, &path, identity, &token, req, res);
        return Box::pin(open).await;
    }
    send(&p, route, &path, identity, req, res).await
}

/// Forwards `req` (its head, and its body as it arrives) to the route's upstream with the
/// signed `identity`, and relays the answer as it arrives. The caller has checked the token.
pub async fn send(
    p: &Provider,
    route: &Route,
    path: &str,
    identity: HeaderValue,
    req: &mut Request,
    res: &mut Response,
) {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return respond::oauth_error(res, &too_large(), "");
    }
    // Origin-form (RFC 9112 §3.2.1): the origin itself was parsed once, with the pool.
    let Ok(target) = Uri::try_from(rule::upstream_target(path, req.uri().query())) else {
        let e = OAuthError::invalid_request("the request target is not a valid URI");
        return respond::oauth_error(res, &e, "");
    };
    let body = req.take_body();
    let over = Arc::new(AtomicBool::new(false));
    let body = if body.is_end_stream() {
        OutBody::new(Empty::new().map_err(|never| match never {}))
    } else {
        // Its length, when the caller declared one, goes on as Content-Length (size hint).
        OutBody::new(Capped::new(body, MAX_REQUEST_BODY, over.clone()))
    };
    let mut outbound = hyper::Request::new(body);
    *outbound.method_mut() = req.method().clone();
    *outbound.uri_mut() = target;
    let headers = outbound.headers_mut();
    *headers = forwarded_headers(req.headers());
    headers.insert(IDENTITY, identity);
    // The origin logs the same interaction id the caller gets (FAPI 1 Part 1 §6.2.1-11).
    if let Some(id) = res.headers().get(INTERACTION_ID).cloned() {
        headers.insert(INTERACTION_ID, id);
    }
    match p
        .gateway_origins
        .get()
        .send(&route.upstream, outbound)
        .await
    {
        Ok(answer) => relay(res, answer),
        Err(_) if over.load(Ordering::Relaxed) => respond::oauth_error(res, &too_large(), ""),
        Err(e) => bad_gateway(res, &e),
    }
}

/// The route's cost (a `cost_from` route's body is read for its amount, capped, and put back
/// to be forwarded), spent from the grant's budget: 400 for a body without the amount, 403
/// `insufficient_budget`.
async fn spend_budget(
    req: &mut Request,
    cx: &Ctx<'_>,
    route: &Route,
    grant_id: Option<&str>,
) -> OAuthResult<()> {
    let body = match route.cost_from {
        Some(_) => {
            let body = params::payload(req, MAX_REQUEST_BODY).await?;
            *req.body_mut() = body.clone().into();
            body
        }
        None => Default::default(),
    };
    let cost = budget::cost_of(route, &body)?;
    budget::spend(cx, grant_id, cost).await
}

fn too_large() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequest,
        413,
        format!("the request body is larger than {MAX_REQUEST_BODY} bytes"),
    )
}

fn add_scope_to_challenge(res: &mut Response, scope: &str) {
    let Some(v) = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map(|v| format!("{v}, scope=\"{scope}\""))
    else {
        return;
    };
    if let Ok(v) = HeaderValue::from_str(&v) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
}
