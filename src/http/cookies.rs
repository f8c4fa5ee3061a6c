//! The browser cookies: the login session and the browser binding for interactions. Both are
//! `__Host-` prefixed: Secure, host-only, path `/`.

use salvo::http::cookie::{Cookie, SameSite};
use salvo::{Request, Response};

pub const SESSION: &str = "__Host-consentry-session";
pub const BROWSER: &str = "__Host-consentry-browser";

pub fn get<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.cookie(name).map(|c| c.value())
}

pub fn set(res: &mut Response, name: &'static str, value: String, max_age_secs: i64) {
    let cookie = Cookie::build((name, value))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(salvo::http::cookie::time::Duration::seconds(max_age_secs))
        .build();
    res.add_cookie(cookie);
}

/// The browser-binding value, set on first use.
pub fn browser_id(req: &Request, res: &mut Response) -> String {
    if let Some(v) = get(req, BROWSER).filter(|v| v.len() >= 32) {
        return v.to_string();
    }
    let v = crate::protocol::secrets::random_token();
    set(res, BROWSER, v.clone(), 24 * 3600);
    v
}
