//! DPoP proofs (RFC 9449 §4.3): a JWT signed with the client's own key for one request, so
//! tokens bound to that key are useless to anyone who steals them.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::jose::{embedded_jwk, Alg};
use crate::protocol::client_keys::CLOCK_SKEW_SECS;
use crate::protocol::Ctx;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// How old a proof's `iat` may be.
const PROOF_MAX_AGE_SECS: i64 = 60;

/// The algorithms accepted for proofs (advertised as dpop_signing_alg_values_supported).
pub const ALGS: [Alg; 3] = Alg::ALL;

fn invalid(status: u16, d: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, status, d)
}

/// Checks a proof for `method` and `url` (and, at a resource, the `access_token` it is sent
/// with); returns the thumbprint (`jkt`) of the proof's key. `status` is 400 at the token
/// endpoint and 401 at resources.
pub async fn check(
    cx: &Ctx<'_>,
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
    let htu = c["htu"].as_str().and_then(normalized_htu);
    if htu.is_none() || htu != normalized_htu(url) {
        return Err(invalid(
            status,
            "DPoP proof: htu does not match the request URL",
        ));
    }
    let now = cx.now;
    let iat = crate::protocol::client_keys::numeric_date(&c["iat"])
        .ok_or_else(|| invalid(status, "DPoP proof: iat is required"))?;
    if iat > now + CLOCK_SKEW_SECS || iat < now - PROOF_MAX_AGE_SECS {
        return Err(invalid(
            status,
            "DPoP proof: iat is outside the accepted window",
        ));
    }
    if cx.config.dpop_require_nonce && !c["nonce"].as_str().is_some_and(|n| nonce_is_current(cx, n))
    {
        return Err(OAuthError::new(
            ErrorCode::UseDpopNonce,
            status,
            "a DPoP nonce from this provider is required (RFC 9449 section 8)",
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
    if !cx
        .store
        .write(move |tx| tx.replay().first_use(&scope, &jti, until))
        .await?
    {
        return Err(invalid(
            status,
            "DPoP proof: this proof was already used (jti replay)",
        ));
    }
    Ok(v.jkt)
}

/// RFC 9449 §4.3: htu is compared without query and fragment, after the syntax- and
/// scheme-based normalisation of RFC 3986 §6.2.2-6.2.3 (case of scheme and host, default
/// port, percent-encoding, dot segments), as the URL parser applies it.
fn normalized_htu(u: &str) -> Option<String> {
    let mut parsed = url::Url::parse(u).ok()?;
    parsed.set_query(None);
    parsed.set_fragment(None);
    Some(parsed.to_string())
}

/// How long one nonce is offered; the previous one stays good for as long again.
const NONCE_PERIOD_SECS: i64 = 300;

/// The HMAC key nonces are derived from: derived from the data key, so every node agrees.
pub fn nonce_key(sealer: &crate::sealing::Sealer) -> ring::hmac::Key {
    ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        &sealer.derived_secret("dpop nonce key"),
    )
}

fn nonce_for(cx: &Ctx<'_>, period: i64) -> String {
    URL_SAFE_NO_PAD.encode(ring::hmac::sign(&cx.dpop_nonce_key, &period.to_be_bytes()).as_ref())
}

/// The nonce to hand out now (sent in the `DPoP-Nonce` header).
pub fn current_nonce(cx: &Ctx<'_>) -> String {
    nonce_for(cx, cx.now / NONCE_PERIOD_SECS)
}

fn nonce_is_current(cx: &Ctx<'_>, nonce: &str) -> bool {
    let period = cx.now / NONCE_PERIOD_SECS;
    [period, period - 1]
        .iter()
        .any(|b| crate::secrets::ct_eq(&nonce_for(cx, *b), nonce))
}

#[cfg(test)]
mod tests {
    use super::normalized_htu;

    #[test]
    fn htu_is_compared_after_rfc3986_normalisation() {
        let url = normalized_htu("https://op.example/oidc/token");
        for same in [
            "HTTPS://OP.EXAMPLE/oidc/token",
            "https://op.example:443/oidc/token",
            "https://op.example/oidc/token?x=1#f",
            "https://op.example/oidc/./token",
        ] {
            assert_eq!(normalized_htu(same), url, "{same}");
        }
        for other in [
            "https://op.example/oidc/TOKEN",
            "http://op.example/oidc/token",
            "not a url",
        ] {
            assert_ne!(normalized_htu(other), url, "{other}");
        }
    }
}
