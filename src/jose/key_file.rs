//! The signing-key file and the key lifecycle: `next` (published, not yet signing) →
//! `current` (signing) → `retired` (published until every token it signed has expired).

use super::jwk::{generate, Alg};
use super::JoseError;
use josekit::jwk::Jwk;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const KEY_FILE: &str = "signing-keys.json";

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
            jwk: generate(alg)?.as_ref().clone(),
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
struct FileFormat {
    keys: Vec<StoredKey>,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(KEY_FILE)
}

/// The stored keys; creates a `current` and a `next` key per algorithm on first use.
pub fn load_or_create(dir: &Path, now: i64) -> Result<Vec<StoredKey>, JoseError> {
    let file = path(dir);
    if file.exists() {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| JoseError::Keys(format!("{}: {e}", file.display())))?;
        let parsed: FileFormat = serde_json::from_str(&text)
            .map_err(|e| JoseError::Keys(format!("{}: {e}", file.display())))?;
        return Ok(parsed.keys);
    }
    let mut keys = Vec::new();
    for alg in Alg::ALL {
        keys.push(StoredKey::new(alg, Status::Current, now)?);
        keys.push(StoredKey::new(alg, Status::Next, now)?);
    }
    save(dir, &keys)?;
    Ok(keys)
}

/// Writes the key file atomically (a running server never reads half a file).
pub fn save(dir: &Path, keys: &[StoredKey]) -> Result<(), JoseError> {
    std::fs::create_dir_all(dir).map_err(|e| JoseError::Keys(e.to_string()))?;
    let text = serde_json::to_string_pretty(&FileFormat {
        keys: keys.to_vec(),
    })
    .map_err(|e| JoseError::Keys(e.to_string()))?;
    let tmp = dir.join(format!("{KEY_FILE}.tmp"));
    crate::files::write_private(&tmp, &text)
        .map_err(|e| JoseError::Keys(format!("{}: {e}", tmp.display())))?;
    std::fs::rename(&tmp, path(dir)).map_err(|e| JoseError::Keys(e.to_string()))
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
