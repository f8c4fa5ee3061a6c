//! Local username/password login: argon2id hashes, and failure limits per account and per IP.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes a password with argon2id (the crate's default parameters).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// A fixed hash verified when the user does not exist, so both paths take the same time.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash_password("consentry-timing-equaliser").unwrap_or_default());

/// Verifies `password` against a stored PHC hash (or the dummy hash when there is none).
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    let stored = stored.unwrap_or(DUMMY_HASH.as_str());
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored != DUMMY_HASH.as_str()
}

/// Counts recent login failures by key (`account:NAME`, `ip:ADDR`) in a sliding window.
pub struct LoginLimiter {
    window_secs: i64,
    failures: Mutex<HashMap<String, VecDeque<i64>>>,
}

impl LoginLimiter {
    pub fn new(window_secs: i64) -> Self {
        LoginLimiter {
            window_secs,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Failures for `key` within the window ending at `now`.
    pub fn count(&self, key: &str, now: i64) -> u32 {
        let mut map = self.failures.lock();
        let Some(q) = map.get_mut(key) else { return 0 };
        while q.front().is_some_and(|t| *t <= now - self.window_secs) {
            q.pop_front();
        }
        let n = q.len() as u32;
        if n == 0 {
            map.remove(key);
        }
        n
    }

    pub fn record_failure(&self, key: &str, now: i64) {
        self.failures
            .lock()
            .entry(key.to_string())
            .or_default()
            .push_back(now);
    }

    pub fn clear(&self, key: &str) {
        self.failures.lock().remove(key);
    }
}
