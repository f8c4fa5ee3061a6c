//! What an authorization request asks of the bank side: the `id:*`, `reauth` and `refresh`
//! scopes, read under the contract's rules and the client's connection types.

use crate::error::{OAuthError, OAuthResult};
use crate::plugins::{ConnectionType, JourneyKind};
use crate::protocol::oidc::claims::ClaimsRequest;
use crate::types::{Client, ScopeSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The claim that carries a connection id (contract, Claims).
pub const CONNECTION_CLAIM: &str = "mh:con_id";

/// The chooser filters the `id:` scope may name instead of an institution.
const CHOOSER_FILTERS: &[&str] = &["all", "api", "legacy", "test"];

/// What an authorization request asks of the bank side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BankRequest {
    pub journey: JourneyKind,
    /// `id:{bank}`, or the connection's institution for reauth/refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// `all`, `api`, `legacy` or `test` when the user picks in the chooser.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chooser: Option<String>,
    /// The connection a reauth or refresh journey renews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
}

impl BankRequest {
    /// The chooser's type filter (`None` for every type).
    pub fn chooser_type(&self) -> Option<ConnectionType> {
        self.chooser.as_deref().and_then(ConnectionType::parse)
    }
}

/// Applies the contract's scope rules (Scopes → Financial institutions, Connection lifecycle)
/// and the client's connection types; `institution_kind` names the type of an institution
/// available now. `None` when the request is not about a bank.
pub fn classify(
    institution_kind: &dyn Fn(&str) -> Option<ConnectionType>,
    client: &Client,
    scopes: &ScopeSet,
    claims: Option<&ClaimsRequest>,
) -> OAuthResult<Option<BankRequest>> {
    let ids: Vec<&str> = scopes
        .iter()
        .filter_map(|s| s.strip_prefix("id:"))
        .collect();
    let lifecycle: Vec<&str> = scopes
        .iter()
        .filter(|s| *s == "reauth" || *s == "refresh")
        .collect();
    if ids.len() > 1 {
        return Err(OAuthError::invalid_scope(
            "the id:* scopes are mutually exclusive: request exactly one",
        ));
    }
    if !lifecycle.is_empty() {
        if let Some(other) = scopes.iter().find(|s| *s != "openid" && *s != lifecycle[0]) {
            return Err(OAuthError::invalid_scope(format!(
                "only openid may accompany {}; {other} may not",
                lifecycle[0]
            )));
        }
        return lifecycle_request(lifecycle[0], claims).map(Some);
    }
    let Some(id) = ids.first() else {
        return Ok(None);
    };
    if CHOOSER_FILTERS.contains(id) {
        if *id != "all" && !client.metadata.allows_connection_type(id) {
            return Err(OAuthError::invalid_scope(format!(
                "this client has no access to {id} connections"
            )));
        }
        return Ok(Some(BankRequest {
            journey: JourneyKind::Connect,
            institution: None,
            chooser: Some(id.to_string()),
            connection_id: None,
        }));
    }
    let available = institution_kind(id)
        .is_some_and(|kind| client.metadata.allows_connection_type(kind.as_str()));
    if !available {
        return Err(OAuthError::invalid_scope(format!(
            "id:{id} is not a connection available to this client"
        )));
    }
    Ok(Some(BankRequest {
        journey: JourneyKind::Connect,
        institution: Some(id.to_string()),
        chooser: None,
        connection_id: None,
    }))
}

/// `reauth` / `refresh` need the user and the connection pinned in the claims parameter.
fn lifecycle_request(scope: &str, claims: Option<&ClaimsRequest>) -> OAuthResult<BankRequest> {
    let missing = || {
        OAuthError::invalid_request(format!(
            "{scope} requires claims.id_token with sub and {CONNECTION_CLAIM} values (contract: Connection lifecycle)"
        ))
    };
    let claims = claims.ok_or_else(missing)?;
    claims.requested_sub()?.ok_or_else(missing)?;
    let connection_id = requested_connection(claims).ok_or_else(missing)?;
    Ok(BankRequest {
        journey: if scope == "reauth" {
            JourneyKind::Reauth
        } else {
            JourneyKind::Refresh
        },
        institution: None,
        chooser: None,
        connection_id: Some(connection_id),
    })
}

/// The `mh:con_id` value pinned in the claims request.
fn requested_connection(claims: &ClaimsRequest) -> Option<String> {
    claims
        .id_token_request(CONNECTION_CLAIM)
        .and_then(|r| r.value.as_ref())
        .and_then(Value::as_str)
        .map(String::from)
}
