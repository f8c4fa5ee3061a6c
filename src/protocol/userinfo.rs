//! The UserInfo endpoint (OIDC Core §5.3): claims for the access token's user and scopes.

use super::claims::{self, ClaimsRequest};
use super::tokens::active_access_token;
use crate::error::{OAuthError, OAuthResult};
use crate::provider::Provider;
use crate::store::{self, grants};
use crate::types::ScopeSet;
use serde_json::{Map, Value};

pub async fn claims_for(p: &Provider, access_token: &str) -> OAuthResult<Map<String, Value>> {
    let token = active_access_token(p, access_token).await?.ok_or_else(|| {
        OAuthError::invalid_token("the access token is invalid, expired or revoked")
    })?;
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
    let (user, grant) = p
        .store
        .read(move |c| {
            let user = store::users::get(c, &user_id)?;
            let grant = grant_id
                .map(|g| grants::get_grant(c, &g))
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
    out.insert("sub".into(), Value::String(user.id));
    Ok(out)
}
