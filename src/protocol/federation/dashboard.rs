//! Federated sign-in at the user's dashboard (`/account`), where no authorization request and
//! so no interaction exists. The sign-in in progress (`federated_logins`) then carries the
//! digest of the browser-binding cookie in place of an interaction id: the one thing an
//! interaction added was that binding, so the same row, the same upstream round trip and the
//! same [`super::sign_in_federated`] serve both, with no stand-in interaction to keep apart
//! from real authorization requests. The return finds the row by its state digest, checks the
//! browser's cookie against it (constant time), and consumes it in the transaction that opens
//! the session; it expires after the interaction lifetime.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::federation::{LoginFor, PendingLogin};

/// Where a sign-in started at the dashboard by the browser with this binding cookie returns.
pub fn login_for(browser_id: &str) -> LoginFor {
    LoginFor::Dashboard {
        browser_hash: secrets::digest(browser_id),
    }
}

/// When a sign-in started at the dashboard now expires: the interaction lifetime.
pub fn expires_at(cx: &Ctx<'_>) -> i64 {
    cx.now + cx.config.lifetimes.interaction_secs
}

const NOT_THIS_BROWSERS: &str = "the identity provider's answer does not match a sign-in this browser started here (state, RFC 6749 10.12)";

/// Whether `pending` is a sign-in the browser presenting `browser_id` started at the dashboard.
pub(super) fn check_browser(pending: &PendingLogin, browser_id: Option<&str>) -> OAuthResult<()> {
    let presented = browser_id.map(secrets::digest);
    match (&pending.login_for, presented) {
        (LoginFor::Dashboard { browser_hash }, Some(h)) if secrets::ct_eq(browser_hash, &h) => {
            Ok(())
        }
        _ => Err(OAuthError::invalid_request(NOT_THIS_BROWSERS)),
    }
}

/// The dashboard's live sign-in in progress sent upstream with `state`, when the browser
/// presenting `browser_id` started it. Anything else (unknown, expired, used, an interaction's,
/// another browser's) is the same refusal.
pub async fn pending(
    cx: &Ctx<'_>,
    state: &str,
    browser_id: Option<&str>,
) -> OAuthResult<PendingLogin> {
    let (state_hash, now) = (secrets::digest(state), cx.now);
    let found = cx
        .store
        .read(move |tx| tx.federation().pending_by_state(&state_hash, now))
        .await?
        .ok_or_else(|| OAuthError::invalid_request(NOT_THIS_BROWSERS))?;
    check_browser(&found, browser_id)?;
    Ok(found)
}
