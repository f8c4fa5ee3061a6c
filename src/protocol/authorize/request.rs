//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1) once validated: what is
//! kept with the interaction while the user logs in, or with a pushed request until it is
//! used.

use crate::protocol::bank::request::BankRequest;
use crate::protocol::budget::Budget;
use crate::protocol::oidc::claims::ClaimsRequest;
use crate::protocol::oidc::response::ResponseMode;
use crate::protocol::oidc::response_types;
use crate::types::ScopeSet;
use serde::{Deserialize, Serialize};

/// The prefix of request_uri values we issue at the PAR endpoint (RFC 9126 §2.2).
pub const PAR_URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters that say who the client is and where its errors go.
pub const IDENTIFYING: [&str; 2] = ["client_id", "redirect_uri"];

/// A validated authorization request, kept with the interaction while the user logs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub claims: Option<ClaimsRequest>,
    pub login_hint: Option<String>,
    /// The local user this request must end with: the `sub` pinned by the claims parameter
    /// or by a valid `id_token_hint`, mapped from the client's subject (OIDC Core §8.1).
    #[serde(default)]
    pub pinned_user: Option<String>,
    pub acr_values: Option<String>,
    #[serde(default)]
    pub response_mode: ResponseMode,
    /// RFC 9449 §10: the DPoP key thumbprint the code is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// Digest of the PAR request_uri this request came from; used up when it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<String>,
    /// The bank connection this request asks for (`id:*`, `reauth`, `refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<BankRequest>,
    /// RFC 8628: the device authorization this sign-in answers (no redirect_uri then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceLink>,
    /// The budget the client asks the grant to carry (shown on the consent page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    /// A shorter access-token lifetime for the grant (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

/// The device authorization a sign-in on the verification page answers, and the user code
/// the user typed, sealed, for the consent page to show (RFC 8628 §5.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceLink {
    pub id: String,
    pub user_code_sealed: String,
}

impl AuthorizationRequest {
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope)
    }
    /// Whether the response type returns `part` (`code`, `id_token`, `token`).
    pub fn returns(&self, part: &str) -> bool {
        response_types::includes(&self.response_type, part)
    }
    pub fn has_prompt(&self, p: &str) -> bool {
        self.prompt.iter().any(|x| x == p)
    }
    /// The (local) user this request must end with, from the claims parameter or the
    /// id_token_hint.
    pub fn required_sub(&self) -> Option<String> {
        self.pinned_user.clone()
    }
    /// The device authorization this request answers, if it came from the verification page.
    pub fn device_id(&self) -> Option<String> {
        self.device.as_ref().map(|d| d.id.clone())
    }
}
