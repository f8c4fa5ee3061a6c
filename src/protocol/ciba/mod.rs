//! CIBA: OpenID Client-Initiated Backchannel Authentication Core 1.0, poll and ping modes, with
//! the FAPI-CIBA profile's rules. A client asks for a user's authentication at the backchannel
//! endpoint (`request`), the user approves or denies it (`approval`: the approval page), or
//! their bank does (`bank`: an institution's script, at once or later from its backend), and
//! the client redeems its `auth_req_id` at the token endpoint (`tokens::grants::ciba`), told
//! first by a ping in ping mode.

pub mod approval;
pub mod bank;
pub mod request;

use crate::error::{ErrorCode, OAuthError};

/// How long an `auth_req_id` lives when the client asks for nothing else.
pub const DEFAULT_EXPIRY_SECS: i64 = 300;
/// The longest `requested_expiry` honoured; longer asks are cut to this.
pub const MAX_EXPIRY_SECS: i64 = 1800;
/// The longest `binding_message`, in characters (CIBA Core §7.1: "relatively short").
pub const MAX_BINDING_MESSAGE_CHARS: usize = 100;

/// What a ping-mode request keeps sealed until its ping is sent (CIBA Core §10.2).
#[derive(serde::Serialize, serde::Deserialize)]
pub struct PingSecrets {
    pub auth_req_id: String,
    pub client_notification_token: String,
}

fn error(code: ErrorCode, description: impl Into<String>) -> OAuthError {
    OAuthError::new(code, 400, description)
}
