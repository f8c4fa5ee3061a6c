//! Storage that outlives a journey, for scripts: `storage_get`, `storage_set`,
//! `storage_delete` and `storage_incr`, kept in the provider's database (so every node sees
//! the same values), under the calling institution's id only, each value until its expiry.

use super::call::{context, fail, HostResult, Services};
use crate::store::plugin_storage::Refused;
use crate::store::{StoreResult, Tx};
use rhai::{Dynamic, Engine};

/// Longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 200;
/// Largest value, as JSON text.
pub const MAX_VALUE_BYTES: usize = 16 * 1024;
/// Live keys one institution may hold.
pub const MAX_KEYS: i64 = 10_000;
/// Longest time to live: 90 days.
pub const MAX_TTL_SECS: i64 = 90 * 24 * 3600;

pub fn register(e: &mut Engine) {
    use super::host_fn::host_fn;
    host_fn(
        e,
        "storage_get",
        ["key"],
        "The value this institution stored under `key`, or `()` when there is none or it has \
         expired. Storage outlives a journey and is shared by every node.\n\
         Throws: for a key that is empty or longer than 200 bytes; while `institution()` runs.",
        get,
    );
    host_fn(
        e,
        "storage_set",
        ["key", "value", "ttl_seconds"],
        "Keeps `value` (text, number, bool, array or map) under `key` for `ttl_seconds` (1 s to \
         90 days), replacing what was there.\n\
         Throws: for a bad key, a value over 16 KiB as JSON, a TTL out of range, or a 10,001st \
         live key of the institution; while `institution()` runs.",
        set,
    );
    host_fn(
        e,
        "storage_delete",
        ["key"],
        "Removes `key`; `true` if a live value was there.\n\
         Throws: for a bad key; while `institution()` runs.",
        delete,
    );
    host_fn(
        e,
        "storage_incr",
        ["key", "ttl_seconds"],
        "Adds one to the counter under `key` and returns the new count, in one atomic statement \
         (increments on several nodes at once each count). A counter that does not exist or has \
         expired starts at 1 and lives `ttl_seconds` from then (a fixed window).\n\
         Throws: for a bad key, a TTL out of range, a key holding something other than a \
         counter, or a 10,001st live key; while `institution()` runs.",
        incr,
    );
}

/// `storage_get(key)`: the live value, or `()`.
fn get(key: &str) -> HostResult<Dynamic> {
    let key = checked_key(key)?;
    let stored = run(Access::Read, move |tx, institution, now| {
        tx.plugin_storage().get(institution, &key, now)
    })?;
    match stored.map(|v| serde_json::from_str::<serde_json::Value>(&v)) {
        None => Ok(Dynamic::UNIT),
        Some(Ok(v)) => rhai::serde::to_dynamic(v),
        Some(Err(_)) => fail("storage_get: the stored value is not JSON"),
    }
}

/// `storage_set(key, value, ttl_seconds)`: keeps any JSON-like value for `ttl_seconds`.
fn set(key: &str, value: Dynamic, ttl_seconds: i64) -> HostResult<()> {
    let key = checked_key(key)?;
    let ttl = checked_ttl(ttl_seconds)?;
    let json: serde_json::Value = rhai::serde::from_dynamic(&value)?;
    let text = json.to_string();
    if text.len() > MAX_VALUE_BYTES {
        return fail(format!(
            "storage_set: the value is {} bytes as JSON; the limit is {MAX_VALUE_BYTES}",
            text.len()
        ));
    }
    let written = run(Access::Write, move |tx, institution, now| {
        tx.plugin_storage()
            .set(institution, &key, &text, now, now + ttl, MAX_KEYS)
    })?;
    written.or_else(refused)
}

/// `storage_delete(key)`: removes the key; whether it held a live value.
fn delete(key: &str) -> HostResult<bool> {
    let key = checked_key(key)?;
    run(Access::Write, move |tx, institution, now| {
        tx.plugin_storage().delete(institution, &key, now)
    })
}

/// `storage_incr(key, ttl_seconds)`: adds one to a counter and returns the new count; a new
/// counter lives `ttl_seconds` from its first increment. Atomic across nodes.
fn incr(key: &str, ttl_seconds: i64) -> HostResult<i64> {
    let key = checked_key(key)?;
    let ttl = checked_ttl(ttl_seconds)?;
    let counted = run(Access::Write, move |tx, institution, now| {
        tx.plugin_storage()
            .incr(institution, &key, now, now + ttl, MAX_KEYS)
    })?;
    counted.or_else(refused)
}

fn refused<T>(why: Refused) -> HostResult<T> {
    match why {
        Refused::Full => fail(format!(
            "storage: this institution already holds {MAX_KEYS} keys; delete some or let them expire"
        )),
        Refused::NotACounter => fail("storage_incr: the key holds a value that is not an integer"),
    }
}

fn checked_key(key: &str) -> HostResult<String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return fail(format!("storage: a key is 1 to {MAX_KEY_BYTES} bytes long"));
    }
    Ok(key.to_string())
}

fn checked_ttl(ttl: i64) -> HostResult<i64> {
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return fail(format!(
            "storage: ttl_seconds is 1 to {MAX_TTL_SECS} (90 days)"
        ));
    }
    Ok(ttl)
}

enum Access {
    Read,
    Write,
}

/// Runs `job` in one transaction on the provider's database for the calling institution, at
/// the current time, blocking this (hook) thread until it has committed.
fn run<T: Send + 'static>(
    access: Access,
    job: impl Fn(&Tx<'_>, &str, i64) -> StoreResult<T> + Send + 'static,
) -> HostResult<T> {
    let (institution, services) = context(|c| (c.institution.clone(), c.services.clone()));
    let Some(Services { store, runtime, .. }) = services else {
        return fail("storage is not available while institution() runs");
    };
    // The clock the script's own `now()` reads.
    let now = crate::clock::Clock::default().now();
    let job = move |tx: &Tx<'_>| job(tx, &institution, now);
    let answer = runtime.block_on(async move {
        match access {
            Access::Read => store.read(job).await,
            Access::Write => store.write(job).await,
        }
    });
    match answer {
        Ok(v) => Ok(v),
        Err(e) => {
            tracing::warn!(error = %e, "plugin storage failed");
            fail("storage: the database could not be reached; try again")
        }
    }
}
