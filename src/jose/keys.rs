//! The provider's signing keys, ready to sign and verify, built from the stored key set.

use super::jwk::{key_error, Alg};
use super::stored_keys::{Status, StoredKey};
use super::JoseError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsSigner, JwsVerifier, ES256, PS256, RS256};

struct SigningKey {
    kid: String,
    alg: Alg,
    /// Only the `current` key of each algorithm signs; the others only verify.
    signing: bool,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    /// ES256 signing through ring: several times cheaper than OpenSSL for the access tokens
    /// every token request signs.
    fast_es256: Option<ring::signature::EcdsaKeyPair>,
}

/// The provider's signing keys and the pre-serialised public JWKS.
pub struct KeySet {
    keys: Vec<SigningKey>,
    jwks: String,
}

impl KeySet {
    /// Builds the set: `current` keys sign, every stored key verifies and is published.
    pub fn from_stored(stored: &[StoredKey]) -> Result<KeySet, JoseError> {
        let private: Vec<(Jwk, bool)> = stored
            .iter()
            .map(|k| Ok((k.to_jwk()?, k.status == Status::Current)))
            .collect::<Result<_, JoseError>>()?;
        KeySet::from_private(private)
    }

    fn from_private(private: Vec<(Jwk, bool)>) -> Result<KeySet, JoseError> {
        let mut keys = Vec::new();
        let mut public = Vec::new();
        for (jwk, signing) in private {
            let alg = jwk
                .algorithm()
                .and_then(Alg::parse)
                .ok_or_else(|| JoseError::Keys("signing key without a supported alg".into()))?;
            let kid = jwk
                .key_id()
                .ok_or_else(|| JoseError::Keys("signing key without kid".into()))?
                .to_string();
            let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
                Alg::RS256 => (
                    Box::new(RS256.signer_from_jwk(&jwk).map_err(key_error)?),
                    Box::new(RS256.verifier_from_jwk(&jwk).map_err(key_error)?),
                ),
                Alg::PS256 => (
                    Box::new(PS256.signer_from_jwk(&jwk).map_err(key_error)?),
                    Box::new(PS256.verifier_from_jwk(&jwk).map_err(key_error)?),
                ),
                Alg::ES256 => (
                    Box::new(ES256.signer_from_jwk(&jwk).map_err(key_error)?),
                    Box::new(ES256.verifier_from_jwk(&jwk).map_err(key_error)?),
                ),
            };
            // The public half, with the members clients select keys by.
            let mut public_jwk = jwk.to_public_key().map_err(key_error)?;
            public_jwk.set_key_id(kid.clone());
            public_jwk.set_algorithm(alg.name());
            public_jwk.set_key_use("sig");
            public.push(serde_json::Value::Object(public_jwk.as_ref().clone()));
            let fast_es256 = match alg {
                Alg::ES256 => Some(ring_es256(&jwk)?),
                _ => None,
            };
            keys.push(SigningKey {
                kid,
                alg,
                signing,
                signer,
                verifier,
                fast_es256,
            });
        }
        let jwks = serde_json::json!({ "keys": public }).to_string();
        Ok(KeySet { keys, jwks })
    }

    /// The public JWKS document, serialised once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }

    /// Signs `claims` as a compact JWS with our key for `alg`, with an optional `typ`.
    pub fn sign(
        &self,
        alg: Alg,
        typ: Option<&str>,
        claims: &serde_json::Value,
    ) -> Result<String, JoseError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.alg == alg && k.signing)
            .ok_or_else(|| JoseError::Sign(format!("no key for {}", alg.name())))?;
        if let Some(pair) = &key.fast_es256 {
            return sign_es256(pair, &key.kid, typ, claims);
        }
        let mut header = JwsHeader::new();
        header.set_key_id(key.kid.clone());
        if let Some(t) = typ {
            header.set_token_type(t);
        }
        let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
        josekit::jws::serialize_compact(&payload, &header, key.signer.as_ref())
            .map_err(|e| JoseError::Sign(e.to_string()))
    }

    /// Verifies a JWS we issued (by `kid`, with that key's own algorithm only) and returns
    /// its claims and `typ`.
    pub fn verify_own(
        &self,
        token: &str,
    ) -> Result<(serde_json::Value, Option<String>), JoseError> {
        let (payload, header) = josekit::jws::deserialize_compact_with_selector(token, |header| {
            let key = header
                .key_id()
                .and_then(|kid| self.keys.iter().find(|k| k.kid == kid));
            match key {
                Some(k) if header.algorithm() == Some(k.alg.name()) => {
                    Ok(Some(k.verifier.as_ref()))
                }
                _ => Ok(None),
            }
        })
        .map_err(|e| JoseError::Invalid(e.to_string()))?;
        let claims =
            serde_json::from_slice(&payload).map_err(|e| JoseError::Invalid(e.to_string()))?;
        Ok((claims, header.token_type().map(String::from)))
    }
}

/// The ring key pair for a private P-256 JWK: its scalar `d` and the point `x`, `y`.
fn ring_es256(jwk: &Jwk) -> Result<ring::signature::EcdsaKeyPair, JoseError> {
    let member = |name: &str| {
        jwk.parameter(name)
            .and_then(|v| v.as_str())
            .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
            .ok_or_else(|| JoseError::Keys(format!("P-256 key without {name}")))
    };
    let mut point = vec![0x04];
    point.extend(member("x")?);
    point.extend(member("y")?);
    ring::signature::EcdsaKeyPair::from_private_key_and_public_key(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &member("d")?,
        &point,
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|e| JoseError::Keys(format!("P-256 key: {e}")))
}

/// A compact JWS (RFC 7515 §7.1) signed ES256 with ring; the fixed r||s signature is the
/// JWS form (RFC 7518 §3.4).
fn sign_es256(
    pair: &ring::signature::EcdsaKeyPair,
    kid: &str,
    typ: Option<&str>,
    claims: &serde_json::Value,
) -> Result<String, JoseError> {
    let mut header = serde_json::json!({"alg": "ES256", "kid": kid});
    if let Some(t) = typ {
        header["typ"] = serde_json::json!(t);
    }
    let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
    out.push('.');
    let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
    URL_SAFE_NO_PAD.encode_string(payload, &mut out);
    let sig = pair
        .sign(&ring::rand::SystemRandom::new(), out.as_bytes())
        .map_err(|_| JoseError::Sign("ES256 signing failed".into()))?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring-signed ES256 tokens verify with the OpenSSL-backed verifier clients would use.
    #[test]
    fn ring_es256_signatures_verify_with_josekit() {
        let stored = super::super::stored_keys::generate(1_700_000_000).unwrap();
        let keys = KeySet::from_stored(&stored).unwrap();
        let claims = serde_json::json!({"sub": "x", "n": 1});
        let token = keys.sign(Alg::ES256, Some("at+jwt"), &claims).unwrap();
        let (back, typ) = keys.verify_own(&token).unwrap();
        assert_eq!(back, claims);
        assert_eq!(typ.as_deref(), Some("at+jwt"));
        // One character inside the signature: each encodes six whole bits of it, so the
        // signature always changes (the last ones may carry padding bits only).
        let mut forged = token.clone();
        let at = forged.len() - 10;
        let other = if &forged[at..=at] == "A" { "B" } else { "A" };
        forged.replace_range(at..=at, other);
        assert!(keys.verify_own(&forged).is_err());
    }
}
