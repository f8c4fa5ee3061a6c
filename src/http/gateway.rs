//! The gateway endpoint, `/gateway/{path}`: the route's token and scope check, then the
//! request forwarded to the route's upstream with the caller's signed identity instead of
//! its credentials, and the upstream's answer relayed.

use super::{bearer, params, provider, respond, userinfo};
use crate::config::gateway::Route;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::budget;
use crate::protocol::tokens::gateway::{self as rule, IDENTITY_HEADER};
use crate::protocol::Ctx;
use salvo::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use salvo::prelude::*;

const INTERACTION_ID: &str = "x-fapi-interaction-id";

/// The largest request body forwarded (bytes).
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// Hop-by-hop headers (RFC 9110 §7.6.1) and what the gateway sets itself: never relayed.
const NOT_RELAYED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

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
    let Some(route) = p.config.gateway.find(&method, &path).cloned() else {
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
            rule::admit(&cx, &route, &presented).await
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
    let identity = match rule::identity(&cx, &route, &token) {
        Ok(jwt) => jwt,
        Err(e) => return respond::resource_error(res, &e, dpop),
    };
    // The grant's budget is spent before the upstream is called, and not refunded whatever
    // the upstream answers (README: Budgets).
    if let Err(e) = spend_budget(req, &cx, &route, token.row.grant_id.as_deref()).await {
        return match e.code {
            ErrorCode::InsufficientBudget => respond::resource_error(res, &e, dpop),
            _ => respond::oauth_error(res, &e, ""),
        };
    }
    let body = match params::payload(req, MAX_REQUEST_BODY).await {
        Ok(b) => b,
        // 413 when too large, 400 when unreadable: the error's own status.
        Err(e) => return respond::oauth_error(res, &e, ""),
    };
    let url = rule::upstream_url(&route, &path, req.uri().query());
    let mut outbound = p
        .gateway_http
        .request(req.method().clone(), &url)
        .headers(forwarded_headers(req.headers()))
        .header(IDENTITY_HEADER, identity);
    // The origin logs the same interaction id the caller gets (FAPI 1 Part 1 §6.2.1-11).
    if let Some(id) = res.headers().get(INTERACTION_ID).cloned() {
        outbound = outbound.header(INTERACTION_ID, id);
    }
    if !body.is_empty() {
        outbound = outbound.body(body);
    }
    match outbound.send().await {
        Ok(answer) => relay(res, answer).await,
        Err(e) => bad_gateway(res, &e.to_string()),
    }
}

/// The route's cost (a `cost_from` route's body is read for its amount, capped), spent from
/// the grant's budget: 400 for a body without the amount, 403 `insufficient_budget`.
async fn spend_budget(
    req: &mut Request,
    cx: &Ctx<'_>,
    route: &Route,
    grant_id: Option<&str>,
) -> OAuthResult<()> {
    let body = match route.cost_from {
        Some(_) => params::payload(req, MAX_REQUEST_BODY).await?,
        None => Default::default(),
    };
    let cost = budget::cost_of(route, &body)?;
    budget::spend(cx, grant_id, cost).await
}

/// The caller's headers without its credentials (`Authorization`, `DPoP`), any identity
/// header it made up, hop-by-hop headers, and `x-fapi-interaction-id` (set below from ours).
fn forwarded_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in from {
        let n = name.as_str();
        let credential = ["authorization", "dpop", IDENTITY_HEADER, INTERACTION_ID].contains(&n);
        if credential || NOT_RELAYED.contains(&n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// The upstream's status, headers (less hop-by-hop ones) and body.
async fn relay(res: &mut Response, answer: reqwest::Response) {
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = match crate::outbound::read_capped(answer, rule::MAX_UPSTREAM_BODY).await {
        Ok(b) => b,
        Err(why) => return bad_gateway(res, &why),
    };
    res.status_code(StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY));
    for (name, value) in &headers {
        if NOT_RELAYED.contains(&name.as_str()) || name.as_str() == INTERACTION_ID {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_str().as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            res.headers_mut().append(n, v);
        }
    }
    let _ = res.write_body(body);
}

/// RFC 9110 §15.6.3: the upstream could not be reached or gave no usable answer.
fn bad_gateway(res: &mut Response, why: &str) {
    tracing::warn!(error = why, "gateway upstream unreachable");
    respond::json(
        res,
        StatusCode::BAD_GATEWAY,
        &serde_json::json!({
            "error": "bad_gateway",
            "error_description": "the upstream server could not be reached",
        }),
    );
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
