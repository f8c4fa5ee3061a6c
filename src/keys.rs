//! Signing keys shared by every node through the database: the whole key set (next, current
//! and retired keys) is one document sealed with the operator's data key (`sealing`; private
//! keys never sit in plain in the database) in one row with a version.
//!
//! - The first node to start stores the set: the key file of an earlier version
//!   (`keys/signing-keys.json`) when there is one, so an installation keeps its keys, else a
//!   new set. Nodes starting at the same instant end up with one set (an insert that does
//!   nothing when a set exists, then a read).
//! - Each node reads the set's version every [`CHECK_EVERY`] (2 s) and reloads the set when it
//!   changed: a rotation by any node or by `consentry keys rotate` is served by every node
//!   within 2 s plus one database read.
//! - A rotation is a conditional update on the version it read, so of two rotations racing
//!   one wins; the loser reads again (a scheduled rotation then finds nothing due). Rotations
//!   are at least [`MIN_ROTATION_SPACING_SECS`] apart, so every node has published a key as
//!   `next` before any node signs with it, and no token fails verification on a node that has
//!   not seen the latest rotation yet.

use crate::jose::stored_keys::{self, Status, StoredKey};
use crate::jose::KeySet;
use crate::provider::Provider;
use crate::sealing::Sealer;
use crate::store::signing_keys::SealedKeySet;
use crate::store::Store;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often each node reads the stored key set's version: the bound within which a rotation
/// made anywhere reaches every node (plus one database read).
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Least time between two rotations: several checks, leaving room for the machines' clocks to
/// differ, so that every node has published the keys one rotation made `next` before the next
/// rotation makes them sign.
pub const MIN_ROTATION_SPACING_SECS: i64 = 10;

/// How many times a rotation that lost a race reads the keys again and retries.
const ROTATION_ATTEMPTS: usize = 3;

/// The stored key set, opened.
pub struct StoredKeySet {
    pub version: i64,
    pub keys: Vec<StoredKey>,
}

impl StoredKeySet {
    /// The set, ready to sign and verify.
    pub fn key_set(&self) -> anyhow::Result<KeySet> {
        Ok(KeySet::from_stored(&self.keys)?)
    }
}

/// How long a retired key stays published (`protocol::key_retention`).
pub fn retention_secs(p: &Provider) -> i64 {
    crate::protocol::key_retention::retention_secs(&p.config.lifetimes)
}

fn open(sealer: &Sealer, row: SealedKeySet) -> anyhow::Result<StoredKeySet> {
    let text = sealer.open(&row.sealed).ok_or_else(|| {
        anyhow::anyhow!(
            "the signing keys in the database are sealed under another data key: give this \
             node the data key of the others (--data-key FILE, or keys/data.key)"
        )
    })?;
    Ok(StoredKeySet {
        version: row.version,
        keys: stored_keys::from_document(&text)?,
    })
}

fn seal(sealer: &Sealer, keys: &[StoredKey]) -> anyhow::Result<String> {
    Ok(sealer.seal(&stored_keys::to_document(keys)?))
}

/// The stored key set, if there is one.
pub async fn load(store: &Store, sealer: &Sealer) -> anyhow::Result<Option<StoredKeySet>> {
    match store.read(|tx| tx.signing_keys().get()).await? {
        Some(row) => open(sealer, row).map(Some),
        None => Ok(None),
    }
}

/// The stored key set; on a database without one, stores the key file an earlier version
/// left in `keys_dir` (imported once; it is not written any more), else a new set.
pub async fn load_or_create(
    store: &Store,
    sealer: &Sealer,
    keys_dir: &Path,
    now: i64,
) -> anyhow::Result<StoredKeySet> {
    if let Some(set) = load(store, sealer).await? {
        return Ok(set);
    }
    let (keys, imported) = match stored_keys::read_legacy_file(keys_dir)? {
        Some(keys) => (keys, true),
        None => (stored_keys::generate(now)?, false),
    };
    let sealed = seal(sealer, &keys)?;
    let stored = store
        .write(move |tx| tx.signing_keys().insert_if_absent(&sealed, now))
        .await?;
    if stored && imported {
        tracing::info!(
            file = %stored_keys::legacy_path(keys_dir).display(),
            "signing keys imported into the database; the file is no longer read"
        );
    } else if stored {
        tracing::info!("signing keys generated and stored in the database");
    }
    // Ours, or the set another node stored first.
    load(store, sealer)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the signing keys were stored but cannot be read back"))
}

/// Seconds left before the set may rotate again, when it rotated less than
/// [`MIN_ROTATION_SPACING_SECS`] ago. A set never rotated (version 1) was loaded by every
/// node at its start, so it may rotate at once.
fn too_soon(set: &StoredKeySet, now: i64) -> Option<i64> {
    if set.version <= 1 {
        return None;
    }
    let last = stored_keys::last_change(&set.keys)?;
    let wait = last + MIN_ROTATION_SPACING_SECS - now;
    (wait > 0).then_some(wait)
}

/// Rotates the stored set when `wanted` says so of the set as read, as one conditional
/// update; a rotation that lost a race to another reads again and asks `wanted` again.
/// The rotated set, or `None` when `wanted` declined.
async fn rotate_when(
    store: &Store,
    sealer: &Sealer,
    keys_dir: &Path,
    now: i64,
    retention: i64,
    wanted: impl Fn(&StoredKeySet) -> anyhow::Result<bool>,
) -> anyhow::Result<Option<StoredKeySet>> {
    for _ in 0..ROTATION_ATTEMPTS {
        let set = load_or_create(store, sealer, keys_dir, now).await?;
        if !wanted(&set)? {
            return Ok(None);
        }
        let mut keys = set.keys;
        stored_keys::rotate(&mut keys, now, retention)?;
        let sealed = seal(sealer, &keys)?;
        let version = set.version;
        let won = store
            .write(move |tx| tx.signing_keys().replace_if_version(version, &sealed, now))
            .await?;
        if won {
            return Ok(Some(StoredKeySet {
                version: version + 1,
                keys,
            }));
        }
        tracing::info!("another rotation changed the signing keys first; reading them again");
    }
    anyhow::bail!("the signing keys kept changing during the rotation; try again")
}

/// Rotates the stored keys now (`consentry keys rotate`): refused while the last rotation is
/// less than [`MIN_ROTATION_SPACING_SECS`] old.
pub async fn rotate(
    store: &Store,
    sealer: &Sealer,
    keys_dir: &Path,
    now: i64,
    retention: i64,
) -> anyhow::Result<StoredKeySet> {
    let rotated = rotate_when(
        store,
        sealer,
        keys_dir,
        now,
        retention,
        |set| match too_soon(set, now) {
            Some(wait) => anyhow::bail!(
                "the signing keys rotated less than {MIN_ROTATION_SPACING_SECS} s ago: every \
                 node must publish the new keys before the next rotation; try again in {wait} s"
            ),
            None => Ok(true),
        },
    )
    .await?;
    rotated.ok_or_else(|| anyhow::anyhow!("the signing keys were not rotated"))
}

/// Reloads the keys when their stored version changes, and rotates them when they are due.
pub async fn watch(p: Arc<Provider>) {
    // The set this node serves, once the first check has loaded it (it may have rotated since
    // start-up).
    let mut serving: Option<StoredKeySet> = None;
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let (Some(period), Some(set)) = (p.config.keys.rotate_after_secs, &serving) {
            // Judged on the set in hand first, so that a check costs one read of the version.
            if rotation_due(set, period, p.now()) {
                if let Err(e) = rotate_if_due(&p, period).await {
                    tracing::warn!(error = %e, "scheduled key rotation failed");
                }
            }
        }
        let version = match p.store.read(|tx| tx.signing_keys().version()).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "signing keys unreadable; keeping the previous keys");
                continue;
            }
        };
        if version.is_some() && version == serving.as_ref().map(|s| s.version) {
            continue;
        }
        match reload(&p).await {
            Ok(set) => {
                if serving.is_some() {
                    tracing::info!(version = set.version, "signing keys reloaded");
                }
                serving = Some(set);
            }
            Err(e) => {
                tracing::warn!(error = %e, "signing keys unreadable; keeping the previous keys")
            }
        }
    }
}

/// Loads the stored set into the running provider.
async fn reload(p: &Provider) -> anyhow::Result<StoredKeySet> {
    let set = load_or_create(&p.store, &p.sealer, &p.config.keys_dir(), p.now()).await?;
    p.keys.store(Arc::new(set.key_set()?));
    Ok(set)
}

/// Whether a `current` key of `set` has signed for `period` seconds, and the last rotation is
/// far enough back.
fn rotation_due(set: &StoredKeySet, period: i64, now: i64) -> bool {
    let due = set.keys.iter().any(|k| {
        k.status == Status::Current && k.activated_at.unwrap_or(k.created_at) + period <= now
    });
    due && too_soon(set, now).is_none()
}

/// Rotates the stored keys if they are still due once read again: of several nodes finding
/// them due at the same instant, one rotates them and the others then find nothing due.
async fn rotate_if_due(p: &Provider, period: i64) -> anyhow::Result<()> {
    let now = p.now();
    let due = |set: &StoredKeySet| Ok(rotation_due(set, period, now));
    let dir = p.config.keys_dir();
    if rotate_when(&p.store, &p.sealer, &dir, now, retention_secs(p), due)
        .await?
        .is_some()
    {
        tracing::info!("signing keys rotated on schedule");
    }
    Ok(())
}
