//! Discovery and JWKS, served from bytes serialised once.

use super::{provider, respond};
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

fn cacheable_json(res: &mut Response, body: String) {
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    respond::json_bytes(res, StatusCode::OK, body);
}

#[handler]
pub async fn openid_configuration(depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    cacheable_json(res, p.discovery.load().as_ref().clone());
}

#[handler]
pub async fn jwks(depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    cacheable_json(res, p.keys().jwks_json().to_string());
}
