//! GET/POST the authorization endpoint.

use super::{cookies, params, provider, respond};
use crate::protocol::authorize::{self as authz, Refusal};
use crate::protocol::interaction::{self, Outcome};
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
    // One instant for every rule of this request.
    let cx = p.ctx();
    let (request, client) = match authz::validate(&cx, &raw).await {
        Ok(v) => v,
        Err(Refusal::Page(e)) => return respond::error_page(res, &e),
        Err(Refusal::Redirect(d)) => return respond::deliver(res, d),
    };
    let session = match interaction::session(&cx, cookies::get(req, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return respond::error_page(res, &e),
    };
    let browser = cookies::browser_id(&p, req, res);
    match interaction::begin(&cx, request, &client, &browser, session).await {
        Ok(Outcome::Deliver(d)) => respond::deliver(res, d),
        Ok(Outcome::Interaction(uid)) => respond::redirect(res, &format!("/interaction/{uid}")),
        Ok(Outcome::Leave(url)) => respond::redirect(res, &url),
        Err(e) => respond::error_page(res, &e),
    }
}
