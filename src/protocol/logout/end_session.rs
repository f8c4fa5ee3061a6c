//! The end-session endpoint (OpenID RP-Initiated Logout 1.0): which client asks, where the
//! browser may go back to, and whether the user must confirm first.
//!
//! - `id_token_hint` (§2) must be an ID token this provider signed (current or retired key;
//!   an expired one is accepted, as §2 allows), naming the client in `aud`;
//! - `client_id` (§2), when given with a hint, must be that `aud`;
//! - `post_logout_redirect_uri` (§2, §3) must exactly match one the client registered, and
//!   needs the client to be known: otherwise an error page, never a redirect;
//! - `state` is passed back on the redirect; `logout_hint` and `ui_locales` are hints.
//!
//! The user is logged out at once when the hint names the browser's session; otherwise (no
//! hint, another session) a confirmation page asks first (§2: the OP SHOULD ask).

use super::frontchannel::{self, Frames};
use super::{end, Ending};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::oidc::subject;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::sessions::Session;
use crate::types::Client;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// Where the browser goes once the user is logged out, as checked.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Return {
    /// The client that asked, when known (for its name on the confirmation page).
    pub client_id: Option<String>,
    /// A registered post_logout_redirect_uri.
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
}

/// What to do with a valid request.
#[derive(Debug)]
pub enum Next {
    /// The hint names this browser's session (or there is none): log out now.
    LogOut(Return),
    /// Ask the user first.
    Confirm(Return),
}

/// How the logout ends for the browser.
#[derive(Debug)]
pub enum Done {
    /// Straight back to the client: no front-channel frames to load.
    Redirect(String),
    /// The logged-out page, with the front-channel frames and where to go next (if anywhere).
    Page {
        frames: Frames,
        continue_to: Option<String>,
    },
}

fn refused(why: &str) -> OAuthError {
    OAuthError::invalid_request(why)
}

/// Checks an end-session request against the browser's session.
pub async fn check(
    cx: &Ctx<'_>,
    params: &HashMap<String, String>,
    session: Option<&Session>,
) -> OAuthResult<Next> {
    let get = |name: &str| crate::protocol::params::get(params, name).map(String::from);
    let hint = match get("id_token_hint") {
        Some(token) => Some(verify_hint(cx, &token)?),
        None => None,
    };
    let client_id = match (get("client_id"), &hint) {
        (Some(given), Some(h)) if given != h.aud => {
            return Err(refused(
                "client_id is not the audience of the id_token_hint (RP-Initiated Logout 1.0 section 2)",
            ))
        }
        (given, h) => given.or_else(|| h.as_ref().map(|h| h.aud.clone())),
    };
    let client = match &client_id {
        Some(id) => Some(
            crate::protocol::client_cache::client(cx, id)
                .await?
                .ok_or_else(|| {
                    refused("the client named by client_id or id_token_hint is unknown (RP-Initiated Logout 1.0 section 2)")
                })?,
        ),
        None => None,
    };
    let redirect = match (get("post_logout_redirect_uri"), &client) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(refused(
                "post_logout_redirect_uri needs id_token_hint or client_id to name the client (RP-Initiated Logout 1.0 section 2)",
            ))
        }
        (Some(uri), Some(c)) if c.metadata.registers_post_logout_redirect_uri(&uri) => Some(uri),
        (Some(_), Some(_)) => {
            return Err(refused(
                "post_logout_redirect_uri is not registered for this client (RP-Initiated Logout 1.0 section 3)",
            ))
        }
    };
    let ret = Return {
        client_id,
        post_logout_redirect_uri: redirect,
        state: get("state"),
    };
    let Some(session) = session else {
        // Nobody is signed in here: nothing to end, nothing to confirm.
        return Ok(Next::LogOut(ret));
    };
    let names_session = match (&hint, &client) {
        (Some(h), Some(c)) => {
            h.sid.as_deref() == Some(session.sid.as_str())
                && subject::user_of(cx, c, &h.sub).as_deref() == Some(session.user_id.as_str())
        }
        _ => false,
    };
    let other_user = match (get("logout_hint"), &client) {
        (Some(named), Some(c)) => named != subject::for_client(cx, c, &session.user_id),
        (Some(named), None) => named != session.user_id,
        (None, _) => false,
    };
    Ok(if names_session && !other_user {
        Next::LogOut(ret)
    } else {
        Next::Confirm(ret)
    })
}

/// What an ID token hint says, once verified.
struct Hint {
    aud: String,
    sub: String,
    sid: Option<String>,
}

/// §2: an ID token we issued. Its expiry is not checked (the RP may hold an old one).
fn verify_hint(cx: &Ctx<'_>, token: &str) -> OAuthResult<Hint> {
    let bad = || {
        refused("id_token_hint is not an ID token issued by this provider (RP-Initiated Logout 1.0 section 2)")
    };
    let (claims, typ) = cx.keys().verify_own(token).map_err(|_| bad())?;
    // Our access tokens and logout tokens are signed by the same keys: not ID tokens.
    if typ.is_some_and(|t| t != "JWT") || claims["iss"].as_str() != Some(cx.issuer.as_str()) {
        return Err(bad());
    }
    let aud = match &claims["aud"] {
        serde_json::Value::String(a) => a.clone(),
        serde_json::Value::Array(list) if list.len() == 1 => {
            list[0].as_str().ok_or_else(bad)?.to_string()
        }
        _ => return Err(bad()),
    };
    Ok(Hint {
        aud,
        sub: claims["sub"].as_str().ok_or_else(bad)?.to_string(),
        sid: claims["sid"].as_str().map(String::from),
    })
}

/// What a confirmation token carries inside its seal, before the JSON.
const CONFIRMATION_PREFIX: &str = "consentry-logout:";
/// How long the confirmation page may wait for an answer.
const CONFIRMATION_SECS: i64 = 600;

#[derive(Serialize, Deserialize)]
struct Confirmation {
    /// Digest of the browser-binding cookie the page was shown to.
    browser: String,
    expires_at: i64,
    ret: Return,
}

/// The confirmation form's CSRF token: the checked request, bound to this browser and
/// sealed under the data key (so any node can open it, and nobody can forge or alter it).
pub fn confirmation_token(cx: &Ctx<'_>, ret: &Return, browser_id: &str) -> String {
    let c = Confirmation {
        browser: secrets::digest(browser_id),
        expires_at: cx.now + CONFIRMATION_SECS,
        ret: ret.clone(),
    };
    let json = serde_json::to_string(&c).unwrap_or_default();
    cx.sealer.seal(&format!("{CONFIRMATION_PREFIX}{json}"))
}

/// The request a confirmation form carries, when its token was made for this browser and
/// has not expired; a missing or foreign token is a CSRF refusal.
pub fn confirmed(
    cx: &Ctx<'_>,
    token: Option<&str>,
    browser_id: Option<&str>,
) -> OAuthResult<Return> {
    let refused = || {
        OAuthError::invalid_request(
            "the logout confirmation is missing, expired or from another browser (CSRF check)",
        )
    };
    let (Some(token), Some(browser)) = (token, browser_id) else {
        return Err(refused());
    };
    let plain = cx.sealer.open(token).ok_or_else(refused)?;
    let json = plain
        .strip_prefix(CONFIRMATION_PREFIX)
        .ok_or_else(refused)?;
    let c: Confirmation = serde_json::from_str(json).map_err(|_| refused())?;
    if !secrets::ct_eq(&c.browser, &secrets::digest(browser)) || c.expires_at <= cx.now {
        return Err(refused());
    }
    Ok(c.ret)
}

/// The client's name for the confirmation page.
pub async fn client_name(cx: &Ctx<'_>, ret: &Return) -> OAuthResult<Option<String>> {
    let Some(id) = &ret.client_id else {
        return Ok(None);
    };
    let client: Option<Arc<Client>> = crate::protocol::client_cache::client(cx, id).await?;
    Ok(client.map(|c| {
        c.metadata
            .client_name
            .clone()
            .unwrap_or_else(|| c.id.to_string())
    }))
}

/// Logs the browser's session out (when it has one) and says where the browser goes next:
/// the front-channel frames first when a client registered one, then the client's
/// post_logout_redirect_uri with `state`, or the logged-out page.
pub async fn log_out(cx: &Ctx<'_>, session: Option<&Session>, ret: &Return) -> OAuthResult<Done> {
    let frames = match session {
        Some(s) => {
            let ended = end(cx, Ending::Session { sid: s.sid.clone() }).await?;
            frontchannel::frames(cx, &ended.participants).await?
        }
        None => Frames::default(),
    };
    let continue_to = match ret.post_logout_redirect_uri.as_deref() {
        Some(uri) => Some(with_state(uri, ret.state.as_deref())?),
        None => None,
    };
    Ok(match continue_to {
        Some(url) if frames.urls.is_empty() => Done::Redirect(url),
        continue_to => Done::Page {
            frames,
            continue_to,
        },
    })
}

/// §3: `state` goes back on the redirect, added to the registered URI's own query.
fn with_state(uri: &str, state: Option<&str>) -> OAuthResult<String> {
    let Some(state) = state else {
        return Ok(uri.to_string());
    };
    let mut url = url::Url::parse(uri).map_err(OAuthError::server)?;
    url.query_pairs_mut().append_pair("state", state);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::with_state;

    #[test]
    fn rp_initiated_3_state_is_added_to_the_registered_uris_own_query() {
        assert_eq!(
            with_state("https://rp.example/out?lang=en", Some("a b&c")).unwrap(),
            "https://rp.example/out?lang=en&state=a+b%26c"
        );
        assert_eq!(
            with_state("https://rp.example/out", None).unwrap(),
            "https://rp.example/out",
            "no state, the URI unchanged"
        );
    }
}
