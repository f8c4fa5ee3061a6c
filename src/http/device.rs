//! The device verification page (RFC 8628 §3.3): `GET /device` shows the code form (filled in
//! from `?user_code=`, the `verification_uri_complete`; the user still confirms it, §5.4),
//! `POST /device` checks the code and sends the browser into the ordinary sign-in.

use super::{cookies, params, provider, respond};
use crate::protocol::device::verification::{self, Entered};
use crate::protocol::interaction::{self, Outcome};
use crate::views;
use salvo::prelude::*;

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let browser = cookies::browser_id(&p, req, res);
    let typed = req.query::<String>("user_code").unwrap_or_default();
    let csrf = verification::csrf_token(&cx, &browser);
    respond::html(
        res,
        StatusCode::OK,
        views::device_entry(&csrf, &typed, None),
    );
}

#[handler]
pub async fn enter(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let form = match params::form_pairs(req).await.and_then(params::unique) {
        Ok(f) => f,
        Err(e) => return respond::error_page(res, &e),
    };
    let presented = form.get("csrf_token").map(String::as_str);
    if !verification::check_csrf(&cx, cookies::get(req, cookies::BROWSER), presented) {
        return respond::html(
            res,
            StatusCode::FORBIDDEN,
            views::error(
                "Request refused",
                "the form's CSRF token is missing or wrong; reload the page",
            ),
        );
    }
    let typed = form.get("user_code").cloned().unwrap_or_default();
    let browser = cookies::browser_id(&p, req, res);
    let session = match interaction::session(&cx, cookies::get(req, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return respond::error_page(res, &e),
    };
    let address = params::client_ip(req);
    let again = |msg: &str| {
        let csrf = verification::csrf_token(&cx, &browser);
        views::device_entry(&csrf, &typed, Some(msg))
    };
    match verification::enter(&cx, &typed, &address, &browser, session).await {
        Ok(Entered::Next(Outcome::Interaction(uid))) => {
            respond::redirect(res, &format!("/interaction/{uid}"))
        }
        Ok(Entered::Next(Outcome::Deliver(d))) => respond::deliver(res, d),
        Ok(Entered::Next(Outcome::Leave(url))) => respond::redirect(res, &url),
        Ok(Entered::Unknown) => respond::html(
            res,
            StatusCode::BAD_REQUEST,
            again("That code is not valid or has expired. Check the code on your device and try again."),
        ),
        Ok(Entered::Throttled) => respond::html(
            res,
            StatusCode::TOO_MANY_REQUESTS,
            again("Too many wrong codes. Wait a few minutes and try again."),
        ),
        Err(e) => respond::error_page(res, &e),
    }
}
