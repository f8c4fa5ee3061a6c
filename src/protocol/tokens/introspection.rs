//! Token introspection (RFC 7662): active only for live tokens issued to the asking client.

use crate::error::OAuthResult;
use crate::protocol::tokens::active_access_token;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::grants;
use crate::types::Client;
use serde_json::{json, Value};

pub async fn introspect(cx: &Ctx<'_>, client: &Client, token: &str) -> OAuthResult<Value> {
    let inactive = json!({ "active": false });
    if let Some(at) = active_access_token(cx, token).await? {
        if at.row.client_id != client.id {
            return Ok(inactive);
        }
        let c = &at.claims;
        let token_type = if c["cnf"].get("jkt").is_some() {
            "DPoP"
        } else {
            "Bearer"
        };
        let mut out = json!({
            "active": true, "token_type": token_type, "scope": at.row.scopes, "client_id": at.row.client_id,
            "sub": c["sub"], "aud": c["aud"], "iss": c["iss"], "exp": c["exp"], "iat": c["iat"], "jti": c["jti"],
        });
        out["scope_descriptions"] = describe(&at.row.scopes);
        // RFC 9449 §6.2 / RFC 8705 §3.2: the confirmation the resource server must check.
        if let Some(cnf) = c.get("cnf") {
            out["cnf"] = cnf.clone();
        }
        if let Some(id) = connection_of(cx, &at.row).await? {
            out[crate::protocol::bank::CONNECTION_CLAIM] = json!(id);
        }
        // The grant's budget and what is left of it this period, for the resource server.
        if let Some(grant_id) = &at.row.grant_id {
            if let Some(b) = crate::protocol::budget::read(cx, grant_id).await? {
                out["budget"] = b;
            }
        }
        return Ok(out);
    }
    let hash = secrets::digest(token);
    let now = cx.now;
    let found = cx
        .store
        .read(move |tx| tx.grants().active_refresh_token(&hash, now))
        .await?;
    match found {
        Some((t, g)) if t.client_id == client.id => Ok(json!({
            "active": true, "token_type": "refresh_token", "scope": t.scopes, "client_id": t.client_id,
            "sub": g.user_id.as_deref().map(|u| crate::protocol::oidc::subject::for_client(cx, client, u)), "iss": cx.issuer, "exp": t.expires_at, "iat": g.created_at,
            "scope_descriptions": describe(&t.scopes),
        })),
        _ => Ok(inactive),
    }
}

/// The bank connection a bank-scoped grant made. An ID token names it when asked for
/// (`mh:con_id`); a plain OAuth grant (no `openid`) has no ID token, so introspection does.
async fn connection_of(cx: &Ctx<'_>, token: &grants::AccessToken) -> OAuthResult<Option<String>> {
    let bank_scoped = crate::types::ScopeSet::parse(&token.scopes)
        .iter()
        .any(crate::protocol::oidc::scopes::is_bank_scope);
    let Some(grant_id) = token.grant_id.clone().filter(|_| bank_scoped) else {
        return Ok(None);
    };
    let grant = cx
        .store
        .read(move |tx| tx.grants().get_grant(&grant_id))
        .await?;
    Ok(grant.and_then(|g| g.connection_id))
}

/// Human text for each scope (the same as the consent page shows), for resource servers.
fn describe(scopes: &str) -> Value {
    let map: serde_json::Map<String, Value> = crate::types::ScopeSet::parse(scopes)
        .iter()
        .map(|s| {
            let text = crate::protocol::oidc::scopes::description(s);
            (s.to_string(), Value::String(text.to_string()))
        })
        .collect();
    Value::Object(map)
}
