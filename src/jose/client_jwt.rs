//! Verifying JWTs signed by clients (request objects, client assertions) with the client's
//! registered keys. Only the algorithms in the caller's allow-list are accepted: `none` and
//! HMAC never are, so a public key can never be used as an HMAC secret.

use super::{Alg, JoseError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::Jwk;
use josekit::jws::{JwsVerifier, ES256, PS256, RS256};
use serde_json::Value;

/// A client's public signing keys, from its `jwks` (or what its `jwks_uri` served).
pub struct ClientKeys {
    keys: Vec<Jwk>,
}

impl ClientKeys {
    pub fn from_jwks(jwks: &Value) -> Result<ClientKeys, JoseError> {
        let list = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JoseError::Keys("the JWKS has no keys array".into()))?;
        let mut keys = Vec::new();
        for k in list {
            let map = k
                .as_object()
                .cloned()
                .ok_or_else(|| JoseError::Keys("a JWKS key is not an object".into()))?;
            // Private members in a client's published set are refused outright.
            if map.contains_key("d") {
                return Err(JoseError::Keys("the JWKS contains a private key".into()));
            }
            if let Ok(jwk) = Jwk::from_map(map) {
                keys.push(jwk);
            }
        }
        Ok(ClientKeys { keys })
    }

    /// The key to encrypt to: of type `kty`, marked for encryption (or unmarked).
    pub fn encryption_key(&self, kty: &str) -> Option<&Jwk> {
        let fits = |k: &&Jwk| k.key_type() == kty;
        let marked = self
            .keys
            .iter()
            .filter(fits)
            .find(|k| k.key_use() == Some("enc"));
        marked.or_else(|| {
            self.keys
                .iter()
                .filter(fits)
                .find(|k| k.key_use().is_none())
        })
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.key_id() == Some(kid))
    }

    /// Keys that may have made a signature with `alg` (by `kid` when given; otherwise by key
    /// type, `alg` and `use`, since a JWT without `kid` must still find its key).
    fn candidates(&self, alg: Alg, kid: Option<&str>) -> Vec<&Jwk> {
        let kty = match alg {
            Alg::RS256 | Alg::PS256 => "RSA",
            Alg::ES256 => "EC",
        };
        self.keys
            .iter()
            .filter(|k| k.key_type() == kty)
            .filter(|k| kid.is_none_or(|kid| k.key_id() == Some(kid)))
            .filter(|k| k.algorithm().is_none_or(|a| a == alg.name()))
            .filter(|k| k.key_use().is_none_or(|u| u == "sig"))
            .collect()
    }
}

/// The decoded protected header of a compact JWS, without verifying anything.
pub fn peek_header(token: &str) -> Result<Value, JoseError> {
    let head = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(head)
        .map_err(|_| JoseError::Invalid("the JWT header is not base64url".into()))?;
    serde_json::from_slice(&bytes)
        .map_err(|_| JoseError::Invalid("the JWT header is not JSON".into()))
}

/// Verifies a compact JWS from a client and returns its claims and algorithm.
pub fn verify(token: &str, keys: &ClientKeys, allowed: &[Alg]) -> Result<(Value, Alg), JoseError> {
    if token.split('.').count() != 3 {
        return Err(JoseError::Invalid(
            "not a compact JWS (encrypted request objects are not supported)".into(),
        ));
    }
    let header = peek_header(token)?;
    let alg_name = header["alg"].as_str().unwrap_or_default();
    let alg = Alg::parse(alg_name)
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| JoseError::Invalid(format!("alg {alg_name} is not allowed")))?;
    if header.get("crit").is_some() {
        return Err(JoseError::Invalid("crit headers are not supported".into()));
    }
    let kid = header["kid"].as_str();
    let candidates = keys.candidates(alg, kid);
    if candidates.is_empty() {
        return Err(JoseError::Invalid(
            "no registered key of the client matches the JWT".into(),
        ));
    }
    for jwk in candidates {
        let Ok(verifier) = verifier_for(alg, jwk) else {
            continue;
        };
        if let Ok((payload, _)) = josekit::jws::deserialize_compact(token, verifier.as_ref()) {
            let claims: Value = serde_json::from_slice(&payload)
                .map_err(|_| JoseError::Invalid("the JWT payload is not JSON".into()))?;
            if !claims.is_object() {
                return Err(JoseError::Invalid(
                    "the JWT payload is not a JSON object".into(),
                ));
            }
            return Ok((claims, alg));
        }
    }
    Err(JoseError::Invalid(
        "the JWT signature does not verify with the client's keys".into(),
    ))
}

/// A verifier for `alg` with `jwk`, for a key we have already chosen. josekit copies the
/// key's `kid` into its verifier and then refuses any header without that `kid`, but a JWS
/// need not name its key (RFC 7515 §4.1.4): the caller selects the key, so the verifier does
/// not ask for the `kid` again.
pub(super) fn verifier_for(alg: Alg, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, JoseError> {
    let bad = |e: josekit::JoseError| JoseError::Invalid(e.to_string());
    Ok(match alg {
        Alg::RS256 => {
            let mut v = RS256.verifier_from_jwk(jwk).map_err(bad)?;
            v.remove_key_id();
            Box::new(v)
        }
        Alg::PS256 => {
            let mut v = PS256.verifier_from_jwk(jwk).map_err(bad)?;
            v.remove_key_id();
            Box::new(v)
        }
        Alg::ES256 => {
            let mut v = ES256.verifier_from_jwk(jwk).map_err(bad)?;
            v.remove_key_id();
            Box::new(v)
        }
    })
}

/// Verifies an HS256 JWT keyed with a shared secret (`client_secret_jwt`). Only HS256 is
/// accepted, and only here: asymmetric keys never verify HMACs.
pub fn verify_hmac(token: &str, secret: &[u8]) -> Result<Value, JoseError> {
    let header = peek_header(token)?;
    if header["alg"].as_str() != Some("HS256") {
        return Err(JoseError::Invalid(
            "alg must be HS256 for client_secret_jwt".into(),
        ));
    }
    let verifier = josekit::jws::HS256
        .verifier_from_bytes(secret)
        .map_err(|e| JoseError::Invalid(e.to_string()))?;
    let (payload, _) = josekit::jws::deserialize_compact(token, &verifier).map_err(|_| {
        JoseError::Invalid("the JWT signature does not verify with the client secret".into())
    })?;
    let claims: Value = serde_json::from_slice(&payload)
        .map_err(|_| JoseError::Invalid("the JWT payload is not JSON".into()))?;
    if claims.is_object() {
        Ok(claims)
    } else {
        Err(JoseError::Invalid(
            "the JWT payload is not a JSON object".into(),
        ))
    }
}
