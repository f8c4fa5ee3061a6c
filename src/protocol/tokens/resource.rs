//! Checking an access token presented at one of our protected resources (UserInfo, the
//! partner API): live, and presented the way it is bound (RFC 9449 §7, RFC 8705 §3).

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::tokens::{active_access_token, ActiveAccessToken};
use crate::protocol::Ctx;

/// An access token as presented, with the key of its checked DPoP proof when sent as DPoP.
pub struct Presentation {
    pub token: String,
    pub dpop_jkt: Option<String>,
    /// `x5t#S256` of the TLS client certificate the request came with.
    pub cert_thumbprint: Option<String>,
}

/// The live token behind a presentation, or `invalid_token`.
pub async fn authenticate(
    cx: &Ctx<'_>,
    presented: &Presentation,
) -> OAuthResult<ActiveAccessToken> {
    let token = active_access_token(cx, &presented.token)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_token("the access token is invalid, expired or revoked")
        })?;
    // RFC 8707: a token for another resource (its `aud`) is not for us.
    if token.claims["aud"].as_str() != Some(cx.issuer.as_str()) {
        return Err(OAuthError::invalid_token(
            "the access token is for another resource (RFC 8707)",
        ));
    }
    // RFC 9449 §7: a DPoP-bound token only with a proof by its key, and only as DPoP.
    let bound = token.claims["cnf"]["jkt"].as_str();
    if bound != presented.dpop_jkt.as_deref() {
        return Err(OAuthError::invalid_token(match bound {
            Some(_) => "the access token is DPoP-bound: present it with a DPoP proof of its key",
            None => "the access token is not DPoP-bound: present it as a Bearer token",
        }));
    }
    // RFC 8705 §3: a certificate-bound token only over TLS with that certificate.
    if let Some(x5t) = token.claims["cnf"]["x5t#S256"].as_str() {
        if presented.cert_thumbprint.as_deref() != Some(x5t) {
            return Err(OAuthError::invalid_token(
                "the access token is bound to a client certificate that this request did not present",
            ));
        }
    }
    Ok(token)
}
