//! JWTs that carry their own public key in the header (`jwk`), as DPoP proofs do (RFC 9449
//! §4.2): verified with that key, and identified by its thumbprint.

use super::client_jwt::{allowed_alg, peek_header, verifier_for};
use super::jwk::thumbprint;
use super::jwk::Alg;
use super::JoseError;
use josekit::jwk::Jwk;
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
    let alg = allowed_alg(&header, allowed)?;
    let map = header["jwk"]
        .as_object()
        .cloned()
        .ok_or_else(|| JoseError::Invalid("the header has no jwk".into()))?;
    if map.contains_key("d") {
        return Err(JoseError::Invalid("the header jwk is a private key".into()));
    }
    let jwk = Jwk::from_map(map).map_err(|e| JoseError::Invalid(e.to_string()))?;
    // The embedded key may carry a `kid` (RFC 9449 §4.2 forbids only private members); the
    // key is the header's own, so no `kid` is asked of the header.
    let verifier = verifier_for(alg, &jwk)?;
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
