//! Server-rendered pages: login, consent and errors. Every value is HTML-escaped.

pub mod ciba;

use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};

mod account;
pub use account::{account_login, dashboard, Notice};
pub mod logout;

/// The stylesheet served at `/assets/consentry.css` (CSP allows styles from self only).
pub const STYLESHEET: &str = include_str!("consentry.css");

pub(crate) fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · Consentry</title><link rel=\"stylesheet\" href=\"/assets/consentry.css\"></head>\
<body><main class=\"card\">{body}</main></body></html>\n",
        title = text(title)
    )
}

/// What the login and consent pages show of the client: its name and, when registered
/// (RFC 7591 §2), its logo and the links to its privacy policy and terms of service.
pub struct ClientDisplay<'a> {
    pub name: &'a str,
    pub logo_uri: Option<&'a str>,
    pub policy_uri: Option<&'a str>,
    pub tos_uri: Option<&'a str>,
}

impl ClientDisplay<'_> {
    /// The logo, above the heading; its alt text is the client's name.
    fn logo(&self) -> String {
        self.logo_uri
            .map(|uri| {
                format!(
                    "<img class=\"client-logo\" src=\"{src}\" alt=\"{name}\" referrerpolicy=\"no-referrer\">",
                    src = attr(uri),
                    name = attr(self.name),
                )
            })
            .unwrap_or_default()
    }

    /// The links to the client's policy and terms, opened apart from this page.
    fn links(&self) -> String {
        let links: Vec<String> = [
            (self.policy_uri, "Privacy policy"),
            (self.tos_uri, "Terms of service"),
        ]
        .into_iter()
        .filter_map(|(uri, label)| {
            uri.map(|uri| {
                format!(
                    "<a href=\"{href}\" target=\"_blank\" rel=\"noopener noreferrer\">{name}: {label}</a>",
                    href = attr(uri),
                    name = text(self.name),
                )
            })
        })
        .collect();
        if links.is_empty() {
            return String::new();
        }
        format!("<p class=\"client-links\">{}</p>", links.join(" · "))
    }
}

/// An upstream identity provider offered on the login page.
pub struct FederatedButton<'a> {
    pub id: &'a str,
    pub name: &'a str,
}

pub fn login(
    uid: &str,
    csrf: &str,
    client: &ClientDisplay,
    username: &str,
    error: Option<&str>,
    federated: &[FederatedButton],
) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e)))
        .unwrap_or_default();
    layout(
        "Sign in",
        &format!(
            "{logo}<h1>Sign in</h1><p class=\"lead\">to continue to <strong>{client}</strong></p>{error}\
<form method=\"post\" action=\"/interaction/{uid}/login\" autocomplete=\"on\">\
{fields}<div class=\"actions\"><button type=\"submit\">Sign in</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" formaction=\"/interaction/{uid}/consent\" formnovalidate class=\"secondary\">Cancel</button></div></form>{federated}{links}",
            logo = client.logo(),
            links = client.links(),
            client = text(client.name),
            uid = attr(uid),
            fields = login_fields(csrf, username),
            federated = federated_buttons(&format!("/interaction/{uid}"), csrf, federated),
        ),
    )
}

/// One small form per upstream identity provider: a POST to `{base}/federated/{id}` carrying
/// the CSRF token.
fn federated_buttons(base: &str, csrf: &str, providers: &[FederatedButton]) -> String {
    if providers.is_empty() {
        return String::new();
    }
    let forms: String = providers
        .iter()
        .map(|p| {
            format!(
                "<form method=\"post\" action=\"{base}/federated/{id}\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<button type=\"submit\" class=\"secondary\">Sign in with {name}</button></form>",
                base = attr(base),
                id = attr(p.id),
                csrf = attr(csrf),
                name = text(p.name),
            )
        })
        .collect();
    format!("<section class=\"federated\" aria-label=\"Other ways to sign in\"><p class=\"lead\">or</p>{forms}</section>")
}

/// A page holding a sign-in form that posts to `action` (the dashboard's, the CIBA approval
/// page's); `lead` says what signing in is for, `error` why the last try failed, and `after`
/// follows the form (the dashboard's provider buttons).
pub fn sign_in_page(
    action: &str,
    lead: &str,
    csrf: &str,
    username: &str,
    error: Option<&str>,
    after: &str,
) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e)))
        .unwrap_or_default();
    layout(
        "Sign in",
        &format!(
            "<h1>Sign in</h1><p class=\"lead\">{lead}</p>{error}\
<form method=\"post\" action=\"{action}\" autocomplete=\"on\">{fields}\
<div class=\"actions\"><button type=\"submit\">Sign in</button></div></form>{after}",
            lead = text(lead),
            action = attr(action),
            fields = login_fields(csrf, username),
        ),
    )
}

/// The fields of every sign-in form: the CSRF token, the username and the password.
fn login_fields(csrf: &str, username: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<label for=\"username\">Username</label>\
<input id=\"username\" name=\"username\" type=\"text\" autocomplete=\"username\" required autofocus value=\"{username}\">\
<label for=\"password\">Password</label>\
<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>",
        csrf = attr(csrf),
        username = attr(username),
    )
}

/// One institution in the chooser.
pub struct ChooserEntry<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub bank_ref: &'a str,
    pub kind: &'a str,
}

/// The bank chooser: a search box (a plain GET, no script) and one button per institution.
pub fn chooser(
    uid: &str,
    csrf: &str,
    client_name: &str,
    query: &str,
    entries: &[ChooserEntry],
) -> String {
    let items: String = entries
        .iter()
        .map(|e| {
            format!(
                "<li><button type=\"submit\" name=\"institution\" value=\"{id}\" class=\"bank\">\
<img src=\"/bank-icons/{bank_ref}?defaultIcon=true\" alt=\"\" width=\"32\" height=\"32\">\
<span>{name}</span> <small aria-hidden=\"true\">{kind}</small></button></li>",
                id = attr(e.id),
                bank_ref = attr(e.bank_ref),
                name = text(e.name),
                kind = text(e.kind),
            )
        })
        .collect();
    let list = if entries.is_empty() {
        "<p class=\"lead\">No institution matches your search.</p>".to_string()
    } else {
        format!(
            "<form method=\"post\" action=\"/interaction/{uid}/choose\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\"><ul class=\"banks\">{items}</ul></form>",
            uid = attr(uid),
            csrf = attr(csrf),
        )
    };
    layout(
        "Choose your bank",
        &format!(
            "<h1>Choose your bank</h1><p class=\"lead\">to connect to <strong>{client}</strong></p>\
<form method=\"get\" action=\"/interaction/{uid}\" role=\"search\">\
<label for=\"q\">Search</label><input id=\"q\" name=\"q\" type=\"search\" value=\"{query}\" autofocus>\
<button type=\"submit\" class=\"secondary\">Search</button></form>{list}",
            client = text(client_name),
            uid = attr(uid),
            query = attr(query),
        ),
    )
}

/// A form an institution's script asked for (credentials, one-time codes).
pub fn bank_form(uid: &str, csrf: &str, institution: &str, form: &crate::plugins::Form) -> String {
    let error = form
        .error
        .as_deref()
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e)))
        .unwrap_or_default();
    let intro = form
        .intro
        .as_deref()
        .map(|i| format!("<p>{}</p>", text(i)))
        .unwrap_or_default();
    let fields: String = form
        .fields
        .iter()
        .enumerate()
        .map(|(n, f)| {
            let value = f
                .value
                .as_deref()
                .filter(|_| f.kind == "text")
                .map(|v| format!(" value=\"{}\"", attr(v)))
                .unwrap_or_default();
            let (kind, extra) = match f.kind.as_str() {
                "password" => ("password", " autocomplete=\"current-password\"".to_string()),
                "otp" => (
                    "text",
                    " inputmode=\"numeric\" autocomplete=\"one-time-code\"".to_string(),
                ),
                _ => ("text", format!(" autocomplete=\"off\"{value}")),
            };
            format!(
                "<label for=\"f{n}\">{label}</label>\
<input id=\"f{n}\" name=\"{name}\" type=\"{kind}\"{extra} required{focus}>",
                label = text(&f.label),
                name = attr(&f.name),
                focus = if n == 0 { " autofocus" } else { "" },
            )
        })
        .collect();
    layout(
        &form.title,
        &format!(
            "<h1>{title}</h1><p class=\"lead\">{institution}</p>{intro}{error}\
<form method=\"post\" action=\"/interaction/{uid}/journey\" autocomplete=\"off\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">{fields}\
<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"cancel\" formnovalidate class=\"secondary\">Cancel</button>\
<button type=\"submit\" name=\"action\" value=\"submit\">Continue</button></div></form>",
            title = text(&form.title),
            institution = text(institution),
            uid = attr(uid),
            csrf = attr(csrf),
        ),
    )
}

/// The message an institution's script ended its journey on, and one button back to the app.
pub fn bank_message(
    uid: &str,
    csrf: &str,
    institution: &str,
    message: &crate::plugins::Message,
) -> String {
    layout(
        &message.title,
        &format!(
            "<h1>{title}</h1><p class=\"lead\">{institution}</p><p role=\"status\">{text}</p>\
<form method=\"post\" action=\"/interaction/{uid}/journey\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"continue\">Return to the app</button></div></form>",
            title = text(&message.title),
            institution = text(institution),
            text = text(&message.text),
            uid = attr(uid),
            csrf = attr(csrf),
        ),
    )
}

/// The grant's spending limit, in words ("up to £100.00 per month"), as every page where the
/// user approves a grant says it.
pub fn budget_line(budget: Option<&str>) -> String {
    budget
        .map(|b| {
            format!(
                "<p class=\"budget\">Spending limit: <strong>{}</strong>.</p>",
                text(b)
            )
        })
        .unwrap_or_default()
}

pub fn consent(
    uid: &str,
    csrf: &str,
    client: &ClientDisplay,
    institution: Option<&str>,
    scopes: &[(String, &str)],
    user_code: Option<&str>,
    budget: Option<&str>,
) -> String {
    let budget = budget_line(budget);
    // RFC 8628 §5.4: the user checks that the code is the one their device shows.
    let user_code = user_code
        .map(|c| {
            format!(
                "<p>Code on your device: <strong class=\"user-code\">{}</strong>. Allow only if your device shows this code.</p>",
                text(c)
            )
        })
        .unwrap_or_default();
    let institution = institution
        .map(|i| {
            format!(
                "<p>Your bank: <span class=\"institution\">{}</span></p>",
                text(i)
            )
        })
        .unwrap_or_default();
    let items: String = scopes
        .iter()
        .map(|(s, d)| {
            format!(
                "<li><span class=\"desc\">{}</span> <code>{}</code></li>",
                text(d),
                text(s)
            )
        })
        .collect();
    layout(
        "Allow access",
        &format!(
            "{logo}<h1>Allow access</h1><p class=\"lead\"><strong>{client}</strong> is asking to:</p>\
{user_code}{institution}<ul class=\"scopes\">{items}</ul>{budget}\
<form method=\"post\" action=\"/interaction/{uid}/consent\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<div class=\"actions\"><button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Cancel</button>\
<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button></div></form>{links}",
            logo = client.logo(),
            links = client.links(),
            client = text(client.name),
            uid = attr(uid),
            csrf = attr(csrf),
        ),
    )
}

/// RFC 8628 §3.3: the verification page, where the user enters the code their device shows.
/// A `user_code` from `verification_uri_complete` is filled in; the user still confirms it.
pub fn device_entry(csrf: &str, user_code: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", text(e)))
        .unwrap_or_default();
    layout(
        "Connect a device",
        &format!(
            "<h1>Connect a device</h1><p class=\"lead\">Enter the code your device shows.</p>{error}\
<form method=\"post\" action=\"/device\" autocomplete=\"off\">\
<input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
<label for=\"user_code\">Code</label>\
<input id=\"user_code\" name=\"user_code\" type=\"text\" required autofocus autocapitalize=\"characters\" spellcheck=\"false\" placeholder=\"XXXX-XXXX\" value=\"{code}\">\
<div class=\"actions\"><button type=\"submit\">Continue</button></div></form>",
            csrf = attr(csrf),
            code = attr(user_code),
        ),
    )
}

/// The end of a device sign-in: approved, or why not. Either way the user returns to the device.
pub fn device_done(error: Option<&str>) -> String {
    match error {
        None => layout(
            "Device connected",
            "<h1>Device connected</h1><p class=\"lead\">You can return to your device; it will continue on its own.</p>",
        ),
        Some(e) => layout(
            "Device not connected",
            &format!(
                "<h1>Device not connected</h1><p class=\"error\" role=\"alert\">{}</p>\
<p class=\"lead\">You can return to your device.</p>",
                text(e)
            ),
        ),
    }
}

pub fn error(title: &str, description: &str) -> String {
    layout(
        title,
        &format!(
            "<h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>",
            text(title),
            text(description)
        ),
    )
}

/// Where the user goes on from the development page of a failed script.
pub enum Continue {
    Link(String),
    /// A form-post response, submitted by the user's click (this page runs no script).
    Form {
        action: String,
        fields: Vec<(String, String)>,
    },
    /// A device sign-in: nothing to continue to but the device.
    Device,
}

/// Development mode: the script error behind a failed journey, with the way on to the app
/// (which hears only `server_error` and the error id).
pub fn script_failed(report: &crate::plugins::FailureReport, next: &Continue) -> String {
    let f = &report.failure;
    let on = match next {
        Continue::Link(url) => format!(
            "<p><a class=\"button\" href=\"{}\">Continue to the app</a></p>",
            attr(url)
        ),
        Continue::Form { action, fields } => {
            let inputs = hidden_inputs(fields);
            format!(
                "<form method=\"post\" action=\"{}\">{inputs}<button type=\"submit\">Continue to the app</button></form>",
                attr(action)
            )
        }
        Continue::Device => "<p>You can return to your device.</p>".to_string(),
    };
    layout(
        "Institution script failed",
        &format!(
            "<h1>Institution script failed</h1>\
<p class=\"lead\">Development mode: this page is shown instead of only the error id.</p>\
<dl><dt>Institution</dt><dd>{institution}</dd><dt>Hook</dt><dd><code>fn {hook}</code></dd>\
<dt>Where</dt><dd><code>{at}</code></dd><dt>Error id</dt><dd><code>{id}</code></dd></dl>\
<pre class=\"error\" role=\"alert\">{kind} failure: {message}</pre>{on}",
            institution = text(&report.institution),
            hook = text(f.hook),
            at = text(&report.location()),
            id = text(&report.error_id),
            kind = text(f.kind),
            message = text(&f.message),
        ),
    )
}

/// The fields of a form that carries a response on, as hidden inputs.
fn hidden_inputs(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                attr(k),
                attr(v)
            )
        })
        .collect()
}

/// Submits the form-post response without the user having to click.
const FORM_POST_SCRIPT: &str = "document.forms[0].submit();";

/// The CSP of the form-post page: our stylesheet, and exactly the one submitting script.
pub fn form_post_csp() -> String {
    use base64::Engine;
    let digest = ring::digest::digest(&ring::digest::SHA256, FORM_POST_SCRIPT.as_bytes());
    let hash = base64::engine::general_purpose::STANDARD.encode(digest.as_ref());
    format!("default-src 'none'; script-src 'sha256-{hash}'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'")
}

/// OAuth 2.0 Form Post Response Mode: a form that posts the response to the client.
pub fn form_post(action: &str, fields: &[(String, String)]) -> String {
    let inputs = hidden_inputs(fields);
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Returning to the app · Consentry</title>\
<link rel=\"stylesheet\" href=\"/assets/consentry.css\"></head><body><main class=\"card\">\
<form method=\"post\" action=\"{action}\">{inputs}<noscript><p>Continue to the app.</p>\
<button type=\"submit\">Continue</button></noscript></form></main><script>{FORM_POST_SCRIPT}</script></body></html>\n",
        action = attr(action)
    )
}
