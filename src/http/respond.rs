//! One way to write each kind of response: JSON, OAuth errors, HTML pages and redirects.

use crate::error::{ErrorCode, OAuthError};
use salvo::http::header::{self, HeaderValue};
use salvo::http::StatusCode;
use salvo::Response;

/// Marks a response as never to be cached (RFC 6749 §5.1, and every page with secrets).
pub fn no_store(res: &mut Response) {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

pub fn json_bytes(res: &mut Response, status: StatusCode, body: String) {
    res.status_code(status);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let _ = res.write_body(body);
}

pub fn json(res: &mut Response, status: StatusCode, body: &impl serde::Serialize) {
    no_store(res);
    json_bytes(
        res,
        status,
        serde_json::to_string(body).unwrap_or_else(|_| "{}".into()),
    );
}

fn status_of(e: &OAuthError) -> StatusCode {
    StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST)
}

fn log(e: &OAuthError) {
    if e.status >= 500 {
        tracing::error!(error = %e, "request failed");
    } else {
        tracing::debug!(error = %e, "request refused");
    }
}

/// An RFC 6749 §5.2 error body; a 401 carries `WWW-Authenticate` with the scheme the client
/// used in its Authorization header (none for credentials in the body, which have no scheme).
pub fn oauth_error(res: &mut Response, e: &OAuthError, auth_scheme: &str) {
    log(e);
    if e.status == 401 && !auth_scheme.is_empty() {
        let v = format!("{auth_scheme} realm=\"consentry\"");
        if let Ok(v) = HeaderValue::from_str(&v) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    json(res, status_of(e), &e.body());
}

/// An RFC 6750 §3 error for protected resources: the error goes in `WWW-Authenticate`,
/// under the DPoP scheme (RFC 9449 §7.1) when the request or the problem is DPoP's.
pub fn resource_error(res: &mut Response, e: &OAuthError, dpop: bool) {
    log(e);
    let scheme =
        if dpop || e.code == ErrorCode::InvalidDpopProof || e.code == ErrorCode::UseDpopNonce {
            "DPoP algs=\"ES256 PS256 RS256\","
        } else {
            "Bearer"
        };
    let v = if e.no_credentials {
        format!("{} realm=\"consentry\"", scheme.trim_end_matches(','))
    } else {
        format!(
            "{scheme} realm=\"consentry\", error=\"{}\", error_description=\"{}\"",
            e.code,
            e.description()
        )
    };
    if let Ok(v) = HeaderValue::from_str(&v) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    json(res, status_of(e), &e.body());
}

/// A protected-resource error for bearer-token requests.
pub fn bearer_error(res: &mut Response, e: &OAuthError) {
    resource_error(res, e, false);
}

pub fn html(res: &mut Response, status: StatusCode, page: String) {
    no_store(res);
    res.status_code(status);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let _ = res.write_body(page);
}

/// An error page for requests that must never be redirected back to the client.
pub fn error_page(res: &mut Response, e: &OAuthError) {
    error_in_page(res, e, |why| {
        crate::views::error(&format!("Request refused: {}", e.code), why)
    });
}

/// An error shown within `page` (a form shown again, saying why), with an error page's status.
pub fn error_in_page(res: &mut Response, e: &OAuthError, page: impl FnOnce(&str) -> String) {
    log(e);
    // A server-side failure keeps its status (503: try again later; 502: the upstream failed),
    // so monitors and retrying clients can tell them apart. Client errors are 400 on a page:
    // a 401 would need a `WWW-Authenticate` challenge a browser cannot answer here.
    let status = match e.status {
        500..=599 => StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        413 => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    html(res, status, page(e.description()));
}

/// A 303 See Other, so browsers follow with GET after a form post.
pub fn redirect(res: &mut Response, location: &str) {
    no_store(res);
    res.status_code(StatusCode::SEE_OTHER);
    match HeaderValue::from_str(location) {
        Ok(v) => {
            res.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => error_page(res, &OAuthError::server("unencodable redirect location")),
    }
}

/// Sends the authorization response: a 303 redirect, or the form-post page (its one inline
/// script is allowed by hash in this page's CSP).
pub fn deliver(res: &mut Response, d: crate::protocol::oidc::response::Delivery) {
    use crate::protocol::oidc::response::Delivery;
    match d {
        Delivery::Redirect(url) => redirect(res, &url),
        Delivery::FormPost { action, fields } => {
            if let Ok(v) = HeaderValue::from_str(&crate::views::form_post_csp()) {
                res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            html(
                res,
                StatusCode::OK,
                crate::views::form_post(&action, &fields),
            );
        }
        Delivery::DeviceDone(None) => html(res, StatusCode::OK, crate::views::device_done(None)),
        Delivery::DeviceDone(Some(e)) => {
            log(&e);
            let status = if e.status >= 500 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::OK
            };
            html(
                res,
                status,
                crate::views::device_done(Some(e.description())),
            );
        }
        Delivery::ScriptFailed { report, then } => {
            let next = match *then {
                Delivery::Redirect(url) => crate::views::Continue::Link(url),
                Delivery::FormPost { action, fields } => {
                    crate::views::Continue::Form { action, fields }
                }
                Delivery::DeviceDone(_) | Delivery::ScriptFailed { .. } => {
                    crate::views::Continue::Device
                }
            };
            html(
                res,
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::views::script_failed(&report, &next),
            );
        }
    }
}

/// RFC 9449 §8.1: offers the current DPoP nonce when the provider requires nonces.
pub fn dpop_nonce(res: &mut Response, cx: &crate::protocol::Ctx<'_>) {
    if cx.config.dpop_require_nonce {
        if let Ok(v) = HeaderValue::from_str(&crate::protocol::fapi::dpop::current_nonce(cx)) {
            res.headers_mut().insert("dpop-nonce", v);
        }
    }
}
