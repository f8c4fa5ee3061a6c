//! JWT Secured Authorization Response Mode (JARM) for the query response mode: the suite's
//! processCallbackForJARM conditions (ExtractJARMFromURLQuery, RejectNonJarmResponsesInUrlQuery,
//! ValidateJARMResponse, FAPI1ValidateJarmSigningAlg, ValidateJARMSigningAlg,
//! ValidateJARMExpRecommendations, ValidateJARMSignatureUsingKid and
//! ExtractAuthorizationEndpointResponseFromJARMResponse).

use super::{json_array_strings, now, Ctx};
use crate::jose;
use crate::log::Flow;
use crate::report::Outcome::{Failure, Warning};
use serde_json::Value;
use std::collections::BTreeMap;

/// Five minutes of clock skew, as the suite allows.
const SKEW: i64 = 300;

/// The claims of a JWT that are not part of the authorization response (RFC 7519 §4.1; `iss`
/// stays, as RFC 9207 makes it a response parameter).
const JWT_CLAIMS: [&str; 6] = ["sub", "aud", "exp", "nbf", "iat", "jti"];

/// Reads the JARM response from the callback's query and checks it; returns the authorization
/// response it carries. `expected_query` holds the parameters of the redirect URI itself
/// (the second client's `dummy1`/`dummy2`), which the provider must keep.
pub fn authorization_response(
    ctx: &mut Ctx<'_>,
    query: &BTreeMap<String, String>,
    expected_query: &BTreeMap<String, String>,
) -> Flow<BTreeMap<String, String>> {
    let r = match query.get("response") {
        None => Err("no 'response' parameter in the callback's URL query".to_string()),
        Some(raw) => jose::decode(raw).map(|jws| (jws, "JARM response extracted".into())),
    };
    let jws = ctx.log.must(
        "ExtractJARMFromURLQuery",
        &["FAPI1-ADV-5.2.3.2-1", "JARM-2.3.4", "JARM-2.3.1"],
        r,
    )?;
    let extra: Vec<&String> = query
        .keys()
        .filter(|k| *k != "response" && !expected_query.contains_key(*k))
        .collect();
    let r = if extra.is_empty() {
        Ok("Authorization endpoint response only includes the JARM JWT.".into())
    } else {
        Err(format!(
            "When using JARM, the authorization endpoint response should only contain 'response' containing a JWT: {extra:?}"
        ))
    };
    ctx.log.check(
        "RejectNonJarmResponsesInUrlQuery",
        Failure,
        &["JARM-2.1"],
        r,
    );
    let claims = jws.claims.clone();
    let mut response = BTreeMap::new();
    if let Some(o) = claims.as_object() {
        for (k, v) in o {
            if JWT_CLAIMS.contains(&k.as_str()) {
                continue;
            }
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            response.insert(k.clone(), s);
        }
    }
    ctx.log.must_ok(
        "ExtractAuthorizationEndpointResponseFromJARMResponse",
        &[],
        Ok(format!("authorization response: {:?}", response.keys())),
    )?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let client_id = ctx.client.client_id.clone();
    ctx.log.check(
        "ValidateJARMResponse",
        Failure,
        &["JARM-2.4-2", "JARM-2.4-3", "JARM-2.4-4"],
        validate_claims(&claims, &issuer, &client_id),
    );
    let alg = jws.alg().to_string();
    let r = if alg == "PS256" || alg == "ES256" {
        Ok(format!(
            "JARM response was signed with a permitted algorithm: {alg}"
        ))
    } else {
        Err(format!(
            "JARM response must be signed with a permitted alg (PS256, ES256): {alg}"
        ))
    };
    ctx.log
        .check("FAPI1ValidateJarmSigningAlg", Failure, &[], r);
    let r = match json_array_strings(&ctx.server["authorization_signing_alg_values_supported"]) {
        None => Err("'authorization_signing_alg_values_supported' is not present in the server's discovery document".to_string()),
        Some(list) if list.contains(&alg) => Ok(format!("{alg} is listed in authorization_signing_alg_values_supported")),
        Some(list) => Err(format!(
            "JARM response must be signed with an algorithm listed in authorization_signing_alg_values_supported {list:?}: {alg}"
        )),
    };
    ctx.log.check("ValidateJARMSigningAlg", Failure, &[], r);
    ctx.log.check(
        "ValidateJARMExpRecommendations",
        Warning,
        &["JARM-2.1"],
        exp_recommendations(&claims),
    );
    let r = match jws.header["kid"].as_str() {
        None => Err("the JARM response's header has no kid".to_string()),
        Some(_) => jws.verify(&ctx.server_jwks),
    };
    ctx.log
        .check("ValidateJARMSignatureUsingKid", Failure, &["JARM-2.4-5"], r);
    Ok(response)
}

/// ValidateJARMResponse: iss, aud, exp, and iat when present.
fn validate_claims(claims: &Value, issuer: &str, client_id: &str) -> Result<String, String> {
    match claims["iss"].as_str() {
        None => return Err("Missing issuer".into()),
        Some(i) if i != issuer => {
            return Err(format!("Issuer mismatch: expected {issuer}, actual {i}"))
        }
        _ => {}
    }
    match &claims["aud"] {
        Value::Null => return Err("Missing audience".into()),
        Value::Array(a) if !a.iter().any(|x| x == client_id) => {
            return Err(format!("Audience not found: expected {client_id} in {a:?}"))
        }
        Value::String(s) if s != client_id => {
            return Err(format!(
                "Audience mismatch: expected {client_id}, actual {s}"
            ))
        }
        _ => {}
    }
    let now = now();
    let exp = claims["exp"].as_i64().ok_or("Missing expiration")?;
    if exp < now - SKEW {
        return Err("Token expired".into());
    }
    if exp > now + 50 * 365 * 86400 {
        return Err("'exp' is unreasonably far in the future (more than 50 years)".into());
    }
    if let Some(iat) = claims["iat"].as_i64() {
        if iat > now + SKEW {
            return Err("Token issued in the future".into());
        }
        if iat < now - 86400 {
            return Err("'iat' is more than 1 day in the past".into());
        }
    }
    Ok("JARM response standard JWT claims are valid".into())
}

/// ValidateJARMExpRecommendations: at most 10 minutes (skew allowed), at least 10 seconds.
fn exp_recommendations(claims: &Value) -> Result<String, String> {
    let now = now();
    let exp = claims["exp"]
        .as_i64()
        .ok_or("'exp' claim missing from JARM response")?;
    if exp > now + SKEW + 600 {
        return Err(
            "JARM 'exp' time is further in the future than the recommended 10 minutes".into(),
        );
    }
    if exp < now + 10 {
        return Err("JARM 'exp' time appears to be less than 10 seconds".into());
    }
    Ok("JARM response 'exp' is less than 10 minutes".into())
}
