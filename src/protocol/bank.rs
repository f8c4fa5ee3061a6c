//! Bank connections in the authorization flow: the `id:*`, `reauth` and `refresh` scopes, who
//! the connection is for, the journey's progress, and the connection it ends in.

use super::claims::ClaimsRequest;
use crate::error::{OAuthError, OAuthResult};
use crate::plugins::{ConnectionType, Form, JourneyKind};
use crate::protocol::Ctx;
use crate::store::connections::BankConnection;
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

/// Scopes that steer the bank side rather than name data: exempt from the client's scope list.
pub fn is_bank_scope(scope: &str) -> bool {
    scope.starts_with("id:") || scope == "reauth" || scope == "refresh"
}

/// Human text for a bank scope on the consent page.
pub fn describe(scope: &str) -> Option<&'static str> {
    match scope {
        "reauth" => Some("Renew your existing bank connection"),
        "refresh" => Some("Update your existing bank connection"),
        s if s.starts_with("id:") => Some("Connect an account at your bank"),
        _ => None,
    }
}

/// Applies the contract's scope rules (Scopes → Financial institutions, Connection lifecycle)
/// and the client's connection types. `None` when the request is not about a bank.
pub fn classify(
    cx: &Ctx<'_>,
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
    let available = cx.plugins.get(id).is_some_and(|plugin| {
        client
            .metadata
            .allows_connection_type(plugin.meta.kind.as_str())
    });
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

/// A new connection id in the contract's `<institution hash>:<uuid>` form.
pub fn new_connection_id(institution: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, institution.as_bytes());
    let hash = crate::secrets::hex(&digest.as_ref()[..16]);
    format!("{hash}:{}", uuid::Uuid::new_v4())
}

/// The journey's progress, kept with the interaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The institution chosen (or fixed by the request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    /// The user must log in before the journey (a pinned user who is not the client's own).
    #[serde(default)]
    pub login_required: bool,
    #[serde(default)]
    pub consented: bool,
    /// The form the script is waiting on, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    /// The script's own state between steps.
    #[serde(default)]
    pub state: Value,
    /// An authorization at the institution's server, while the user is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<super::upstream::Pending>,
    /// Tokens the institution issued in this journey, sealed, until the script is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_tokens_sealed: Option<String>,
    /// `newTransactions` payloads the script raised, sent when a refresh journey completes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_transactions: Vec<Value>,
}

/// What a connection keeps sealed: the script's data and the institution's tokens.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSecrets {
    #[serde(default)]
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<super::upstream::UpstreamTokens>,
}

impl ConnectionSecrets {
    pub fn open(cx: &Ctx<'_>, sealed: Option<&str>) -> ConnectionSecrets {
        sealed
            .and_then(|s| cx.sealer.open(s))
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }
    pub fn seal(&self, cx: &Ctx<'_>) -> Option<String> {
        if self.data.is_null() && self.upstream.is_none() {
            return None;
        }
        Some(
            cx.sealer
                .seal(&serde_json::to_string(self).unwrap_or_default()),
        )
    }
}

impl Progress {
    pub fn parse(journey: Option<&str>) -> OAuthResult<Progress> {
        match journey {
            None => Ok(Progress::default()),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| OAuthError::server(format!("interaction journey: {e}"))),
        }
    }
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }
}

/// Checks that a reauth/refresh connection belongs to the pinned user and to this client.
pub async fn owned_connection(
    cx: &Ctx<'_>,
    client: &Client,
    user_id: &str,
    connection_id: &str,
) -> OAuthResult<BankConnection> {
    let id = connection_id.to_string();
    let found = cx.store.read(move |tx| tx.connections().get(&id)).await?;
    match found {
        Some(c) if c.user_id == user_id && c.client_id == client.id => Ok(c),
        _ => Err(OAuthError::invalid_request(format!(
            "{CONNECTION_CLAIM} does not name a connection of this user made through this client"
        ))),
    }
}
