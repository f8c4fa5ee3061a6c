use serde::{Deserialize, Serialize};

/// How a client authenticates at the token, PAR, introspection and revocation endpoints
/// (RFC 7591 §2, OIDC Core §9, RFC 8705 §2). Parsed once, when metadata is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    ClientSecretJwt,
    PrivateKeyJwt,
    TlsClientAuth,
    SelfSignedTlsClientAuth,
    /// A public client (RFC 6749 §2.1).
    None,
}

impl AuthMethod {
    /// Every method, in the order discovery lists them.
    pub const ALL: [AuthMethod; 7] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::ClientSecretJwt,
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<AuthMethod> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The client proves itself with a shared secret (and so has one).
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::ClientSecretJwt
        )
    }

    /// Mutual TLS (RFC 8705 §2): the certificate authenticates, the request sends only
    /// `client_id`.
    pub fn is_mtls(self) -> bool {
        matches!(
            self,
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
        )
    }
}

impl TryFrom<String> for AuthMethod {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        AuthMethod::parse(&s)
            .ok_or_else(|| format!("token_endpoint_auth_method {s} is not supported"))
    }
}

impl From<AuthMethod> for &'static str {
    fn from(m: AuthMethod) -> &'static str {
        m.as_str()
    }
}

impl std::fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_unknown_ones_are_refused() {
        for m in AuthMethod::ALL {
            let json = serde_json::to_value(m).unwrap();
            assert_eq!(json, m.as_str());
            assert_eq!(serde_json::from_value::<AuthMethod>(json).unwrap(), m);
        }
        let e = serde_json::from_value::<AuthMethod>("client_secret".into()).unwrap_err();
        assert!(
            e.to_string().contains("client_secret is not supported"),
            "{e}"
        );
    }
}
