//! The one decision every authorization makes before it can be issued (OIDC Core §3.1.2.3):
//! does a usable login stand for the user, and does remembered consent cover the scopes.
//! Interactions and bank journeys both ask [`decide`].

use super::request::AuthorizationRequest;
use crate::error::OAuthError;
use crate::store::sessions::Session;
use crate::types::ScopeSet;

/// Who authenticated, and how, for the grant and ID token.
#[derive(Debug, Clone, PartialEq)]
pub struct Authentication {
    pub user_id: String,
    pub auth_time: i64,
    pub amr: String,
    pub sid: String,
}

impl Authentication {
    pub fn from_session(s: &Session) -> Authentication {
        Authentication {
            user_id: s.user_id.clone(),
            auth_time: s.auth_time,
            amr: s.amr.clone(),
            sid: s.sid.clone(),
        }
    }
}

/// Who is signed in, as far as the request can tell.
#[derive(Debug, Clone, Copy)]
pub enum SignedIn<'a> {
    /// Nobody.
    Nobody,
    /// The browser's session, from before this request: it stands for the user only while
    /// the request allows it (`max_age`, `prompt=login`, a pinned user).
    Session(&'a Session),
    /// The user logged in within this request's interaction, as it asked.
    ThisRequest(&'a Authentication),
}

/// What the request needs next.
#[derive(Debug)]
pub enum Next {
    /// Nobody usable is signed in: the user must log in.
    Login,
    /// The user is known but has not consented to every scope (or `prompt=consent`).
    Consent(Authentication),
    /// Known and consented: issue.
    Issue(Authentication),
    /// `prompt=none` and the user would have to be asked (OIDC Core §3.1.2.6).
    Fail(OAuthError),
}

/// OIDC Core §3.1.2.1 and §3.1.2.3: authenticate when there is no usable login (no session,
/// `prompt=login`, `max_age` passed, or another user than the one the request pins); ask
/// consent unless remembered for every scope (and not forced by `prompt=consent`);
/// `prompt=none` turns either need into an error. `remembered` is the consent this user
/// already gave this client (`None` when nothing is remembered, as for bank journeys).
pub fn decide(
    req: &AuthorizationRequest,
    signed_in: SignedIn<'_>,
    remembered: Option<&ScopeSet>,
    now: i64,
) -> Next {
    let none = req.has_prompt("none");
    let user = match signed_in {
        SignedIn::Nobody => None,
        SignedIn::ThisRequest(a) => Some(a.clone()),
        SignedIn::Session(s) => {
            // Strictly less: auth_time is whole seconds, so a login in this very second may
            // be almost a second old, and max_age=0 always asks again, as prompt=login does
            // (OIDC Core §3.1.2.1). A login stamped ahead of this node's clock counts as
            // just now.
            let elapsed = now.saturating_sub(s.auth_time).max(0);
            let fresh = req.max_age.is_none_or(|m| elapsed < m);
            let right_user = req.required_sub().is_none_or(|sub| sub == s.user_id);
            let usable = fresh && right_user && !req.has_prompt("login");
            usable.then(|| Authentication::from_session(s))
        }
    };
    let Some(user) = user else {
        return if none {
            Next::Fail(OAuthError::login_required("the user must log in"))
        } else {
            Next::Login
        };
    };
    // A budget is agreed on the consent page each time it is asked for.
    let covered = remembered.is_some_and(|r| req.scopes().is_subset(r)) && req.budget.is_none();
    if !covered || req.has_prompt("consent") {
        return if none {
            Next::Fail(OAuthError::consent_required("the user must consent"))
        } else {
            Next::Consent(user)
        };
    }
    Next::Issue(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    const NOW: i64 = 1_800_000_000;

    fn request(prompt: &[&str], max_age: Option<i64>) -> AuthorizationRequest {
        serde_json::from_value(serde_json::json!({
            "client_id": "rp", "redirect_uri": "https://rp.example/cb", "response_type": "code",
            "scope": "openid profile", "state": null, "nonce": null, "code_challenge": null,
            "prompt": prompt, "max_age": max_age, "claims": null, "login_hint": null,
            "acr_values": null,
        }))
        .expect("a request")
    }

    fn session(user: &str, auth_time: i64) -> Session {
        Session {
            sid: "sid".into(),
            user_id: user.into(),
            auth_time,
            amr: "pwd".into(),
            expires_at: NOW + 3600,
        }
    }

    fn consented() -> ScopeSet {
        ScopeSet::parse("openid profile email")
    }

    #[test]
    fn oidc_core_3_1_2_3_no_session_means_login() {
        let req = request(&[], None);
        assert!(matches!(
            decide(&req, SignedIn::Nobody, None, NOW),
            Next::Login
        ));
    }

    #[test]
    fn oidc_core_3_1_2_3_a_session_with_remembered_consent_issues() {
        let req = request(&[], None);
        let s = session("u1", NOW - 100);
        match decide(&req, SignedIn::Session(&s), Some(&consented()), NOW) {
            Next::Issue(a) => assert_eq!(a, Authentication::from_session(&s)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn oidc_core_3_1_2_4_consent_is_asked_unless_it_covers_every_scope() {
        let req = request(&[], None);
        let s = session("u1", NOW);
        let partial = ScopeSet::parse("openid");
        for remembered in [None, Some(&partial)] {
            assert!(matches!(
                decide(&req, SignedIn::Session(&s), remembered, NOW),
                Next::Consent(_)
            ));
        }
    }

    #[test]
    fn oidc_core_3_1_2_1_prompt_consent_asks_even_when_remembered() {
        let req = request(&["consent"], None);
        let s = session("u1", NOW);
        assert!(matches!(
            decide(&req, SignedIn::Session(&s), Some(&consented()), NOW),
            Next::Consent(_)
        ));
    }

    #[test]
    fn oidc_core_3_1_2_1_prompt_login_sets_an_earlier_session_aside() {
        let req = request(&["login"], None);
        let s = session("u1", NOW);
        assert!(matches!(
            decide(&req, SignedIn::Session(&s), Some(&consented()), NOW),
            Next::Login
        ));
        // A login made in this very interaction is the one prompt=login asked for.
        let a = Authentication::from_session(&s);
        assert!(matches!(
            decide(&req, SignedIn::ThisRequest(&a), Some(&consented()), NOW),
            Next::Issue(_)
        ));
    }

    #[test]
    fn oidc_core_3_1_2_1_max_age_passed_means_login_again() {
        let s = session("u1", NOW - 60);
        let fresh = request(&[], Some(61));
        assert!(matches!(
            decide(&fresh, SignedIn::Session(&s), Some(&consented()), NOW),
            Next::Issue(_)
        ));
        for max_age in [60, 0] {
            let stale = request(&[], Some(max_age));
            assert!(
                matches!(
                    decide(&stale, SignedIn::Session(&s), Some(&consented()), NOW),
                    Next::Login
                ),
                "max_age={max_age}"
            );
        }
        // max_age=0 asks again even for a login stamped this very second.
        let now = session("u1", NOW);
        assert!(matches!(
            decide(&request(&[], Some(0)), SignedIn::Session(&now), None, NOW),
            Next::Login
        ));
    }

    #[test]
    fn oidc_core_3_1_2_1_a_login_stamped_ahead_of_the_clock_counts_as_just_now() {
        let s = session("u1", NOW + 30);
        assert!(matches!(
            decide(&request(&[], Some(5)), SignedIn::Session(&s), None, NOW),
            Next::Consent(_)
        ));
        // "Just now", not "in 30 s": max_age=0 still asks again (a negative age would pass).
        assert!(matches!(
            decide(&request(&[], Some(0)), SignedIn::Session(&s), None, NOW),
            Next::Login
        ));
        let ancient = session("u1", i64::MIN);
        assert!(matches!(
            decide(
                &request(&[], Some(5)),
                SignedIn::Session(&ancient),
                None,
                NOW
            ),
            Next::Login
        ));
    }

    #[test]
    fn oidc_core_5_5_1_a_session_of_another_user_than_the_pinned_one_is_not_usable() {
        let mut req = request(&[], None);
        req.pinned_user = Some("u2".into());
        let other = session("u1", NOW);
        assert!(matches!(
            decide(&req, SignedIn::Session(&other), Some(&consented()), NOW),
            Next::Login
        ));
        let right = session("u2", NOW);
        assert!(matches!(
            decide(&req, SignedIn::Session(&right), Some(&consented()), NOW),
            Next::Issue(_)
        ));
    }

    #[test]
    fn oidc_core_3_1_2_6_prompt_none_turns_a_need_into_an_error() {
        let req = request(&["none"], None);
        match decide(&req, SignedIn::Nobody, None, NOW) {
            Next::Fail(e) => assert_eq!(e.code, ErrorCode::LoginRequired),
            other => panic!("{other:?}"),
        }
        let s = session("u1", NOW);
        match decide(&req, SignedIn::Session(&s), None, NOW) {
            Next::Fail(e) => assert_eq!(e.code, ErrorCode::ConsentRequired),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&req, SignedIn::Session(&s), Some(&consented()), NOW),
            Next::Issue(_)
        ));
    }
}
