//! JWS/JWE compact forms and client key sets, at the JOSE layer: `jose::verify_client_jwt`
//! (request objects, private_key_jwt), `jose::verify_hmac` (client_secret_jwt),
//! `jose::peek_header`, `ClientKeys::from_jwks` and `check_client_jwks` (registered `jwks`).

use super::engine::{run, Rng};
use super::jwt::{Forge, Signer};
use super::mutate;
use consentry::jose::{self, Alg, ClientKeys};
use serde_json::{json, Value};

const CLAIM_KEYS: &[&str] = &["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id"];

fn claims(rng: &mut Rng) -> Value {
    json!({
        "iss": "client-1", "sub": "client-1", "aud": "https://op.example.test/oidc",
        "exp": 1_733_400_300, "iat": 1_733_400_000, "jti": rng.next_u64().to_string(),
    })
}

/// Three registered keys (one per algorithm) with their kids, as a client's `jwks`.
fn registered() -> (Vec<(Signer, String)>, Value) {
    let signers: Vec<(Signer, String)> = ["RS256", "PS256", "ES256"]
        .into_iter()
        .enumerate()
        .map(|(i, alg)| (Signer::generate(alg), format!("k{i}")))
        .collect();
    let keys: Vec<Value> = signers
        .iter()
        .map(|(s, kid)| {
            let mut k = s.public.clone().unwrap();
            k["kid"] = json!(kid);
            k["use"] = json!("sig");
            k
        })
        .collect();
    (signers, json!({ "keys": keys }))
}

fn allowed(rng: &mut Rng) -> Vec<Alg> {
    Alg::ALL.into_iter().filter(|_| !rng.one_in(4)).collect()
}

/// RFC 7515 / RFC 7519: a client JWT verifies only with a registered key and an allowed alg;
/// tampered or re-signed tokens, `none`, HMAC with the public key and JWEs are refused.
#[tokio::test]
async fn fuzz_client_jws_verification() {
    let (signers, jwks) = registered();
    let keys = ClientKeys::from_jwks(&jwks).unwrap();
    let attacker = Signer::generate("RS256");
    run("client_jws_verification", async |case| {
        let rng = &mut case.rng;
        let (legit, kid) = rng.pick_ref(&signers);
        let header = if rng.one_in(3) {
            json!({ "alg": legit.alg })
        } else {
            json!({ "alg": legit.alg, "kid": kid })
        };
        let forge = Forge {
            header,
            legit,
            attacker: &attacker,
            claim_keys: CLAIM_KEYS,
        };
        let c = claims(rng);
        let m = forge.mutant(rng, &c);
        let allowed = allowed(rng);
        case.inputs.note("token", &m.token);
        let _ = jose::peek_header(&m.token);
        let result = jose::verify_client_jwt(&m.token, &keys, &allowed);
        if m.forged {
            assert!(result.is_err(), "a forged JWS was accepted");
        }
        let legit_alg = Alg::parse(legit.alg).unwrap();
        if m.pristine && allowed.contains(&legit_alg) {
            let (claims, alg) = result.expect("the valid JWS is accepted");
            assert_eq!((claims, alg), (c, legit_alg));
        }
    })
    .await;
}

/// OIDC Core §9 client_secret_jwt: only HS256 with the client's secret verifies.
#[tokio::test]
async fn fuzz_client_secret_jwt_verification() {
    let secret = b"client-secret-0123456789abcdefghijklmnop";
    let legit = Signer::hmac(secret);
    let attacker = Signer::generate("ES256");
    run("client_secret_jwt_verification", async |case| {
        let rng = &mut case.rng;
        let forge = Forge {
            header: json!({ "alg": "HS256" }),
            legit: &legit,
            attacker: &attacker,
            claim_keys: CLAIM_KEYS,
        };
        let c = claims(rng);
        let m = forge.mutant(rng, &c);
        case.inputs.note("token", &m.token);
        let result = jose::verify_hmac(&m.token, secret);
        if m.forged {
            assert!(result.is_err(), "a forged HS256 JWT was accepted");
        }
        if m.pristine {
            assert_eq!(result.expect("the valid JWT is accepted"), c);
        }
    })
    .await;
}

const JWK_KEYS: &[&str] = &[
    "kty", "kid", "use", "alg", "n", "e", "crv", "x", "y", "d", "k", "x5c", "key_ops",
];

/// RFC 7517: a client's `jwks` — registration refuses unusable keys; a stored set that is
/// odd still never breaks verification.
#[tokio::test]
async fn fuzz_client_jwks() {
    let (signers, jwks) = registered();
    let text = jwks.to_string();
    run("client_jwks", async |case| {
        let rng = &mut case.rng;
        let doc: Result<Value, _> = if rng.one_in(4) {
            serde_json::from_str(&mutate::json_text(rng, &text))
        } else {
            let mut j = jwks.clone();
            for _ in 0..1 + rng.below(3) {
                mutate::json(rng, &mut j, JWK_KEYS);
            }
            Ok(j)
        };
        let Ok(doc) = doc else { return };
        case.inputs.note("jwks", doc.to_string());
        let _ = jose::check_client_jwks(&doc);
        if let Ok(keys) = ClientKeys::from_jwks(&doc) {
            let (legit, kid) = rng.pick_ref(&signers);
            let token = legit.sign(&json!({ "alg": legit.alg, "kid": kid }), &claims(rng));
            let _ = jose::verify_client_jwt(&token, &keys, &Alg::ALL);
            let _ = keys.encryption_key(rng.pick(&["RSA", "EC", "oct"]));
        }
    })
    .await;
}
