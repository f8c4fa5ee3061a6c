//! Pushed authorization requests (RFC 9126).

use crate::harness::*;
use crate::keys::ClientKey;
use serde_json::{json, Value};

async fn push(s: &TestServer, c: &TestClient, form: &[(String, String)]) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url("/par"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn by_reference(c: &TestClient, request_uri: &str) -> Vec<(String, String)> {
    vec![
        ("client_id".into(), c.id.clone()),
        ("request_uri".into(), request_uri.into()),
    ]
}

#[tokio::test]
async fn pushed_request_completes_the_flow_once() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let (verifier, challenge) = pkce();
    let (status, body) = push(&s, &c, &auth_params(&c, &challenge, &[])).await;
    assert_eq!(status, 201, "{body}");
    let uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    let expires = body["expires_in"].as_i64().unwrap();
    assert!(expires > 0 && expires <= 90, "RFC 9126 §2.2: short-lived");

    let j = Journey::new(&s);
    let cb = j.complete(&by_reference(&c, &uri), "alice").await;
    let q = query(&cb);
    assert_eq!(q["state"], "state-123");
    let (status, _) = s
        .token(
            &c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    assert_eq!(status, 200);

    // RFC 9126 §4: used up once the authorization completed.
    let (status, loc, _) = j.authorize(&by_reference(&c, &uri)).await;
    assert_eq!(status, 400, "reused request_uri");
    assert!(loc.is_empty());
}

#[tokio::test]
async fn request_uri_is_bound_to_its_client_and_expires() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let (_, body) = push(&s, &c, &auth_params(&c, &challenge, &[])).await;
    let uri = body["request_uri"].as_str().unwrap();
    let (status, _, _) = Journey::new(&s).authorize(&by_reference(&other, uri)).await;
    assert_eq!(status, 400, "another client's request_uri");
    let (status, _, _) = Journey::new(&s)
        .authorize(&by_reference(
            &c,
            "urn:ietf:params:oauth:request_uri:made-up",
        ))
        .await;
    assert_eq!(status, 400, "unknown request_uri");
    let (status, _, _) = Journey::new(&s)
        .authorize(&by_reference(&c, "https://attacker.example/req"))
        .await;
    assert_eq!(status, 400, "only PAR request_uris");
    s.provider.clock.advance(61);
    let (status, _, _) = Journey::new(&s).authorize(&by_reference(&c, uri)).await;
    assert_eq!(status, 400, "expired request_uri");
}

#[tokio::test]
async fn push_errors_are_json_and_never_redirect() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let cases: &[ParamCase] = &[
        (
            &[("request_uri", "urn:ietf:params:oauth:request_uri:x")],
            "invalid_request",
            "RFC 9126 §2.1: no request_uri",
        ),
        (
            &[("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
            "unregistered redirect_uri",
        ),
        (
            &[("scope", "openid nope")],
            "invalid_scope",
            "unknown scope",
        ),
        (
            &[("code_challenge_method", "plain")],
            "invalid_request",
            "PKCE plain",
        ),
        (
            &[("response_type", "token")],
            "unsupported_response_type",
            "response type",
        ),
        (
            &[("code_challenge", ""), ("code_challenge_method", "")],
            "invalid_request",
            "PKCE is required with PAR",
        ),
    ];
    for (extra, code, rule) in cases {
        let (status, body) = push(&s, &c, &auth_params(&c, &challenge, extra)).await;
        assert_eq!(status, 400, "{rule}: {body}");
        assert_eq!(body["error"], *code, "{rule}");
    }
    let mut wrong_client = auth_params(&c, &challenge, &[]);
    wrong_client.retain(|(k, _)| k != "client_id");
    wrong_client.push(("client_id".into(), "someone-else".into()));
    let (status, _) = push(&s, &c, &wrong_client).await;
    assert!(
        status == 400 || status == 401,
        "client_id must be the authenticated client"
    );
    // RFC 9126 §2: the endpoint requires client authentication.
    let res = s
        .browser()
        .post(s.url("/par"))
        .form(&auth_params(&c, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}

#[tokio::test]
async fn clients_that_require_par_cannot_skip_it() {
    // RFC 9126 §6: require_pushed_authorization_requests.
    let s = TestServer::start().await;
    let c = s
        .client(json!({"require_pushed_authorization_requests": true}))
        .await;
    s.user("alice").await;
    let (_, challenge) = pkce();
    let (status, loc, _) = Journey::new(&s)
        .authorize(&auth_params(&c, &challenge, &[]))
        .await;
    assert_eq!(status, 303);
    assert_eq!(query(&loc)["error"], "invalid_request");
    let (_, body) = push(&s, &c, &auth_params(&c, &challenge, &[])).await;
    let cb = Journey::new(&s)
        .complete(
            &by_reference(&c, body["request_uri"].as_str().unwrap()),
            "alice",
        )
        .await;
    assert!(query(&cb).contains_key("code"));
}

#[tokio::test]
async fn a_signed_request_object_can_be_pushed() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = s.client(json!({"jwks": key.jwks()})).await;
    let (_, challenge) = pkce();
    let now = s.provider.now();
    let object = key.sign(
        &json!({
            "iss": c.id, "aud": s.issuer, "client_id": c.id, "exp": now + 60, "nbf": now,
            "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid",
            "state": "pushed-state", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256",
        }),
        true,
    );
    let (status, body) = push(
        &s,
        &c,
        &[
            ("client_id".into(), c.id.clone()),
            ("request".into(), object),
        ],
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, loc, _) = Journey::new(&s)
        .authorize(&by_reference(&c, body["request_uri"].as_str().unwrap()))
        .await;
    assert_eq!(status, 303);
    assert!(loc.starts_with("/interaction/"));
}
