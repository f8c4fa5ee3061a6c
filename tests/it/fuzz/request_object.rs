//! Request objects (RFC 9101, OIDC Core §6.1): by value at the authorization endpoint
//! (`authorize::validate`), pushed (`par::push`), and verified on their own
//! (`request_object::parameters`), under no profile, FAPI 1 Advanced and FAPI 2.

use super::engine::{run, Rng};
use super::jwt::{Forge, Signer};
use super::mutate;
use crate::harness::*;
use consentry::protocol::{authorize, client_cache, fapi, fapi::par, fapi::request_object};
use consentry::types::{Client, FapiProfile};
use serde_json::{json, Value};

const CLAIM_KEYS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "claims",
    "max_age",
    "prompt",
    "response_mode",
    "request",
    "request_uri",
    "id_token_hint",
    "login_hint",
    "acr_values",
    "dpop_jkt",
];

const PARAM_KEYS: &[&str] = &[
    "client_id",
    "request",
    "request_uri",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "response_mode",
    "prompt",
    "claims",
];

/// The claims of a valid request object from `client_id` to `issuer`.
fn object_claims(rng: &mut Rng, client_id: &str, issuer: &str, now: i64) -> Value {
    let (_, challenge) = pkce();
    let mut c = json!({
        "iss": client_id, "aud": issuer, "client_id": client_id, "response_type": "code",
        "redirect_uri": REDIRECT_URI, "scope": "openid profile", "state": "st", "nonce": "no",
        "code_challenge": challenge, "code_challenge_method": "S256",
        "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": rng.next_u64().to_string(),
    });
    if rng.one_in(3) {
        c["claims"] =
            json!({"id_token": {"email": {"essential": true}, "acr": {"values": ["urn:x"]}}});
    }
    c
}

/// Edits of the parameters around the object: added, dropped, repeated, garbled.
fn mutate_pairs(rng: &mut Rng, pairs: &mut Vec<(String, String)>) {
    for _ in 0..rng.below(3) {
        match rng.below(4) {
            0 => pairs.push((rng.pick(PARAM_KEYS).to_string(), mutate::text(rng))),
            1 if !pairs.is_empty() => {
                let i = rng.below(pairs.len());
                let p = pairs[i].clone();
                pairs.push(p);
            }
            2 if !pairs.is_empty() => {
                let i = rng.below(pairs.len());
                pairs[i].1 = mutate::string(rng, &pairs[i].1);
            }
            _ => {
                if !pairs.is_empty() {
                    pairs.remove(rng.below(pairs.len()));
                }
            }
        }
    }
}

/// How many pairs carry a non-empty `request` equal to `token`, and whether any other does.
fn only_request_is(pairs: &[(String, String)], token: &str) -> bool {
    let requests: Vec<&String> = pairs
        .iter()
        .filter(|(k, _)| k == "request")
        .map(|(_, v)| v)
        .collect();
    requests.len() == 1 && requests[0] == token && !token.is_empty()
}

/// RFC 9101 §6: an object whose signature or signed content was tampered with, or that is
/// signed by another key, `none`, HMAC, or encrypted, is refused wherever it is sent.
#[tokio::test]
async fn fuzz_request_objects() {
    let s = TestServer::start().await;
    let signers = [
        Signer::generate("RS256"),
        Signer::generate("PS256"),
        Signer::generate("ES256"),
    ];
    let keys: Vec<Value> = signers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut j = k.public.clone().unwrap();
            j["kid"] = json!(format!("rk{i}"));
            j
        })
        .collect();
    let registered = s
        .client(json!({ "jwks": { "keys": keys }, "scope": "openid profile email" }))
        .await;
    let p = s.provider.clone();
    let client: Client = client_cache::client(&p.ctx(), &registered.id)
        .await
        .unwrap()
        .unwrap()
        .as_ref()
        .clone();
    let attacker = Signer::generate("PS256");
    run("request_objects", async |case| {
        let rng = &mut case.rng;
        let i = rng.below(signers.len());
        let legit = &signers[i];
        let forge = Forge {
            header: json!({ "alg": legit.alg, "kid": format!("rk{i}") }),
            legit,
            attacker: &attacker,
            claim_keys: CLAIM_KEYS,
        };
        let claims = object_claims(rng, &client.id, &p.issuer, p.now());
        let m = forge.mutant(rng, &claims);
        case.inputs.note("request object", &m.token);
        let mut under = client.clone();
        under.metadata.fapi_profile = rng.pick(&[
            None,
            Some(FapiProfile::Fapi1Advanced),
            Some(FapiProfile::Fapi2),
        ]);
        match rng.below(3) {
            0 => {
                let profile = fapi::profile_of(&p.ctx(), &under);
                let result = request_object::parameters(&p.ctx(), &under, profile, &m.token).await;
                if m.forged {
                    assert!(result.is_err(), "a forged request object was accepted");
                }
                if m.pristine && profile.is_none_or(|_| legit.alg != "RS256") {
                    result.expect("the valid request object is accepted");
                }
            }
            1 => {
                let mut pairs = vec![
                    ("client_id".to_string(), client.id.to_string()),
                    ("request".to_string(), m.token.clone()),
                ];
                if rng.one_in(2) {
                    pairs.push(("response_type".into(), "code".into()));
                    pairs.push(("scope".into(), "openid".into()));
                }
                mutate_pairs(rng, &mut pairs);
                case.inputs.note("parameters", format!("{pairs:?}"));
                let result = authorize::validate(&p.ctx(), &pairs).await;
                if m.forged && only_request_is(&pairs, &m.token) {
                    assert!(result.is_err(), "a forged request object was accepted");
                }
            }
            _ => {
                let mut pairs = vec![("request".to_string(), m.token.clone())];
                if rng.one_in(2) {
                    pairs.push(("client_id".into(), client.id.to_string()));
                }
                mutate_pairs(rng, &mut pairs);
                case.inputs.note("pushed parameters", format!("{pairs:?}"));
                let result = par::push(&p.ctx(), &under, &pairs, None).await;
                if m.forged && only_request_is(&pairs, &m.token) {
                    assert!(
                        result.is_err(),
                        "a forged pushed request object was accepted"
                    );
                }
            }
        }
    })
    .await;
}
