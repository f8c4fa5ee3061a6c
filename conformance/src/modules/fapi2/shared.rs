//! The FAPI 2 state of a module run and the small checks every part uses (entropy,
//! length, algorithm lists).

use super::*;

/// The FAPI 2 state of one module run beyond the common context.
pub struct Fapi {
    pub openid: bool,
    pub dpop: bool,
    /// client_auth_type mtls (tls_client_auth).
    pub mtls_auth: bool,
    /// sender_constrain mtls (certificate-bound tokens).
    pub mtls_bound: bool,
    pub signed: bool,
    pub jarm: bool,
    pub second: bool,
    /// DPoP proofs at the PAR endpoint too (useDpopAuthCodeBinding).
    pub dpop_at_par: bool,
    pub dpop_key: Option<DpopKey>,
    /// Seconds added to every proof's `iat` (SetDpopIatTo10SecondsInPast, ...8SecondsInFuture).
    pub proof_iat_offset: i64,
    /// SetDpopNbfToNow and SetDpopExpToFiveMinutesInFuture on token and resource proofs.
    pub proof_nbf_exp: bool,
    pub as_nonce: Option<String>,
    pub rs_nonce: Option<String>,
    pub code_verifier: Option<String>,
    pub request_uri: Option<String>,
    /// The form sent to the PAR endpoint (unsigned: the authorization request itself).
    pub par_form: Vec<(String, String)>,
    /// The request object's claims (unsigned: the PAR form's parameters).
    pub request_object_claims: Value,
    pub token_body: Value,
    /// The scheme the access token is sent with (the token response's token_type).
    pub token_type: Option<String>,
    pub client1: Option<crate::config::Client>,
}

impl Fapi {
    pub fn new(ctx: &Ctx<'_>) -> Fapi {
        Fapi {
            openid: !ctx.variant_is("openid", "plain_oauth"),
            dpop: ctx.variant_is("sender_constrain", "dpop"),
            mtls_auth: ctx.variant_is("client_auth_type", "mtls"),
            mtls_bound: ctx.variant_is("sender_constrain", "mtls"),
            signed: ctx.variant_is("fapi_request_method", "signed_non_repudiation"),
            jarm: ctx.variant_is("fapi_response_mode", "jarm"),
            second: false,
            dpop_at_par: false,
            dpop_key: None,
            proof_iat_offset: 0,
            proof_nbf_exp: false,
            as_nonce: None,
            rs_nonce: None,
            code_verifier: None,
            request_uri: None,
            par_form: Vec::new(),
            request_object_claims: Value::Null,
            token_body: Value::Null,
            token_type: None,
            client1: None,
        }
    }

    pub(super) fn prefix(&self) -> &'static str {
        if self.second {
            "Second client: "
        } else {
            ""
        }
    }
}

pub(super) fn ok(msg: impl Into<String>) -> Check {
    Ok(msg.into())
}

pub(super) fn fail(msg: impl Into<String>) -> Check {
    Err(msg.into())
}

/// AbstractValidateJsonArray: `name` must be an array holding at least `min` of `wanted`.
pub(super) fn array_has(server: &Value, name: &str, wanted: &[&str], min: usize) -> Check {
    let Some(list) = server.get(name).and_then(json_array_strings) else {
        return fail(format!(
            "'{name}' is missing from the discovery document or not an array of strings"
        ));
    };
    let found = wanted
        .iter()
        .filter(|w| list.iter().any(|x| x == *w))
        .count();
    if found >= min {
        ok(format!("{name}: {list:?}"))
    } else {
        fail(format!(
            "No matching value from server ({name}: {list:?}, expected one of {wanted:?})"
        ))
    }
}

/// FAPI2-SP-FINAL 5.4: the algorithms a FAPI 2 party may use.
pub const FAPI2_ALGS: &[&str] = &["PS256", "ES256", "EdDSA", "Ed25519"];

/// AbstractEnsureMinimumEntropy: Shannon entropy per character times the length.
pub fn shannon_bits(s: &str) -> f64 {
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

pub(super) fn entropy_check(what: &str, value: &str) -> Check {
    let bits = shannon_bits(value);
    if bits > 96.0 {
        ok(format!(
            "Calculated shannon entropy seems sufficient for the {what} ({bits:.1} bits)"
        ))
    } else {
        fail(format!("Calculated shannon entropy of the {what} does not seem to meet minimum required entropy ({bits:.1} bits, expected more than 96)"))
    }
}

pub(super) fn length_check(what: &str, value: &str) -> Check {
    let bits = value.len() * 8;
    if bits >= 128 {
        ok(format!("{what} is of sufficient length ({bits} bits)"))
    } else {
        fail(format!(
            "{what} is not long enough ({bits} bits, 128 required)"
        ))
    }
}
