//! The logout pages (OpenID RP-Initiated Logout 1.0 §2, Front-Channel Logout 1.0 §2): the
//! confirmation, the logged-out page with its front-channel iframes, and "still signed in".

use super::layout;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// Asks the user whether to sign out; the one form posts its CSRF token to `action`.
pub fn confirm(action: &str, csrf: &str, client_name: Option<&str>) -> String {
    let lead = match client_name {
        Some(name) => format!(
            "<p class=\"lead\"><strong>{}</strong> asks to sign you out.</p>",
            text(name)
        ),
        None => "<p class=\"lead\">Do you want to sign out?</p>".to_string(),
    };
    layout(
        "Sign out",
        &format!(
            "<h1>Sign out</h1>{lead}\
<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"stay\" class=\"secondary\">Stay signed in</button>\
<button type=\"submit\" name=\"decision\" value=\"logout\">Sign out</button></div></form>",
            action = attr(action),
            csrf = attr(csrf),
        ),
    )
}

/// Seconds the logged-out page gives the front-channel frames before it moves on.
pub const FRAME_WAIT_SECS: u32 = 2;

/// The logged-out page: one hidden iframe per front-channel logout URI, then (after
/// [`FRAME_WAIT_SECS`], by a meta refresh: no script) the client's post-logout redirect.
pub fn logged_out(frames: &[String], continue_to: Option<&str>) -> String {
    let iframes: String = frames
        .iter()
        .map(|u| {
            format!(
                "<iframe class=\"logout-frame\" src=\"{}\" title=\"Signing out of an app\" aria-hidden=\"true\" tabindex=\"-1\"></iframe>",
                attr(u)
            )
        })
        .collect();
    let (refresh, next) = match continue_to {
        Some(url) => (
            format!(
                "<meta http-equiv=\"refresh\" content=\"{FRAME_WAIT_SECS};url={}\">",
                attr(url)
            ),
            format!("<p><a href=\"{}\">Return to the app</a></p>", attr(url)),
        ),
        None => (String::new(), String::new()),
    };
    let page = layout(
        "Signed out",
        &format!("<h1>You are signed out</h1><p class=\"lead\">You can close this window.</p>{next}{iframes}"),
    );
    page.replacen("<title>", &format!("{refresh}<title>"), 1)
}

/// The user chose not to sign out.
pub fn still_signed_in() -> String {
    layout(
        "Still signed in",
        "<h1>You are still signed in</h1><p class=\"lead\">Nothing was changed.</p>",
    )
}

/// The logged-out page's CSP: the usual one, plus exactly the frames' origins.
pub fn logged_out_csp(base: &str, frame_origins: &[String]) -> String {
    if frame_origins.is_empty() {
        return base.to_string();
    }
    format!("{base}; frame-src {}", frame_origins.join(" "))
}
