//! The provider's signing keys, ready to sign and verify, built from the stored key set.

use super::jwk::{key_error, Alg};
use super::stored_keys::{Status, StoredKey};
use super::JoseError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{JwsVerifier, ES256, PS256, RS256};
use openssl::md::Md;
use openssl::pkey::{PKey, Private};
use openssl::pkey_ctx::PkeyCtx;
use openssl::rsa::Padding;
use openssl::sign::RsaPssSaltlen;
use parking_lot::Mutex;

struct SigningKey {
    kid: String,
    alg: Alg,
    /// Only the `current` key of each algorithm signs; the others only verify.
    signing: bool,
    signer: Signer,
    verifier: Box<dyn JwsVerifier>,
}

/// How a key signs: ES256 through ring (several times cheaper than OpenSSL for the access
/// tokens every token request signs), RS256/PS256 through OpenSSL with contexts set up once.
enum Signer {
    Es256(ring::signature::EcdsaKeyPair),
    Rsa(RsaSigner),
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
            let (signer, verifier): (Signer, Box<dyn JwsVerifier>) = match alg {
                Alg::RS256 => (
                    Signer::Rsa(RsaSigner::new(&jwk, false)?),
                    Box::new(RS256.verifier_from_jwk(&jwk).map_err(key_error)?),
                ),
                Alg::PS256 => (
                    Signer::Rsa(RsaSigner::new(&jwk, true)?),
                    Box::new(PS256.verifier_from_jwk(&jwk).map_err(key_error)?),
                ),
                Alg::ES256 => (
                    Signer::Es256(ring_es256(&jwk)?),
                    Box::new(ES256.verifier_from_jwk(&jwk).map_err(key_error)?),
                ),
            };
            // The public half, with the members clients select keys by.
            let mut public_jwk = jwk.to_public_key().map_err(key_error)?;
            public_jwk.set_key_id(kid.clone());
            public_jwk.set_algorithm(alg.name());
            public_jwk.set_key_use("sig");
            public.push(serde_json::Value::Object(public_jwk.as_ref().clone()));
            keys.push(SigningKey {
                kid,
                alg,
                signing,
                signer,
                verifier,
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
        // A compact JWS (RFC 7515 §7.1): BASE64URL(header) '.' BASE64URL(payload), signed.
        let mut header = serde_json::json!({"alg": alg.name(), "kid": key.kid});
        if let Some(t) = typ {
            header["typ"] = serde_json::json!(t);
        }
        let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
        out.push('.');
        let payload = serde_json::to_vec(claims).map_err(|e| JoseError::Sign(e.to_string()))?;
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let signature = match &key.signer {
            // The fixed r||s signature is the JWS form (RFC 7518 §3.4).
            Signer::Es256(pair) => pair
                .sign(&ring::rand::SystemRandom::new(), out.as_bytes())
                .map_err(|_| JoseError::Sign("ES256 signing failed".into()))?
                .as_ref()
                .to_vec(),
            Signer::Rsa(rsa) => rsa.sign(out.as_bytes())?,
        };
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
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

/// RS256 (RSASSA-PKCS1-v1_5) or PS256 (RSASSA-PSS) with SHA-256 (RFC 7518 §3.3, §3.5).
/// OpenSSL 3 looks up the algorithm, the digest and the key's provider form each time a
/// signing context is set up, several times what hashing costs: contexts are set up once and
/// kept (one per concurrent signer) to sign SHA-256 digests, which may be signed repeatedly
/// with the same parameters (EVP_PKEY_sign(3)).
struct RsaSigner {
    key: PKey<Private>,
    pss: bool,
    idle: Mutex<Vec<PkeyCtx<Private>>>,
}

impl RsaSigner {
    fn new(jwk: &Jwk, pss: bool) -> Result<RsaSigner, JoseError> {
        let pair = RsaKeyPair::from_jwk(jwk).map_err(key_error)?;
        let key = PKey::private_key_from_der(&pair.to_der_private_key())
            .map_err(|e| JoseError::Keys(format!("RSA key: {e}")))?;
        let signer = RsaSigner {
            key,
            pss,
            idle: Mutex::new(Vec::new()),
        };
        // Set up the first context now: a key OpenSSL refuses fails at start-up.
        let ctx = signer.context()?;
        signer.idle.lock().push(ctx);
        Ok(signer)
    }

    fn context(&self) -> Result<PkeyCtx<Private>, JoseError> {
        let setup = || -> Result<PkeyCtx<Private>, openssl::error::ErrorStack> {
            let mut ctx = PkeyCtx::new(&self.key)?;
            ctx.sign_init()?;
            ctx.set_signature_md(Md::sha256())?;
            if self.pss {
                // RFC 7518 §3.5: MGF1 with SHA-256 and a salt as long as the hash.
                ctx.set_rsa_padding(Padding::PKCS1_PSS)?;
                ctx.set_rsa_mgf1_md(Md::sha256())?;
                ctx.set_rsa_pss_saltlen(RsaPssSaltlen::DIGEST_LENGTH)?;
            } else {
                ctx.set_rsa_padding(Padding::PKCS1)?;
            }
            Ok(ctx)
        };
        setup().map_err(|e| JoseError::Keys(format!("RSA signing context: {e}")))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        let digest = ring::digest::digest(&ring::digest::SHA256, message);
        let idle = self.idle.lock().pop();
        let mut ctx = match idle {
            Some(ctx) => ctx,
            None => self.context()?,
        };
        let mut signature = Vec::with_capacity(256);
        ctx.sign_to_vec(digest.as_ref(), &mut signature)
            .map_err(|e| JoseError::Sign(format!("RSA signing: {e}")))?;
        self.idle.lock().push(ctx);
        Ok(signature)
    }
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

    /// RS256 and PS256 signed with reused OpenSSL contexts verify with josekit's verifiers,
    /// again and again (each context signs many times), and RS256, being deterministic
    /// (RFC 8017 §8.2), gives exactly josekit's own signature.
    #[test]
    fn rsa_signatures_from_reused_contexts_verify_with_josekit() {
        let stored = super::super::stored_keys::generate(1_700_000_000).unwrap();
        let keys = KeySet::from_stored(&stored).unwrap();
        for alg in [Alg::RS256, Alg::PS256] {
            for n in 0..3 {
                let claims = serde_json::json!({"sub": "x", "n": n});
                let token = keys.sign(alg, Some("at+jwt"), &claims).unwrap();
                let (back, typ) = keys.verify_own(&token).unwrap();
                assert_eq!(back, claims, "{}", alg.name());
                assert_eq!(typ.as_deref(), Some("at+jwt"));
                let header = token.split('.').next().unwrap();
                let header: serde_json::Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
                assert_eq!(header["alg"], alg.name());
            }
        }
        let current = stored
            .iter()
            .find(|k| k.jwk["alg"] == "RS256" && k.status == Status::Current)
            .unwrap();
        let jwk = current.to_jwk().unwrap();
        let token = keys
            .sign(Alg::RS256, None, &serde_json::json!({"a": 1}))
            .unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let theirs =
            josekit::jws::JwsSigner::sign(&RS256.signer_from_jwk(&jwk).unwrap(), input.as_bytes())
                .unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(sig).unwrap(), theirs);
    }
}
