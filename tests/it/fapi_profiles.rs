//! The FAPI 1.0 Advanced and FAPI 2.0 profiles, enforced per client.

use crate::fapi_mtls::{self_signed, with_cert};
use crate::harness::*;
use crate::keys::{ClientKey, DpopKey};
use serde_json::{json, Value};

async fn fapi_client(s: &TestServer, profile: &str, key: &ClientKey, extra: Value) -> TestClient {
    let mut meta = json!({
        "fapi_profile": profile, "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
    });
    for (k, v) in extra.as_object().unwrap() {
        meta[k] = v.clone();
    }
    s.client(meta).await
}

fn assertion(s: &TestServer, key: &ClientKey, client_id: &str, aud: &str) -> String {
    let now = s.provider.now();
    key.sign(
        &json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
                "jti": consentry::secrets::random_token()}),
        true,
    )
}

fn with_assertion(
    s: &TestServer,
    key: &ClientKey,
    c: &TestClient,
    mut form: Vec<(String, String)>,
) -> Vec<(String, String)> {
    form.push((
        "client_assertion_type".into(),
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
    ));
    form.push((
        "client_assertion".into(),
        assertion(s, key, &c.id, &s.issuer),
    ));
    form
}

#[tokio::test]
async fn fapi2_flow_with_par_private_key_jwt_and_dpop() {
    let s = TestServer::start().await;
    let key = ClientKey::new("ES256");
    let c = fapi_client(&s, "fapi2", &key, json!({})).await;
    s.user("alice").await;
    let dpop = DpopKey::new();
    let (verifier, challenge) = pkce();

    // FAPI 2 §5.3.2.2-1: authorization requests must be pushed.
    let (_, loc, _) = Journey::new(&s)
        .authorize(&auth_params(&c, &challenge, &[]))
        .await;
    assert_eq!(query(&loc)["error"], "invalid_request");

    let form = with_assertion(&s, &key, &c, auth_params(&c, &challenge, &[]));
    let res = s
        .browser()
        .post(s.url("/par"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let uri = res.json::<Value>().await.unwrap()["request_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let cb = Journey::new(&s)
        .complete(
            &[
                ("client_id".into(), c.id.clone()),
                ("request_uri".into(), uri),
            ],
            "alice",
        )
        .await;
    let code = query(&cb)["code"].clone();
    let token_form = |extra_aud: Option<&str>| {
        let mut f: Vec<(String, String)> = vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), code.clone()),
            ("redirect_uri".into(), REDIRECT_URI.into()),
            ("code_verifier".into(), verifier.clone()),
        ];
        f.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        f.push((
            "client_assertion".into(),
            assertion(&s, &key, &c.id, extra_aud.unwrap_or(&s.issuer)),
        ));
        f
    };
    // FAPI 2 §5.3.2.1-8: the assertion's audience is the issuer, not the endpoint.
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(&token_form(Some(&s.url("/token"))))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // FAPI 2 §5.3.2.1-5: tokens must be sender-constrained.
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(&token_form(None))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = s
        .browser()
        .post(s.url("/token"))
        .header(
            "DPoP",
            dpop.proof("POST", &s.url("/token"), None, s.provider.now()),
        )
        .form(&token_form(None))
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert_eq!(
        jwt_header(body["id_token"].as_str().unwrap())["alg"],
        "PS256",
        "FAPI default ID token algorithm"
    );
}

#[tokio::test]
async fn fapi_algorithms_and_methods() {
    let s = TestServer::start().await;
    // FAPI 1 Adv. §8.6 / FAPI 2 §5.4: RS256 is not allowed.
    let rsa = ClientKey::new("RS256");
    let c = fapi_client(&s, "fapi2", &rsa, json!({})).await;
    let form = [
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
    ];
    let a = assertion(&s, &rsa, &c.id, &s.issuer);
    let mut f: Vec<(&str, &str)> = form.to_vec();
    f.push(("client_assertion", &a));
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(&f)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "an RS256 assertion under FAPI");

    // Registration refuses what the profiles forbid.
    let b = s.browser();
    let key = ClientKey::new("ES256");
    let cases = [
        (
            json!({"fapi_profile": "fapi2", "token_endpoint_auth_method": "client_secret_basic"}),
            "FAPI 2 §5.3.2.1: no client secrets",
        ),
        (
            json!({"fapi_profile": "fapi2", "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(), "id_token_signed_response_alg": "RS256"}),
            "RS256 under FAPI",
        ),
        (
            json!({"fapi_profile": "fapi9", "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks()}),
            "unknown profile",
        ),
    ];
    for (m, rule) in cases {
        let mut meta = m.clone();
        meta["redirect_uris"] = json!(["https://a.example/cb"]);
        let res = b
            .post(s.url("/reg"))
            .bearer_auth(INITIAL_ACCESS_TOKEN)
            .json(&meta)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{rule}");
    }
}

fn fapi1_object(s: &TestServer, c: &TestClient, challenge: &str, patch: Value) -> Value {
    let now = s.provider.now();
    let mut o = json!({
        "iss": c.id, "aud": s.issuer, "client_id": c.id, "exp": now + 300, "nbf": now, "iat": now,
        "response_type": "code id_token", "redirect_uri": REDIRECT_URI, "scope": "openid",
        "state": "fapi-state", "nonce": "fapi-nonce", "code_challenge": challenge, "code_challenge_method": "S256",
    });
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            o.as_object_mut().unwrap().remove(k);
        } else {
            o[k] = v.clone();
        }
    }
    o
}

#[tokio::test]
async fn fapi1_advanced_request_objects_and_certificate_bound_tokens() {
    let s = TestServer::start().await;
    let key = ClientKey::new("PS256");
    let c = fapi_client(
        &s,
        "fapi1_advanced",
        &key,
        json!({"response_types": ["code id_token"], "grant_types": ["authorization_code", "implicit"]}),
    )
    .await;
    s.user("alice").await;
    let (verifier, challenge) = pkce();
    let query_of = |object: String| {
        vec![
            ("client_id".to_string(), c.id.clone()),
            ("response_type".to_string(), "code id_token".to_string()),
            ("scope".to_string(), "openid".to_string()),
            ("redirect_uri".to_string(), REDIRECT_URI.to_string()),
            ("request".to_string(), object),
        ]
    };
    let fragment_error = |loc: &str| {
        let u = url::Url::parse(loc).unwrap();
        form_urlencoded::parse(u.fragment().unwrap_or_default().as_bytes())
            .into_owned()
            .find(|(k, _)| k == "error")
            .map(|(_, v)| v)
            .unwrap_or_default()
    };
    // FAPI 1 Adv. §5.2.2-1: a request object is required.
    let plain = auth_params(&c, &challenge, &[("response_type", "code id_token")]);
    let (_, loc, _) = Journey::new(&s).authorize(&plain).await;
    assert_eq!(fragment_error(&loc), "invalid_request");
    let now = s.provider.now();
    let cases = [
        (json!({"nbf": null}), "§5.2.2-17: nbf is required"),
        (json!({"exp": null}), "§5.2.2-13: exp is required"),
        (
            json!({"nbf": now - 10, "exp": now + 3700}),
            "§5.2.2-13: exp - nbf at most 60 minutes",
        ),
        (
            json!({"nbf": now - 4000, "exp": now + 60}),
            "§5.2.2-17: nbf no older than 60 minutes",
        ),
        (json!({"nonce": null}), "§5.2.2-15: nonce inside the object"),
        (json!({"scope": null}), "§5.2.2-15: scope inside the object"),
    ];
    for (patch, rule) in cases {
        let object = key.sign(&fapi1_object(&s, &c, &challenge, patch), true);
        let (_, loc, _) = Journey::new(&s).authorize(&query_of(object)).await;
        assert_eq!(fragment_error(&loc), "invalid_request_object", "{rule}");
    }

    // The happy path, with the token endpoint over mutual TLS.
    let cert = self_signed("fapi1-rp");
    let http = with_cert(&s, &cert);
    let object = key.sign(&fapi1_object(&s, &c, &challenge, json!({})), true);
    let cb = Journey {
        server: &s,
        browser: http.clone(),
    }
    .complete(&query_of(object), "alice")
    .await;
    let u = url::Url::parse(&cb).unwrap();
    let f: std::collections::HashMap<String, String> =
        form_urlencoded::parse(u.fragment().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert!(f.contains_key("id_token") && f.contains_key("code"));
    let form = with_assertion(
        &s,
        &key,
        &c,
        vec![
            ("grant_type".into(), "authorization_code".into()),
            ("code".into(), f["code"].clone()),
            ("redirect_uri".into(), REDIRECT_URI.into()),
            ("code_verifier".into(), verifier.clone()),
        ],
    );
    // FAPI 1 Adv. §5.2.2-5: without a client certificate, no token.
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let form = with_assertion(&s, &key, &c, form[..4].to_vec());
    let body: Value = http
        .post(s.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(jwt_claims(at)["cnf"]["x5t#S256"], cert.thumbprint());
}
