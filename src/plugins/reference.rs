//! The script author's reference (`consentry plugins reference`, committed as
//! `plugins/REFERENCE.md`), generated from what the engine has registered, so it cannot drift:
//! host functions with their parameter and return types and the documentation given where they
//! are registered ([`super::host_fn::host_fn`]), the hooks of [`HOOKS`] with what the host passes and expects,
//! and the shapes of the maps the host hands to scripts.

use super::host_fn::{host_functions, FnMeta};
use super::plugin::HOOKS;
use rhai::Engine;
use std::fmt::Write as _;

/// When the host calls each hook of [`HOOKS`], and what it may return.
fn hook_doc(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "institution" => (
            "Once when the script loads (at start, and on every change of the file), with no \
             network and no settings' hosts; an error or a slow run keeps the script from loading.",
            "The metadata map: `#{ id, name, type, bankRef, icon?, accountTypes?, userTypes?, \
             hosts?, consentDays?, tokenHandout? }` (see README.md).",
        ),
        "connect" => (
            "When the user has consented to connect this institution (`ctx.journey` is `connect`).",
            "An answer (below).",
        ),
        "reauth" => (
            "For the `reauth` scope, with `ctx.connection` set; without it, `connect` is called.",
            "An answer (below).",
        ),
        "refresh" => (
            "For the `refresh` scope, with `ctx.connection` set; without it, `connect` is called.",
            "An answer (below).",
        ),
        "submit" => (
            "When the user submits a form the script showed; `input` maps each field's `name` to \
             what was typed (strings).",
            "An answer (below).",
        ),
        "callback" => (
            "When the institution's server answered after an `oauth` or `refresh_upstream` \
             answer; `result` is described below.",
            "An answer (below).",
        ),
        "decoupled_request" => (
            "When a partner's app asks, through CIBA, to authenticate a user who has a \
             connection to this institution.",
            "`#{ approve: true }`, `#{ deny: true }`, `#{ pending: true, reference: \"…\" }` \
             (answered later through `decoupled_callback`), or anything else to leave the \
             request to the approval page.",
        ),
        "decoupled_callback" => (
            "When the institution's backend posts to `POST /institutions/<id>/decoupled`.",
            "`#{ reference, approved: true|false }` once the script has authenticated the call; \
             `throw` to refuse it (the caller gets `401 access_denied`).",
        ),
        _ => return None,
    })
}

/// The maps the host hands to hooks, as `protocol::bank` and `protocol::ciba` build them.
const MAPS: &str = r#"## Maps the host passes

### `ctx` (`connect`, `reauth`, `refresh`, `submit`, `callback`)

| field | |
| --- | --- |
| `journey` | `"connect"`, `"reauth"` or `"refresh"` |
| `institution` | this institution's id |
| `state` | the `state` the script returned with its last answer (`()` at first) |
| `connection` | reauth and refresh only: `#{ id, status, data }`, `data` being what the script returned with `done` |

### `result` (`callback`)

After an `oauth` answer (the browser came back) or a `refresh_upstream` answer:

| field | |
| --- | --- |
| `ok` | `true` when the institution issued an access token |
| `access_token` | (`ok`) the institution's access token (the host keeps it, encrypted, with the connection) |
| `token_type` | (`ok`) as the institution sent it, or `()` |
| `expires_in` | (`ok`) seconds, as the institution sent it, or `()` |
| `scope` | (`ok`) as the institution sent it, or `()` |
| `claims` | (`ok`) the checked ID token's claims; `#{}` when there was none (plain OAuth 2, refresh) |
| `error` | (not `ok`) the OAuth error code the institution answered (or `invalid_request`, `invalid_grant`, `server_error` from the host's checks) |
| `error_description` | (not `ok`) its description, or `""` |

### `request` (`decoupled_request`)

`#{ id, user, connection, client, scopes, binding_message, expires_at }`: the CIBA request's id,
the user's id, their connection to this institution, the app's name, the scopes asked for, the
message to show on both devices (or `()`), and when the request lapses (seconds since the epoch).

### `message` (`decoupled_callback`)

`#{ method, headers, body }`: the HTTP method, the headers (lower-case names), the body as
received (UTF-8 text, at most 64 KiB).

## Answers (`connect`, `reauth`, `refresh`, `submit`, `callback`)

Exactly one of these keys, optionally with `state` (any value, handed back as `ctx.state`):

| answer | |
| --- | --- |
| `#{ form: #{ title, intro?, error?, fields: [#{ name, label, type?, value? }] } }` | shows a form (`type`: `text`, `password` or `otp`); its answers go to `submit` |
| `#{ oauth: #{ issuer, client_id, client_secret?, auth?, scope, par?, params? } }` | the host signs the user in at the institution's own server (or `authorization_endpoint` + `token_endpoint` instead of `issuer`); then `callback` |
| `#{ refresh_upstream: #{} }` | the host refreshes the connection's institution tokens; then `callback` |
| `#{ done: #{ data: #{ … } } }` | the journey succeeded; `data` is kept, encrypted, as `ctx.connection.data` |
| `#{ fail: "message" }` | the journey failed: the app gets `access_denied` with the message |

Anything else, a thrown error or a limit hit ends the journey with `server_error`.
"#;

fn signature(f: &FnMeta) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| match (&p.name, &p.ty) {
            (Some(n), Some(t)) => format!("{n}: {t}"),
            (Some(n), None) => n.clone(),
            (None, Some(t)) => format!("_: {t}"),
            (None, None) => "_".into(),
        })
        .collect();
    let ret = match f.return_type.as_str() {
        "" | "()" => String::new(),
        t => format!(" -> {t}"),
    };
    format!("{}({}){ret}", f.name, params.join(", "))
}

/// A doc comment as registered by [`host_fn`], without its `///` leaders.
fn doc_text(f: &FnMeta) -> String {
    let lines: Vec<&str> = f
        .doc_comments
        .iter()
        .flat_map(|c| c.lines())
        .map(|l| l.trim_start().trim_start_matches("///").trim())
        .collect();
    lines.join("\n\n")
}

/// The whole reference, as Markdown.
pub fn markdown(engine: &Engine) -> String {
    let mut out = String::from(
        "<!-- Generated by `consentry plugins reference > plugins/REFERENCE.md`; do not edit. -->\n\
         # Institution script reference\n\n\
         What the host calls in a script (hooks), what it passes and expects, and the host \
         functions a script may call, generated from the host's own registrations. The guide \
         is [README.md](README.md).\n\n## Hooks\n\n\
         | hook | required | called | may return |\n| --- | --- | --- | --- |\n",
    );
    for (name, params, required) in HOOKS {
        let (called, returns) = hook_doc(name).unwrap_or(("(undocumented)", "(undocumented)"));
        let _ = writeln!(
            out,
            "| `fn {name}({})` | {} | {called} | {returns} |",
            params.join(", "),
            if *required { "yes" } else { "no" }
        );
    }
    out.push('\n');
    out.push_str(MAPS);
    out.push_str(
        "\n## Host functions\n\n\
         Types: `string`, `int`, `bool`, `map`, `array`, `Dynamic` (any value). A function that \
         throws ends the hook with that error unless the script catches it (`try { … } catch \
         (e) { … }`).\n",
    );
    for (name, overloads) in host_functions(engine) {
        let _ = write!(out, "\n### `{name}`\n");
        for f in &overloads {
            let _ = write!(out, "\n`{}`\n\n{}\n", signature(f), doc_text(f));
        }
    }
    out.push_str(
        "\n## Also available\n\n\
         Rhai's standard library (strings, arrays, maps, maths, `type_of`, `Fn`, `call`, \
         closures) and `print(text)` / `debug(text)`, which write to the provider's log tagged \
         with the institution. `eval` and `import` are disabled; no file, process or clock \
         other than `now()`.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hook_is_documented() {
        for (name, ..) in HOOKS {
            assert!(
                hook_doc(name).is_some(),
                "add fn {name} to reference::hook_doc"
            );
        }
    }

    #[test]
    fn every_host_function_has_parameter_names_and_a_doc() {
        let engine = super::super::sandbox::engine(&Default::default());
        for (name, overloads) in host_functions(&engine) {
            for f in overloads {
                assert!(
                    !doc_text(&f).is_empty()
                        && f.params.iter().all(|p| p.name.as_deref().is_some_and(|n| n != "_")),
                    "register {name} with reference::host_fn, naming its parameters and documenting it"
                );
            }
        }
    }

    #[test]
    fn signatures_carry_names_and_types() {
        let engine = super::super::sandbox::engine(&Default::default());
        let text = markdown(&engine);
        assert!(
            text.contains("`http_get(url: string, headers: map) -> map`"),
            "{text}"
        );
        assert!(
            text.contains("`new_transactions(accounts: array)`"),
            "{text}"
        );
        assert!(
            text.contains("| `fn callback(ctx, result)` | no |"),
            "{text}"
        );
    }
}
