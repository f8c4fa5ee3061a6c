//! The OpenID Connect claims request parameter (Core §5.5) and claim release by scope.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::oidc::scopes::claims_for_scope;
use crate::types::ScopeSet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One requested claim: `null` in the request means "please", otherwise these members.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClaimRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Value>>,
}

impl ClaimRequest {
    /// Whether `v` satisfies the requested `value` / `values` (anything does when none is set).
    pub fn accepts(&self, v: &Value) -> bool {
        if let Some(want) = &self.value {
            return want == v;
        }
        if let Some(wants) = &self.values {
            return wants.contains(v);
        }
        true
    }
}

pub type ClaimSet = Map<String, Value>;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<(String, ClaimRequest)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<(String, ClaimRequest)>,
}

impl ClaimsRequest {
    /// Parses and checks the `claims` parameter; anything malformed is `invalid_request`.
    pub fn parse(raw: &str) -> OAuthResult<ClaimsRequest> {
        let value: Value = serde_json::from_str(raw).map_err(|_| {
            OAuthError::invalid_request("claims is not valid JSON (OIDC Core section 5.5)")
        })?;
        Self::from_value(&value)
    }

    pub fn from_value(value: &Value) -> OAuthResult<ClaimsRequest> {
        let obj = value.as_object().ok_or_else(|| {
            OAuthError::invalid_request("claims must be a JSON object (OIDC Core section 5.5)")
        })?;
        Ok(ClaimsRequest {
            id_token: member(obj, "id_token")?,
            userinfo: member(obj, "userinfo")?,
        })
    }

    /// The `sub` value the request pins, if any. Both members pinning different values is an error.
    pub fn requested_sub(&self) -> OAuthResult<Option<String>> {
        let pick = |list: &[(String, ClaimRequest)]| {
            list.iter()
                .find(|(n, _)| n == "sub")
                .and_then(|(_, r)| r.value.as_ref())
                .map(|v| v.as_str().map(String::from).ok_or(()))
        };
        let a = pick(&self.id_token).transpose().map_err(|_| bad_sub())?;
        let b = pick(&self.userinfo).transpose().map_err(|_| bad_sub())?;
        match (a, b) {
            (Some(a), Some(b)) if a != b => Err(OAuthError::invalid_request(
                "claims.id_token.sub and claims.userinfo.sub request different values",
            )),
            (a, b) => Ok(a.or(b)),
        }
    }

    pub fn id_token_request(&self, name: &str) -> Option<&ClaimRequest> {
        self.id_token
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r)
    }
}

fn bad_sub() -> OAuthError {
    OAuthError::invalid_request("a requested sub value must be a string")
}

fn member(obj: &Map<String, Value>, name: &str) -> OAuthResult<Vec<(String, ClaimRequest)>> {
    let Some(v) = obj.get(name) else {
        return Ok(Vec::new());
    };
    let m = v.as_object().ok_or_else(|| {
        OAuthError::invalid_request(format!(
            "claims.{name} must be an object (OIDC Core section 5.5)"
        ))
    })?;
    m.iter()
        .map(|(claim, req)| {
            let parsed = match req {
                Value::Null => ClaimRequest::default(),
                Value::Object(_) => serde_json::from_value::<ClaimRequest>(req.clone()).map_err(|_| {
                    OAuthError::invalid_request(format!(
                        "claims.{name}.{claim}: essential must be a boolean and values an array (OIDC Core section 5.5.1)"
                    ))
                })?,
                _ => {
                    return Err(OAuthError::invalid_request(format!(
                        "claims.{name}.{claim} must be null or an object (OIDC Core section 5.5)"
                    )))
                }
            };
            Ok((claim.clone(), parsed))
        })
        .collect()
}

/// The user's claims released for `scopes` (OIDC Core §5.4).
pub fn by_scope(user: &ClaimSet, scopes: &ScopeSet) -> ClaimSet {
    let mut out = Map::new();
    for scope in scopes.iter() {
        for name in claims_for_scope(scope) {
            if let Some(v) = user.get(*name) {
                out.insert((*name).to_string(), v.clone());
            }
        }
    }
    out
}

/// The user's claims individually requested in one member of the claims parameter, released
/// only when a requested `value`/`values` matches (Core §5.5.1).
pub fn by_request(user: &ClaimSet, requested: &[(String, ClaimRequest)]) -> ClaimSet {
    let mut out = Map::new();
    for (name, req) in requested {
        if name == "sub" {
            continue;
        }
        if let Some(v) = user.get(name) {
            if req.accepts(v) {
                out.insert(name.clone(), v.clone());
            }
        }
    }
    out
}
