//! Client-side keys for tests: the keys a relying party would hold, and the JWTs it signs.

use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, ES256, HS256, PS256, RS256};
use serde_json::{json, Value};

pub struct ClientKey {
    pub jwk: Jwk,
    pub alg: &'static str,
    pub kid: String,
}

impl ClientKey {
    pub fn new(alg: &'static str) -> ClientKey {
        let mut jwk = match alg {
            "ES256" => Jwk::generate_ec_key(EcCurve::P256).unwrap(),
            _ => Jwk::generate_rsa_key(2048).unwrap(),
        };
        let kid = consentry::secrets::random_token()[..12].to_string();
        jwk.set_key_id(kid.clone());
        jwk.set_key_use("sig");
        ClientKey { jwk, alg, kid }
    }

    /// The public JWKS to register.
    pub fn jwks(&self) -> Value {
        let mut public = self.jwk.to_public_key().unwrap();
        public.set_key_id(self.kid.clone());
        public.set_key_use("sig");
        json!({ "keys": [Value::Object(public.as_ref().clone())] })
    }

    /// Signs `claims` with this key; `with_kid` controls whether the header names the key.
    /// josekit's signers copy the key's `kid` into the header, so it is removed from the
    /// signer when the header must not name the key.
    pub fn sign(&self, claims: &Value, with_kid: bool) -> String {
        let header = JwsHeader::new();
        let payload = serde_json::to_vec(claims).unwrap();
        match self.alg {
            "ES256" => {
                let mut signer = ES256.signer_from_jwk(&self.jwk).unwrap();
                if !with_kid {
                    signer.remove_key_id();
                }
                josekit::jws::serialize_compact(&payload, &header, &signer)
            }
            "PS256" => {
                let mut signer = PS256.signer_from_jwk(&self.jwk).unwrap();
                if !with_kid {
                    signer.remove_key_id();
                }
                josekit::jws::serialize_compact(&payload, &header, &signer)
            }
            _ => {
                let mut signer = RS256.signer_from_jwk(&self.jwk).unwrap();
                if !with_kid {
                    signer.remove_key_id();
                }
                josekit::jws::serialize_compact(&payload, &header, &signer)
            }
        }
        .unwrap()
    }

    /// An HS256 JWT keyed with this key's public JWK text: the "HMAC with a public key" attack.
    pub fn sign_hmac_with_public_key(&self, claims: &Value) -> String {
        let secret = self.jwks()["keys"][0].to_string();
        let mut header = JwsHeader::new();
        header.set_key_id(self.kid.clone());
        let signer = HS256.signer_from_bytes(secret.as_bytes()).unwrap();
        josekit::jws::serialize_compact(&serde_json::to_vec(claims).unwrap(), &header, &signer)
            .unwrap()
    }
}

/// An unsigned JWT (`alg: none`).
pub fn unsigned(claims: &Value) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap());
    format!("{h}.{p}.")
}

/// A DPoP key pair (ES256) and the proofs it signs (RFC 9449 §4.2).
pub struct DpopKey {
    key: ClientKey,
}

impl DpopKey {
    pub fn new() -> DpopKey {
        DpopKey {
            key: ClientKey::new("ES256"),
        }
    }

    fn public(&self) -> Value {
        self.key.jwks()["keys"][0].clone()
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn jkt(&self) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let k = self.public();
        let canonical = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            k["crv"].as_str().unwrap(),
            k["x"].as_str().unwrap(),
            k["y"].as_str().unwrap()
        );
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ))
    }

    /// A proof for `method` and `url`, with `ath` when `access_token` is given.
    pub fn proof(&self, method: &str, url: &str, access_token: Option<&str>, now: i64) -> String {
        let mut claims = json!({
            "jti": consentry::secrets::random_token(), "htm": method, "htu": url, "iat": now,
        });
        if let Some(t) = access_token {
            use base64::engine::general_purpose::URL_SAFE_NO_PAD;
            use base64::Engine;
            claims["ath"] =
                json!(URL_SAFE_NO_PAD
                    .encode(ring::digest::digest(&ring::digest::SHA256, t.as_bytes())));
        }
        self.sign(&claims, "dpop+jwt")
    }

    /// Signs arbitrary proof claims with this key in the header, with `typ`.
    pub fn sign(&self, claims: &Value, typ: &str) -> String {
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_jwk(Jwk::from_map(self.public().as_object().unwrap().clone()).unwrap());
        // As DPoP clients send it: the key in the header (with its kid), no `kid` header.
        let mut signer = ES256.signer_from_jwk(&self.key.jwk).unwrap();
        signer.remove_key_id();
        josekit::jws::serialize_compact(&serde_json::to_vec(claims).unwrap(), &header, &signer)
            .unwrap()
    }
}

impl DpopKey {
    /// A proof carrying a server-issued `nonce` (RFC 9449 §8).
    pub fn proof_with_nonce(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        now: i64,
        nonce: &str,
    ) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let mut claims = json!({
            "jti": consentry::secrets::random_token(), "htm": method, "htu": url, "iat": now, "nonce": nonce,
        });
        if let Some(t) = access_token {
            claims["ath"] =
                json!(URL_SAFE_NO_PAD
                    .encode(ring::digest::digest(&ring::digest::SHA256, t.as_bytes())));
        }
        self.sign(&claims, "dpop+jwt")
    }
}
