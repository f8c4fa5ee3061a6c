//! GET/POST the authorization endpoint.

use super::{cookies, params, provider, respond};
use crate::protocol::authorize::{self as authz, Rejection};
use crate::protocol::interaction::{self, Begun};
use salvo::prelude::*;

#[handler]
pub async fn authorize(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let raw = if req.method() == salvo::http::Method::POST {
        match params::form_pairs(req).await {
            Ok(r) => r,
            Err(e) => return respond::error_page(res, &e),
        }
    } else {
        params::query_pairs(req)
    };
    let (request, client) = match authz::validate(&p, &raw).await {
        Ok(v) => v,
        Err(Rejection::Page(e)) => return respond::error_page(res, &e),
        Err(Rejection::Redirect(r)) => {
            let client_id = request_client_id(&raw);
            return match client_for(&p, &client_id)
                .await
                .and_then(|c| r.deliver(&p, &c))
            {
                Ok(d) => respond::deliver(res, d),
                Err(e) => respond::error_page(res, &e),
            };
        }
    };
    let session = match interaction::session(&p, cookies::get(req, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return respond::error_page(res, &e),
    };
    let browser = cookies::browser_id(req, res);
    match interaction::begin(&p, request, &client, &browser, session).await {
        Ok(Begun::Redirect(d)) => respond::deliver(res, d),
        Ok(Begun::Interaction(uid)) => respond::redirect(res, &format!("/interaction/{uid}")),
        Err(e) => respond::error_page(res, &e),
    }
}

fn request_client_id(raw: &[(String, String)]) -> String {
    raw.iter()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

async fn client_for(
    p: &crate::provider::Provider,
    id: &str,
) -> crate::error::OAuthResult<crate::types::Client> {
    crate::protocol::client_cache::client(p, id)
        .await?
        .map(|c| (*c).clone())
        .ok_or_else(|| crate::error::OAuthError::invalid_request("unknown client"))
}
