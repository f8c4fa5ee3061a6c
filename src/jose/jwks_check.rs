//! Registration-time check of a client's `jwks` (RFC 7591 §2, RFC 7517): every key must be a
//! public key we can actually use. A key we would silently skip later (a malformed RSA
//! modulus, a symmetric `oct` key, a curve we do not know) is refused when it is registered,
//! not discovered at the first failed signature.

use super::JoseError;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, RS256};
use serde_json::Value;

/// RFC 7518 §3.3: RSA keys of 2048 bits or more.
const MIN_RSA_BITS: usize = 2048;

pub fn check_client_jwks(jwks: &Value) -> Result<(), JoseError> {
    let bad = |i: usize, why: &str| JoseError::Keys(format!("key {i}: {why}"));
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| JoseError::Keys("the JWKS has no keys array".into()))?;
    if keys.is_empty() {
        return Err(JoseError::Keys("the JWKS has no keys".into()));
    }
    for (i, key) in keys.iter().enumerate() {
        let mut map = key
            .as_object()
            .cloned()
            .ok_or_else(|| bad(i, "not an object"))?;
        if map.contains_key("d") {
            return Err(bad(i, "a private key (it has d)"));
        }
        // Only the key material is judged here; what the key is for is checked where used.
        for member in ["use", "key_ops", "alg"] {
            map.remove(member);
        }
        let kty = map.get("kty").and_then(Value::as_str).unwrap_or_default();
        let jwk = Jwk::from_map(map.clone()).map_err(|e| bad(i, &format!("not a JWK: {e}")))?;
        match kty {
            "RSA" => {
                RS256
                    .verifier_from_jwk(&jwk)
                    .map_err(|_| bad(i, "not a usable RSA public key"))?;
                if rsa_bits(&map) < MIN_RSA_BITS {
                    return Err(bad(
                        i,
                        "RSA keys need at least 2048 bits (RFC 7518 section 3.3)",
                    ));
                }
            }
            "EC" => {
                ES256
                    .verifier_from_jwk(&jwk)
                    .map_err(|_| bad(i, "not a usable P-256 public key"))?;
            }
            "oct" => return Err(bad(i, "symmetric keys cannot be registered")),
            other => return Err(bad(i, &format!("key type {other:?} is not supported"))),
        }
    }
    Ok(())
}

/// The bit length of an RSA key's modulus (`n`, base64url, big-endian).
fn rsa_bits(map: &serde_json::Map<String, Value>) -> usize {
    use base64::Engine;
    let n = map.get("n").and_then(Value::as_str).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n)
        .unwrap_or_default();
    let Some(pos) = bytes.iter().position(|b| *b != 0) else {
        return 0;
    };
    (bytes.len() - pos) * 8 - bytes[pos].leading_zeros() as usize
}
