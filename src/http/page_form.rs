//! A form posted from one of the signed-in user's own pages (the dashboard, the CIBA approval
//! page): read once, its CSRF token checked before anything else happens.

use super::{cookies, params, respond};
use crate::protocol::page_csrf;
use crate::provider::Provider;
use crate::views;
use salvo::prelude::*;
use std::collections::HashMap;

/// The page's CSRF token for this browser (minting the browser cookie when it has none).
pub fn csrf_token(p: &Provider, req: &Request, res: &mut Response, purpose: &str) -> String {
    page_csrf::token(purpose, &cookies::browser_id(p, req, res))
}

/// The posted form, or `None` with the answer written: the form's error page, or 403 when
/// its CSRF token is not the one this browser was shown for `purpose`.
pub async fn checked(
    p: &Provider,
    req: &mut Request,
    res: &mut Response,
    purpose: &str,
) -> Option<HashMap<String, String>> {
    let form = match params::form_pairs(req).await.and_then(params::unique) {
        Ok(f) => f,
        Err(e) => {
            respond::error_page(res, &e);
            return None;
        }
    };
    let browser = cookies::minted_browser_id(p, req);
    let presented = form.get("csrf_token").map(String::as_str);
    if let Err(e) = page_csrf::check(purpose, browser, presented) {
        respond::html(
            res,
            StatusCode::FORBIDDEN,
            views::error("Request refused", e.description()),
        );
        return None;
    }
    Some(form)
}
