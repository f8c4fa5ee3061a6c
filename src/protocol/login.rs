//! Local username/password login: argon2id hashes, and failure limits per account and per IP.

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// Largest argon2 memory a stored hash may ask for (in 1 KiB blocks): 256 MiB.
const MAX_BLOCKS: usize = 256 * 1024;

/// Verifies `password` against a stored PHC hash (or the dummy hash when there is none, so
/// unknown accounts cost the same), computing in `memory` (grown as the hash's parameters
/// need, and kept for the next call).
pub fn verify_password_in(memory: &mut Vec<Block>, password: &str, stored: Option<&str>) -> bool {
    let stored = stored.unwrap_or(DUMMY_HASH.as_str());
    let ok = recompute(memory, password, stored).is_some_and(|(fresh, expected)| {
        subtle::ConstantTimeEq::ct_eq(fresh.as_slice(), expected.as_slice()).into()
    });
    ok && stored != DUMMY_HASH.as_str()
}

/// The hash of `password` under the stored hash's algorithm, version, parameters and salt,
/// with the stored output to compare it to.
fn recompute(memory: &mut Vec<Block>, password: &str, stored: &str) -> Option<(Vec<u8>, Vec<u8>)> {
    let parsed = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(parsed.algorithm).ok()?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&parsed).ok()?;
    let expected = parsed.hash?.as_bytes().to_vec();
    let mut salt = [0u8; 64];
    let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return None;
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut fresh = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt,
            &mut fresh,
            &mut memory[..blocks],
        )
        .ok()?;
    Some((fresh, expected))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_in_reused_memory_matches_only_the_right_password() {
        let stored = hash_password("correct horse").unwrap();
        let mut memory = Vec::new();
        assert!(verify_password_in(
            &mut memory,
            "correct horse",
            Some(&stored)
        ));
        let grown = memory.len();
        assert_eq!(grown, argon2::Params::DEFAULT.block_count());
        assert!(!verify_password_in(
            &mut memory,
            "correct horsE",
            Some(&stored)
        ));
        assert!(verify_password_in(
            &mut memory,
            "correct horse",
            Some(&stored)
        ));
        assert_eq!(memory.len(), grown, "the memory is reused, not grown again");
        // The argon2 crate's own verifier agrees with ours.
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        // Unknown accounts (the dummy hash) and unreadable hashes never match.
        assert!(!verify_password_in(
            &mut memory,
            "consentry-timing-equaliser",
            None
        ));
        assert!(!verify_password_in(
            &mut memory,
            "x",
            Some("not a PHC string")
        ));
        let huge = stored.replace("m=19456", "m=4194304");
        assert_ne!(huge, stored);
        assert!(!verify_password_in(
            &mut memory,
            "correct horse",
            Some(&huge)
        ));
    }
}
