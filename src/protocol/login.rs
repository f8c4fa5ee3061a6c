//! Local username/password login: argon2id hashes, the failure throttle (per account and
//! client address, and per address) and known-device values that exempt their holder.

use crate::config::LoginLimits;
use crate::store::login_failures::Failures;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// The shortest password a local user may be given.
pub const MIN_PASSWORD_LEN: usize = 8;

/// A local user (one who logs in with a username and password): the username, password and
/// standard claims checked, the password hashed with argon2id. The operator's CLI and the
/// demo create users through this, so both keep the same rules.
pub fn new_local_user(
    username: &str,
    password: &str,
    claims: &serde_json::Value,
    now: i64,
) -> crate::error::OAuthResult<crate::store::users::User> {
    use crate::error::OAuthError;
    if username.trim().is_empty() {
        return Err(OAuthError::invalid_request(
            "the username must not be empty",
        ));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(OAuthError::invalid_request(format!(
            "the password must be at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let claims = super::oidc::user_claims::validate(claims)?;
    let hash = hash_password(password).map_err(OAuthError::server)?;
    Ok(crate::store::users::User {
        id: crate::secrets::random_user_id(),
        username: Some(username.to_string()),
        password_hash: Some(hash),
        claims,
        managed_by_client: None,
        client_user_id: None,
        created_at: now,
    })
}

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

/// The first block after too many failures lasts this long; each further failure doubles it,
/// up to the configured window.
const FIRST_BLOCK_SECS: i64 = 60;

/// How long a known-device cookie exempts its holder from the per-account throttle.
pub const KNOWN_DEVICE_SECS: i64 = 90 * 24 * 3600;

/// What a known-device value carries inside its seal, before the user id and issue time.
const DEVICE_PREFIX: &str = "consentry-device:";

/// The counters one login attempt is throttled by: the account from this client address
/// (so failures elsewhere never lock the owner out), and the address across accounts (so
/// one address cannot spray passwords over many accounts).
pub struct ThrottleKeys {
    pub account_address: String,
    pub address: String,
}

impl ThrottleKeys {
    pub fn new(username: &str, address: &str) -> Self {
        ThrottleKeys {
            account_address: crate::secrets::digest(&format!("login\n{username}\n{address}")),
            address: crate::secrets::digest(&format!("login-address\n{address}")),
        }
    }
}

/// Until when `failures` block further attempts: none below `max`, then a block from the last
/// failure (`expires_at - window`) that doubles with each failure past `max`, never longer
/// than `window`.
pub fn blocked_until(failures: Option<Failures>, max: u32, window: i64) -> Option<i64> {
    let f = failures.filter(|f| f.count >= max)?;
    let doublings = (f.count - max).min(20);
    Some(f.expires_at - window + (FIRST_BLOCK_SECS << doublings).min(window))
}

/// Whether a login attempt is refused at `now`: the address's own counter refuses everyone
/// there; the (account, address) counter refuses all but a known device of the account.
/// Attempts are counted before their password is checked, so parallel guesses cannot pass
/// the limit between the check and the count.
pub fn refused(
    limits: &LoginLimits,
    pair: Option<Failures>,
    per_address: Option<Failures>,
    known_device: bool,
    now: i64,
) -> bool {
    let blocked =
        |f, max| blocked_until(f, max, limits.window_secs).is_some_and(|until| now < until);
    (!known_device && blocked(pair, limits.max_failures_per_account))
        || blocked(per_address, limits.max_failures_per_ip)
}

/// A known-device value for `user_id`: sealed by the server, so only a browser that signed in
/// to that account here can hold one.
pub fn known_device(sealer: &crate::sealing::Sealer, user_id: &str, now: i64) -> String {
    sealer.seal(&format!("{DEVICE_PREFIX}{now}:{user_id}"))
}

/// The account a known-device value vouches for, when this server issued it and it is still
/// fresh (compare it with the account's id in constant time).
pub fn known_device_user(sealer: &crate::sealing::Sealer, value: &str, now: i64) -> Option<String> {
    let inner = sealer.open(value)?;
    let (issued, user) = inner.strip_prefix(DEVICE_PREFIX)?.split_once(':')?;
    let fresh = issued
        .parse::<i64>()
        .is_ok_and(|t| t <= now && now - t < KNOWN_DEVICE_SECS);
    fresh.then(|| user.to_string())
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

    #[test]
    fn blocks_start_at_the_limit_and_double_up_to_the_window() {
        let at = |count| {
            Some(Failures {
                count,
                expires_at: 1900,
            })
        };
        assert_eq!(blocked_until(None, 5, 900), None);
        assert_eq!(blocked_until(at(4), 5, 900), None);
        assert_eq!(blocked_until(at(5), 5, 900), Some(1060));
        assert_eq!(blocked_until(at(6), 5, 900), Some(1120));
        assert_eq!(blocked_until(at(40), 5, 900), Some(1900));
    }

    #[test]
    fn local_users_need_a_username_a_long_enough_password_and_valid_claims() {
        let claims = serde_json::json!({"email": "a@example.com"});
        let u = new_local_user("ada", "correct horse", &claims, 1000).unwrap();
        assert_eq!(u.username.as_deref(), Some("ada"));
        assert_eq!(u.created_at, 1000);
        assert!(verify_password_in(
            &mut Vec::new(),
            "correct horse",
            u.password_hash.as_deref()
        ));
        for (name, password, claims) in [
            ("  ", "correct horse", serde_json::json!({})),
            ("ada", "7 chars", serde_json::json!({})),
            (
                "ada",
                "correct horse",
                serde_json::json!({"email_verified": "yes"}),
            ),
        ] {
            let e = new_local_user(name, password, &claims, 1000).unwrap_err();
            assert_eq!(
                e.code,
                crate::error::ErrorCode::InvalidRequest,
                "{name:?} {password:?} {claims}"
            );
        }
    }
}
