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
    Signer::from_der("RS256", kid, pkcs8_der)?
        .sign(serde_json::json!({"typ": "oauth-authz-req+jwt"}), claims)
}

enum KeyPair {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
}

/// A client's private key with the algorithm it signs with: client assertions, request
/// objects, DPoP proofs.
pub struct Signer {
    pub alg: String,
    pub kid: String,
    key: KeyPair,
}

impl Signer {
    pub fn load(cfg: &crate::config::SigningKeyConfig) -> Result<Signer, String> {
        let der = std::fs::read(&cfg.file).map_err(|e| format!("{}: {e}", cfg.file.display()))?;
        Signer::from_der(&cfg.alg, &cfg.kid, &der)
    }

    /// `alg` is RS256, PS256 (an RSA key) or ES256 (a P-256 key), PKCS#8 DER.
    pub fn from_der(alg: &str, kid: &str, pkcs8_der: &[u8]) -> Result<Signer, String> {
        let key = match alg {
            "RS256" | "PS256" => KeyPair::Rsa(
                signature::RsaKeyPair::from_pkcs8(pkcs8_der)
                    .map_err(|e| format!("RSA key for {alg}: {e}"))?,
            ),
            "ES256" => KeyPair::Ec(
                signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8_der,
                    &ring::rand::SystemRandom::new(),
                )
                .map_err(|e| format!("P-256 key for ES256: {e}"))?,
            ),
            other => return Err(format!("cannot sign with '{other}'")),
        };
        Ok(Signer {
            alg: alg.to_string(),
            kid: kid.to_string(),
            key,
        })
    }

    /// A fresh P-256 key (DPoP proofs, keys the provider has never seen).
    pub fn generate_es256(kid: &str) -> Signer {
        let rng = ring::rand::SystemRandom::new();
        let doc = signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .expect("P-256 key generation");
        Signer::from_der("ES256", kid, doc.as_ref()).expect("generated P-256 key")
    }

    /// Signs `claims` as a compact JWS; `header` gets `alg`, and `kid` unless it has one.
    pub fn sign(&self, header: Value, claims: &Value) -> Result<String, String> {
        let mut header = match header {
            Value::Object(m) => m,
            Value::Null => serde_json::Map::new(),
            other => return Err(format!("JWS header must be an object, not {other}")),
        };
        header.insert("alg".into(), self.alg.clone().into());
        header
            .entry("kid")
            .or_insert_with(|| self.kid.clone().into());
        let input = format!(
            "{}.{}",
            b64(Value::Object(header).to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        Ok(format!(
            "{input}.{}",
            b64(&self.signature(input.as_bytes())?)
        ))
    }

    /// The raw signature of `msg` (JWS form: r||s for ECDSA).
    pub fn signature(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let rng = ring::rand::SystemRandom::new();
        match &self.key {
            KeyPair::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = if self.alg == "PS256" {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &rng, msg, &mut sig)
                    .map_err(|_| format!("{} signing failed", self.alg))?;
                Ok(sig)
            }
            KeyPair::Ec(k) => k
                .sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ES256 signing failed".to_string()),
        }
    }

    /// The public half as a JWK (`kty`, `kid`, `alg`, `use`, and `n`/`e` or `crv`/`x`/`y`).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.public_key_members();
        jwk["kid"] = self.kid.clone().into();
        jwk["alg"] = self.alg.clone().into();
        jwk["use"] = "sig".into();
        jwk
    }

    /// Only the key's required members (RFC 7638 thumbprint input; DPoP `jwk` header).
    pub fn public_key_members(&self) -> Value {
        match &self.key {
            KeyPair::Rsa(k) => {
                let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(k.public());
                serde_json::json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e)})
            }
            KeyPair::Ec(k) => {
                use signature::KeyPair as _;
                let point = k.public_key().as_ref();
                serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
        }
    }

    /// RFC 7638 JWK thumbprint (SHA-256, base64url): DPoP `jkt`.
    pub fn thumbprint(&self) -> String {
        // RFC 7638 §3.2: the required members, lexicographic order, no whitespace.
        let m = self.public_key_members();
        let canonical = match &self.key {
            KeyPair::Rsa(_) => format!(
                r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
                m["e"].as_str().unwrap_or(""),
                m["n"].as_str().unwrap_or("")
            ),
            KeyPair::Ec(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                m["x"].as_str().unwrap_or(""),
                m["y"].as_str().unwrap_or("")
            ),
        };
        sha256_b64(&canonical)
    }
}
