//! JWTs that carry their own public key in the header (`jwk`), as DPoP proofs do (RFC 9449
//! §4.2): verified with that key, and identified by its thumbprint.

use super::client_jwt::peek_header;
use super::keys::thumbprint;
use super::{Alg, JoseError};
use josekit::jwk::Jwk;
use josekit::jws::{JwsVerifier, ES256, PS256, RS256};
use serde_json::Value;

/// A verified self-signed JWT: its header, claims, and the RFC 7638 thumbprint of its key.
pub struct SelfSigned {
    pub header: Value,
    pub claims: Value,
    pub jkt: String,
}

/// Verifies `token` with the public key in its own header, with an allowed algorithm only.
pub fn verify(token: &str, allowed: &[Alg]) -> Result<SelfSigned, JoseError> {
    let header = peek_header(token)?;
    let alg_name = header["alg"].as_str().unwrap_or_default();
    let alg = Alg::parse(alg_name)
        .filter(|a| allowed.contains(a))
        .ok_or_else(|| JoseError::Invalid(format!("alg {alg_name} is not allowed")))?;
    let map = header["jwk"]
        .as_object()
        .cloned()
        .ok_or_else(|| JoseError::Invalid("the header has no jwk".into()))?;
    if map.contains_key("d") {
        return Err(JoseError::Invalid("the header jwk is a private key".into()));
    }
    let jwk = Jwk::from_map(map).map_err(|e| JoseError::Invalid(e.to_string()))?;
    let verifier: Box<dyn JwsVerifier> = match alg {
        Alg::RS256 => Box::new(
            RS256
                .verifier_from_jwk(&jwk)
                .map_err(|e| JoseError::Invalid(e.to_string()))?,
        ),
        Alg::PS256 => Box::new(
            PS256
                .verifier_from_jwk(&jwk)
                .map_err(|e| JoseError::Invalid(e.to_string()))?,
        ),
        Alg::ES256 => Box::new(
            ES256
                .verifier_from_jwk(&jwk)
                .map_err(|e| JoseError::Invalid(e.to_string()))?,
        ),
    };
    let (payload, _) = josekit::jws::deserialize_compact(token, verifier.as_ref())
        .map_err(|_| JoseError::Invalid("the signature does not verify".into()))?;
    let claims: Value = serde_json::from_slice(&payload)
        .map_err(|_| JoseError::Invalid("the payload is not JSON".into()))?;
    Ok(SelfSigned {
        jkt: thumbprint(&jwk)?,
        header,
        claims,
    })
}
