//! Federated login settings (`[[federation.providers]]`): the upstream identity providers the
//! login page offers, and how a first login finds its local account.

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    pub providers: Vec<ProviderConfig>,
    /// The SAML SP's signing key (PEM) and its certificate, shared by every SAML provider;
    /// both or neither. Unset: one pair in the database, made by the first node that needs it
    /// (`protocol::federation::saml_keys`).
    pub sp_key_file: Option<PathBuf>,
    pub sp_cert_file: Option<PathBuf>,
}

/// The protocol an upstream provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Oidc,
    Saml,
}

/// How a first login from an upstream identity finds its local user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkRule {
    /// A new local user (no password), the upstream's claims copied.
    Create,
    /// The existing local user with the same verified e-mail, else a new one.
    Email,
    /// Only the existing local user with the same verified e-mail; otherwise refused.
    Existing,
}

/// How the host authenticates at an OpenID provider's token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 §2.2: a client assertion signed with this server's own signing keys (the
    /// keys of its `/jwks`, which the operator registers at the provider).
    PrivateKeyJwt,
}

/// One upstream identity provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Names the provider in URLs and in links (letters, digits, `-`, `_`); never change it
    /// once users have linked.
    pub id: String,
    /// The button's label on the login page ("Sign in with {name}").
    pub name: String,
    pub kind: ProviderKind,
    pub link: LinkRule,
    // --- kind = "oidc" ---
    /// The OpenID provider's issuer identifier (https; discovery is read from it).
    #[serde(default)]
    pub issuer: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for; `openid` is always included.
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: TokenAuth,
    /// Extra CA certificates (PEM) to trust for this provider's TLS.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    // --- kind = "saml" ---
    /// The IdP's SAML metadata (its entity id, SSO endpoint and signing certificates), as a
    /// file or an https URL fetched under the outbound policy: one of the two.
    #[serde(default)]
    pub idp_metadata_file: Option<PathBuf>,
    #[serde(default)]
    pub idp_metadata_url: Option<String>,
    /// Our SP entity id towards this IdP (default `{issuer}/saml/metadata`).
    #[serde(default)]
    pub sp_entity_id: Option<String>,
    /// SAML attributes say nothing of verification: with `true` the IdP's e-mail attribute
    /// counts as verified (so the `email` and `existing` link rules may use it).
    #[serde(default)]
    pub trust_email: bool,
    /// With `true` our SP metadata offers our SP certificate as an encryption key and only
    /// encrypted assertions (`<EncryptedAssertion>`, XML-Enc) are accepted from this IdP, so
    /// the browser carrying them never sees the user's attributes in the clear.
    #[serde(default)]
    pub want_assertions_encrypted: bool,
}

impl FederationConfig {
    /// Checks every provider: unique, URL-safe ids, and the fields its kind needs.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.sp_key_file, &self.sp_cert_file) {
            (Some(_), None) | (None, Some(_)) => {
                return Err("federation.sp_key_file and sp_cert_file go together".into())
            }
            (Some(k), Some(c)) if !k.is_file() || !c.is_file() => {
                return Err("federation.sp_key_file and sp_cert_file must be files".into())
            }
            _ => {}
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.providers {
            let id_ok = !p.id.is_empty()
                && p.id.len() <= 64
                && p.id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !id_ok {
                return Err(format!(
                    "federation.providers id {:?} must be 1 to 64 letters, digits, '-' or '_'",
                    p.id
                ));
            }
            if !seen.insert(p.id.as_str()) {
                return Err(format!("federation.providers id {:?} is repeated", p.id));
            }
            if p.name.trim().is_empty() {
                return Err(format!("federation.providers {}: name must be set", p.id));
            }
            match p.kind {
                ProviderKind::Oidc => p.validate_oidc()?,
                ProviderKind::Saml => p.validate_saml()?,
            }
        }
        Ok(())
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.id == id)
    }
}

impl ProviderConfig {
    fn validate_saml(&self) -> Result<(), String> {
        let id = &self.id;
        match (&self.idp_metadata_file, &self.idp_metadata_url) {
            (Some(file), None) if !file.is_file() => {
                return Err(format!(
                    "federation.providers {id}: idp_metadata_file {} is not a file",
                    file.display()
                ))
            }
            (Some(_), None) => {}
            (None, Some(url)) if !url.starts_with("https://") => {
                return Err(format!(
                    "federation.providers {id}: idp_metadata_url must be https"
                ))
            }
            (None, Some(_)) => {}
            _ => {
                return Err(format!(
                    "federation.providers {id}: a saml provider needs one of idp_metadata_file, idp_metadata_url"
                ))
            }
        }
        if let Some(entity_id) = &self.sp_entity_id {
            url::Url::parse(entity_id).map_err(|e| {
                format!("federation.providers {id}: sp_entity_id must be a URI: {e}")
            })?;
        }
        Ok(())
    }

    fn validate_oidc(&self) -> Result<(), String> {
        let id = &self.id;
        if self.want_assertions_encrypted {
            return Err(format!(
                "federation.providers {id}: want_assertions_encrypted is for saml providers (an OpenID provider sends no assertions)"
            ));
        }
        let issuer = self
            .issuer
            .as_deref()
            .ok_or_else(|| format!("federation.providers {id}: an oidc provider needs issuer"))?;
        let url = url::Url::parse(issuer)
            .map_err(|e| format!("federation.providers {id}: issuer {issuer}: {e}"))?;
        // OpenID Discovery §2: the issuer is an https URL without query or fragment.
        if url.scheme() != "https" || url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "federation.providers {id}: issuer must be https without query or fragment (OpenID Discovery 2)"
            ));
        }
        if self.client_id.as_deref().is_none_or(str::is_empty) {
            return Err(format!("federation.providers {id}: client_id must be set"));
        }
        let needs_secret = self.token_endpoint_auth_method != TokenAuth::PrivateKeyJwt;
        if needs_secret && self.client_secret.as_deref().is_none_or(str::is_empty) {
            return Err(format!(
                "federation.providers {id}: client_secret must be set (or token_endpoint_auth_method = \"private_key_jwt\")"
            ));
        }
        if let Some(ca) = &self.ca_file {
            if !ca.is_file() {
                return Err(format!(
                    "federation.providers {id}: ca_file {} is not a file",
                    ca.display()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::FederationConfig;

    /// A SAML-only setting on an OpenID provider is refused, not silently ignored.
    #[test]
    fn want_assertions_encrypted_on_an_oidc_provider_is_refused() {
        let provider = |extra: &str| {
            format!(
                r#"[[providers]]
                id = "corp"
                name = "Corp SSO"
                kind = "oidc"
                link = "email"
                issuer = "https://sso.corp.example"
                client_id = "consentry"
                client_secret = "s3cret"
                {extra}"#
            )
        };
        let plain: FederationConfig = toml::from_str(&provider("")).unwrap();
        assert_eq!(plain.validate(), Ok(()));
        let wrong: FederationConfig =
            toml::from_str(&provider("want_assertions_encrypted = true")).unwrap();
        let refused = wrong.validate().unwrap_err();
        assert!(refused.contains("want_assertions_encrypted"), "{refused}");
    }
}
