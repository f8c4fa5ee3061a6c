//! Random identifiers, digests for storage, and constant-time comparison.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the OS random source works");
    buf
}

/// 256 bits of randomness, base64url: for secrets, codes, tokens and cookies.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// 24 hex characters, the contract's user-id shape.
pub fn random_user_id() -> String {
    hex(&random_bytes::<12>())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256, base64url: how secrets and tokens are stored (they are high-entropy, so a fast
/// digest is as strong as a slow hash here and keeps the token endpoint fast).
pub fn digest(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        value.as_bytes(),
    ))
}

/// Constant-time equality for secrets.
pub fn ct_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Checks a presented secret against its stored digest in constant time.
pub fn matches_digest(presented: &str, stored_digest: &str) -> bool {
    ct_eq(&digest(presented), stored_digest)
}
