//! Reading an access token off a request to a protected resource.

use super::params;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::fapi::dpop;
use crate::protocol::tokens::resource::Presentation;
use crate::protocol::Ctx;
use salvo::prelude::*;

/// How the access token was presented (RFC 6750 §2, RFC 9449 §7), with its DPoP proof
/// checked against `htu` when the scheme is DPoP, and the TLS client certificate's thumbprint.
pub async fn presentation(cx: &Ctx<'_>, req: &mut Request, htu: &str) -> OAuthResult<Presentation> {
    let header = params::authorization_header(req);
    let body_token = body_token(req).await;
    let query_token = params::query_pairs(req)
        .iter()
        .any(|(k, _)| k == "access_token");
    // RFC 6750 §2: a client must not use more than one method to send the token.
    if [header.is_some(), body_token.is_some(), query_token]
        .iter()
        .filter(|used| **used)
        .count()
        > 1
    {
        return Err(OAuthError::invalid_request(
            "the access token must be sent in one way only (RFC 6750 section 2)",
        ));
    }
    if let Some(h) = &header {
        let (scheme, token) = h.split_once(' ').unwrap_or((h.as_str(), ""));
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(OAuthError::no_token());
        }
        return match scheme.to_ascii_lowercase().as_str() {
            "bearer" => Ok(Presentation {
                token,
                dpop_jkt: None,
                cert_thumbprint: None,
            }),
            "dpop" => {
                let proof = params::dpop_proof(req)?.ok_or_else(|| {
                    OAuthError::new(
                        ErrorCode::InvalidDpopProof,
                        401,
                        "a DPoP proof is required (RFC 9449 section 7.1)",
                    )
                })?;
                let method = req.method().as_str().to_string();
                let jkt = dpop::check(cx, &proof, &method, htu, Some(&token), 401).await?;
                Ok(Presentation {
                    token,
                    dpop_jkt: Some(jkt),
                    cert_thumbprint: None,
                })
            }
            _ => Err(OAuthError::invalid_request(
                "the Authorization header must use the Bearer or DPoP scheme",
            )),
        };
    }
    if let Some(token) = body_token.filter(|t| !t.is_empty()) {
        return Ok(Presentation {
            token,
            dpop_jkt: None,
            cert_thumbprint: None,
        });
    }
    // RFC 6750 §3.1: no credentials at all gets a bare challenge.
    Err(OAuthError::no_token())
}

/// The `access_token` of a form-encoded POST body (RFC 6750 §2.2), if there is one.
async fn body_token(req: &mut Request) -> Option<String> {
    if req.method() != salvo::http::Method::POST {
        return None;
    }
    params::form_pairs(req)
        .await
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v)
}
