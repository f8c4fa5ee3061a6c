//! The JWS algorithms we allow, and our keys' material: generation and RFC 7638 thumbprints.

use super::JoseError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;

/// The JWS algorithms we sign with and accept from ourselves. Nothing else is ever allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    RS256,
    PS256,
    ES256,
}

impl Alg {
    pub const ALL: [Alg; 3] = [Alg::RS256, Alg::PS256, Alg::ES256];

    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
            Alg::ES256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == s)
    }
}

pub(super) fn key_error(e: josekit::JoseError) -> JoseError {
    JoseError::Keys(e.to_string())
}

pub(super) fn generate(alg: Alg) -> Result<Jwk, JoseError> {
    let mut jwk = match alg {
        Alg::RS256 | Alg::PS256 => Jwk::generate_rsa_key(2048).map_err(key_error)?,
        Alg::ES256 => Jwk::generate_ec_key(EcCurve::P256).map_err(key_error)?,
    };
    jwk.set_key_id(thumbprint(&jwk)?);
    jwk.set_algorithm(alg.name());
    jwk.set_key_use("sig");
    Ok(jwk)
}

/// RFC 7638 JWK thumbprint (SHA-256): our `kid`, and DPoP's `jkt`.
pub(super) fn thumbprint(jwk: &Jwk) -> Result<String, JoseError> {
    let p = |name: &str| {
        jwk.parameter(name)
            .and_then(|v| v.as_str())
            .map(String::from)
            .ok_or_else(|| JoseError::Keys(format!("key lacks {name}")))
    };
    let canonical = match jwk.key_type() {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, p("e")?, p("n")?),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            p("crv")?,
            p("x")?,
            p("y")?
        ),
        other => return Err(JoseError::Keys(format!("unsupported key type {other}"))),
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    Ok(URL_SAFE_NO_PAD.encode(digest.as_ref()))
}
