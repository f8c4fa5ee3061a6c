//! PKCE (RFC 7636) with S256 only: `plain` is refused (RFC 9700 §2.1.1).

use crate::error::{OAuthError, OAuthResult};
use crate::secrets::ct_eq;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Checks the authorization request's challenge parameters.
pub fn check_challenge(challenge: Option<&str>, method: Option<&str>) -> OAuthResult<()> {
    match (challenge, method) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_challenge_method without code_challenge (RFC 7636 section 4.3)",
        )),
        (Some(c), m) => {
            if m != Some("S256") {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method must be S256 (plain is not supported)",
                ));
            }
            // A base64url SHA-256 digest is exactly 43 characters.
            if c.len() != 43 || !c.bytes().all(is_base64url) {
                return Err(OAuthError::invalid_request(
                    "code_challenge is not a valid S256 challenge",
                ));
            }
            Ok(())
        }
    }
}

/// The S256 challenge for a verifier (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

/// Verifies `code_verifier` against the stored challenge (RFC 7636 §4.6).
pub fn verify(challenge: Option<&str>, verifier: Option<&str>) -> OAuthResult<()> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_grant(
            "code_verifier sent but the authorization request had no code_challenge",
        )),
        (Some(_), None) => Err(OAuthError::invalid_grant(
            "code_verifier is required (PKCE)",
        )),
        (Some(c), Some(v)) => {
            if !(43..=128).contains(&v.len()) || !v.bytes().all(is_unreserved) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier is malformed (RFC 7636 section 4.1)",
                ));
            }
            if ct_eq(&s256(v), c) {
                Ok(())
            } else {
                Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
    }
}

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verify(Some(c), Some(v)).is_ok());
        assert!(verify(Some(c), Some(&v.replace('d', "e"))).is_err());
        assert!(check_challenge(Some(c), Some("S256")).is_ok());
        assert!(check_challenge(Some(c), Some("plain")).is_err());
        assert!(check_challenge(Some(c), None).is_err());
    }
}
