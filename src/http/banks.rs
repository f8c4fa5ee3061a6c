//! The contract's public bank-connection lists and bank icons.

use super::{provider, respond};
use crate::plugins::{ConnectionType, Plugin};
use crate::provider::Provider;
use salvo::http::header;
use salvo::prelude::*;
use serde_json::{json, Value};

/// The generic bank icon (`/bank-icons/default`, and the fallback with `defaultIcon=true`).
const DEFAULT_ICON: &str = include_str!("../views/default-bank.svg");

fn entry(p: &Provider, i: &Plugin) -> Value {
    let origin = p.issuer.strip_suffix(&p.base_path).unwrap_or(&p.issuer);
    let m = &i.meta;
    json!({
        "id": m.id,
        "name": m.name,
        "type": m.kind.as_str(),
        "bankRef": m.bank_ref,
        // Deprecated in the contract in favour of bankRef; kept for older partners.
        "parentRef": m.bank_ref,
        "iconUrl": format!("{origin}/bank-icons/{}", m.bank_ref),
        "accountTypes": m.account_types,
        "userTypes": m.user_types,
    })
}

fn list(depot: &Depot, res: &mut Response, kind: Option<ConnectionType>) {
    let p = provider(depot);
    let body: Vec<Value> = p
        .plugins
        .catalog()
        .of_type(kind)
        .iter()
        .map(|i| entry(&p, i))
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
#[handler]
pub async fn bank_icon(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let bank_ref = req.param::<String>("bank_ref").unwrap_or_default();
    let fallback = req.query::<String>("defaultIcon").as_deref() == Some("true");
    let svg = match p.plugins.catalog().icon(&bank_ref) {
        Some(icon) => icon.as_ref().clone(),
        None if bank_ref == "default" || fallback => DEFAULT_ICON.as_bytes().to_vec(),
        None => {
            let e = crate::error::OAuthError::not_found(format!("no icon for bank {bank_ref}"));
            return respond::json(res, StatusCode::NOT_FOUND, &e.body());
        }
    };
    res.status_code(StatusCode::OK);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("image/svg+xml"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=3600"),
    );
    // An SVG is a document: never let one run script, even when opened directly.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"),
    );
    let _ = res.write_body(svg);
}
