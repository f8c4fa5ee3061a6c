//! Signed request objects (RFC 9101, OIDC Core §6): verified with the client's keys, checked,
//! and turned into authorization parameters that win over the query's.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::client_keys::{self, CLOCK_SKEW_SECS};
use crate::protocol::fapi;
use crate::protocol::Ctx;
use crate::types::Client;
use serde_json::Value;
use std::collections::HashMap;

/// Longest lifetime we accept for a request object.
const MAX_LIFETIME_SECS: i64 = 3600;

fn invalid(d: String) -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequestObject,
        400,
        format!("request object: {d}"),
    )
}

/// The algorithms a request object of `client` may be signed with.
fn allowed_algs(
    client: &Client,
    profile: Option<crate::types::FapiProfile>,
) -> Vec<crate::jose::Alg> {
    fapi::restrict_algs(
        profile,
        client_keys::allowed_algs(client.metadata.request_object_signing_alg.as_deref()),
    )
}

/// The claims of `object` when its signature is the client's (an allowed algorithm, one of
/// its keys), whatever else is wrong with it: what an error about the object may rely on.
pub async fn authentic_claims(
    cx: &Ctx<'_>,
    client: &Client,
    profile: Option<crate::types::FapiProfile>,
    object: &str,
) -> Option<Value> {
    let allowed = allowed_algs(client, profile);
    client_keys::verify(cx, client, object, &allowed, invalid)
        .await
        .ok()
}

/// Verifies `object` for `client` (under its FAPI `profile`, if any) and returns its
/// parameters as strings (JSON members such as `claims` are serialised back to JSON).
pub async fn parameters(
    cx: &Ctx<'_>,
    client: &Client,
    profile: Option<crate::types::FapiProfile>,
    object: &str,
) -> OAuthResult<(HashMap<String, String>, Value)> {
    let allowed = allowed_algs(client, profile);
    let claims = client_keys::verify(cx, client, object, &allowed, invalid).await?;
    let obj = claims
        .as_object()
        .ok_or_else(|| invalid("not a JSON object".into()))?;
    for (name, expected) in [
        ("client_id", client.id.as_str()),
        ("iss", client.id.as_str()),
    ] {
        if let Some(v) = obj.get(name) {
            if v.as_str() != Some(expected) {
                return Err(invalid(format!("{name} must be the client_id")));
            }
        }
    }
    match obj.get("aud") {
        Some(aud) if !client_keys::audience_matches(aud, &[&cx.issuer]) => {
            return Err(invalid("aud must be the issuer".into()));
        }
        // FAPI 1 Adv. §5.2.2-15 (and FAPI 2 Message Signing): aud is required.
        None if profile.is_some() => {
            return Err(invalid(
                "aud is required and must be the issuer (FAPI 1 Adv. section 5.2.2-15)".into(),
            ));
        }
        _ => {}
    }
    let now = cx.now;
    client_keys::check_times(&claims, now, false, MAX_LIFETIME_SECS, invalid)?;
    if profile == Some(crate::types::FapiProfile::Fapi2) {
        fapi::check_fapi2_object(&claims, now)?;
    }
    if obj.contains_key("request") || obj.contains_key("request_uri") {
        return Err(invalid(
            "must not contain request or request_uri (RFC 9101 section 4)".into(),
        ));
    }
    if let Some(jti) = obj.get("jti").and_then(Value::as_str) {
        let scope = format!("request_object:{}", client.id);
        let until = obj
            .get("exp")
            .and_then(client_keys::numeric_date)
            .unwrap_or(now + MAX_LIFETIME_SECS)
            + CLOCK_SKEW_SECS;
        let jti = jti.to_string();
        if !cx
            .store
            .write(move |tx| tx.replay().first_use(&scope, &jti, until))
            .await?
        {
            return Err(invalid(
                "this request object was already used (jti replay)".into(),
            ));
        }
    }
    Ok((parameters_of(obj), claims))
}

/// The request parameters a signed request object carries: every claim but the JWT's own
/// (`iss`, `aud`, `exp`, `nbf`, `iat`, `jti`), as form values (JSON values other than
/// strings in their JSON text; nulls left out).
pub fn parameters_of(obj: &serde_json::Map<String, Value>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in obj {
        if ["iss", "aud", "exp", "nbf", "iat", "jti"].contains(&k.as_str()) {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        out.insert(k.clone(), text);
    }
    out
}
