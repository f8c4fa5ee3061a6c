//! The gateway endpoint, `/gateway/{path}`: the route's token and scope check, then the
//! request forwarded to the route's upstream with the caller's signed identity instead of
//! its credentials, and the upstream's answer relayed. Bodies stream both ways (nothing is
//! held whole); WebSocket routes are tunnelled (`gateway_tunnel`).

use super::{bearer, gateway_tunnel, params, provider, respond, userinfo};
use crate::config::gateway::Route;
use crate::error::{ErrorCode, OAuthError};
use crate::protocol::tokens::gateway::{self as rule, IDENTITY_HEADER};
use crate::Provider;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use salvo::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use salvo::http::ResBody;
use salvo::prelude::*;
use salvo::BoxedError;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

pub(super) const INTERACTION_ID: &str = "x-fapi-interaction-id";

/// The largest request body forwarded (bytes), counted as it streams through.
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;

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
    if gateway_tunnel::wants_websocket(req) {
        return gateway_tunnel::open(&p, &route, &path, identity, req, res).await;
    }
    send(&p, &route, &path, identity, req, res).await
}

/// Forwards `req` (its head, and its body as it arrives) to the route's upstream with the
/// signed `identity`, and relays the answer as it arrives. The caller has checked the token.
pub async fn send(
    p: &Provider,
    route: &Route,
    path: &str,
    identity: String,
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
    let url = rule::upstream_url(route, path, req.uri().query());
    let mut outbound = p
        .gateway_http
        .request(req.method().clone(), &url)
        .headers(forwarded_headers(req.headers()))
        .header(IDENTITY_HEADER, identity);
    // The origin logs the same interaction id the caller gets (FAPI 1 Part 1 §6.2.1-11).
    if let Some(id) = res.headers().get(INTERACTION_ID).cloned() {
        outbound = outbound.header(INTERACTION_ID, id);
    }
    let body = req.take_body();
    let over = Arc::new(AtomicBool::new(false));
    if !body.is_end_stream() {
        // Its length, when the caller declared one, goes on as Content-Length (size hint).
        let capped = Capped::new(body, MAX_REQUEST_BODY, over.clone());
        outbound = outbound.body(reqwest::Body::wrap(capped));
    }
    match outbound.send().await {
        Ok(answer) => relay(res, answer),
        Err(_) if over.load(Ordering::Relaxed) => respond::oauth_error(res, &too_large(), ""),
        Err(e) => bad_gateway(res, &e.to_string()),
    }
}

fn too_large() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequest,
        413,
        format!("the request body is larger than {MAX_REQUEST_BODY} bytes"),
    )
}

/// The caller's headers without its credentials (`Authorization`, `DPoP`), any identity
/// header it made up, hop-by-hop headers, and `x-fapi-interaction-id` (set below from ours).
pub(super) fn forwarded_headers(from: &HeaderMap) -> HeaderMap {
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

/// The upstream's status and headers (less hop-by-hop ones), and its body chunk by chunk as
/// it comes (server-sent events, long downloads), cut off past `MAX_UPSTREAM_BODY`.
pub(super) fn relay(res: &mut Response, answer: reqwest::Response) {
    if answer
        .content_length()
        .is_some_and(|n| n > rule::MAX_UPSTREAM_BODY as u64)
    {
        let why = format!("the body is larger than {} bytes", rule::MAX_UPSTREAM_BODY);
        return bad_gateway(res, &why);
    }
    res.status_code(
        StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
    );
    relay_headers(res, answer.headers());
    let body = http_response_body(answer);
    let capped = Capped::new(body, rule::MAX_UPSTREAM_BODY, Default::default());
    res.body(ResBody::Boxed(Box::pin(capped)));
}

fn http_response_body(answer: reqwest::Response) -> reqwest::Body {
    hyper::Response::<reqwest::Body>::from(answer).into_body()
}

/// The upstream's headers onto ours, less hop-by-hop ones and the interaction id (ours).
pub(super) fn relay_headers(res: &mut Response, headers: &reqwest::header::HeaderMap) {
    for (name, value) in headers {
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
}

/// A body passed on frame by frame as it arrives, failing once more than `max` bytes went
/// through (and saying so in `over`): a stream is capped without being held whole. A failed
/// body ends the forwarded request, or the relayed response without its last chunk, so the
/// receiver cannot take a cut body for a whole one.
struct Capped<B> {
    inner: B,
    seen: usize,
    max: usize,
    over: Arc<AtomicBool>,
}

impl<B> Capped<B> {
    fn new(inner: B, max: usize, over: Arc<AtomicBool>) -> Self {
        Capped {
            inner,
            seen: 0,
            max,
            over,
        }
    }
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxedError>,
{
    type Data = Bytes;
    type Error = BoxedError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxedError>>> {
        let this = &mut *self;
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            this.seen += data.len();
            if this.seen > this.max {
                this.over.store(true, Ordering::Relaxed);
                let why = format!("the body is larger than {} bytes", this.max);
                return Poll::Ready(Some(Err(why.into())));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// RFC 9110 §15.6.3: the upstream could not be reached or gave no usable answer.
pub(super) fn bad_gateway(res: &mut Response, why: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_capped_body_passes_chunks_and_fails_past_its_cap() {
        let chunks =
            |n: usize| ResBody::Chunks((0..n).map(|_| Bytes::from(vec![7u8; 10])).collect());
        let over = Arc::new(AtomicBool::new(false));
        let whole = Capped::new(chunks(3), 30, over.clone()).collect().await;
        assert_eq!(whole.unwrap().to_bytes().len(), 30);
        assert!(!over.load(Ordering::Relaxed));
        let cut = Capped::new(chunks(4), 30, over.clone()).collect().await;
        assert!(cut.is_err(), "31+ bytes fail");
        assert!(over.load(Ordering::Relaxed));
    }
}
