//! The user's dashboard (`/account`): its sign-in form, the apps and bank connections with a
//! revoke form each, and the linked sign-in methods with an unlink form each. Same page rules
//! as login and consent: `lang`, labels, no script.

use super::{federated_buttons, layout, sign_in_page, FederatedButton};
use crate::protocol::account::Dashboard;
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

/// The dashboard's sign-in form, and a button per upstream identity provider (the login
/// page's buttons, posting to `/account/federated/{id}`).
pub fn account_login(
    csrf: &str,
    username: &str,
    error: Option<&str>,
    federated: &[FederatedButton],
) -> String {
    sign_in_page(
        "/account/login",
        "to see the apps and banks you gave access to",
        csrf,
        username,
        error,
        &federated_buttons("/account", csrf, federated),
    )
}

/// What an action left the page saying: done, or refused (nothing changed).
pub enum Notice<'a> {
    Done(&'a str),
    Refused(&'a str),
}

/// A revoke button in its own form: the CSRF token and the id of what it ends.
fn revoke_form(action: &str, csrf: &str, field: &str, id: &str, label: &str) -> String {
    button_form(action, csrf, (field, id), "Revoke", label)
}

/// A button in its own form posting the CSRF token and `field`'s id; `label` names what it
/// acts on for screen readers.
fn button_form(
    action: &str,
    csrf: &str,
    (field, id): (&str, &str),
    button: &str,
    label: &str,
) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<input type=\"hidden\" name=\"{field}\" value=\"{id}\">\
<button type=\"submit\" class=\"secondary\" aria-label=\"{label}\">{button}</button></form>",
        action = attr(action),
        button = text(button),
        csrf = attr(csrf),
        field = attr(field),
        id = attr(id),
        label = attr(label),
    )
}

/// The signed-in user's apps and connections.
/// `sign_out` is the end-session endpoint: without an ID token hint it asks the user to
/// confirm (OpenID RP-Initiated Logout 1.0 §2), then signs out everywhere it must.
pub fn dashboard(csrf: &str, d: &Dashboard, notice: Option<Notice>, sign_out: &str) -> String {
    let notice = match notice {
        Some(Notice::Done(n)) => format!("<p class=\"notice\" role=\"status\">{}</p>", text(n)),
        Some(Notice::Refused(n)) => format!("<p class=\"error\" role=\"alert\">{}</p>", text(n)),
        None => String::new(),
    };
    let apps: String = d
        .apps
        .iter()
        .map(|a| {
            let logo = a
                .logo_uri
                .as_deref()
                .map(|u| {
                    format!(
                        "<img class=\"app-logo\" src=\"{}\" alt=\"\" referrerpolicy=\"no-referrer\">",
                        attr(u)
                    )
                })
                .unwrap_or_default();
            let scopes: String = a
                .scopes
                .iter()
                .map(|(s, desc)| {
                    format!(
                        "<li><span class=\"desc\">{}</span> <code>{}</code></li>",
                        text(desc),
                        text(s)
                    )
                })
                .collect();
            let expires = match a.expires_at {
                Some(t) => date(t),
                None => "when you revoke it".into(),
            };
            format!(
                "<li class=\"entry app\"><h3>{logo}{name}</h3><ul class=\"scopes\">{scopes}</ul>\
<p class=\"when\">Granted {granted} · Access ends {expires}</p>{form}</li>",
                name = text(&a.name),
                granted = date(a.granted_at),
                form = revoke_form(
                    "/account/apps/revoke",
                    csrf,
                    "client_id",
                    &a.client_id,
                    &format!("Revoke access for {}", a.name),
                ),
            )
        })
        .collect();
    let apps = entries_or(apps, "No app has access to your data.");
    let connections: String = d
        .connections
        .iter()
        .map(|c| {
            let expires = c
                .consent_expires_at
                .map(|t| format!(" · Consent ends {}", date(t)))
                .unwrap_or_default();
            let status = match c.status.as_str() {
                "active" => "Active",
                "reauth_required" => "Needs renewing",
                other => other,
            };
            format!(
                "<li class=\"entry connection\"><h3>{bank}</h3>\
<p>Through {app} · Status: <span class=\"status\">{status}</span></p>\
<p class=\"when\">Connected {connected}{expires}</p>{form}</li>",
                bank = text(&c.institution),
                app = text(&c.app),
                status = text(status),
                connected = date(c.created_at),
                form = revoke_form(
                    "/account/connections/revoke",
                    csrf,
                    "connection_id",
                    &c.id,
                    &format!("Revoke the connection to {}", c.institution),
                ),
            )
        })
        .collect();
    let connections = entries_or(connections, "No bank is connected.");
    let identities = sign_in_methods(csrf, d);
    layout(
        "Your apps and banks",
        &format!(
            "<h1>Your apps and banks</h1>{notice}\
<section aria-labelledby=\"apps\"><h2 id=\"apps\">Apps with access</h2>{apps}</section>\
<section aria-labelledby=\"banks\"><h2 id=\"banks\">Bank connections</h2>{connections}</section>\
<section aria-labelledby=\"sign-in\"><h2 id=\"sign-in\">Sign-in methods</h2>{identities}</section>\
<p class=\"client-links\"><a href=\"{sign_out}\">Sign out</a></p>",
            sign_out = attr(sign_out)
        ),
    )
}

/// The identity providers the user signs in with, each with an unlink form; like the rest of
/// the page it names the provider and the date, never the upstream identifier.
fn sign_in_methods(csrf: &str, d: &Dashboard) -> String {
    let identities: String = d
        .identities
        .iter()
        .map(|i| {
            format!(
                "<li class=\"entry identity\"><h3>{provider}</h3>\
<p class=\"when\">Linked {linked}</p>{form}</li>",
                provider = text(&i.provider),
                linked = date(i.linked_at),
                form = button_form(
                    "/account/identities/unlink",
                    csrf,
                    ("identity_id", &i.id),
                    "Unlink",
                    &format!("Unlink {}", i.provider),
                ),
            )
        })
        .collect();
    entries_or(
        identities,
        "No identity provider is linked to your account.",
    )
}

/// A section's `<li>` entries as a list, or `none` said when there are none.
fn entries_or(items: String, none: &str) -> String {
    if items.is_empty() {
        format!("<p class=\"lead\">{}</p>", text(none))
    } else {
        format!("<ul class=\"entries\">{items}</ul>")
    }
}

/// A Unix time as `YYYY-MM-DD HH:MM UTC` in a `<time>` element.
fn date(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (h, min) = (secs / 3600, secs % 3600 / 60);
    format!(
        "<time datetime=\"{y:04}-{m:02}-{d:02}T{h:02}:{min:02}Z\">{y:04}-{m:02}-{d:02} {h:02}:{min:02} UTC</time>"
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_calendar_dates() {
        assert!(super::date(0).contains(">1970-01-01 00:00 UTC<"));
        assert!(super::date(951_782_400).contains(">2000-02-29 00:00 UTC<"));
        assert!(super::date(1_796_570_000).contains(">2026-12-06 15:13 UTC<"));
        assert!(super::date(1_709_210_096).contains(">2024-02-29 12:34 UTC<"));
    }
}
