//! DPoP: sender-constrained tokens (RFC 9449).

use crate::harness::*;
use crate::keys::DpopKey;
use serde_json::{json, Value};

/// A token request by `c` (client_secret_basic) with `form` and, when given, a DPoP proof.
pub(crate) async fn token_with_proof(
    s: &TestServer,
    c: &TestClient,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> (u16, Value) {
    let mut req = s
        .browser()
        .post(s.url("/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(form);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn client_credentials_token_is_bound_to_the_proof_key() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let key = DpopKey::new();
    let proof = key.proof("POST", &s.url("/token"), None, s.provider.now());
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
    ];
    let (status, body) = token_with_proof(&s, &c, &form, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP", "RFC 9449 §5");
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(
        jwt_claims(at)["cnf"]["jkt"],
        key.jkt(),
        "RFC 9449 §6.1: cnf.jkt"
    );
    let intro = s.introspect(&c, at).await;
    assert_eq!(intro["cnf"]["jkt"], key.jkt(), "RFC 9449 §6.2");
    assert_eq!(intro["token_type"], "DPoP");
}

/// RFC 9449 §4.3: the server SHOULD normalise htu (RFC 3986 §6.2.2-6.2.3) before comparing,
/// so a proof naming the endpoint with an upper-case scheme and host, or its default port,
/// is accepted (the suite's fapi2-security-profile-final-dpop-negative-tests sends one).
#[tokio::test]
async fn htu_is_compared_after_uri_normalisation() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let key = DpopKey::new();
    let url = s.url("/token");
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
    ];
    let (scheme, rest) = url.split_once("://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let shouted = format!("{}://{}/{path}", scheme.to_uppercase(), host.to_uppercase());
    let proof = key.proof("POST", &shouted, None, s.provider.now());
    let (status, body) = token_with_proof(&s, &c, &form, Some(&proof)).await;
    assert_eq!(status, 200, "{shouted}: {body}");
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn bad_proofs_at_the_token_endpoint() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let key = DpopKey::new();
    let now = s.provider.now();
    let url = s.url("/token");
    let replayed = key.proof("POST", &url, None, now);
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
    ];
    assert_eq!(
        token_with_proof(&s, &c, &form, Some(&replayed)).await.0,
        200
    );
    let jti = || consentry::secrets::random_token();
    let cases = [
        (replayed.clone(), "RFC 9449 §11.1: a proof is single use"),
        (
            key.proof("GET", &url, None, now),
            "RFC 9449 §4.3: htm must match",
        ),
        (
            key.proof("POST", &s.url("/par"), None, now),
            "RFC 9449 §4.3: htu must match",
        ),
        (
            key.proof("POST", &url, None, now - 600),
            "RFC 9449 §4.3: iat too old",
        ),
        (
            key.proof("POST", &url, None, now + 600),
            "RFC 9449 §4.3: iat in the future",
        ),
        (
            key.sign(
                &json!({"jti": jti(), "htm": "POST", "htu": url, "iat": now}),
                "JWT",
            ),
            "RFC 9449 §4.2: typ dpop+jwt",
        ),
        (
            key.sign(&json!({"htm": "POST", "htu": url, "iat": now}), "dpop+jwt"),
            "RFC 9449 §4.2: jti is required",
        ),
        ("not-a-proof".into(), "malformed proof"),
    ];
    for (proof, rule) in cases {
        let (status, body) = token_with_proof(&s, &c, &form, Some(&proof)).await;
        assert_eq!(status, 400, "{rule}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{rule}");
    }
}

#[tokio::test]
async fn dpop_bound_tokens_at_userinfo() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let key = DpopKey::new();
    let other = DpopKey::new();
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
    let proof = key.proof("POST", &s.url("/token"), None, s.provider.now());
    let (status, body) = token_with_proof(&s, &c, &form, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_string();
    let userinfo = |scheme: &'static str, proof: Option<String>| {
        let mut req = s
            .browser()
            .get(s.url("/me"))
            .header("Authorization", format!("{scheme} {at}"));
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let now = s.provider.now();
    let ok = userinfo(
        "DPoP",
        Some(key.proof("GET", &s.url("/me"), Some(&at), now)),
    )
    .await
    .unwrap();
    assert_eq!(ok.status(), 200);
    // RFC 9449 §7.2: a bound token presented as a bearer token is refused.
    let res = userinfo("Bearer", None).await.unwrap();
    assert_eq!(res.status(), 401);
    // RFC 9449 §7.1: a proof by another key, without ath, or reused, is refused.
    let res = userinfo(
        "DPoP",
        Some(other.proof("GET", &s.url("/me"), Some(&at), now)),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 401, "another key");
    let res = userinfo("DPoP", Some(key.proof("GET", &s.url("/me"), None, now)))
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "missing ath");
    assert!(res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("DPoP"));
    let res = userinfo("DPoP", None).await.unwrap();
    assert_eq!(res.status(), 401, "no proof");
}

#[tokio::test]
async fn dpop_jkt_binds_the_code_at_par() {
    // RFC 9449 §10.1: a DPoP proof at PAR binds the code to its key.
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let (verifier, challenge) = pkce();
    let res = s
        .browser()
        .post(s.url("/par"))
        .basic_auth(&c.id, Some(&c.secret))
        .header(
            "DPoP",
            key.proof("POST", &s.url("/par"), None, s.provider.now()),
        )
        .form(&auth_params(&c, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let uri = res.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let params = vec![
        ("client_id".to_string(), c.id.clone()),
        ("request_uri".to_string(), uri),
    ];
    let cb = Journey::new(&s).complete(&params, "alice").await;
    let code = query(&cb)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let (_, body) = token_with_proof(
        &s,
        &c,
        &form,
        Some(&other.proof("POST", &s.url("/token"), None, s.provider.now())),
    )
    .await;
    assert_eq!(
        body["error"], "invalid_grant",
        "another key cannot redeem the code"
    );
}

#[tokio::test]
async fn dpop_jkt_parameter_and_required_binding() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let key = DpopKey::new();
    let (verifier, challenge) = pkce();
    let cb = Journey::new(&s)
        .complete(
            &auth_params(&c, &challenge, &[("dpop_jkt", &key.jkt())]),
            "alice",
        )
        .await;
    let code = query(&cb)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let (_, body) = token_with_proof(&s, &c, &form, None).await;
    assert_eq!(
        body["error"], "invalid_grant",
        "RFC 9449 §10: the code needs a proof by dpop_jkt"
    );

    // RFC 9449 §5.2: a client registered for DPoP-bound tokens must send a proof.
    let bound = s.client(json!({"dpop_bound_access_tokens": true})).await;
    let (status, body) = token_with_proof(
        &s,
        &bound,
        &[
            ("grant_type", "client_credentials"),
            ("scope", "accounts:read"),
        ],
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn public_client_refresh_tokens_are_bound_to_the_key() {
    // RFC 9449 §5: refresh tokens of public clients are bound to the DPoP key.
    let s = TestServer::start().await;
    let c = s
        .client(json!({"token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]}))
        .await;
    s.user("alice").await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let (verifier, challenge) = pkce();
    let cb = Journey::new(&s)
        .complete(&auth_params(&c, &challenge, &[]), "alice")
        .await;
    let code = query(&cb)["code"].clone();
    let post = |form: Vec<(&'static str, String)>, proof: Option<String>| {
        let mut req = s.browser().post(s.url("/token")).form(&form);
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let proof = || key.proof("POST", &s.url("/token"), None, s.provider.now());
    let res = post(
        vec![
            ("grant_type", "authorization_code".into()),
            ("client_id", c.id.clone()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.into()),
            ("code_verifier", verifier),
        ],
        Some(proof()),
    )
    .await
    .unwrap();
    let body: Value = res.json().await.unwrap();
    let rt = body["refresh_token"]
        .as_str()
        .expect("refresh token")
        .to_string();
    let refresh = |rt: String| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", c.id.clone()),
            ("refresh_token", rt),
        ]
    };
    let res = post(refresh(rt.clone()), None).await.unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "no proof"
    );
    let res = post(
        refresh(rt.clone()),
        Some(other.proof("POST", &s.url("/token"), None, s.provider.now())),
    )
    .await
    .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "another key"
    );
    let res = post(refresh(rt), Some(proof())).await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "the same key, and the failed attempts did not burn the token"
    );
}

#[tokio::test]
async fn server_nonces_when_required() {
    // RFC 9449 §8: the provider can require proofs to carry a nonce it issued.
    let s = TestServer::start_with(|c| c.dpop_require_nonce = true).await;
    let c = s.client(json!({})).await;
    let key = DpopKey::new();
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
    ];
    let send = |proof: String| {
        s.browser()
            .post(s.url("/token"))
            .basic_auth(&c.id, Some(&c.secret))
            .header("DPoP", proof)
            .form(&form)
            .send()
    };
    let res = send(key.proof("POST", &s.url("/token"), None, s.provider.now()))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_string();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "use_dpop_nonce",
        "RFC 9449 §8: use_dpop_nonce"
    );
    let res =
        send(key.proof_with_nonce("POST", &s.url("/token"), None, s.provider.now(), "made-up"))
            .await
            .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "use_dpop_nonce",
        "a nonce we never issued"
    );
    let res = send(key.proof_with_nonce("POST", &s.url("/token"), None, s.provider.now(), &nonce))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["token_type"], "DPoP");

    // Nonces expire: two periods later the old one is refused.
    s.provider.clock.advance(601);
    let res = send(key.proof_with_nonce("POST", &s.url("/token"), None, s.provider.now(), &nonce))
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let fresh = res.headers()["dpop-nonce"].to_str().unwrap().to_string();
    assert_ne!(fresh, nonce);
}
