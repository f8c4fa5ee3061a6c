//! The contract's scope rules, loaded from data (`scope_policy.toml`, replaceable by the
//! operator) and enforced at every place scopes are asked for, with `invalid_scope`.

use crate::error::{OAuthError, OAuthResult};
use crate::types::ScopeSet;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    exclusive: Vec<Exclusive>,
    #[serde(default)]
    requires: Vec<Requires>,
    #[serde(default)]
    managed_users_only: Patterns,
    #[serde(default)]
    client_credentials_only: Scopes,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Exclusive {
    scopes: Vec<String>,
    reason: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Requires {
    scope: String,
    any_of: Vec<String>,
    reason: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Patterns {
    patterns: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scopes {
    scopes: Vec<String>,
}

const DEFAULT: &str = include_str!("scope_policy.toml");

/// Where the scopes are being asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The authorization endpoint (or PAR).
    Authorization,
    /// client_credentials: `for_user` when a `sub` names one of the client's users.
    ClientCredentials { for_user: bool },
}

impl Default for Policy {
    fn default() -> Self {
        Policy::parse(DEFAULT).expect("the built-in scope policy parses")
    }
}

/// `*` matches any run of characters.
fn matches(pattern: &str, scope: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == scope,
        Some((pre, post)) => {
            scope.len() >= pre.len() + post.len() && scope.starts_with(pre) && scope.ends_with(post)
        }
    }
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Policy> {
        match path {
            None => Ok(Policy::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("scope_policy {}: {e}", p.display()))?;
                Policy::parse(&text)
                    .map_err(|e| anyhow::anyhow!("scope_policy {}: {e}", p.display()))
            }
        }
    }

    /// Whether any of `scopes` is only for users the client manages.
    pub fn needs_managed_user(&self, scopes: &ScopeSet) -> bool {
        scopes.iter().any(|s| {
            self.managed_users_only
                .patterns
                .iter()
                .any(|p| matches(p, s))
        })
    }

    /// Checks `scopes` as asked for in `flow`; `managed_user` says whether the request is
    /// for a user the client manages.
    pub fn check(&self, scopes: &ScopeSet, flow: Flow, managed_user: bool) -> OAuthResult<()> {
        for group in &self.exclusive {
            if group.scopes.iter().filter(|s| scopes.contains(s)).count() > 1 {
                return Err(OAuthError::invalid_scope(group.reason.clone()));
            }
        }
        for rule in &self.requires {
            if scopes.contains(&rule.scope) && !rule.any_of.iter().any(|s| scopes.contains(s)) {
                return Err(OAuthError::invalid_scope(rule.reason.clone()));
            }
        }
        let cc_only = &self.client_credentials_only.scopes;
        for s in scopes.iter() {
            let for_itself = flow == Flow::ClientCredentials { for_user: false };
            if cc_only.iter().any(|c| c == s) && !for_itself {
                return Err(OAuthError::invalid_scope(format!(
                    "{s} is only available with client_credentials, without sub"
                )));
            }
            let managed_only = self
                .managed_users_only
                .patterns
                .iter()
                .any(|p| matches(p, s));
            if managed_only && !managed_user {
                return Err(OAuthError::invalid_scope(format!(
                    "{s} is only available for users the client manages"
                )));
            }
        }
        Ok(())
    }
}
