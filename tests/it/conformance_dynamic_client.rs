//! The OIDCC plans' client_registration=dynamic_client variant of the conformance runner: each
//! module registers its clients at the registration endpoint with the variant's response type
//! and client authentication (OpenID Connect Registration §3, RFC 7591), runs against them,
//! and deletes them at the end (RFC 7592 §2.3), as the suite's
//! UnregisterDynamicallyRegisteredClient does.

use crate::harness::{TestServer, INITIAL_ACCESS_TOKEN, PASSWORD};
use consentry_conformance::config::{Client, Config, SigningKeyConfig, User};
use consentry_conformance::{run_module, Entry, ModuleReport, Verdict};
use std::collections::HashMap;

const CALLBACK: &str = "https://rp.conformance.test/callback";

/// A client template of the variant (no client_id: each module registers its own) with an
/// RSA key in `dir`.
fn template(dir: &std::path::Path, name: &str) -> Client {
    let key = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let file = dir.join(format!("{name}.der"));
    std::fs::write(&file, key.to_der_private_key()).unwrap();
    Client {
        client_id: String::new(),
        client_secret: None,
        redirect_uri: CALLBACK.into(),
        redirect_uri2: None,
        request_uri: None,
        post_logout_redirect_uri: None,
        backchannel_logout_uri: None,
        frontchannel_logout_uri: None,
        signing_key: Some(SigningKeyConfig {
            file,
            kid: String::new(),
            alg: "RS256".into(),
        }),
        tls: None,
    }
}

/// The plan's dynamic_client entry of `module` with `response_type`.
fn entry(plan: &str, module: &str, response_type: &str) -> Entry {
    consentry_conformance::plans::plans()
        .into_iter()
        .find(|p| p.name == plan)
        .expect("plan")
        .entries
        .into_iter()
        .find(|e| {
            e.module == module
                && e.response_type == response_type
                && e.variant
                    .contains(&("client_registration", "dynamic_client"))
        })
        .expect("the plan runs the module with dynamic_client")
}

fn steps<'a>(report: &'a ModuleReport, condition: &str) -> Vec<&'a str> {
    report
        .steps
        .iter()
        .filter(|s| s.condition == condition)
        .map(|s| s.message.as_str())
        .collect()
}

/// The client ids the module registered (ExtractDynamicRegistrationResponse).
fn registered_ids(report: &ModuleReport) -> Vec<String> {
    steps(report, "ExtractDynamicRegistrationResponse")
        .iter()
        .filter_map(|m| m.strip_prefix("Extracted client "))
        .map(|id| id.trim_matches('"').to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_client_variant_registers_its_clients_and_deletes_them_at_the_end() {
    let server = TestServer::start().await;
    server.user("conformance").await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &server.ca_pem).unwrap();
    let cfg = Config {
        discovery_url: format!("{}/.well-known/openid-configuration", server.issuer),
        ca_file: Some(ca_file),
        user: User {
            username: "conformance".into(),
            password: PASSWORD.into(),
        },
        clients: [
            ("dynamic_client".to_string(), template(dir.path(), "one")),
            ("dynamic_client_2".to_string(), template(dir.path(), "two")),
        ]
        .into(),
        rp_listen: None,
        rp_rsa_key_file: None,
        rp_kid: None,
        registration_token: Some(INITIAL_ACCESS_TOKEN.into()),
        rotate_keys_command: None,
        resource_url: None,
    };
    let ca = reqwest::Certificate::from_pem(&server.ca_pem).unwrap();
    // OIDCCRefreshToken registers two clients (AbstractOIDCCMultipleClient); the hybrid
    // oidcc-server-client-secret-post registers one for `code id_token token` with
    // client_secret_post.
    let refresh = entry(
        "oidcc-basic-certification-test-plan",
        "oidcc-refresh-token",
        "code",
    );
    let post = entry(
        "oidcc-hybrid-certification-test-plan",
        "oidcc-server-client-secret-post",
        "code id_token token",
    );
    let (refresh, post) = tokio::join!(
        run_module(&cfg, Some(ca.clone()), &refresh),
        run_module(&cfg, Some(ca.clone()), &post),
    );
    for report in [&refresh, &post] {
        assert_eq!(report.verdict, Verdict::Passed, "{report:#?}");
        assert!(report
            .variant
            .contains("client_registration=dynamic_client"));
    }
    assert_eq!(registered_ids(&refresh).len(), 2, "{refresh:#?}");
    assert_eq!(registered_ids(&post).len(), 1, "{post:#?}");
    let registration = steps(
        &post,
        "AddResponseTypesArrayToDynamicRegistrationRequestFromEnvironment",
    );
    assert_eq!(registration, ["response_types [code id_token token]"]);
    let method = steps(
        &post,
        "AddTokenEndpointAuthMethodToDynamicRegistrationRequestFromEnvironment",
    );
    assert_eq!(method, ["token_endpoint_auth_method client_secret_post"]);
    assert_eq!(
        steps(
            &refresh,
            "AddRefreshTokenGrantTypeToDynamicRegistrationRequest"
        )
        .len(),
        2
    );

    // Each client is gone once its module ended: the authorization endpoint no longer knows
    // it (OIDC Core §3.1.2.6: an unknown client is not redirected to).
    let ids: Vec<String> = registered_ids(&refresh)
        .into_iter()
        .chain(registered_ids(&post))
        .collect();
    let browser = server.browser();
    for id in ids {
        let params: HashMap<&str, &str> = [
            ("client_id", id.as_str()),
            ("redirect_uri", CALLBACK),
            ("response_type", "code"),
            ("scope", "openid"),
        ]
        .into();
        let res = browser
            .get(server.url("/auth"))
            .query(&params)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "client {id} still registered");
    }
    assert_eq!(
        steps(&refresh, "UnregisterDynamicallyRegisteredClient").len()
            + steps(&post, "UnregisterDynamicallyRegisteredClient").len(),
        3
    );
}
