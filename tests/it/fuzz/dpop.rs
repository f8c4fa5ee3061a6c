//! DPoP proofs (RFC 9449 §4.3), through `dpop::check` and the self-signed JWT verifier under
//! it (`jose::embedded_jwk::verify`).

use super::engine::{run, Rng};
use super::jwt::{Forge, Signer};
use crate::harness::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use consentry::protocol::fapi::dpop;
use serde_json::{json, Value};

const CLAIM_KEYS: &[&str] = &["jti", "htm", "htu", "iat", "ath", "nonce", "exp"];

fn proof_claims(rng: &mut Rng, url: &str, token: Option<&str>, now: i64) -> Value {
    let mut c = json!({ "jti": rng.next_u64().to_string(), "htm": "POST", "htu": url, "iat": now });
    if let Some(t) = token {
        c["ath"] = json!(
            URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, t.as_bytes()))
        );
    }
    c
}

/// RFC 9449 §4.3: a proof is accepted only when signed by the key in its own header; a
/// tampered proof, one signed by another key, `none`, HMAC or a JWE is `invalid_dpop_proof`.
#[tokio::test]
async fn fuzz_dpop_proofs() {
    let s = TestServer::start().await;
    let p = s.provider.clone();
    let signers = [
        Signer::generate("ES256"),
        Signer::generate("RS256"),
        Signer::generate("PS256"),
    ];
    let attacker = Signer::generate("ES256");
    let url = s.url("/token");
    run("dpop_proofs", async |case| {
        let rng = &mut case.rng;
        let legit = rng.pick_ref(&signers);
        let forge = Forge {
            header: json!({ "typ": "dpop+jwt", "alg": legit.alg, "jwk": legit.public }),
            legit,
            attacker: &attacker,
            claim_keys: CLAIM_KEYS,
        };
        let token = rng.one_in(2).then_some("an-access-token");
        let claims = proof_claims(rng, &url, token, p.now());
        let m = forge.mutant(rng, &claims);
        case.inputs.note("proof", &m.token);
        let result = dpop::check(&p.ctx(), &m.token, "POST", &url, token, 400).await;
        match &result {
            Err(e) => assert!(e.status < 500, "a refusal is a client error: {e:?}"),
            Ok(_) => assert!(!m.forged, "a forged DPoP proof was accepted"),
        }
        if m.pristine {
            result.expect("the valid proof is accepted");
        }
    })
    .await;
}
