//! The contract's public bank-connection lists and bank icons.

use super::{provider, respond};
use crate::plugins::{Catalog, ConnectionType, Plugin};
use crate::provider::Provider;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use salvo::http::header;
use salvo::prelude::*;
use serde_json::{json, Value};
use std::sync::Arc;

/// The generic bank icon (`/bank-icons/default`, and the fallback with `defaultIcon=true`).
const DEFAULT_ICON: &str = include_str!("../views/default-bank.svg");

fn entry(p: &Provider, catalog: &Catalog, i: &Plugin) -> Value {
    let origin = p.issuer.strip_suffix(&p.base_path).unwrap_or(&p.issuer);
    let m = &i.meta;
    let mut e = json!({
        "id": m.id,
        "name": m.name,
        "type": m.kind.as_str(),
        "bankRef": m.bank_ref,
        // Contract: "parentRef - this property is now deprecated. Please use bankRef instead";
        // the same value, kept for partners that still read it.
        "parentRef": m.bank_ref,
        "accountTypes": m.account_types,
        "userTypes": m.user_types,
    });
    // Contract: not every connection has an icon. The URL is published only where it answers
    // 200, i.e. when this institution or another of its bankRef has one.
    if catalog.icon(&m.bank_ref).is_some() {
        e["iconUrl"] = json!(format!("{origin}/bank-icons/{}", m.bank_ref));
    }
    e
}

fn list(depot: &Depot, res: &mut Response, kind: Option<ConnectionType>) {
    let p = provider(depot);
    let catalog = p.plugins.catalog();
    let body: Vec<Value> = catalog
        .of_type(kind)
        .iter()
        .map(|i| entry(&p, &catalog, i))
        .collect();
    respond::json(res, StatusCode::OK, &body);
}

#[handler]
pub async fn all_connections(depot: &mut Depot, res: &mut Response) {
    list(depot, res, None)
}

#[handler]
pub async fn api_connections(depot: &mut Depot, res: &mut Response) {
    list(depot, res, Some(ConnectionType::Api))
}

#[handler]
pub async fn legacy_connections(depot: &mut Depot, res: &mut Response) {
    list(depot, res, Some(ConnectionType::Legacy))
}

#[handler]
pub async fn test_connections(depot: &mut Depot, res: &mut Response) {
    list(depot, res, Some(ConnectionType::Test))
}

/// `GET /bank-icons/{bankRef}`: the institution's SVG; 404 when it has none unless
/// `defaultIcon=true`; `default` is the generic icon.
///
/// Caching: the URL is the contract's stable `/bank-icons/{bankRef}` (partners build it from
/// `bankRef`), so a content hash cannot go in it. Instead every answer carries a strong `ETag`
/// (the SHA-256 of the bytes) and `Cache-Control: no-cache`: caches keep the icon but ask
/// again each time, and an icon reloaded from `plugins/` is seen at once, while an unchanged
/// one costs a 304 without a body (RFC 9111 §5.2.2.4, RFC 9110 §13.1.2).
#[handler]
pub async fn bank_icon(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let bank_ref = req.param::<String>("bank_ref").unwrap_or_default();
    let fallback = req.query::<String>("defaultIcon").as_deref() == Some("true");
    let svg = match p.plugins.catalog().icon(&bank_ref) {
        Some(icon) => icon,
        None if bank_ref == "default" || fallback => Arc::new(DEFAULT_ICON.as_bytes().to_vec()),
        None => {
            let e = crate::error::OAuthError::not_found(format!("no icon for bank {bank_ref}"));
            return respond::json(res, StatusCode::NOT_FOUND, &e.body());
        }
    };
    let etag = strong_etag(&svg);
    let h = res.headers_mut();
    h.insert(header::ETAG, etag.clone());
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    if none_match(req.headers().get_all(header::IF_NONE_MATCH), &etag) {
        res.status_code(StatusCode::NOT_MODIFIED);
        return;
    }
    res.status_code(StatusCode::OK);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("image/svg+xml"),
    );
    // An SVG is a document: never let one run script, even when opened directly.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    let _ = res.write_body(svg.as_ref().clone());
}

/// `"<base64url SHA-256 of the bytes>"`: the same bytes give the same tag on every node.
fn strong_etag(bytes: &[u8]) -> header::HeaderValue {
    let hash = ring::digest::digest(&ring::digest::SHA256, bytes);
    let tag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(hash));
    header::HeaderValue::from_str(&tag).expect("base64url is a valid header value")
}

/// RFC 9110 §13.1.2: `If-None-Match` is false (answer 304) when it is `*` or lists the
/// current entity tag, compared weakly (a `W/` prefix is ignored).
fn none_match<'a>(
    fields: impl IntoIterator<Item = &'a header::HeaderValue>,
    etag: &header::HeaderValue,
) -> bool {
    let ours = etag.to_str().unwrap_or_default();
    fields
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
}
