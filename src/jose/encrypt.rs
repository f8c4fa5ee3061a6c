//! Encrypting tokens to a client (ID token encryption, OIDC Core §10.2): sign first, then
//! encrypt the JWS to the client's encryption key as a nested JWT.

use super::client_jwt::ClientKeys;
use super::JoseError;
use josekit::jwe::{
    JweEncrypter, JweHeader, ECDH_ES, ECDH_ES_A128KW, ECDH_ES_A256KW, RSA_OAEP, RSA_OAEP_256,
};

/// Key-management algorithms we encrypt with (RSA1_5 is never offered).
pub const ALGS: &[&str] = &[
    "RSA-OAEP",
    "RSA-OAEP-256",
    "ECDH-ES",
    "ECDH-ES+A128KW",
    "ECDH-ES+A256KW",
];
/// Content-encryption algorithms.
pub const ENCS: &[&str] = &["A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM"];

/// Encrypts `jws` for the client: `alg` picks the key type, `enc` the content cipher.
pub fn nested_jwt(jws: &str, keys: &ClientKeys, alg: &str, enc: &str) -> Result<String, JoseError> {
    if !ENCS.contains(&enc) {
        return Err(JoseError::Keys(format!("enc {enc} is not supported")));
    }
    let kty = if alg.starts_with("RSA") { "RSA" } else { "EC" };
    let jwk = keys
        .encryption_key(kty)
        .ok_or_else(|| JoseError::Keys(format!("the client has no {kty} encryption key")))?;
    let e = |err: josekit::JoseError| JoseError::Keys(err.to_string());
    let encrypter: Box<dyn JweEncrypter> = match alg {
        "RSA-OAEP" => Box::new(RSA_OAEP.encrypter_from_jwk(jwk).map_err(e)?),
        "RSA-OAEP-256" => Box::new(RSA_OAEP_256.encrypter_from_jwk(jwk).map_err(e)?),
        "ECDH-ES" => Box::new(ECDH_ES.encrypter_from_jwk(jwk).map_err(e)?),
        "ECDH-ES+A128KW" => Box::new(ECDH_ES_A128KW.encrypter_from_jwk(jwk).map_err(e)?),
        "ECDH-ES+A256KW" => Box::new(ECDH_ES_A256KW.encrypter_from_jwk(jwk).map_err(e)?),
        other => return Err(JoseError::Keys(format!("alg {other} is not supported"))),
    };
    let mut header = JweHeader::new();
    header.set_content_encryption(enc);
    header.set_content_type("JWT");
    if let Some(kid) = jwk.key_id() {
        header.set_key_id(kid);
    }
    josekit::jwe::serialize_compact(jws.as_bytes(), &header, encrypter.as_ref()).map_err(e)
}
