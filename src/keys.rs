//! Signing-key rotation at runtime: a running provider reloads the key file when it changes
//! (after `consentry keys rotate`, or another node's rotation) and, when configured, rotates
//! on schedule. No restart; tokens signed by retired keys keep verifying.

use crate::jose::key_file::{self, Status};
use crate::jose::KeySet;
use crate::provider::Provider;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the key file is checked for changes.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// How long a retired key stays published (`protocol::key_retention`).
pub fn retention_secs(p: &Provider) -> i64 {
    crate::protocol::key_retention::retention_secs(&p.config.lifetimes)
}

/// Rotates the key file in `dir` and returns the new set.
pub fn rotate(
    dir: &std::path::Path,
    now: i64,
    retention: i64,
) -> anyhow::Result<Vec<key_file::StoredKey>> {
    let mut keys = key_file::load_or_create(dir, now)?;
    key_file::rotate(&mut keys, now, retention)?;
    key_file::save(dir, &keys)?;
    Ok(keys)
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Reloads the keys when the file changes, and rotates them when they are due.
pub async fn watch(p: Arc<Provider>) {
    let dir = p.config.keys_dir();
    let file = key_file::path(&dir);
    let mut seen = modified(&file);
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tick.tick().await;
        if let Some(period) = p.config.keys.rotate_after_secs {
            if let Err(e) = rotate_if_due(&p, &dir, period) {
                tracing::warn!(error = %e, "scheduled key rotation failed");
            }
        }
        let now_modified = modified(&file);
        if now_modified == seen {
            continue;
        }
        seen = now_modified;
        match key_file::load_or_create(&dir, p.now()).and_then(|k| KeySet::from_stored(&k)) {
            Ok(set) => {
                p.keys.store(Arc::new(set));
                tracing::info!("signing keys reloaded");
            }
            Err(e) => tracing::warn!(error = %e, "key file unreadable; keeping the previous keys"),
        }
    }
}

fn rotate_if_due(p: &Provider, dir: &std::path::Path, period: i64) -> anyhow::Result<()> {
    let now = p.now();
    let keys = key_file::load_or_create(dir, now)?;
    let due = keys.iter().any(|k| {
        k.status == Status::Current && k.activated_at.unwrap_or(k.created_at) + period <= now
    });
    if due {
        rotate(dir, now, retention_secs(p))?;
        tracing::info!("signing keys rotated on schedule");
    }
    Ok(())
}
