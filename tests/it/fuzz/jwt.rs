//! Structure-aware mutation of compact JWS: start from a valid token and change its header,
//! claims, signature or shape, re-signing with the right key (to reach the claim checks) or
//! with a wrong one, or not at all. Each mutant says whether it is forged — its signed content
//! or signature no longer comes from the legitimate key — so targets can insist it is refused.

use super::engine::Rng;
use super::mutate;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, ES256, HS256, PS256, RS256};
use serde_json::{json, Value};

/// Header members the verifiers read.
pub const HEADER_KEYS: &[&str] = &["alg", "kid", "typ", "crit", "jwk", "cty", "x5c", "b64"];

/// A key that signs: a client's, or an attacker's.
pub struct Signer {
    signer: Box<dyn JwsSigner>,
    pub alg: &'static str,
    /// The public key, as a JWK (none for HMAC).
    pub public: Option<Value>,
}

impl Signer {
    /// A fresh key for `alg` (RS256, PS256 or ES256).
    pub fn generate(alg: &'static str) -> Signer {
        let jwk = match alg {
            "ES256" => Jwk::generate_ec_key(EcCurve::P256).unwrap(),
            _ => Jwk::generate_rsa_key(2048).unwrap(),
        };
        Signer::from_jwk(&jwk, alg)
    }

    pub fn from_jwk(jwk: &Jwk, alg: &'static str) -> Signer {
        let signer: Box<dyn JwsSigner> = match alg {
            "ES256" => Box::new(ES256.signer_from_jwk(jwk).unwrap()),
            "PS256" => Box::new(PS256.signer_from_jwk(jwk).unwrap()),
            _ => Box::new(RS256.signer_from_jwk(jwk).unwrap()),
        };
        let public = Value::Object(jwk.to_public_key().unwrap().as_ref().clone());
        Signer {
            signer,
            alg,
            public: Some(public),
        }
    }

    pub fn hmac(secret: &[u8]) -> Signer {
        Signer {
            signer: Box::new(HS256.signer_from_bytes(secret).unwrap()),
            alg: "HS256",
            public: None,
        }
    }

    /// A compact JWS of exactly these header and payload bytes.
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let sig = self.signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", b64(&sig))
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }
}

pub fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// A token to try and whether it is forged.
pub struct Mutant {
    pub token: String,
    pub forged: bool,
    /// The valid token, untouched: it must be accepted (the first time).
    pub pristine: bool,
}

/// What a target needs to make mutants: a valid header and claims, the legitimate key, and
/// keys of an attacker (an asymmetric one, and the public key text an HMAC confusion uses).
pub struct Forge<'a> {
    pub header: Value,
    pub legit: &'a Signer,
    pub attacker: &'a Signer,
    /// Claims worth adding to the payload.
    pub claim_keys: &'a [&'a str],
}

impl Forge<'_> {
    /// A valid token, with the header and claims given.
    pub fn valid(&self, header: &Value, claims: &Value) -> String {
        self.legit.sign(header, claims)
    }

    /// One mutant: usually one strategy, sometimes followed by byte edits of the whole token.
    pub fn mutant(&self, rng: &mut Rng, fresh_claims: &Value) -> Mutant {
        let (header, claims) = (&self.header, fresh_claims);
        let valid = self.valid(header, claims);
        let signing_input = |t: &str| t.rsplit_once('.').map(|(i, _)| i.to_string());
        let mut m = match rng.below(12) {
            // Claims changed, re-signed with the right key: reaches the claim checks.
            0..=2 => {
                let mut c = claims.clone();
                for _ in 0..1 + rng.below(3) {
                    mutate::json(rng, &mut c, self.claim_keys);
                }
                Mutant {
                    token: self.legit.sign(header, &c),
                    forged: false,
                    pristine: false,
                }
            }
            // Header changed, re-signed with the right key.
            3 => {
                let mut h = header.clone();
                mutate::json(rng, &mut h, HEADER_KEYS);
                Mutant {
                    token: self.legit.sign(&h, claims),
                    forged: false,
                    pristine: false,
                }
            }
            // Header or claims changed, the old signature kept.
            4 | 5 => {
                let (mut h, mut c) = (header.clone(), claims.clone());
                if rng.one_in(2) {
                    mutate::json(rng, &mut h, HEADER_KEYS);
                    if rng.one_in(2) {
                        set_alg(&mut h, mutate::word(rng));
                    }
                } else {
                    mutate::json(rng, &mut c, self.claim_keys);
                }
                let sig = valid.rsplit('.').next().unwrap();
                let token = format!(
                    "{}.{}.{sig}",
                    b64(h.to_string().as_bytes()),
                    b64(c.to_string().as_bytes())
                );
                let forged = signing_input(&token) != signing_input(&valid);
                Mutant {
                    token,
                    forged,
                    pristine: false,
                }
            }
            // Signed by someone else: an attacker's key, alg none, or HMAC keyed with the
            // legitimate public key (algorithm confusion).
            6 => {
                let mut h = header.clone();
                let token = match rng.below(3) {
                    0 => {
                        set_alg(&mut h, self.attacker.alg);
                        self.attacker.sign(&h, claims)
                    }
                    1 => {
                        set_alg(&mut h, rng.pick(&["none", "None", "NONE", ""]));
                        format!(
                            "{}.{}.{}",
                            b64(h.to_string().as_bytes()),
                            b64(claims.to_string().as_bytes()),
                            if rng.one_in(2) { "" } else { "AA" }
                        )
                    }
                    _ => {
                        let secret = match &self.legit.public {
                            Some(p) => p.to_string(),
                            None => "a-guessed-secret-0123456789abcdefghij".into(),
                        };
                        set_alg(&mut h, "HS256");
                        Signer::hmac(secret.as_bytes()).sign(&h, claims)
                    }
                };
                Mutant {
                    token,
                    forged: true,
                    pristine: false,
                }
            }
            // A JWE (five segments), a real one or a shaped one.
            7 => Mutant {
                token: jwe_like(rng, &valid),
                forged: true,
                pristine: false,
            },
            // Segments dropped, duplicated, swapped, emptied or added.
            8 => {
                let token = segments(rng, &valid);
                Mutant {
                    forged: token != valid,
                    token,
                    pristine: false,
                }
            }
            // Non-JSON or deeply nested header or payload, validly signed.
            9 => {
                let h = header.to_string();
                let c = claims.to_string();
                let (h, c) = if rng.one_in(2) {
                    (mutate::json_text(rng, &h), c)
                } else {
                    (h, mutate::json_text(rng, &c))
                };
                Mutant {
                    token: self.legit.sign_raw(h.as_bytes(), c.as_bytes()),
                    forged: false,
                    pristine: false,
                }
            }
            // Random bytes.
            10 => Mutant {
                token: String::from_utf8_lossy(&rng.bytes(200)).into_owned(),
                forged: true,
                pristine: false,
            },
            // The valid token itself (a replay when sent twice).
            _ => Mutant {
                token: valid.clone(),
                forged: false,
                pristine: true,
            },
        };
        if rng.one_in(4) {
            let before = m.token.clone();
            m.token = mutate::string(rng, &m.token);
            m.forged |= m.token != before;
            m.pristine &= m.token == before;
        }
        // Edits can undo each other (a `=` appended, then the last byte cut): whatever the
        // path, the valid token itself is neither forged nor altered.
        if m.token == valid {
            m.forged = false;
            m.pristine = true;
        }
        m
    }
}

/// Sets the header's `alg` (when the header is still an object).
fn set_alg(header: &mut Value, alg: &str) {
    if let Some(h) = header.as_object_mut() {
        h.insert("alg".into(), json!(alg));
    }
}

/// A token of five segments, as a JWE has.
fn jwe_like(rng: &mut Rng, jws: &str) -> String {
    if rng.one_in(2) {
        use josekit::jwe::{JweHeader, RSA_OAEP};
        static KEY: std::sync::OnceLock<Jwk> = std::sync::OnceLock::new();
        let key = KEY.get_or_init(|| Jwk::generate_rsa_key(2048).unwrap());
        let mut header = JweHeader::new();
        header.set_content_encryption(rng.pick(&["A128GCM", "A256GCM", "A128CBC-HS256"]));
        header.set_content_type("JWT");
        let encrypter = RSA_OAEP.encrypter_from_jwk(key).unwrap();
        josekit::jwe::serialize_compact(jws.as_bytes(), &header, &encrypter).unwrap()
    } else {
        let h = b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM","cty":"JWT"}"#);
        let parts: Vec<String> = (0..4).map(|_| b64(&rng.bytes(40))).collect();
        format!("{h}.{}", parts.join("."))
    }
}

/// Segment-level edits of a compact token.
fn segments(rng: &mut Rng, token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let n = parts.len();
    match rng.below(6) {
        0 => {
            parts.remove(rng.below(n));
        }
        1 => {
            let p = parts[rng.below(n)].clone();
            parts.insert(rng.below(n + 1), p);
        }
        2 => parts.swap(rng.below(n), rng.below(n)),
        3 => parts[rng.below(n)].clear(),
        4 => parts.push(b64(&rng.bytes(16))),
        _ => {
            // Padding or standard-alphabet characters in a segment.
            let i = rng.below(n);
            parts[i].push_str(rng.pick(&["=", "==", "+", "/", " ", "\n"]));
        }
    }
    parts.join(".")
}
