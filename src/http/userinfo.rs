//! The UserInfo endpoint: a bearer token in the header (GET or POST) or a form body
//! (RFC 6750 §2), or a DPoP-bound token with its proof (RFC 9449 §7).

use super::{params, provider, respond};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::dpop;
use crate::protocol::userinfo::{self as info, Presentation, UserInfo};
use crate::provider::Provider;
use salvo::prelude::*;

#[handler]
pub async fn userinfo(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    respond::dpop_nonce(res, &p);
    let cert = params::client_certificate(&p, req).map(|c| c.thumbprint());
    let dpop = params::authorization_header(req)
        .is_some_and(|h| h.to_ascii_lowercase().starts_with("dpop "));
    let result = match presentation(&p, req).await {
        Ok(mut presented) => {
            presented.cert_thumbprint = cert;
            info::claims_for(&p, presented).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(UserInfo::Json(claims)) => respond::json(res, StatusCode::OK, &claims),
        Ok(UserInfo::Jwt(jwt)) => {
            respond::no_store(res);
            res.headers_mut().insert(
                salvo::http::header::CONTENT_TYPE,
                salvo::http::HeaderValue::from_static("application/jwt"),
            );
            let _ = res.write_body(jwt);
        }
        Err(e) => respond::resource_error(res, &e, dpop),
    }
}

/// How the token was presented, with its DPoP proof checked when the scheme is DPoP.
async fn presentation(p: &Provider, req: &mut Request) -> OAuthResult<Presentation> {
    let header = params::authorization_header(req);
    if let Some(h) = &header {
        let (scheme, token) = h.split_once(' ').unwrap_or((h.as_str(), ""));
        let token = token.trim().to_string();
        if token.is_empty() {
            return Err(OAuthError::invalid_token("an access token is required"));
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
                let jkt = dpop::check(
                    p,
                    &proof,
                    &method,
                    &p.endpoints().userinfo,
                    Some(&token),
                    401,
                )
                .await?;
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
    Err(OAuthError::invalid_token("an access token is required"))
}
