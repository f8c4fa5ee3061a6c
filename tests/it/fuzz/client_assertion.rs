//! Client authentication (RFC 6749 §2.3, RFC 7523, OIDC Core §9): the credentials a request
//! presents (`client_auth::presented`: Basic header, form, assertion) and their check
//! (`client_auth::authenticate`) for `private_key_jwt` and `client_secret_jwt` clients.

use super::engine::{run, Rng};
use super::jwt::{Forge, Signer};
use super::mutate;
use crate::harness::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use consentry::protocol::client_auth::{self, JWT_BEARER};
use serde_json::{json, Value};
use std::collections::HashMap;

const CLAIM_KEYS: &[&str] = &["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
const FORM_KEYS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

fn assertion_claims(rng: &mut Rng, client_id: &str, aud: &str, now: i64) -> Value {
    json!({
        "iss": client_id, "sub": client_id, "aud": aud,
        "exp": now + 60, "iat": now, "jti": rng.next_u64().to_string(),
    })
}

/// An `Authorization` header, most often a Basic one of odd content.
fn authorization(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => mutate::text(rng),
        1 => format!(
            "{}{}",
            rng.pick(&["Basic ", "basic ", "Bearer ", "Basic"]),
            mutate::text(rng)
        ),
        _ => {
            let mut creds = format!("{}:{}", mutate::text(rng), mutate::text(rng)).into_bytes();
            if rng.one_in(2) {
                mutate::bytes(rng, &mut creds);
            }
            format!("Basic {}", STANDARD.encode(creds))
        }
    }
}

/// RFC 7523 §3: an assertion is accepted only when signed by the client's registered key
/// (or, for client_secret_jwt, its secret); every tampered, re-signed, `none`, HMAC-with-the-
/// public-key or encrypted assertion is `invalid_client`.
#[tokio::test]
async fn fuzz_client_assertions() {
    let s = TestServer::start().await;
    let p = s.provider.clone();
    let signers = [Signer::generate("PS256"), Signer::generate("ES256")];
    let keys: Vec<Value> = signers
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut j = k.public.clone().unwrap();
            j["kid"] = json!(format!("ak{i}"));
            j
        })
        .collect();
    let pkjwt = s
        .client(
            json!({ "token_endpoint_auth_method": "private_key_jwt", "jwks": { "keys": keys } }),
        )
        .await;
    let csjwt = s
        .client(json!({ "token_endpoint_auth_method": "client_secret_jwt" }))
        .await;
    let hmac = Signer::hmac(csjwt.secret.as_bytes());
    let attacker = Signer::generate("ES256");
    let token_endpoint = s.url("/token");
    run("client_assertions", async |case| {
        let rng = &mut case.rng;
        let (client_id, legit, header) = if rng.one_in(3) {
            (&csjwt.id, &hmac, json!({ "alg": "HS256" }))
        } else {
            let i = rng.below(signers.len());
            let legit = &signers[i];
            (
                &pkjwt.id,
                legit,
                json!({ "alg": legit.alg, "kid": format!("ak{i}") }),
            )
        };
        let forge = Forge {
            header,
            legit,
            attacker: &attacker,
            claim_keys: CLAIM_KEYS,
        };
        let aud = if rng.one_in(2) {
            p.issuer.clone()
        } else {
            token_endpoint.clone()
        };
        let claims = assertion_claims(rng, client_id, &aud, p.now());
        let m = forge.mutant(rng, &claims);
        let mut form: HashMap<String, String> = HashMap::from([
            ("client_assertion_type".into(), JWT_BEARER.into()),
            ("client_assertion".into(), m.token.clone()),
        ]);
        if rng.one_in(2) {
            form.insert("client_id".into(), client_id.clone());
        }
        let mut changed_form = false;
        for _ in 0..rng.below(2) {
            changed_form = true;
            let k = rng.pick(FORM_KEYS).to_string();
            let v = mutate::text(rng);
            form.insert(k, v);
        }
        let header = rng.one_in(6).then(|| authorization(rng));
        case.inputs.note("form", format!("{form:?}"));
        case.inputs
            .note("authorization", header.as_deref().unwrap_or(""));
        let sent_token = form.get("client_assertion") == Some(&m.token);
        let Ok(presented) = client_auth::presented(header.as_deref(), &form) else {
            assert!(!m.pristine || changed_form || header.is_some());
            return;
        };
        let result = client_auth::authenticate(&p.ctx(), presented, &token_endpoint, None).await;
        if let Err(e) = &result {
            assert!(e.status < 500, "a refusal is a client error: {e:?}");
        }
        if m.forged && sent_token {
            assert!(result.is_err(), "a forged client assertion was accepted");
        }
        if m.pristine && !changed_form && header.is_none() {
            result.expect("the valid assertion is accepted");
        }
    })
    .await;
}
