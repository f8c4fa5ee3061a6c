//! What an institution script declares about itself: the fields of the contract's connection
//! lists, plus the hosts its scripts may reach.

use serde::{Deserialize, Serialize};

/// `api` (open banking), `legacy` (credentials / screen scraping) or `test` (sandbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionType {
    Api,
    Legacy,
    Test,
}

impl ConnectionType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::Api => "api",
            ConnectionType::Legacy => "legacy",
            ConnectionType::Test => "test",
        }
    }
    pub fn parse(s: &str) -> Option<ConnectionType> {
        match s {
            "api" => Some(ConnectionType::Api),
            "legacy" => Some(ConnectionType::Legacy),
            "test" => Some(ConnectionType::Test),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountType {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub beta: bool,
}

/// The metadata returned by a script's `institution()` function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Institution {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ConnectionType,
    pub bank_ref: String,
    /// SVG file next to the script.
    #[serde(default)]
    pub icon: Option<String>,
    #[serde(default)]
    pub account_types: Vec<AccountType>,
    #[serde(default)]
    pub user_types: Vec<String>,
    /// The only `host` (port 443) or `host:port` entries `http_*` calls may reach (with the
    /// operator's `hosts` setting); see `super::hosts`.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Days a completed connection's consent lasts before it needs reauth (none: no expiry).
    #[serde(default)]
    pub consent_days: Option<u32>,
    /// Whether partners may be handed the institution's upstream access tokens
    /// (`GET /users/{id}/connections/{id}/token`); `tokenHandout: false` forbids it.
    #[serde(default = "handout_allowed")]
    pub token_handout: bool,
}

fn handout_allowed() -> bool {
    true
}

const ACCOUNT_TYPES: &[&str] = &["cash", "card", "pension", "mortgage", "investment", "loan"];
const USER_TYPES: &[&str] = &["personal", "business"];

/// Ids end up in scopes (`id:{id}`) and URLs: keep them to a safe alphabet.
fn valid_ref(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Institution {
    /// Checks every field, naming the first one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_ref(&self.id) || ["all", "api", "legacy", "test"].contains(&self.id.as_str()) {
            return Err(format!(
                "id {:?} must be 1-64 letters, digits, '-', '_' or '.', and not all/api/legacy/test",
                self.id
            ));
        }
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if !valid_ref(&self.bank_ref) {
            return Err(format!(
                "bankRef {:?} must be 1-64 letters, digits, '-', '_' or '.'",
                self.bank_ref
            ));
        }
        if let Some(a) = self
            .account_types
            .iter()
            .find(|a| !ACCOUNT_TYPES.contains(&a.kind.as_str()))
        {
            return Err(format!(
                "accountTypes: {:?} is not one of {}",
                a.kind,
                ACCOUNT_TYPES.join(", ")
            ));
        }
        if let Some(u) = self
            .user_types
            .iter()
            .find(|u| !USER_TYPES.contains(&u.as_str()))
        {
            return Err(format!("userTypes: {u:?} is not personal or business"));
        }
        for h in &self.hosts {
            super::hosts::parse(h).map_err(|e| format!("hosts: {e}"))?;
        }
        if let Some(icon) = &self.icon {
            if !icon.ends_with(".svg") || icon.contains('/') || icon.contains('\\') {
                return Err(format!(
                    "icon {icon:?} must be an .svg file next to the script"
                ));
            }
        }
        Ok(())
    }
}
