//! Discovery, JWKS, health, readiness and metrics.

use crate::harness::*;
use serde_json::Value;

#[tokio::test]
async fn discovery_is_consistent_and_every_endpoint_answers() {
    let s = TestServer::start().await;
    let b = s.browser();
    let d: Value = b
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], s.issuer);
    assert_eq!(d["claims_parameter_supported"], true);
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    // RFC 8414 §3: the same metadata at the well-known URI for an issuer with a path.
    let rfc8414: Value = b
        .get(format!(
            "{}/.well-known/oauth-authorization-server/oidc",
            s.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rfc8414, d);
    // Every advertised endpoint exists (no 404/405 on its method).
    for (key, method) in [
        ("authorization_endpoint", "GET"),
        ("token_endpoint", "POST"),
        ("userinfo_endpoint", "GET"),
        ("jwks_uri", "GET"),
        ("introspection_endpoint", "POST"),
        ("revocation_endpoint", "POST"),
        ("registration_endpoint", "POST"),
    ] {
        let url = d[key].as_str().unwrap();
        assert!(url.starts_with(&s.issuer), "{key}");
        let res = b
            .request(method.parse().unwrap(), url)
            .send()
            .await
            .unwrap();
        assert!(
            ![404, 405].contains(&res.status().as_u16()),
            "{key} answered {}",
            res.status()
        );
    }
    // Every advertised ID token algorithm is one we have a key for.
    let jwks: Value = b
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for alg in d["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap()
    {
        assert!(
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| &k["alg"] == alg),
            "no key for {alg}"
        );
    }
}

#[tokio::test]
async fn jwks_publishes_public_keys_only() {
    let s = TestServer::start().await;
    let jwks: Value = s
        .browser()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 6, "current and next key for each algorithm");
    for k in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                k.get(private).is_none(),
                "private member {private} published"
            );
        }
        assert!(k["kid"].is_string() && k["alg"].is_string());
        assert_eq!(k["use"], "sig");
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let s = TestServer::start().await;
    let b = s.browser();
    assert_eq!(
        b.get(format!("{}/healthz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        b.get(format!("{}/readyz", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    b.get(s.url("/jwks")).send().await.unwrap();
    let m = s.metrics().await;
    assert!(m.contains("consentry_http_requests_total{endpoint=\"/oidc/jwks\",method=\"GET\",status=\"200\"} 1"), "{m}");
    assert!(
        m.contains("consentry_http_request_duration_seconds_bucket"),
        "{m}"
    );
    assert!(m.contains("consentry_tokens_issued_total"));
}

/// Stopping the server ends the connections it had open, not only its listener: a kept-alive
/// connection must not go on being answered by a stopped provider (after a restart on the same
/// data dir, two would be answering).
#[tokio::test]
async fn stopping_the_server_closes_its_open_connections() {
    let s = TestServer::start().await;
    let b = s.browser();
    let health = format!("{}/healthz", s.base);
    assert!(b.get(&health).send().await.unwrap().status().is_success());
    let _dir = s.stop().await;
    // The serving threads stop moments after the server is dropped.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match b.get(&health).send().await {
            Err(_) => break,
            Ok(r) => assert!(
                std::time::Instant::now() < deadline,
                "a stopped server still answers on an open connection ({})",
                r.status()
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
