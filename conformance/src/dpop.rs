//! DPoP proofs (RFC 9449) as the suite makes them: GenerateDpopKey (a fresh key whose `kid`
//! is its RFC 7638 thumbprint), CreateDpopHeader (`alg`, `typ: dpop+jwt`, the public `jwk`),
//! CreateDpopClaims (`jti`, `iat`), the endpoint's `htm`/`htu`, `ath` for a resource and the
//! server's nonce when it gave one, then SignDpopProof.

use crate::jose::{b64, random_value, sha256_b64};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

/// A client's DPoP key (P-256, ES256: the first FAPI 2 algorithm every server offers).
pub struct DpopKey {
    pair: EcdsaKeyPair,
    pub jwk: Value,
}

impl DpopKey {
    /// GenerateDpopKey.
    pub fn generate() -> Result<DpopKey, String> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| "P-256 key generation failed".to_string())?;
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .map_err(|_| "P-256 key could not be loaded".to_string())?;
        // Uncompressed point: 0x04 || x || y.
        let point = pair.public_key().as_ref();
        let mut jwk = json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256",
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        });
        jwk["kid"] = thumbprint(&jwk).into();
        Ok(DpopKey { pair, jwk })
    }

    /// The RFC 7638 thumbprint, which is what `dpop_jkt` and `cnf.jkt` carry.
    pub fn jkt(&self) -> String {
        thumbprint(&self.jwk)
    }

    /// Signs `header` and `claims` (ES256) exactly as given: negative tests shape both.
    pub fn sign_raw(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .map_err(|_| "ES256 signing failed".to_string())?;
        Ok(format!("{input}.{}", b64(sig.as_ref())))
    }

    /// CreateDpopHeader.
    pub fn header(&self) -> Value {
        json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": self.jwk})
    }
}

/// RFC 7638: SHA-256 of the required members in lexicographic order.
pub fn thumbprint(jwk: &Value) -> String {
    let s = |k: &str| jwk[k].as_str().unwrap_or("").to_string();
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, s("e"), s("n")),
        Some("OKP") => format!(r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#, s("crv"), s("x")),
        _ => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            s("crv"),
            s("x"),
            s("y")
        ),
    };
    sha256_b64(&canonical)
}

/// CreateDpopClaims with the endpoint's htm and htu (SetDpopHtmHtuFor*Endpoint), `iat` moved
/// by `iat_offset` seconds, the server's `nonce` (SetDpopProofNonceFor*) and, for a resource,
/// `ath` (SetDpopAccessTokenHash).
pub fn claims(
    htm: &str,
    htu: &str,
    iat_offset: i64,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Value {
    let mut c = json!({
        "jti": random_value(15),
        "iat": crate::modules::now() + iat_offset,
        "htm": htm,
        "htu": htu,
    });
    if let Some(n) = nonce {
        c["nonce"] = n.into();
    }
    if let Some(at) = access_token {
        c["ath"] = sha256_b64(at).into();
    }
    c
}

/// EnsureDpopNonceContainsAllowedCharactersOnly (RFC 9449 §8.1: NQCHAR).
pub fn nonce_chars_valid(nonce: &str) -> bool {
    nonce
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}
