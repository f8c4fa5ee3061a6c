//! Just enough JOSE for a relying party: split a compact JWS, verify its signature against a
//! JWK set (ring, independently of the provider's own JOSE library), and the OIDC hash claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::signature::{self, UnparsedPublicKey};
use serde_json::Value;

pub struct Jws {
    pub header: Value,
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| format!("not base64url: {e}"))
}

pub fn decode(compact: &str) -> Result<Jws, String> {
    let parts: Vec<&str> = compact.split('.').collect();
    if parts.len() != 3 {
        return Err(format!(
            "not a compact JWS: {} parts (5 would be an encrypted JWT)",
            parts.len()
        ));
    }
    let header: Value = serde_json::from_slice(&unb64(parts[0])?)
        .map_err(|e| format!("header is not JSON: {e}"))?;
    let claims: Value = serde_json::from_slice(&unb64(parts[1])?)
        .map_err(|e| format!("payload is not JSON: {e}"))?;
    if !header.is_object() || !claims.is_object() {
        return Err("header and payload must be JSON objects".into());
    }
    Ok(Jws {
        header,
        claims,
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature: unb64(parts[2])?,
    })
}

impl Jws {
    pub fn alg(&self) -> &str {
        self.header["alg"].as_str().unwrap_or("")
    }

    /// Verifies the signature with a key of `jwks` (by `kid` when the header names one,
    /// otherwise every key of the algorithm's type). `none` is never accepted.
    pub fn verify(&self, jwks: &Value) -> Result<String, String> {
        let alg = self.alg();
        let kty = match alg {
            "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => "RSA",
            "ES256" | "ES384" => "EC",
            other => return Err(format!("unsupported or unsigned alg '{other}'")),
        };
        let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
        let kid = self.header["kid"].as_str();
        let candidates: Vec<&Value> = keys
            .iter()
            .filter(|k| k["kty"] == kty)
            .filter(|k| kid.is_none() || k["kid"].as_str() == kid)
            .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
            .collect();
        if candidates.is_empty() {
            return Err(format!(
                "no {kty} key with kid {kid:?} in the server's JWKS for alg {alg}"
            ));
        }
        for key in candidates {
            if verify_with(alg, key, self.signing_input.as_bytes(), &self.signature).is_ok() {
                return Ok(format!(
                    "signature verified with key {}",
                    key["kid"].as_str().unwrap_or("(no kid)")
                ));
            }
        }
        Err(format!("signature does not verify ({alg}, kid {kid:?})"))
    }
}

fn verify_with(alg: &str, jwk: &Value, msg: &[u8], sig: &[u8]) -> Result<(), String> {
    let field = |name: &str| -> Result<Vec<u8>, String> {
        unb64(jwk[name].as_str().ok_or(format!("jwk has no {name}"))?)
    };
    match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let params: &'static signature::RsaParameters = match alg {
                "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                _ => &signature::RSA_PSS_2048_8192_SHA512,
            };
            let key = signature::RsaPublicKeyComponents {
                n: field("n")?,
                e: field("e")?,
            };
            key.verify(params, msg, sig)
                .map_err(|_| "bad signature".into())
        }
        "ES256" | "ES384" => {
            let (params, crv): (&'static signature::EcdsaVerificationAlgorithm, _) = match alg {
                "ES256" => (&signature::ECDSA_P256_SHA256_FIXED, "P-256"),
                _ => (&signature::ECDSA_P384_SHA384_FIXED, "P-384"),
            };
            if jwk["crv"] != crv {
                return Err("curve does not match alg".into());
            }
            let mut point = vec![4u8];
            point.extend(field("x")?);
            point.extend(field("y")?);
            UnparsedPublicKey::new(params, point)
                .verify(msg, sig)
                .map_err(|_| "bad signature".into())
        }
        _ => Err("unsupported alg".into()),
    }
}

/// OIDC Core §3.1.3.6 / §3.3.2.11: base64url of the left half of the hash of `value`, the hash
/// being the one of the ID token's `alg`.
pub fn half_hash(alg: &str, value: &str) -> Option<String> {
    let algorithm = match &alg[alg.len().saturating_sub(3)..] {
        "256" => &ring::digest::SHA256,
        "384" => &ring::digest::SHA384,
        "512" => &ring::digest::SHA512,
        _ => return None,
    };
    let d = ring::digest::digest(algorithm, value.as_bytes());
    let bytes = d.as_ref();
    Some(b64(&bytes[..bytes.len() / 2]))
}

/// A random URL-safe value (state, nonce, PKCE verifier).
pub fn random_value(bytes: usize) -> String {
    use ring::rand::SecureRandom as _;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .expect("system randomness");
    b64(&buf)
}

pub fn sha256_b64(value: &str) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, value.as_bytes()).as_ref())
}

/// SignRequestObject with RS256: the client's RSA key (PKCS#8 DER) signs `claims`.
pub fn sign_rs256(pkcs8_der: &[u8], kid: &str, claims: &Value) -> Result<String, String> {
    let key =
        signature::RsaKeyPair::from_pkcs8(pkcs8_der).map_err(|e| format!("client RSA key: {e}"))?;
    let header = serde_json::json!({"alg": "RS256", "kid": kid, "typ": "oauth-authz-req+jwt"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "RS256 signing failed".to_string())?;
    Ok(format!("{input}.{}", b64(&sig)))
}
