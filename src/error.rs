//! One OAuth error type and its one mapping to HTTP.

use std::fmt;

/// The error codes we answer with: RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, OIDC Core
/// §3.1.2.6, RFC 7591 §3.2.2, RFC 8628 §3.5, RFC 9126, RFC 9101, RFC 9449, RFC 8707, and our own `not_found` /
/// `method_not_allowed` for routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    InvalidScope,
    AccessDenied,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    InsufficientScope,
    /// The grant's budget has no room for the request (our own, after RFC 6750 §3.1's
    /// insufficient_scope: 403 with a Bearer challenge).
    InsufficientBudget,
    InvalidClientMetadata,
    InvalidRedirectUri,
    NotFound,
    MethodNotAllowed,
    ServerError,
    TemporarilyUnavailable,
    InvalidDpopProof,
    UseDpopNonce,
    InvalidRequestUri,
    InvalidRequestObject,
    InvalidTarget,
    RegistrationNotSupported,
    /// CIBA Core §13 and §11 (with RFC 8628 §3.5 for the polling errors).
    UnknownUserId,
    InvalidBindingMessage,
    AuthorizationPending,
    SlowDown,
    ExpiredToken,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::InsufficientBudget => "insufficient_budget",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
            ErrorCode::UnknownUserId => "unknown_user_id",
            ErrorCode::InvalidBindingMessage => "invalid_binding_message",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth / OpenID error: the RFC code, a description safe for clients, the HTTP status,
/// and an internal detail that only reaches the logs.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    /// Always within the RFC 6749 §5.2 character set: set only through `sanitise`.
    description: String,
    pub status: u16,
    /// Internal detail for logs; never sent to the client.
    pub detail: Option<String>,
    /// The request carried no credentials at all: RFC 6750 §3.1 says the challenge then names
    /// no error.
    pub no_credentials: bool,
}

impl OAuthError {
    pub fn new(code: ErrorCode, status: u16, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: sanitise(&description.into()),
            status,
            detail: None,
            no_credentials: false,
        }
    }
    /// A protected resource asked for without any access token (RFC 6750 §3.1).
    pub fn no_token() -> Self {
        OAuthError {
            no_credentials: true,
            ..Self::invalid_token("an access token is required")
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, 400, d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, 401, d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, 400, d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, 400, d)
    }
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedGrantType, 400, d)
    }
    pub fn unsupported_response_type(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::UnsupportedResponseType, 400, d)
    }
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, 400, d)
    }
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::AccessDenied, 400, d)
    }
    pub fn login_required(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::LoginRequired, 400, d)
    }
    pub fn consent_required(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::ConsentRequired, 400, d)
    }
    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidToken, 401, d)
    }
    pub fn insufficient_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InsufficientScope, 403, d)
    }
    pub fn insufficient_budget(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InsufficientBudget, 403, d)
    }
    pub fn invalid_client_metadata(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, 400, d)
    }
    pub fn invalid_redirect_uri(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, 400, d)
    }
    pub fn not_found(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, 404, d)
    }
    /// Anything unexpected: the client sees `server_error`, the log sees why.
    pub fn server(detail: impl fmt::Display) -> Self {
        OAuthError {
            code: ErrorCode::ServerError,
            description: "internal error".into(),
            status: 500,
            detail: Some(detail.to_string()),
            no_credentials: false,
        }
    }

    /// The client-facing description (RFC 6749 §5.2 characters only).
    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The RFC 6749 §5.2 JSON body.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code.as_str(), "error_description": self.description })
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OAuthError {}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        OAuthError::server(e)
    }
}

pub type OAuthResult<T> = Result<T, OAuthError>;

/// Rewrites text into the characters RFC 6749 §5.2 and §4.1.2.1 allow in `error_description`
/// (%x20-21 / %x23-5B / %x5D-7E): `§` reads "section", double quotes become single ones,
/// backslashes slashes, line breaks and tabs spaces, and anything else outside the set `?`.
pub fn sanitise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{a7}' => {
                out.push_str("section ");
                while chars.peek() == Some(&' ') {
                    chars.next();
                }
            }
            '"' => out.push('\''),
            '\\' => out.push('/'),
            '\t' | '\n' | '\r' => out.push(' '),
            ' '..='~' => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(c: char) -> bool {
        matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
    }

    #[test]
    fn every_description_stays_in_the_rfc_6749_character_set() {
        let e = OAuthError::invalid_grant(
            "used (RFC 6749 \u{a7}4.1.2) \"q\" a\\b caf\u{e9}\n\u{0}\u{1f600}",
        );
        assert!(e.description().chars().all(allowed), "{}", e.description());
        assert_eq!(
            e.description(),
            "used (RFC 6749 section 4.1.2) 'q' a/b caf? ??"
        );
        assert!(OAuthError::server("\"x\"")
            .description()
            .chars()
            .all(allowed));
    }
}
