//! The CIBA approval page: the signed-in user's pending backchannel authentication requests,
//! each with the app, what it asks for, its spending limit and its binding message, and
//! Approve / Deny forms.

use super::layout;
use crate::protocol::ciba::approval::Pending;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// Sign in to see the requests waiting for you.
pub fn sign_in(csrf: &str, username: &str, error: Option<&str>) -> String {
    super::sign_in_page(
        "/ciba/login",
        "to answer the sign-in requests apps sent you",
        csrf,
        username,
        error,
        "",
    )
}

/// The pending requests, one form each; `now` for how long each has left.
pub fn pending(csrf: &str, requests: &[Pending], now: i64) -> String {
    if requests.is_empty() {
        return layout(
            "Requests",
            "<h1>Requests</h1><p class=\"lead\">No app is waiting for your answer.</p>",
        );
    }
    let items: String = requests
        .iter()
        .map(|r| {
            let scopes: String = r
                .scopes
                .iter()
                .map(|(s, d)| {
                    format!(
                        "<li><span class=\"desc\">{}</span> <code>{}</code></li>",
                        text(*d),
                        text(s)
                    )
                })
                .collect();
            let binding = r
                .binding_message
                .as_deref()
                .map(|m| {
                    format!(
                        "<p>Check that the app shows this code: <strong class=\"binding\">{}</strong></p>",
                        text(m)
                    )
                })
                .unwrap_or_default();
            let budget = super::budget_line(r.budget.as_deref());
            let minutes = ((r.expires_at - now).max(0) + 59) / 60;
            format!(
                "<section class=\"request\" aria-labelledby=\"r-{id}\"><h2 id=\"r-{id}\">{client}</h2>\
<p class=\"lead\"><strong>{client}</strong> is asking to:</p><ul class=\"scopes\">{scopes}</ul>{budget}{binding}\
<p><small>Expires in {minutes} min.</small></p>\
<form method=\"post\" action=\"/ciba/decide\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<input type=\"hidden\" name=\"request\" value=\"{id}\">\
<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button>\
<button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button></div></form></section>",
                id = attr(&r.id),
                client = text(&r.client_name),
                csrf = attr(csrf),
            )
        })
        .collect();
    layout(
        "Requests",
        &format!("<h1>Requests</h1><p class=\"lead\">Apps waiting for your answer</p>{items}"),
    )
}

/// After an answer.
pub fn answered(approved: bool) -> String {
    let (title, what) = if approved {
        ("Approved", "The app can now continue.")
    } else {
        ("Denied", "The app has been told you said no.")
    };
    layout(
        title,
        &format!(
            "<h1>{title}</h1><p class=\"lead\">{what}</p><p><a href=\"/ciba\">Back to your requests</a></p>"
        ),
    )
}
