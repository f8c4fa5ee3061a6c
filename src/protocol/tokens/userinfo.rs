//! The UserInfo endpoint (OIDC Core §5.3): claims for the access token's user and scopes.

use crate::error::{OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::protocol::oidc::claims::{self, ClaimsRequest};
use crate::protocol::{client_cache, Ctx};
use crate::types::ScopeSet;
use serde_json::{Map, Value};

pub use crate::protocol::tokens::resource::Presentation;

/// The UserInfo response: JSON, or a signed JWT for clients that registered
/// `userinfo_signed_response_alg` (OIDC Core §5.3.2).
pub enum UserInfo {
    Json(Map<String, Value>),
    Jwt(String),
}

pub async fn claims_for(cx: &Ctx<'_>, presented: Presentation) -> OAuthResult<UserInfo> {
    let token = crate::protocol::tokens::resource::authenticate(cx, &presented).await?;
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
    // The enabled client, as every endpoint sees it (cached rather than read and parsed here).
    let client = client_cache::client(cx, &token.row.client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the client no longer exists"))?;
    let (user, grant) = cx
        .store
        .read(move |tx| {
            let user = tx.users().get(&user_id)?;
            let grant = grant_id
                .map(|g| tx.grants().get_grant(&g))
                .transpose()?
                .flatten();
            Ok((user, grant))
        })
        .await?;
    let user = user.ok_or_else(|| OAuthError::invalid_token("the user no longer exists"))?;
    let mut out = claims::by_scope(&user.claims, &scopes);
    if let Some(req) = grant
        .and_then(|g| g.claims)
        .and_then(|s| serde_json::from_str::<ClaimsRequest>(&s).ok())
    {
        out.extend(claims::by_request(&user.claims, &req.userinfo));
    }
    out.insert(
        "sub".into(),
        Value::String(crate::protocol::oidc::subject::for_client(
            cx, &client, &user.id,
        )),
    );
    match client
        .metadata
        .userinfo_signed_response_alg
        .as_deref()
        .and_then(Alg::parse)
    {
        None => Ok(UserInfo::Json(out)),
        Some(alg) => {
            out.insert("iss".into(), Value::String(cx.issuer.clone()));
            out.insert("aud".into(), Value::String(client.id.to_string()));
            let jwt = cx
                .keys()
                .sign(alg, None, &Value::Object(out))
                .map_err(OAuthError::server)?;
            Ok(UserInfo::Jwt(jwt))
        }
    }
}
