//! A client's `jwks_uri` is fetched again at once when a JWT names a key the cached set lacks
//! (the client just rotated), but such forced fetches are rate-limited per URI
//! (`outbound.jwks_refetch_interval_secs`), so made-up `kid`s cannot make us hammer the
//! client's server.

use crate::harness::*;
use crate::keys::ClientKey;
use crate::served::Served;
use serde_json::{json, Value};

fn assertion(s: &TestServer, client_id: &str, key: &ClientKey, with_kid: bool) -> String {
    let now = s.provider.now();
    key.sign(
        &json!({
            "iss": client_id, "sub": client_id, "aud": s.url("/token"),
            "iat": now, "exp": now + 60, "jti": consentry::secrets::random_token(),
        }),
        with_kid,
    )
}

/// RFC 7523 §3 client authentication at the token endpoint: the status.
async fn authenticate(s: &TestServer, assertion: &str) -> (u16, Value) {
    let res = s
        .browser()
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "accounts:read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap_or_default())
}

async fn jwks_uri_client(s: &TestServer, uri: &str) -> String {
    s.client(json!({
        "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": uri,
        "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
    }))
    .await
    .id
}

#[tokio::test]
async fn a_key_added_to_the_jwks_uri_is_accepted_at_once_and_refetches_are_rate_limited() {
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let a = ClientKey::new("ES256");
    let served = Served::start("application/json", a.jwks().to_string()).await;
    let id = jwks_uri_client(&s, &served.url("/jwks.json")).await;

    let (status, body) = authenticate(&s, &assertion(&s, &id, &a, true)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(served.hits(), 1);

    // The client publishes key B, replacing A, and signs with it right away: the unknown kid
    // makes us fetch the set once more, without waiting for the cached set to expire.
    let b = ClientKey::new("ES256");
    served.set(b.jwks().to_string());
    let (status, body) = authenticate(&s, &assertion(&s, &id, &b, true)).await;
    assert_eq!(status, 200, "key B right after rotation: {body}");
    assert_eq!(served.hits(), 2);

    // Another unknown kid within the interval: refused (RFC 6749 §5.2 invalid_client)
    // from the cached set, with no further fetch.
    let stranger = ClientKey::new("ES256");
    let (status, body) = authenticate(&s, &assertion(&s, &id, &stranger, true)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_client");
    assert_eq!(
        served.hits(),
        2,
        "no second forced fetch within the interval"
    );

    // After the interval, a JWT without kid signed by a newly published key C (no key of the
    // cached set verifies it) is also worth one fetch.
    s.provider.clock.advance(10);
    let c = ClientKey::new("ES256");
    served.set(c.jwks().to_string());
    let (status, body) = authenticate(&s, &assertion(&s, &id, &c, false)).await;
    assert_eq!(status, 200, "key C without kid: {body}");
    assert_eq!(served.hits(), 3);
}

#[tokio::test]
async fn the_refetch_interval_is_configurable() {
    let s = TestServer::start_with(|c| {
        c.outbound.allow_private = true;
        c.outbound.jwks_refetch_interval_secs = 60;
    })
    .await;
    let a = ClientKey::new("ES256");
    let served = Served::start("application/json", a.jwks().to_string()).await;
    let id = jwks_uri_client(&s, &served.url("/jwks.json")).await;
    assert_eq!(authenticate(&s, &assertion(&s, &id, &a, true)).await.0, 200);
    let stranger = ClientKey::new("ES256");
    assert_eq!(
        authenticate(&s, &assertion(&s, &id, &stranger, true))
            .await
            .0,
        401
    );
    assert_eq!(served.hits(), 2, "the first unknown kid is fetched for");
    s.provider.clock.advance(30);
    let b = ClientKey::new("ES256");
    served.set(b.jwks().to_string());
    assert_eq!(
        authenticate(&s, &assertion(&s, &id, &b, true)).await.0,
        401,
        "30 s is inside a 60 s interval"
    );
    assert_eq!(served.hits(), 2);
    s.provider.clock.advance(30);
    assert_eq!(authenticate(&s, &assertion(&s, &id, &b, true)).await.0, 200);
    assert_eq!(served.hits(), 3);
}
