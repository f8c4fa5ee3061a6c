//! Error text (RFC 6749 §5.2 and §4.1.2.1): every `error_description` uses only
//! %x20-21 / %x23-5B / %x5D-7E, however the request was written; and requests no route takes
//! get our own answer (security headers, JSON error), not the framework's page.

use crate::harness::*;
use serde_json::{json, Value};

fn conforming(description: &str) -> bool {
    description
        .chars()
        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

fn assert_json_error(what: &str, body: &Value) {
    let d = body["error_description"].as_str().unwrap_or_default();
    assert!(body["error"].is_string(), "{what}: {body}");
    assert!(!d.is_empty(), "{what}: {body}");
    assert!(
        conforming(d),
        "{what}: RFC 6749 §5.2 characters only: {d:?}"
    );
}

fn assert_redirect_error(what: &str, location: &str) {
    let q = query(location);
    let d = q.get("error_description").cloned().unwrap_or_default();
    assert!(q.contains_key("error"), "{what}: {location}");
    assert!(!d.is_empty(), "{what}: {location}");
    assert!(
        conforming(&d),
        "{what}: RFC 6749 §4.1.2.1 characters only: {d:?}"
    );
}

/// What the certification module oidcc-codereuse checks: a replayed code is refused with
/// `invalid_grant`, and the answer is a valid RFC 6749 §5.2 error.
#[tokio::test]
async fn replayed_code_error_description_is_rfc6749_5_2_text_oidcc_codereuse() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (verifier, challenge) = pkce();
    let cb = Journey::new(&s)
        .complete(&auth_params(&c, &challenge, &[]), "alice")
        .await;
    let code = query(&cb)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, _) = s.token(&c, &form).await;
    assert_eq!(status, 200);
    let (status, body) = s.token(&c, &form).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_grant");
    assert_json_error("replayed code", &body);
}

#[tokio::test]
async fn echoed_request_values_stay_within_rfc6749_error_characters() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let nasty = "x\"y\\z \u{e9}\u{a7}\u{1f600}";
    // Token endpoint: values echoed in JSON errors.
    for form in [
        vec![("grant_type", nasty)],
        vec![("grant_type", "client_credentials"), ("scope", nasty)],
        vec![
            ("grant_type", "authorization_code"),
            ("code", nasty),
            ("redirect_uri", nasty),
            ("code_verifier", "short"),
        ],
        vec![("grant_type", "client_credentials"), ("resource", nasty)],
    ] {
        let (status, body) = s.token(&c, &form).await;
        assert!(status >= 400, "{form:?}: {body}");
        assert_json_error(&format!("token {form:?}"), &body);
    }
    // A repeated parameter (its message cites an RFC section).
    let res = s
        .browser()
        .post(s.url("/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_json_error("repeated parameter", &res.json().await.unwrap());

    // Authorization endpoint: errors redirected to the client carry the same text rules.
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    for extra in [
        [("response_type", nasty)],
        [("scope", "openid \u{a7}\"\\")],
        [("prompt", nasty)],
        [("code_challenge_method", nasty)],
        [("response_mode", nasty)],
    ] {
        let (status, loc, body) = j.authorize(&auth_params(&c, &challenge, &extra)).await;
        assert_eq!(status, 303, "{extra:?}: {body}");
        assert!(loc.starts_with(REDIRECT_URI), "{extra:?}: {loc}");
        assert_redirect_error(&format!("authorize {extra:?}"), &loc);
    }

    // A protected resource: the WWW-Authenticate challenge's error_description too.
    let res = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth("not\"a\\token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    let d = challenge
        .split("error_description=\"")
        .nth(1)
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("error_description in the challenge");
    assert!(conforming(d), "{challenge}");
    assert_json_error("userinfo", &res.json().await.unwrap());
}

/// Our security headers, a JSON error body, and nothing naming or linking the framework.
async fn assert_our_answer(res: reqwest::Response, status: u16) -> reqwest::header::HeaderMap {
    assert_eq!(res.status().as_u16(), status);
    let headers = res.headers().clone();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert_eq!(
            headers.get(name).map(|v| v.to_str().unwrap()),
            Some(value),
            "{name}"
        );
    }
    assert!(headers.contains_key("content-security-policy"));
    assert!(headers.contains_key("strict-transport-security"));
    let text = res.text().await.unwrap();
    assert!(!text.to_lowercase().contains("salvo"), "{text}");
    let body: Value = serde_json::from_str(&text).expect("a JSON error body");
    assert_json_error("catcher", &body);
    headers
}

#[tokio::test]
async fn unknown_path_wrong_method_and_long_uri_get_our_answer_not_the_frameworks() {
    let s = TestServer::start().await;
    let b = s.browser();
    let res = b
        .get(format!("{}/no/such/page", s.base))
        .send()
        .await
        .unwrap();
    assert_our_answer(res, 404).await;
    // RFC 9110 §15.5.6: 405 names the allowed methods.
    let res = b.delete(s.url("/token")).send().await.unwrap();
    let headers = assert_our_answer(res, 405).await;
    assert_eq!(headers["allow"], "POST");
    // RFC 9110 §15.5.15: a request target longer than we read.
    let long = "a".repeat(16 * 1024);
    let res = b
        .get(format!(
            "{}?x={long}",
            s.url("/.well-known/openid-configuration")
        ))
        .send()
        .await
        .unwrap();
    assert_our_answer(res, 414).await;
    let res = b.get(format!("{}/{long}", s.base)).send().await.unwrap();
    assert_our_answer(res, 414).await;
}
