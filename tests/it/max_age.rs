//! `max_age=0` (OIDC Core §3.1.2.1): the user must authenticate again, as with `prompt=login`,
//! however recent the last login is, even within the same second.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn max_age_zero_forces_login_even_in_the_second_of_the_login() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("carol").await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let cb = j.complete(&auth_params(&c, &challenge, &[]), "carol").await;
    assert!(query(&cb).contains_key("code"), "{cb}");
    // The next request must land in the login's own second (auth_time - now = 0), whatever
    // the speed of this machine; moving the clock back puts it at or before that second.
    s.provider.clock.advance(-2);

    // OIDC Core §3.1.2.1 (max_age=0 is prompt=login): with prompt=none that is login_required.
    let (status, loc, body) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("max_age", "0"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(query(&loc)["error"], "login_required", "{loc}");
    // Without prompt=none: the login form, not a code.
    let (status, loc, body) = j
        .authorize(&auth_params(&c, &challenge, &[("max_age", "0")]))
        .await;
    assert_eq!(status, 303, "{body}");
    assert!(loc.starts_with("/interaction/"), "login expected: {loc}");
    let (_, _, page) = j.get(&loc).await;
    assert!(page.contains("name=\"password\""), "login form expected");

    // A max_age the session is within still needs no login.
    let (_, loc, _) = j
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("max_age", "600"), ("prompt", "none")],
        ))
        .await;
    assert!(query(&loc).contains_key("code"), "recent enough: {loc}");
}
