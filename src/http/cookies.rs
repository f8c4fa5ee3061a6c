//! The browser cookies: the login session, the browser binding for interactions and the
//! known device. All are `__Host-` prefixed (Secure, host-only, path `/`), HttpOnly, SameSite=Lax.

use crate::provider::Provider;
use salvo::http::cookie::{Cookie, SameSite};
use salvo::{Request, Response};

pub const SESSION: &str = "__Host-consentry-session";
pub const BROWSER: &str = "__Host-consentry-browser";
/// Set after a successful login: this browser signed in to that account before, so the
/// account's failure throttle does not apply to it.
pub const KNOWN_DEVICE: &str = "__Host-consentry-device";

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

/// What a minted browser-binding value carries inside its seal.
const BROWSER_PREFIX: &str = "consentry-browser:";

/// The browser-binding value, minted by the server on first use: a random value sealed under
/// the data key. A value the server never issued (one a client or an attacker chose, the
/// session-fixation pattern) is ignored and replaced.
pub fn browser_id(p: &Provider, req: &Request, res: &mut Response) -> String {
    if let Some(v) = get(req, BROWSER).filter(|v| minted(p, v)) {
        return v.to_string();
    }
    let v = p.sealer.seal(&format!(
        "{BROWSER_PREFIX}{}",
        crate::secrets::random_token()
    ));
    set(res, BROWSER, v.clone(), 24 * 3600);
    v
}

/// The browser-binding value the request carries, when this server minted it.
pub fn minted_browser_id<'a>(p: &Provider, req: &'a Request) -> Option<&'a str> {
    get(req, BROWSER).filter(|v| minted(p, v))
}

fn minted(p: &Provider, value: &str) -> bool {
    p.sealer
        .open(value)
        .is_some_and(|inner| inner.starts_with(BROWSER_PREFIX))
}
