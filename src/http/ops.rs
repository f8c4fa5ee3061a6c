//! Operations endpoints: liveness, readiness, metrics, and the stylesheet.

use super::{provider, respond};
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

#[handler]
pub async fn healthz(res: &mut Response) {
    respond::json_bytes(res, StatusCode::OK, r#"{"status":"ok"}"#.into());
}

/// Ready when the database takes a write (a real one), its disk has room for more, and every
/// background task is running. Answers 503 with the reasons otherwise, naming any task down.
#[handler]
pub async fn readyz(depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let ready = p.store.readiness(p.now()).await;
    let tasks: serde_json::Map<String, serde_json::Value> = ready
        .tasks
        .iter()
        .map(|(n, up)| (n.to_string(), (if *up { "up" } else { "down" }).into()))
        .collect();
    let (status, body) = if ready.is_ready() {
        (
            StatusCode::OK,
            serde_json::json!({ "status": "ready", "tasks": tasks }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "status": "not ready",
                "reasons": ready.reasons,
                "down": ready.down(),
                "tasks": tasks,
            }),
        )
    };
    respond::json_bytes(res, status, body.to_string());
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
