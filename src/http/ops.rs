//! Operations endpoints: liveness, readiness, metrics, and the stylesheet.

use super::{provider, respond};
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

#[handler]
pub async fn healthz(res: &mut Response) {
    respond::json_bytes(res, StatusCode::OK, r#"{"status":"ok"}"#.into());
}

/// Ready when the database answers.
#[handler]
pub async fn readyz(depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let ok = p
        .store
        .read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
        .await
        .is_ok();
    if ok {
        respond::json_bytes(res, StatusCode::OK, r#"{"status":"ready"}"#.into());
    } else {
        respond::json_bytes(
            res,
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"database unavailable"}"#.into(),
        );
    }
}

#[handler]
pub async fn metrics(depot: &mut Depot, res: &mut Response) {
    let body = provider(depot).metrics.render();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    let _ = res.write_body(body);
}

#[handler]
pub async fn stylesheet(res: &mut Response) {
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    let _ = res.write_body(crate::views::STYLESHEET);
}
