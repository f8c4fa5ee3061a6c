//! Host functions institution scripts may call: data helpers, the operator's settings, and
//! (in `host_io`) HTTP to the institution's own hosts and JWTs with the host's keys. Nothing
//! touches files or processes.

use super::call::{fail, HostResult, CONTEXT};
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
    e.register_fn("setting", setting);
    e.register_fn("new_transactions", new_transactions);
    e.register_fn("has_setting", |name: &str| {
        CONTEXT.with(|c| c.borrow().settings.contains_key(name))
    });
    super::host_io::register(e);
    super::host_storage::register(e);
    e.register_fn("json_parse", json_parse);
    e.register_fn("json_stringify", json_stringify);
    e.register_fn("base64_encode", |s: &str| STANDARD.encode(s));
    e.register_fn("base64url_encode", |s: &str| URL_SAFE_NO_PAD.encode(s));
    e.register_fn("base64_decode", |s: &str| decode(&STANDARD, s));
    e.register_fn("base64url_decode", |s: &str| decode(&URL_SAFE_NO_PAD, s));
    e.register_fn("sha256_hex", |s: &str| {
        crate::secrets::hex(ring::digest::digest(&ring::digest::SHA256, s.as_bytes()).as_ref())
    });
    e.register_fn("hmac_sha256_hex", |key: &str, msg: &str| {
        let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
        crate::secrets::hex(ring::hmac::sign(&k, msg.as_bytes()).as_ref())
    });
    // Compares a presented signature with the expected one in constant time, so a bank's
    // callback cannot be forged byte by byte from response times.
    e.register_fn("constant_time_eq", |a: &str, b: &str| {
        crate::secrets::ct_eq(a, b)
    });
    e.register_fn("random_id", || uuid::Uuid::new_v4().to_string());
    e.register_fn("now", || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    });
    e.register_fn(
        "log_info",
        |s: &str| tracing::info!(target: "consentry::plugin", "{s}"),
    );
    e.register_fn(
        "log_warn",
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
