//! JOSE: our signing keys, the public JWKS, and sign/verify with a strict algorithm allow-list.
//! The only module that touches josekit.

mod client_jwt;
pub mod embedded_jwk;
pub mod encrypt;
mod jwk;
mod jwks_check;
mod keys;
pub mod stored_keys;

pub use client_jwt::{peek_header, verify as verify_client_jwt, verify_hmac, ClientKeys};
pub use jwk::Alg;
pub use jwks_check::check_client_jwks;
pub use keys::KeySet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    #[error("key material: {0}")]
    Keys(String),
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("invalid token: {0}")]
    Invalid(String),
    /// None of the keys verifies the signature (or none fits it): a newer key set may.
    #[error("invalid token: {0}")]
    NoMatchingKey(String),
}

/// A new RSA-2048 private key, PKCS #8 DER, for certificates (the dev TLS server's RSA
/// certificate, the SAML SP's signing certificate): ring cannot generate RSA keys; OpenSSL
/// (under josekit) does, in milliseconds.
pub fn new_rsa_2048_pkcs8() -> Result<Vec<u8>, JoseError> {
    josekit::jwk::alg::rsa::RsaKeyPair::generate(2048)
        .map(|k| k.to_der_private_key())
        .map_err(|e| JoseError::Keys(e.to_string()))
}

/// OIDC Core §3.1.3.6 / §3.3.2.11: base64url of the left half of the hash of the value, where
/// the hash matches the ID token's `alg` (SHA-256 for every algorithm we sign with).
pub fn half_hash(_alg: Alg, value: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}
