//! Verifying JWTs signed by clients (request objects, client assertions) with the client's
//! registered keys. Only the algorithms in the caller's allow-list are accepted: `none` and
//! HMAC never are, so a public key can never be used as an HMAC secret.

use super::jwk::Alg;
use super::JoseError;
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

/// The header's `alg` when it is one of `allowed`. The refusal names the allowed ones, never
/// the header's value: nothing from an unverified JWT is echoed back.
pub(super) fn allowed_alg(header: &Value, allowed: &[Alg]) -> Result<Alg, JoseError> {
    header["alg"]
        .as_str()
        .and_then(Alg::parse)
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| {
            let names: Vec<&str> = allowed.iter().map(|a| a.name()).collect();
            JoseError::Invalid(format!("alg must be one of {}", names.join(", ")))
        })
}

/// Verifies a compact JWS from a client and returns its claims and algorithm.
pub fn verify(token: &str, keys: &ClientKeys, allowed: &[Alg]) -> Result<(Value, Alg), JoseError> {
    if token.split('.').count() != 3 {
        return Err(JoseError::Invalid(
            "not a compact JWS (encrypted request objects are not supported)".into(),
        ));
    }
    let header = peek_header(token)?;
    let alg = allowed_alg(&header, allowed)?;
    if header.get("crit").is_some() {
        return Err(JoseError::Invalid("crit headers are not supported".into()));
    }
    let kid = header["kid"].as_str();
    let candidates = keys.candidates(alg, kid);
    if candidates.is_empty() {
        return Err(JoseError::NoMatchingKey(
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
    Err(JoseError::NoMatchingKey(
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

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{JwsHeader, JwsSigner};
    use serde_json::json;

    /// A JWS over `{}` signed by `key` with `alg`, its header naming no key.
    fn signed_without_kid(key: &Jwk, alg: Alg) -> String {
        let header = JwsHeader::new();
        let signer: Box<dyn JwsSigner> = match alg {
            Alg::RS256 => Box::new(RS256.signer_from_jwk(key).unwrap()),
            Alg::PS256 => Box::new(PS256.signer_from_jwk(key).unwrap()),
            Alg::ES256 => Box::new(ES256.signer_from_jwk(key).unwrap()),
        };
        josekit::jws::serialize_compact(b"{}", &header, signer.as_ref()).unwrap()
    }

    /// `key`'s public half as a one-key set, with the members in `extra`.
    fn key_set(key: &Jwk, extra: Value) -> ClientKeys {
        let mut public = Value::Object(key.to_public_key().unwrap().as_ref().clone());
        for (k, v) in extra.as_object().unwrap() {
            public[k] = v.clone();
        }
        ClientKeys::from_jwks(&json!({ "keys": [public] })).unwrap()
    }

    #[test]
    fn without_kid_only_signing_keys_of_the_header_alg_are_tried() {
        // RFC 7515 §4.1.4: no kid, so the key is chosen by type, `use` and `alg` (RFC 7517
        // §4.2, §4.4); a key marked for encryption or for another algorithm never verifies.
        let key = Jwk::generate_rsa_key(2048).unwrap();
        let token = signed_without_kid(&key, Alg::RS256);
        let all = Alg::ALL;
        for fitting in [
            json!({}),
            json!({"use": "sig", "alg": "RS256", "kid": "k1"}),
        ] {
            let (_, alg) = verify(&token, &key_set(&key, fitting.clone()), &all)
                .unwrap_or_else(|e| panic!("{fitting}: {e}"));
            assert_eq!(alg, Alg::RS256);
        }
        for unfit in [json!({"use": "enc"}), json!({"alg": "PS256"})] {
            let e =
                verify(&token, &key_set(&key, unfit.clone()), &all).expect_err(&unfit.to_string());
            assert!(e.to_string().contains("no registered key"), "{unfit}: {e}");
        }
        // The header's alg must also be allowed by the caller.
        assert!(verify(&token, &key_set(&key, json!({})), &[Alg::PS256]).is_err());
    }

    #[test]
    fn a_refused_alg_is_not_echoed() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"<b>HS256 \u00a7 junk</b>"}"#);
        let token = format!("{header}.e30.c2ln");
        let key = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
        let e = verify(&token, &key_set(&key, json!({})), &[Alg::ES256, Alg::PS256])
            .expect_err("alg refused")
            .to_string();
        assert!(!e.contains("<b>") && !e.contains("junk"), "{e}");
        assert!(e.contains("ES256, PS256"), "{e}");
    }
}
