//! Reading an access token off a request to a protected resource.

use super::params;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::dpop;
use crate::protocol::resource::Presentation;
use crate::provider::Provider;
use salvo::prelude::*;

/// How the access token was presented (RFC 6750 §2, RFC 9449 §7), with its DPoP proof
/// checked against `htu` when the scheme is DPoP, and the TLS client certificate's thumbprint.
pub async fn presentation(p: &Provider, req: &mut Request, htu: &str) -> OAuthResult<Presentation> {
    let header = params::authorization_header(req);
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
                        "invalid_dpop_proof",
                        401,
                        "a DPoP proof is required (RFC 9449 §7.1)",
                    )
                })?;
                let method = req.method().as_str().to_string();
                let jkt = dpop::check(p, &proof, &method, htu, Some(&token), 401).await?;
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
    if req.method() == salvo::http::Method::POST {
        let token = params::form_pairs(req)
            .await
            .ok()
            .and_then(|f| {
                f.into_iter()
                    .find(|(k, _)| k == "access_token")
                    .map(|(_, v)| v)
            })
            .filter(|t| !t.is_empty());
        if let Some(token) = token {
            return Ok(Presentation {
                token,
                dpop_jkt: None,
                cert_thumbprint: None,
            });
        }
    }
    // RFC 6750 §3.1: no credentials at all gets a bare challenge.
    Err(OAuthError::no_token())
}
