//! Every OIDC Core §5.1 standard claim can be set by operators (`users add --claims`) and
//! partners (`POST /users`), is checked for its type, and is released by scope and by the
//! claims parameter.

use crate::cli::consentry;
use crate::harness::*;
use crate::partner::{bearer, call};
use serde_json::{json, Value};

fn full_claims() -> Value {
    json!({
        "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace",
        "middle_name": "Augusta", "nickname": "Ada", "preferred_username": "ada",
        "profile": "https://example.test/ada", "picture": "https://example.test/ada.png",
        "website": "https://ada.example.test", "gender": "female", "birthdate": "1815-12-10",
        "zoneinfo": "Europe/London", "locale": "en-GB", "updated_at": 1700000000,
        "email": "ada@example.test", "email_verified": true,
        "phone_number": "+44 20 7946 0000", "phone_number_verified": true,
        "address": {"street_address": "12 St James's Square", "locality": "London",
                    "postal_code": "SW1Y 4LB", "country": "GB"},
    })
}

fn users_add(dir: &str, username: &str, claims: &str) -> std::process::Output {
    let args = ["users", "add", "--data-dir", dir, "--username", username];
    let args = [&args[..], &["--password-stdin", "--claims", claims]].concat();
    consentry(&args, Some(PASSWORD))
}

#[tokio::test]
async fn operators_set_standard_claims_and_userinfo_releases_them_by_scope() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap().to_string();
    let out = users_add(&d, "ada", &full_claims().to_string());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = TestServer::start_in(dir, |_| {}).await;
    let c = s.client(json!({})).await;
    let (verifier, challenge) = pkce();
    let params = auth_params(
        &c,
        &challenge,
        &[
            ("scope", "openid profile email address phone"),
            // OIDC Core §5.5: a claim asked for by name goes into the ID token.
            (
                "claims",
                r#"{"id_token":{"birthdate":null,"address":null}}"#,
            ),
        ],
    );
    let cb = Journey::new(&s).complete(&params, "ada").await;
    let (status, tokens) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &query(&cb)["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{tokens}");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["birthdate"], "1815-12-10");
    assert_eq!(id["address"]["country"], "GB");
    let info: Value = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected = full_claims();
    for (claim, value) in expected.as_object().unwrap() {
        assert_eq!(&info[claim], value, "{claim} in {info}");
    }
}

#[test]
fn oidc_core_s5_1_operators_get_a_reason_for_malformed_claims() {
    // OIDC Core §5.1: each claim has its type; unknown names are not standard claims.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (bad, names) in [
        (r#"{"email_verified": "yes"}"#, "email_verified"),
        (r#"{"address": "London"}"#, "address"),
        (r#"{"birthdate": "10/12/1815"}"#, "birthdate"),
        (r#"{"favourite_colour": "blue"}"#, "favourite_colour"),
        (r#"{"sub": "someone"}"#, "sub"),
        ("not json", "--claims"),
    ] {
        let out = users_add(d, "bob", bad);
        assert!(!out.status.success(), "{bad} accepted");
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        assert!(e.contains(names), "{bad}: {e}");
    }
    // --email and --name are claims too, checked by the same rules.
    for flag in ["--email", "--name"] {
        let args = ["users", "add", "--data-dir", d, "--username", "carol"];
        let args = [&args[..], &["--password-stdin", flag, ""]].concat();
        let out = consentry(&args, Some(PASSWORD));
        assert!(!out.status.success(), "{flag} '' accepted");
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(e.contains(flag.trim_start_matches('-')), "{flag}: {e}");
    }
}

async fn post_user(s: &TestServer, token: &str, body: &Value) -> (u16, Value) {
    let a = call(s, "POST", "/users", Some(token), Some(&body.to_string())).await;
    (a.status, a.body)
}

#[tokio::test]
async fn partners_set_standard_claims_on_their_users() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({"scope": "openid profile user:create user:read"}))
        .await;
    let create = bearer(&s, &c, "user:create").await;
    let (status, user) = post_user(
        &s,
        &create,
        &json!({"clientUserId": "customer-1", "claims": full_claims()}),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["claims"], full_claims());
    let id = user["userId"].as_str().unwrap();
    // Stored as given: what UserInfo and ID tokens release for this user.
    let read = bearer(&s, &c, "user:read").await;
    let shown = call(&s, "GET", &format!("/users/{id}"), Some(&read), None).await;
    assert_eq!(shown.body["claims"], full_claims());
    let key = id.to_string();
    let stored = s
        .provider
        .store
        .read(move |tx| tx.users().get(&key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(stored.claims), full_claims());

    // OIDC Core §5.1 types: a wrong one is invalid_request and no user is made.
    for bad in [
        json!({"phone_number_verified": "true"}),
        json!({"updated_at": -5}),
        json!({"website": "javascript:alert(1)"}),
        json!({"address": {"city": "London"}}),
        json!({"nickname": 7}),
        json!("Ada"),
    ] {
        let (status, body) = post_user(&s, &create, &json!({"claims": bad})).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request", "{bad}");
    }
    let list = call(&s, "GET", "/users", Some(&read), None).await.body;
    assert_eq!(list.as_array().unwrap().len(), 1, "nothing half-made");
}
