//! The signing keys as stored, and the key lifecycle: `next` (published, not yet signing) →
//! `current` (signing) → `retired` (published until every token it signed has expired).
//! The whole set is one JSON document (`{"keys": [...]}`, private JWKs): the database holds it
//! sealed (`crate::keys`); earlier versions kept it in `keys/signing-keys.json`, which is read
//! once to import it.

use super::jwk::{generate as generate_jwk, Alg};
use super::JoseError;
use josekit::jwk::Jwk;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Where earlier versions kept the key set, under the keys folder.
pub const LEGACY_FILE: &str = "signing-keys.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Next,
    Current,
    Retired,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    /// The private JWK, with `kid`, `alg` and `use`.
    pub jwk: serde_json::Map<String, serde_json::Value>,
    pub status: Status,
    pub created_at: i64,
    /// When it became `current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
}

impl StoredKey {
    fn new(alg: Alg, status: Status, now: i64) -> Result<StoredKey, JoseError> {
        Ok(StoredKey {
            jwk: generate_jwk(alg)?.as_ref().clone(),
            status,
            created_at: now,
            activated_at: (status == Status::Current).then_some(now),
            retired_at: None,
        })
    }

    pub fn kid(&self) -> &str {
        self.jwk
            .get("kid")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
    }

    pub fn alg(&self) -> Option<Alg> {
        self.jwk
            .get("alg")
            .and_then(|v| v.as_str())
            .and_then(Alg::parse)
    }

    pub fn to_jwk(&self) -> Result<Jwk, JoseError> {
        Jwk::from_map(self.jwk.clone()).map_err(|e| JoseError::Keys(e.to_string()))
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Document {
    keys: Vec<StoredKey>,
}

/// A new key set: a `current` and a `next` key per algorithm.
pub fn generate(now: i64) -> Result<Vec<StoredKey>, JoseError> {
    let mut keys = Vec::new();
    for alg in Alg::ALL {
        keys.push(StoredKey::new(alg, Status::Current, now)?);
        keys.push(StoredKey::new(alg, Status::Next, now)?);
    }
    Ok(keys)
}

/// The key set as one JSON document (private keys included: seal it before storing it).
pub fn to_document(keys: &[StoredKey]) -> Result<String, JoseError> {
    serde_json::to_string(&Document {
        keys: keys.to_vec(),
    })
    .map_err(|e| JoseError::Keys(e.to_string()))
}

/// The key set a document holds.
pub fn from_document(text: &str) -> Result<Vec<StoredKey>, JoseError> {
    let doc: Document =
        serde_json::from_str(text).map_err(|e| JoseError::Keys(format!("key set: {e}")))?;
    if doc.keys.is_empty() {
        return Err(JoseError::Keys("key set: no key".into()));
    }
    Ok(doc.keys)
}

pub fn legacy_path(keys_dir: &Path) -> PathBuf {
    keys_dir.join(LEGACY_FILE)
}

/// The key set of an earlier version's key file in `keys_dir`, if there is one.
pub fn read_legacy_file(keys_dir: &Path) -> Result<Option<Vec<StoredKey>>, JoseError> {
    let file = legacy_path(keys_dir);
    match std::fs::read_to_string(&file) {
        Ok(text) => from_document(&text)
            .map(Some)
            .map_err(|e| JoseError::Keys(format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(JoseError::Keys(format!("{}: {e}", file.display()))),
    }
}

/// When the set last rotated: the time its `next` keys were made (by a rotation or, for a
/// set never rotated, at its creation).
pub fn last_change(keys: &[StoredKey]) -> Option<i64> {
    keys.iter()
        .filter(|k| k.status == Status::Next)
        .map(|k| k.created_at)
        .max()
}

/// Rotates every algorithm: `current` retires, `next` becomes `current`, and a new `next` is
/// made. Retired keys older than `retention_secs` are dropped.
pub fn rotate(keys: &mut Vec<StoredKey>, now: i64, retention_secs: i64) -> Result<(), JoseError> {
    for alg in Alg::ALL {
        for k in keys.iter_mut().filter(|k| k.alg() == Some(alg)) {
            match k.status {
                Status::Current => {
                    k.status = Status::Retired;
                    k.retired_at = Some(now);
                }
                Status::Next => {
                    k.status = Status::Current;
                    k.activated_at = Some(now);
                }
                Status::Retired => {}
            }
        }
        if !keys
            .iter()
            .any(|k| k.alg() == Some(alg) && k.status == Status::Current)
        {
            keys.push(StoredKey::new(alg, Status::Current, now)?);
        }
        keys.push(StoredKey::new(alg, Status::Next, now)?);
    }
    prune(keys, now, retention_secs);
    Ok(())
}

/// Drops retired keys whose tokens have all expired.
pub fn prune(keys: &mut Vec<StoredKey>, now: i64, retention_secs: i64) {
    keys.retain(|k| {
        k.status != Status::Retired || k.retired_at.is_none_or(|r| r + retention_secs > now)
    });
}
