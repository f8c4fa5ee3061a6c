//! Our answers where the framework would otherwise write its own page: no route (404), a
//! route without that method (405, with `Allow`), an oversized URI (414) or body (413), and
//! any other error left without a body. Each is a small JSON error with our security headers.

use super::{middleware, respond};
use crate::error::{ErrorCode, OAuthError};
use salvo::catcher::Catcher;
use salvo::prelude::*;

/// Longest request target we read; longer ones get 414 (RFC 9110 §15.5.15).
const MAX_URI_BYTES: usize = 8 * 1024;

pub fn catcher() -> Catcher {
    Catcher::new(error_body)
}

#[handler]
async fn error_body(req: &mut Request, res: &mut Response) {
    let status = res.status_code.unwrap_or(StatusCode::NOT_FOUND);
    let (code, description) = match status {
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this resource does not accept that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            (ErrorCode::InvalidRequest, "the request body is too large")
        }
        StatusCode::URI_TOO_LONG => (ErrorCode::InvalidRequest, "the request URI is too long"),
        s if s.is_server_error() => (ErrorCode::ServerError, "internal error"),
        _ => (ErrorCode::InvalidRequest, "the request was refused"),
    };
    let e = OAuthError::new(code, status.as_u16(), description);
    respond::json(res, status, &e.body());
    middleware::apply_security_headers(req, res);
}

/// Refuses request targets longer than `MAX_URI_BYTES` before any route sees them.
#[handler]
pub async fn limit_uri(req: &mut Request, res: &mut Response, ctrl: &mut FlowCtrl) {
    let len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if len > MAX_URI_BYTES {
        res.status_code(StatusCode::URI_TOO_LONG);
        ctrl.skip_rest();
    }
}
