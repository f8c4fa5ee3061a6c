//! Request objects passed by reference (OIDC Core §6.2, RFC 9101 §5.2): fetched from the
//! client's registered `request_uris` under the outbound policy, then checked exactly like a
//! `request` passed by value. The client's web server is a loopback server in the test (so
//! the provider runs with `outbound.allow_private`, except where the policy itself is tested).

use crate::harness::*;
use crate::keys::{unsigned, ClientKey};
use crate::served::Served;
use serde_json::{json, Value};

const JOSE: &str = "application/oauth-authz-req+jwt";

async fn rs256_client(s: &TestServer, key: &ClientKey, request_uris: &[String]) -> TestClient {
    s.client(json!({
        "jwks": key.jwks(), "request_object_signing_alg": "RS256",
        "request_uris": request_uris,
    }))
    .await
}

/// A request object carrying the whole code request, as the certification suite sends it.
fn object(s: &TestServer, c: &TestClient, challenge: &str) -> Value {
    let now = s.provider.now();
    json!({
        "iss": c.id, "aud": s.issuer, "client_id": c.id, "exp": now + 300, "iat": now,
        "response_type": "code", "redirect_uri": REDIRECT_URI, "scope": "openid email",
        "state": "object-state", "nonce": "object-nonce",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
}

/// The authorization request by reference: client_id and request_uri, with the OIDC
/// duplicates outside (OIDC Core §6.1) and a redirect_uri errors may go to.
fn by_reference(c: &TestClient, request_uri: &str) -> Vec<(String, String)> {
    [
        ("client_id", c.id.as_str()),
        ("request_uri", request_uri),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT_URI),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The error an authorization request was redirected with.
async fn redirected_error(s: &TestServer, params: &[(String, String)]) -> (String, String) {
    let (status, loc, body) = Journey::new(s).authorize(params).await;
    assert_eq!(status, 303, "{body}");
    assert!(loc.starts_with(REDIRECT_URI), "{loc}");
    let q = query(&loc);
    (q["error"].clone(), q["error_description"].clone())
}

#[tokio::test]
async fn oidc_core_6_2_an_rs256_request_object_by_reference_completes_the_code_flow() {
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    s.user("alice").await;
    let d = s.discovery().await;
    assert_eq!(d["request_uri_parameter_supported"], true);
    assert_eq!(d["require_request_uri_registration"], true);

    let key = ClientKey::new("RS256");
    let served = Served::start(JOSE, String::new()).await;
    // Registered with a fragment (the content hash OIDC Core §6.2 suggests); used with
    // another: fragments are set aside when matching.
    let c = rs256_client(&s, &key, &[served.url("/req/abc#v1")]).await;
    let (verifier, challenge) = pkce();
    served.set(key.sign(&object(&s, &c, &challenge), true));

    let cb = Journey::new(&s)
        .complete(&by_reference(&c, &served.url("/req/abc#v2")), "alice")
        .await;
    let q = query(&cb);
    assert_eq!(q.get("error"), None, "{cb}");
    assert_eq!(
        q["state"], "object-state",
        "the object's parameters are used"
    );
    assert_eq!(served.hits(), 1);
    let (status, body) = s.exchange_code(&c, &q["code"], &verifier).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_claims(body["id_token"].as_str().unwrap())["nonce"],
        "object-nonce"
    );
}

#[tokio::test]
async fn request_objects_by_reference_are_checked_as_by_value() {
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let key = ClientKey::new("RS256");
    let served = Served::start(JOSE, String::new()).await;
    let uri = served.url("/req/1");
    let c = rs256_client(&s, &key, std::slice::from_ref(&uri)).await;
    let (_, challenge) = pkce();

    // RFC 9101 §6.1 and discovery's request_object_signing_alg_values_supported (no `none`):
    // an unsigned object is refused here as it is by value.
    served.set(unsigned(&object(&s, &c, &challenge)));
    let (error, _) = redirected_error(&s, &by_reference(&c, &uri)).await;
    assert_eq!(error, "invalid_request_object", "unsigned");

    // OIDC Core §6.4: content that is not a JWT is invalid_request_object.
    served.set("<html>not a request object</html>".into());
    let (error, _) = redirected_error(&s, &by_reference(&c, &uri)).await;
    assert_eq!(error, "invalid_request_object", "not a JWT");

    // Signed by a key the client did not register.
    served.set(ClientKey::new("RS256").sign(&object(&s, &c, &challenge), true));
    let (error, _) = redirected_error(&s, &by_reference(&c, &uri)).await;
    assert_eq!(error, "invalid_request_object", "foreign key");

    // RFC 9101 §5: request and request_uri are alternatives.
    served.set(key.sign(&object(&s, &c, &challenge), true));
    let mut both = by_reference(&c, &uri);
    both.push((
        "request".into(),
        key.sign(&object(&s, &c, &challenge), true),
    ));
    let (error, _) = redirected_error(&s, &both).await;
    assert_eq!(error, "invalid_request", "request and request_uri together");
}

#[tokio::test]
async fn registration_s2_an_unregistered_request_uri_is_invalid_request_uri_and_never_fetched() {
    // OIDC Registration §2 with require_request_uri_registration: only registered URIs are
    // fetched; anything else is invalid_request_uri (RFC 9101 §7), with no request made.
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let key = ClientKey::new("RS256");
    let served = Served::start(JOSE, String::new()).await;
    let c = rs256_client(&s, &key, &[served.url("/req/registered")]).await;
    let (_, challenge) = pkce();
    served.set(key.sign(&object(&s, &c, &challenge), true));
    for uri in [
        served.url("/req/other"),
        served.url("/req/registered/more"),
        served.url("/req/registered?x=1"),
    ] {
        let (error, _) = redirected_error(&s, &by_reference(&c, &uri)).await;
        assert_eq!(error, "invalid_request_uri", "{uri}");
    }
    // A client with no request_uris at all.
    let other = s.client(json!({"jwks": key.jwks()})).await;
    let (error, _) =
        redirected_error(&s, &by_reference(&other, &served.url("/req/registered"))).await;
    assert_eq!(error, "invalid_request_uri");
    assert_eq!(served.hits(), 0, "nothing was fetched");
}

#[tokio::test]
async fn the_outbound_policy_keeps_request_uri_fetches_off_internal_addresses() {
    // Without `outbound.allow_private`, a registered name that resolves to loopback is never
    // connected to (the check is on the address actually used): invalid_request_uri.
    let s = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(sock);
        }
    });
    let key = ClientKey::new("RS256");
    let uri = format!("https://localhost:{port}/req");
    let c = rs256_client(&s, &key, std::slice::from_ref(&uri)).await;
    let (error, _) = redirected_error(&s, &by_reference(&c, &uri)).await;
    assert_eq!(error, "invalid_request_uri");
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_oversized_request_uri_document_is_refused() {
    // The fetch reads at most 32 KiB (as jwks_uri fetches are bounded): invalid_request_uri.
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let key = ClientKey::new("RS256");
    let served = Served::start(JOSE, "a".repeat(40 * 1024)).await;
    let uri = served.url("/req/big");
    let c = rs256_client(&s, &key, std::slice::from_ref(&uri)).await;
    let (error, _) = redirected_error(&s, &by_reference(&c, &uri)).await;
    assert_eq!(error, "invalid_request_uri");
    assert_eq!(served.hits(), 1);
}

#[tokio::test]
async fn fapi_clients_may_not_pass_request_objects_by_reference() {
    // FAPI 1 Advanced clients use request_uri only as issued by the PAR endpoint (and FAPI 2
    // requires PAR for everything): their URLs are never fetched.
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let key = ClientKey::new("PS256");
    let served = Served::start(JOSE, String::new()).await;
    let uri = served.url("/req/fapi");
    let c = s
        .client(json!({
            "fapi_profile": "fapi1_advanced", "token_endpoint_auth_method": "private_key_jwt",
            "jwks": key.jwks(), "response_types": ["code id_token"],
            "grant_types": ["authorization_code", "implicit"], "request_uris": [uri],
        }))
        .await;
    let now = s.provider.now();
    served.set(key.sign(
        &json!({
            "iss": c.id, "aud": s.issuer, "client_id": c.id, "exp": now + 300, "nbf": now,
            "response_type": "code id_token", "redirect_uri": REDIRECT_URI,
            "scope": "openid", "state": "s", "nonce": "n",
        }),
        true,
    ));
    let mut params = by_reference(&c, &uri);
    params.retain(|(k, _)| k != "response_type");
    params.push(("response_type".into(), "code id_token".into()));
    let (status, loc, body) = Journey::new(&s).authorize(&params).await;
    assert_eq!(status, 303, "{body}");
    assert!(loc.contains("error=invalid_request_uri"), "{loc}");
    assert_eq!(served.hits(), 0);
}
