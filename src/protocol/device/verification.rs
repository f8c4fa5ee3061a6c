//! RFC 8628 §3.3: the verification page. The user enters a user code; a live one opens the
//! ordinary interaction for the device's request (login, the bank chooser and journey for
//! `id:*` scopes, and always the consent page showing the app and the code, §5.4). Wrong
//! codes consume nothing and are throttled per client address with the login throttle.

use super::user_code;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::authorize::request::{AuthorizationRequest, DeviceLink};
use crate::protocol::interaction::{self, Outcome};
use crate::protocol::login;
use crate::protocol::oidc::response::Delivery;
use crate::protocol::{client_cache, Ctx};
use crate::secrets;
use crate::store::sessions::Session;

/// What entering a code led to.
pub enum Entered {
    /// A live code: where the browser goes next (an interaction, or the end page).
    Next(Outcome),
    /// No pending, unexpired authorization has this code (nothing was consumed).
    Unknown,
    /// Too many wrong codes from this address lately.
    Throttled,
}

/// The throttle counter for code entry from `address`.
fn throttle_key(address: &str) -> String {
    secrets::digest(&format!("device-user-code\n{address}"))
}

/// Looks the typed code up, counting a miss against `address` in the same transaction that
/// judges the attempt (so parallel guesses cannot all pass one check), then opens the
/// interaction for the device's request in this browser.
pub async fn enter(
    cx: &Ctx<'_>,
    typed: &str,
    address: &str,
    browser_id: &str,
    session: Option<Session>,
) -> OAuthResult<Entered> {
    let canonical = user_code::normalize(typed);
    let hash = secrets::digest(canonical.as_deref().unwrap_or(typed));
    let key = throttle_key(address);
    let (now, limits) = (cx.now, cx.config.login.clone());
    let max = limits.max_failures_per_account;
    let found = cx
        .store
        .write(move |tx| {
            tx.login_failures().hold_all(&[&key])?;
            let failures = tx.login_failures().get(&key, now)?;
            if login::blocked_until(failures, max, limits.window_secs).is_some_and(|t| now < t) {
                return Ok(Err(Entered::Throttled));
            }
            match tx
                .device_authorizations()
                .pending_by_user_code(&hash, now)?
            {
                Some(d) => Ok(Ok(d)),
                None => {
                    tx.login_failures().record(&key, now, limits.window_secs)?;
                    Ok(Err(Entered::Unknown))
                }
            }
        })
        .await?;
    let pending = match found {
        Ok(d) => d,
        Err(why) => {
            if matches!(why, Entered::Unknown) {
                cx.metrics.login_failures.inc();
                tracing::info!(%address, "wrong device user code");
            }
            return Ok(why);
        }
    };
    let mut request: AuthorizationRequest =
        serde_json::from_str(&pending.request).map_err(OAuthError::server)?;
    let shown = user_code::display(canonical.as_deref().unwrap_or_default());
    request.device = Some(DeviceLink {
        id: pending.id.clone(),
        user_code_sealed: cx.sealer.seal(&shown),
    });
    let client = client_cache::client(cx, &pending.client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("the device's app no longer exists"))?;
    let outcome = interaction::begin(cx, request, &client, browser_id, session).await?;
    // Refused before any page (a scope the client may no longer use, say): the device hears
    // access_denied instead of waiting for the code to expire.
    if let Outcome::Deliver(Delivery::DeviceDone(Some(_))) = &outcome {
        let id = pending.id;
        cx.store
            .write(move |tx| tx.device_authorizations().deny(&id))
            .await?;
    }
    Ok(Entered::Next(outcome))
}

/// The user code a device sign-in shows on its consent page (sealed in its request).
pub fn shown_code(cx: &Ctx<'_>, request: &AuthorizationRequest) -> Option<String> {
    request
        .device
        .as_ref()
        .and_then(|d| cx.sealer.open(&d.user_code_sealed))
}

/// What a verification-page CSRF token carries inside its seal, before the browser digest and
/// the issue time.
const CSRF_PREFIX: &str = "consentry-device-form:";

/// A CSRF token for the verification form, bound to this browser: sealed by the server, so it
/// needs no storage and holds on every node.
pub fn csrf_token(cx: &Ctx<'_>, browser_id: &str) -> String {
    cx.sealer.seal(&format!(
        "{CSRF_PREFIX}{}:{}",
        secrets::digest(browser_id),
        cx.now
    ))
}

/// Whether `presented` is a token [`csrf_token`] made for this browser within the time an
/// interaction may take.
pub fn check_csrf(cx: &Ctx<'_>, browser_id: Option<&str>, presented: Option<&str>) -> bool {
    let (Some(browser), Some(token)) = (browser_id, presented) else {
        return false;
    };
    let Some(inner) = cx.sealer.open(token) else {
        return false;
    };
    let Some((digest, issued)) = inner
        .strip_prefix(CSRF_PREFIX)
        .and_then(|rest| rest.rsplit_once(':'))
    else {
        return false;
    };
    let fresh = issued
        .parse::<i64>()
        .is_ok_and(|t| cx.now - t < cx.config.lifetimes.interaction_secs);
    fresh && secrets::ct_eq(digest, &secrets::digest(browser))
}
