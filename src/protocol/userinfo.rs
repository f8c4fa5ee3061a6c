//! The UserInfo endpoint (OIDC Core §5.3): claims for the access token's user and scopes.

use super::claims::{self, ClaimsRequest};
use super::tokens::active_access_token;
use crate::error::{OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::provider::Provider;
use crate::store::{self, grants};
use crate::types::ScopeSet;
use serde_json::{Map, Value};

/// An access token as presented, with the key of its checked DPoP proof when sent as DPoP.
pub struct Presentation {
    pub token: String,
    pub dpop_jkt: Option<String>,
    /// `x5t#S256` of the TLS client certificate the request came with.
    pub cert_thumbprint: Option<String>,
}

/// The UserInfo response: JSON, or a signed JWT for clients that registered
/// `userinfo_signed_response_alg` (OIDC Core §5.3.2).
pub enum UserInfo {
    Json(Map<String, Value>),
    Jwt(String),
}

pub async fn claims_for(p: &Provider, presented: Presentation) -> OAuthResult<UserInfo> {
    let token = active_access_token(p, &presented.token)
        .await?
        .ok_or_else(|| {
            OAuthError::invalid_token("the access token is invalid, expired or revoked")
        })?;
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
    let scopes = ScopeSet::parse(&token.row.scopes);
    if !scopes.contains("openid") {
        return Err(OAuthError::insufficient_scope(
            "the access token lacks the openid scope",
        ));
    }
    let user_id = token.row.user_id.clone().ok_or_else(|| {
        OAuthError::insufficient_scope("the access token was not issued for a user")
    })?;
    let grant_id = token.row.grant_id.clone();
    let client_id = token.row.client_id.clone();
    let (user, grant, client) = p
        .store
        .read(move |c| {
            let user = store::users::get(c, &user_id)?;
            let grant = grant_id
                .map(|g| grants::get_grant(c, &g))
                .transpose()?
                .flatten();
            Ok((user, grant, store::clients::get(c, &client_id)?))
        })
        .await?;
    let client = client.ok_or_else(|| OAuthError::invalid_token("the client no longer exists"))?;
    let user = user.ok_or_else(|| OAuthError::invalid_token("the user no longer exists"))?;
    let mut out = claims::by_scope(&user.claims, &scopes);
    if let Some(req) = grant
        .and_then(|g| g.claims)
        .and_then(|s| serde_json::from_str::<ClaimsRequest>(&s).ok())
    {
        out.extend(claims::by_request(&user.claims, &req.userinfo));
    }
    out.insert("sub".into(), Value::String(user.id));
    match client
        .metadata
        .userinfo_signed_response_alg
        .as_deref()
        .and_then(Alg::parse)
    {
        None => Ok(UserInfo::Json(out)),
        Some(alg) => {
            out.insert("iss".into(), Value::String(p.issuer.clone()));
            out.insert("aud".into(), Value::String(client.id.clone()));
            let jwt = p
                .keys()
                .sign(alg, None, &Value::Object(out))
                .map_err(OAuthError::server)?;
            Ok(UserInfo::Jwt(jwt))
        }
    }
}
