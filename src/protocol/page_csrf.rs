//! CSRF tokens of the signed-in user's own pages (the dashboard, the CIBA approval page): a
//! digest of the page's purpose and the browser's server-minted binding value, which lives in
//! a `__Host-`, HttpOnly cookie. A page elsewhere can neither read nor set that cookie, so it
//! cannot derive the token; the purpose keeps one page's token from serving another's forms.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::secrets;

/// The dashboard's forms.
pub const ACCOUNT: &str = "account";
/// The CIBA approval page's forms.
pub const CIBA_APPROVAL: &str = "ciba-approval";

/// The token the page for `purpose` shows to the browser `browser_id`.
pub fn token(purpose: &str, browser_id: &str) -> String {
    secrets::digest(&format!("consentry-{purpose}-csrf\n{browser_id}"))
}

/// Checks a posted token, in constant time, before anything else is done.
pub fn check(purpose: &str, browser_id: Option<&str>, presented: Option<&str>) -> OAuthResult<()> {
    match (browser_id, presented) {
        (Some(b), Some(t)) if secrets::ct_eq(t, &token(purpose, b)) => Ok(()),
        _ => Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            403,
            "the form's CSRF token is missing or wrong; reload the page",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_serves_only_its_browser_and_its_page() {
        let t = token(ACCOUNT, "browser-a");
        assert!(check(ACCOUNT, Some("browser-a"), Some(&t)).is_ok());
        assert!(check(ACCOUNT, Some("browser-b"), Some(&t)).is_err());
        assert!(check(CIBA_APPROVAL, Some("browser-a"), Some(&t)).is_err());
        assert!(check(ACCOUNT, None, Some(&t)).is_err());
        assert!(check(ACCOUNT, Some("browser-a"), None).is_err());
    }
}
