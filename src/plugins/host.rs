//! Host functions institution scripts may call: data helpers, the operator's settings, and
//! (in `host_io`) HTTP to the institution's own hosts and JWTs with the host's keys. Nothing
//! touches files or processes.

use super::call::{fail, HostResult, CONTEXT};
use super::host_fn::host_fn;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rhai::{Dynamic, Engine};

/// `new_transactions(accounts)`: tells the client's webhook that these accounts have new
/// transactions (`[#{ id, transactions: [ids] }]`). Sent when a refresh journey completes.
fn new_transactions(accounts: rhai::Array) -> HostResult<()> {
    let accounts: serde_json::Value = rhai::serde::from_dynamic(&accounts.into())?;
    let well_formed = accounts.as_array().is_some_and(|list| {
        list.iter().all(|a| {
            a["id"].is_string()
                && a["transactions"]
                    .as_array()
                    .is_some_and(|t| t.iter().all(|x| x.is_string()))
        })
    });
    if !well_formed {
        return fail("new_transactions takes [#{ id: \"…\", transactions: [\"…\"] }]");
    }
    CONTEXT.with(|c| {
        c.borrow_mut()
            .new_transactions
            .push(serde_json::json!({ "accounts": accounts }))
    });
    Ok(())
}

/// `setting(name)`: the operator's setting for this institution.
fn setting(name: &str) -> HostResult<String> {
    CONTEXT.with(|c| {
        let c = c.borrow();
        match c.settings.get(name) {
            Some(v) => Ok(v.clone()),
            None => fail(format!(
                "setting {name} is not configured (plugins.settings.{}.{name})",
                c.institution
            )),
        }
    })
}

pub fn register(e: &mut Engine) {
    host_fn(
        e,
        "setting",
        ["name"],
        "The operator's setting `name` for this institution (`[plugins.settings.<id>]` in the \
         config file, or `CONSENTRY_PLUGINS__SETTINGS__<ID>__<NAME>`). Keep secrets here, not in \
         scripts. A `hosts` setting (comma separated) adds hosts `http_*` may reach.\n\
         Throws: `setting <name> is not configured` when the operator has not set it.",
        setting,
    );
    host_fn(
        e,
        "has_setting",
        ["name"],
        "Whether the operator configured the setting `name` for this institution.",
        |name: &str| CONTEXT.with(|c| c.borrow().settings.contains_key(name)),
    );
    host_fn(
        e,
        "new_transactions",
        ["accounts"],
        "Tells the partner's webhook that these accounts have new transactions: \
         `[#{ id: \"…\", transactions: [\"…\"] }]`. Sent when the refresh journey completes.\n\
         Throws: when `accounts` does not have that shape.",
        new_transactions,
    );
    super::host_io::register(e);
    super::host_storage::register(e);
    host_fn(
        e,
        "json_parse",
        ["text"],
        "The value the JSON `text` holds (objects become maps, `null` becomes `()`).\n\
         Throws: `json_parse: …` when `text` is not JSON.",
        json_parse,
    );
    host_fn(
        e,
        "json_stringify",
        ["value"],
        "`value` (map, array, string, number, bool or `()`) as JSON text.\n\
         Throws: when `value` holds something JSON cannot represent (a function pointer).",
        json_stringify,
    );
    host_fn(
        e,
        "base64_encode",
        ["text"],
        "`text` (its UTF-8 bytes) in standard base64 with padding.",
        |s: &str| STANDARD.encode(s),
    );
    host_fn(
        e,
        "base64url_encode",
        ["text"],
        "`text` (its UTF-8 bytes) in base64url without padding (as in JWTs).",
        |s: &str| URL_SAFE_NO_PAD.encode(s),
    );
    host_fn(
        e,
        "base64_decode",
        ["text"],
        "The UTF-8 text standard base64 `text` encodes.\n\
         Throws: when `text` is not padded standard base64 of UTF-8 text.",
        |s: &str| decode(&STANDARD, s),
    );
    host_fn(
        e,
        "base64url_decode",
        ["text"],
        "The UTF-8 text unpadded base64url `text` encodes.\n\
         Throws: when `text` is not unpadded base64url of UTF-8 text.",
        |s: &str| decode(&URL_SAFE_NO_PAD, s),
    );
    host_fn(
        e,
        "sha256_hex",
        ["text"],
        "The SHA-256 digest of `text`, in lower-case hex.",
        |s: &str| {
            crate::secrets::hex(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
        },
    );
    host_fn(
        e,
        "hmac_sha256_hex",
        ["key", "text"],
        "The HMAC-SHA256 of `text` under `key`, in lower-case hex (e.g. to check a signed \
         callback; compare with `constant_time_eq`).",
        |key: &str, msg: &str| {
            let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
            crate::secrets::hex(ring::hmac::sign(&k, msg.as_bytes()).as_ref())
        },
    );
    // Compares a presented signature with the expected one in constant time, so a bank's
    // callback cannot be forged byte by byte from response times.
    host_fn(
        e,
        "constant_time_eq",
        ["a", "b"],
        "Whether `a` and `b` are equal, compared in constant time: use it for signatures and \
         secrets, never `==`.",
        |a: &str, b: &str| crate::secrets::ct_eq(a, b),
    );
    host_fn(
        e,
        "random_id",
        [],
        "A new random UUID (version 4), e.g. for a request id or nonce.",
        || uuid::Uuid::new_v4().to_string(),
    );
    host_fn(
        e,
        "now",
        [],
        "The current time in seconds since the Unix epoch.",
        || crate::clock::Clock::default().now(),
    );
    host_fn(
        e,
        "log_info",
        ["text"],
        "Writes `text` to the provider's log at level info, tagged with the institution (as \
         `print` does). Never log secrets or customers' data.",
        |s: &str| tracing::info!(target: "consentry::plugin", "{s}"),
    );
    host_fn(
        e,
        "log_warn",
        ["text"],
        "Writes `text` to the provider's log at level warn, tagged with the institution.",
        |s: &str| tracing::warn!(target: "consentry::plugin", "{s}"),
    );
}

fn json_parse(s: &str) -> HostResult<Dynamic> {
    let v: serde_json::Value = match serde_json::from_str(s) {
        Ok(v) => v,
        Err(e) => return fail(format!("json_parse: {e}")),
    };
    rhai::serde::to_dynamic(v)
}

fn json_stringify(v: Dynamic) -> HostResult<String> {
    let v: serde_json::Value = rhai::serde::from_dynamic(&v)?;
    Ok(v.to_string())
}

fn decode(engine: &impl base64::Engine, s: &str) -> HostResult<String> {
    match engine.decode(s).map(String::from_utf8) {
        Ok(Ok(text)) => Ok(text),
        _ => fail("base64 input is not valid base64 of UTF-8 text"),
    }
}
