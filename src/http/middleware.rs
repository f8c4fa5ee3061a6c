//! Cross-cutting response handling: security headers and request metrics.

use salvo::http::header::{self, HeaderName, HeaderValue};
use salvo::prelude::*;
use std::time::Instant;

/// Styles from our own origin only; no scripts; never framed. Images also from any https
/// origin: the login and consent pages show the client's registered `logo_uri`. `form-action`
/// is left out on purpose: browsers apply it to the redirect that follows the consent form,
/// which goes to the client's (other-origin) redirect_uri.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'";

#[handler]
pub async fn security_headers(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    ctrl.call_next(req, depot, res).await;
    apply_security_headers(req, res);
}

/// Adds the security headers a response does not set itself.
pub fn apply_security_headers(req: &Request, res: &mut Response) {
    let h = res.headers_mut();
    let set = |h: &mut salvo::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    if req.scheme() == &salvo::http::uri::Scheme::HTTPS {
        set(h, header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
}

/// A refusal sent before the handler read the body (a wrong content type, missing
/// credentials) would otherwise end the connection while the client is still sending, and the
/// client would see a reset instead of the OAuth error: what is left of the body is read and
/// dropped first, within the bounds used for an oversized body. A client that sent
/// `Expect: 100-continue` waits for the answer before sending, so it is not asked for a body
/// nobody will read.
#[handler]
pub async fn drain_unread_body(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    ctrl.call_next(req, depot, res).await;
    let waits_for_answer = req
        .headers()
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if !waits_for_answer {
        super::params::drain(req).await;
    }
}

#[handler]
pub async fn metrics(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    ctrl: &mut FlowCtrl,
) {
    let started = Instant::now();
    ctrl.call_next(req, depot, res).await;
    let p = super::provider(depot);
    let endpoint = match req.matched_path() {
        "" => "unmatched".to_string(),
        m => format!("/{m}"),
    };
    let status = res.status_code.map(|s| s.as_u16()).unwrap_or(200);
    p.metrics
        .requests
        .get_or_create(&crate::metrics::RequestLabels {
            endpoint: endpoint.clone(),
            method: req.method().to_string(),
            status,
        })
        .inc();
    p.metrics
        .latency
        .get_or_create(&crate::metrics::EndpointLabel { endpoint })
        .observe(started.elapsed().as_secs_f64());
}
