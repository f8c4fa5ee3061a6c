//! DPoP proofs (RFC 9449 §4.3): a JWT signed with the client's own key for one request, so
//! tokens bound to that key are useless to anyone who steals them.

use super::client_keys::CLOCK_SKEW_SECS;
use crate::error::{OAuthError, OAuthResult};
use crate::jose::{embedded_jwk, Alg};
use crate::provider::Provider;
use crate::store;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// How old a proof's `iat` may be.
const PROOF_MAX_AGE_SECS: i64 = 60;

/// The algorithms accepted for proofs (advertised as dpop_signing_alg_values_supported).
pub const ALGS: [Alg; 3] = Alg::ALL;

fn invalid(status: u16, d: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_dpop_proof", status, d)
}

/// Checks a proof for `method` and `url` (and, at a resource, the `access_token` it is sent
/// with); returns the thumbprint (`jkt`) of the proof's key. `status` is 400 at the token
/// endpoint and 401 at resources.
pub async fn check(
    p: &Provider,
    proof: &str,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    status: u16,
) -> OAuthResult<String> {
    let v = embedded_jwk::verify(proof, &ALGS)
        .map_err(|e| invalid(status, format!("DPoP proof: {e}")))?;
    if v.header["typ"].as_str() != Some("dpop+jwt") {
        return Err(invalid(status, "DPoP proof: typ must be dpop+jwt"));
    }
    let c = &v.claims;
    if c["htm"].as_str() != Some(method) {
        return Err(invalid(
            status,
            "DPoP proof: htm does not match the request method",
        ));
    }
    if c["htu"].as_str().map(without_query) != Some(without_query(url)) {
        return Err(invalid(
            status,
            "DPoP proof: htu does not match the request URL",
        ));
    }
    let now = p.now();
    let iat = c["iat"]
        .as_i64()
        .ok_or_else(|| invalid(status, "DPoP proof: iat is required"))?;
    if iat > now + CLOCK_SKEW_SECS || iat < now - PROOF_MAX_AGE_SECS {
        return Err(invalid(
            status,
            "DPoP proof: iat is outside the accepted window",
        ));
    }
    if let Some(token) = access_token {
        let ath = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            token.as_bytes(),
        ));
        if c["ath"].as_str() != Some(ath.as_str()) {
            return Err(invalid(
                status,
                "DPoP proof: ath does not match the access token",
            ));
        }
    }
    let jti = c["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid(status, "DPoP proof: jti is required"))?
        .to_string();
    let (scope, until) = (
        format!("dpop:{}", v.jkt),
        iat + PROOF_MAX_AGE_SECS + CLOCK_SKEW_SECS,
    );
    if !p
        .store
        .write(move |c| store::replay::first_use(c, &scope, &jti, until))
        .await?
    {
        return Err(invalid(
            status,
            "DPoP proof: this proof was already used (jti replay)",
        ));
    }
    Ok(v.jkt)
}

/// RFC 9449 §4.3: htu is compared without query and fragment.
fn without_query(u: &str) -> &str {
    u.split(['?', '#']).next().unwrap_or(u)
}
