//! The scopes we know, what they mean to a person, and which claims they release.

/// Every scope the provider supports, with the text shown on the consent page.
pub const SUPPORTED: &[(&str, &str)] = &[
    ("openid", "Confirm your identity"),
    ("profile", "See your name and basic profile"),
    ("email", "See your email address"),
    ("address", "See your postal address"),
    ("phone", "See your phone number"),
    (
        "offline_access",
        "Keep access while you are not using the app",
    ),
    ("accounts:read", "Read your accounts"),
    ("accounts:write", "Edit your accounts"),
    (
        "accounts:write:all",
        "Create, edit and delete your accounts",
    ),
    ("transactions:read:all", "Read all your transactions"),
    ("transactions:read:in", "Read your incoming transactions"),
    ("transactions:read:out", "Read your outgoing transactions"),
    ("transactions:write", "Edit your transactions"),
    (
        "transactions:write:all",
        "Create, edit and delete your transactions",
    ),
    ("categories:read", "Read your categories"),
    ("categories:write", "Edit your custom categories"),
    ("spending_analysis:read", "Read your spending analysis"),
    ("spending_goals:read", "Read your spending goals"),
    ("spending_goals:write", "Edit your spending goals"),
    (
        "spending_goals:write:all",
        "Create, edit and delete your spending goals",
    ),
    ("savings_goals:read", "Read your savings goals"),
    ("savings_goals:write", "Edit your savings goals"),
    (
        "savings_goals:write:all",
        "Create, edit and delete your savings goals",
    ),
    (
        "user:create",
        "Create user profiles (client credentials only)",
    ),
    (
        "user:read",
        "Read the user profiles you manage (client credentials only)",
    ),
    (
        "user:delete",
        "Delete the user profiles you manage (client credentials only)",
    ),
    (
        "connections:token",
        "Be handed the bank's access token of a connection of a user you manage (client credentials only)",
    ),
];

pub fn is_supported(scope: &str) -> bool {
    SUPPORTED.iter().any(|(s, _)| *s == scope)
}

/// RFC 6749 §3.3: a scope the provider supports and the client is registered for, or
/// `invalid_scope` naming which of the two it is not.
pub fn check_for_client(
    scope: &str,
    client: &crate::types::Client,
) -> crate::error::OAuthResult<()> {
    use crate::error::OAuthError;
    if !is_supported(scope) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {scope} is not supported"
        )));
    }
    if !client.metadata.allows_scope(scope) {
        return Err(OAuthError::invalid_scope(format!(
            "scope {scope} is not allowed for this client"
        )));
    }
    Ok(())
}

/// The bank scopes discovery lists: the chooser filters and the connection lifecycle scopes.
/// `id:{bank}` names one institution of the connection lists and is not listed.
pub const BANK_SCOPES: &[&str] = &[
    "id:all",
    "id:api",
    "id:legacy",
    "id:test",
    "reauth",
    "refresh",
];

/// Every scope discovery advertises in `scopes_supported`.
pub fn advertised() -> impl Iterator<Item = &'static str> {
    SUPPORTED
        .iter()
        .map(|(s, _)| *s)
        .chain(BANK_SCOPES.iter().copied())
}

/// What a client may list in its registered `scope`: every scope a request may name, so all
/// discovery advertises (OIDC Discovery `scopes_supported`: a partner copying that list must
/// be able to register it) and `id:{bank}` for one institution.
pub fn is_registrable(scope: &str) -> bool {
    is_supported(scope) || is_bank_scope(scope)
}

/// Scopes that steer the bank side rather than name data (`id:*`, `reauth`, `refresh`):
/// exempt from the client's scope list, and checked against the institutions instead.
pub fn is_bank_scope(scope: &str) -> bool {
    scope.starts_with("id:") || scope == "reauth" || scope == "refresh"
}

/// The text shown for a scope on the consent page (and in introspection).
pub fn description(scope: &str) -> &'static str {
    match scope {
        "reauth" => return "Renew your existing bank connection",
        "refresh" => return "Update your existing bank connection",
        s if s.starts_with("id:") => return "Connect an account at your bank",
        _ => {}
    }
    SUPPORTED
        .iter()
        .find(|(s, _)| *s == scope)
        .map(|(_, d)| *d)
        .unwrap_or("Access to your data")
}

/// OIDC Core §5.4: the standard claims each scope releases.
pub fn claims_for_scope(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        _ => &[],
    }
}

/// Every standard claim we can release, for discovery.
pub fn all_claims() -> Vec<&'static str> {
    let mut out = vec![
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
    ];
    for (s, _) in SUPPORTED {
        out.extend_from_slice(claims_for_scope(s));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_discovery_advertises_can_be_registered_and_requested() {
        for scope in advertised() {
            assert!(is_registrable(scope), "{scope}");
        }
        assert!(is_registrable("id:sandbox-bank"));
        assert!(!is_registrable("admin:everything"));
    }
}
