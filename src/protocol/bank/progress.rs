//! A bank journey's progress, kept with its interaction, and what a connection keeps sealed.

use super::upstream::{Pending, UpstreamTokens};
use crate::error::{OAuthError, OAuthResult};
use crate::plugins::{Form, Message};
use crate::protocol::Ctx;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// The message the journey ended on, while the user reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// The script's own state between steps.
    #[serde(default)]
    pub state: Value,
    /// An authorization at the institution's server, while the user is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Pending>,
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
    pub upstream: Option<UpstreamTokens>,
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
