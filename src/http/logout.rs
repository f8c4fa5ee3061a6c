//! The end-session endpoint (OpenID RP-Initiated Logout 1.0), GET and POST, and its
//! confirmation form.

use super::{cookies, params, provider, respond};
use crate::error::OAuthError;
use crate::protocol::interaction;
use crate::protocol::logout::end_session::{self, Done, Next, Return};
use crate::protocol::Ctx;
use crate::provider::Provider;
use crate::views;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

#[handler]
pub async fn end(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let raw = if req.method() == salvo::http::Method::POST {
        match params::form_pairs(req).await {
            Ok(r) => r,
            Err(e) => return respond::error_page(res, &e),
        }
    } else {
        params::query_pairs(req)
    };
    let params = match params::unique(raw) {
        Ok(p) => p,
        Err(e) => return respond::error_page(res, &e),
    };
    let cx = p.ctx();
    let session = match interaction::session(&cx, cookies::get(req, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return respond::error_page(res, &e),
    };
    match end_session::check(&cx, &params, session.as_ref()).await {
        Ok(Next::LogOut(ret)) => log_out(&cx, res, session.as_ref(), &ret).await,
        Ok(Next::Confirm(ret)) => {
            let browser = cookies::browser_id(&p, req, res);
            let csrf = end_session::confirmation_token(&cx, &ret, &browser);
            let name = match end_session::client_name(&cx, &ret).await {
                Ok(n) => n,
                Err(e) => return respond::error_page(res, &e),
            };
            let page = views::logout::confirm(&confirm_path(&p), &csrf, name.as_deref());
            respond::html(res, StatusCode::OK, page);
        }
        Err(e) => respond::error_page(res, &e),
    }
}

fn confirm_path(p: &Provider) -> String {
    format!("{}/session/end/confirm", p.base_path.trim_end_matches('/'))
}

/// The confirmation form: its CSRF token must be the one shown to this browser.
#[handler]
pub async fn confirm(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let form = match params::form_pairs(req).await.and_then(params::unique) {
        Ok(f) => f,
        Err(e) => return respond::error_page(res, &e),
    };
    let cx = p.ctx();
    let ret = match end_session::confirmed(
        &cx,
        form.get("csrf_token").map(String::as_str),
        cookies::get(req, cookies::BROWSER),
    ) {
        Ok(r) => r,
        Err(e) => {
            return respond::html(
                res,
                StatusCode::FORBIDDEN,
                views::error("Request refused", e.description()),
            )
        }
    };
    match form.get("decision").map(String::as_str) {
        Some("logout") => {}
        Some("stay") => {
            return respond::html(res, StatusCode::OK, views::logout::still_signed_in())
        }
        _ => {
            let e = OAuthError::invalid_request("decision must be logout or stay");
            return respond::error_page(res, &e);
        }
    }
    let session = match interaction::session(&cx, cookies::get(req, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return respond::error_page(res, &e),
    };
    log_out(&cx, res, session.as_ref(), &ret).await;
}

async fn log_out(
    cx: &Ctx<'_>,
    res: &mut Response,
    session: Option<&crate::store::sessions::Session>,
    ret: &Return,
) {
    let done = match end_session::log_out(cx, session, ret).await {
        Ok(d) => d,
        Err(e) => return respond::error_page(res, &e),
    };
    // The session row is gone; the cookie goes too.
    cookies::set(res, cookies::SESSION, String::new(), 0);
    match done {
        Done::Redirect(url) => respond::redirect(res, &url),
        Done::Page {
            frames,
            continue_to,
        } => {
            let csp = views::logout::logged_out_csp(super::middleware::CSP, &frames.origins);
            if let Ok(v) = HeaderValue::from_str(&csp) {
                res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            respond::html(
                res,
                StatusCode::OK,
                views::logout::logged_out(&frames.urls, continue_to.as_deref()),
            );
        }
    }
}
