//! Client registration metadata (RFC 7591 §2, OIDC Registration §2, RFC 7592 §2.2):
//! `rules::new_client` and `rules::replaced_metadata` (dynamic and operator), as the client
//! service calls them for the HTTP endpoints and the CLI.

use super::engine::run;
use super::jwt::Signer;
use super::mutate;
use consentry::error::ErrorCode;
use consentry::outbound::OutboundPolicy;
use consentry::protocol::clients::rules::{self as registration, Registrar};
use consentry::sealing::Sealer;
use serde_json::{json, Value};

const KEYS: &[&str] = &[
    "redirect_uris",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "token_endpoint_auth_signing_alg",
    "scope",
    "client_name",
    "client_id",
    "client_secret",
    "jwks",
    "jwks_uri",
    "keys",
    "kty",
    "n",
    "e",
    "x",
    "y",
    "crv",
    "d",
    "x5c",
    "request_object_signing_alg",
    "id_token_signed_response_alg",
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "authorization_signed_response_alg",
    "tls_client_auth_subject_dn",
    "tls_client_auth_san_dns",
    "tls_client_auth_san_ip",
    "tls_client_certificate_bound_access_tokens",
    "dpop_bound_access_tokens",
    "require_pushed_authorization_requests",
    "fapi_profile",
    "subject_type",
    "sector_identifier_uri",
    "request_uris",
    "logo_uri",
    "policy_uri",
    "tos_uri",
    "client_uri",
    "connection_types",
    "webhook_url",
    "contacts",
];

/// RFC 7591 §3.2.2: any metadata the server cannot accept is `invalid_client_metadata` or
/// `invalid_redirect_uri` (400), never a panic and never a half-made client.
#[tokio::test]
async fn fuzz_registration_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let sealer = Sealer::load_or_create(dir.path()).unwrap();
    let outbound = OutboundPolicy::default();
    let key = Signer::generate("ES256");
    let valid = json!({
        "redirect_uris": ["https://rp.example.test/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "private_key_jwt",
        "token_endpoint_auth_signing_alg": "ES256",
        "jwks": { "keys": [key.public] },
        "scope": "openid profile email",
        "client_name": "Fuzzed client",
        "logo_uri": "https://rp.example.test/logo.png",
        "id_token_encrypted_response_alg": "ECDH-ES",
        "id_token_encrypted_response_enc": "A128GCM",
        "fapi_profile": "fapi2",
    });
    let text = valid.to_string();
    let now = 1_733_400_000;
    let base = registration::new_client(valid.clone(), Registrar::Dynamic, now, &sealer, &outbound)
        .expect("the valid metadata registers")
        .client;
    run("registration_metadata", async |case| {
        let rng = &mut case.rng;
        let raw: Value = if rng.one_in(4) {
            match serde_json::from_str(&mutate::json_text(rng, &text)) {
                Ok(v) => v,
                Err(_) => return,
            }
        } else {
            let mut v = valid.clone();
            for _ in 0..1 + rng.below(4) {
                mutate::json(rng, &mut v, KEYS);
            }
            v
        };
        case.inputs.note("metadata", raw.to_string());
        let check = |r: Result<(), consentry::error::OAuthError>| {
            if let Err(e) = r {
                assert_eq!(e.status, 400, "{e:?}");
                assert!(
                    [
                        ErrorCode::InvalidClientMetadata,
                        ErrorCode::InvalidRedirectUri,
                        ErrorCode::InvalidRequest
                    ]
                    .contains(&e.code),
                    "{e:?}"
                );
            }
        };
        let registrar = rng.pick(&[Registrar::Dynamic, Registrar::Operator]);
        check(
            registration::new_client(raw.clone(), registrar, now, &sealer, &outbound).map(|_| ()),
        );
        let mut update = raw;
        if let Some(o) = update.as_object_mut() {
            o.insert("client_id".into(), json!(base.id));
        }
        check(registration::replaced_metadata(&base, update, registrar, &outbound).map(|_| ()));
    })
    .await;
}
