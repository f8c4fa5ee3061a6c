//! Reading request parameters: the query string and url-encoded bodies, in order.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use salvo::Request;

/// Largest form body we read (request objects in later phases stay far below this).
const MAX_FORM_BYTES: usize = 64 * 1024;

pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The body of an `application/x-www-form-urlencoded` POST (RFC 6749 §3.2).
pub async fn form_pairs(req: &mut Request) -> OAuthResult<Vec<(String, String)>> {
    let is_form = req
        .headers()
        .get(salvo::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !is_form {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let body = payload(req, MAX_FORM_BYTES).await?;
    Ok(form_urlencoded::parse(&body).into_owned().collect())
}

pub use crate::protocol::params::unique;

pub fn authorization_header(req: &Request) -> Option<String> {
    req.headers()
        .get(salvo::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

/// The token of an `Authorization: Bearer …` header (the scheme is case-insensitive, RFC 7235
/// §2.1), for the operator tokens of registration and administration.
pub fn bearer_token(req: &Request) -> Option<String> {
    let h = authorization_header(req)?;
    let (scheme, token) = h.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
}

/// A JSON request body of at most 64 KiB; `error` builds the refusal for anything else.
pub async fn json_body(
    req: &mut Request,
    error: fn(&'static str) -> OAuthError,
) -> OAuthResult<serde_json::Value> {
    let body = payload(req, 64 * 1024).await.map_err(|e| match e.status {
        413 => e,
        _ => error("the request body is unreadable"),
    })?;
    serde_json::from_slice(&body).map_err(|_| error("the body must be JSON"))
}

/// How much of an oversized body is read (and dropped) before the 413 answer, so a client
/// still sending gets the answer instead of a reset connection.
const DRAIN_BYTES: usize = 8 * 1024 * 1024;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// The request body, at most `max` bytes; a larger one is refused with 413 (RFC 9110 §15.5.14).
pub async fn payload(req: &mut Request, max: usize) -> OAuthResult<hyper::body::Bytes> {
    let too_large = || {
        OAuthError::new(
            ErrorCode::InvalidRequest,
            413,
            format!("the request body is larger than {max} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(salvo::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        drain(req).await;
        return Err(too_large());
    }
    match req.payload_with_max_size(max).await {
        Ok(body) => Ok(body.clone()),
        Err(salvo::http::ParseError::PayloadTooLarge) => Err(too_large()),
        Err(_) => Err(OAuthError::invalid_request(
            "the request body is unreadable",
        )),
    }
}

/// Reads and drops what is left of the body, up to `DRAIN_BYTES` and `DRAIN_TIME`.
pub(super) async fn drain(req: &mut Request) {
    use hyper::body::Body;
    let mut body = std::pin::pin!(req.take_body());
    let mut seen = 0usize;
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        while seen <= DRAIN_BYTES {
            match std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
                Some(Ok(frame)) => seen += frame.data_ref().map_or(0, |d| d.len()),
                _ => break,
            }
        }
    })
    .await;
}

/// The client's IP address, for per-IP login limits.
pub fn client_ip(req: &Request) -> String {
    req.remote_addr()
        .ip()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The `DPoP` header's proof; more than one is an error (RFC 9449 §4.3).
pub fn dpop_proof(req: &Request) -> OAuthResult<Option<String>> {
    let mut values = req.headers().get_all("dpop").iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            400,
            "more than one DPoP header",
        ));
    }
    first
        .map(|v| {
            v.to_str().map(String::from).map_err(|_| {
                OAuthError::new(
                    ErrorCode::InvalidDpopProof,
                    400,
                    "the DPoP header is not text",
                )
            })
        })
        .transpose()
}

/// The client's TLS certificate: from the handshake, or — only when the connection comes from
/// a configured trusted proxy — from the RFC 9440 `Client-Cert` header.
pub fn client_certificate(
    p: &crate::protocol::Services,
    req: &Request,
) -> Option<crate::tls::PeerCertificate> {
    let from_proxy = req
        .remote_addr()
        .ip()
        .is_some_and(|ip| p.config.trusted_proxies.contains(&ip));
    if from_proxy {
        return req
            .headers()
            .get("client-cert")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::tls::from_client_cert_header);
    }
    req.extensions()
        .get::<crate::tls::PeerCertificate>()
        .cloned()
}

/// For the REST routes: a query parameter given twice is refused with 400 `invalid_request`
/// before any handler reads one of its values (RFC 6749 §3.1's rule, applied alike).
#[salvo::handler]
pub async fn refuse_repeated_query(
    req: &mut Request,
    res: &mut salvo::Response,
    ctrl: &mut salvo::FlowCtrl,
) {
    if let Err(e) = unique(query_pairs(req)) {
        super::respond::oauth_error(res, &e, "");
        ctrl.skip_rest();
    }
}
