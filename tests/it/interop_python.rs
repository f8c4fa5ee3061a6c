//! Interop with Python's Authlib as the relying party: code + PKCE with the ID token
//! validated, userinfo, refresh, introspection, revocation, client_credentials, and
//! private_key_jwt client authentication. The script is `tests/interop_py/flows.py`; the test command
//! (`tests/run-all.sh`) installs its pinned packages into `tests/interop_py/.venv`.

use crate::harness::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// The venv's interpreter, or None (with the reason printed) when the venv is missing outside
/// CI. In CI a missing venv fails the test: the interop matrix must really run there.
fn venv_python() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop_py");
    let python = dir.join(".venv/bin/python");
    let installed = Command::new(&python)
        .args(["-c", "import authlib, requests"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if installed {
        return Some(python);
    }
    let how = "create it with ./tests/run-all.sh (its `pip install (tests/interop_py)` step), or \
               `python3 -m venv tests/interop_py/.venv && tests/interop_py/.venv/bin/pip install -r tests/interop_py/requirements.txt`";
    assert!(
        std::env::var_os("CI").is_none(),
        "{} has no authlib: {how}",
        python.display()
    );
    eprintln!(
        "SKIPPED: the Authlib interop test needs {}: {how}",
        python.display()
    );
    None
}

#[tokio::test]
async fn authlib_completes_code_pkce_refresh_client_credentials_and_private_key_jwt() {
    let Some(python) = venv_python() else { return };
    let s = TestServer::start().await;
    let basic = s.client(json!({"client_name": "Authlib RP"})).await;
    let key = crate::keys::ClientKey::new("RS256");
    let jwt_client = s
        .client(json!({
            "client_name": "Authlib RP (private_key_jwt)",
            "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
        }))
        .await;
    s.user("alice").await;
    let mut private = serde_json::Value::Object(key.jwk.as_ref().clone());
    private["alg"] = json!("RS256");
    let ca = s.provider.config.keys_dir().join("ca.pem");

    let mut cmd = Command::new(python);
    cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop_py/flows.py"));
    for (k, v) in [
        ("ISSUER", s.issuer.clone()),
        ("CA_FILE", ca.display().to_string()),
        ("CLIENT_ID", basic.id.clone()),
        ("CLIENT_SECRET", basic.secret.clone()),
        ("JWT_CLIENT_ID", jwt_client.id.clone()),
        ("PRIVATE_JWK", private.to_string()),
        ("REDIRECT_URI", REDIRECT_URI.into()),
        ("USERNAME", "alice".into()),
        ("PASSWORD", PASSWORD.into()),
    ] {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "flows.py failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
    for step in [
        "ok - discovery",
        "ok - jwks",
        "ok - authorization code grant (PKCE S256, client_secret_basic, id_token validated)",
        "ok - userinfo",
        "ok - refresh token grant (rotation)",
        "ok - introspect access token",
        "ok - revoke refresh token",
        "ok - replayed code is invalid_grant",
        "ok - client credentials grant (client_secret_basic)",
        "ok - authorization code grant (PKCE S256, private_key_jwt, id_token validated)",
        "ok - refresh token grant (private_key_jwt)",
        "ok - client credentials grant (private_key_jwt)",
        "ok - introspect access token (private_key_jwt)",
        "ok - private_key_jwt signed by another key is invalid_client",
    ] {
        assert!(stdout.contains(step), "missing `{step}` in:\n{stdout}");
    }
    assert!(stdout.contains("authlib: 14 passed, 0 failed"), "{stdout}");
}

/// RFC 7523 §3 only allows refusing an `exp` "unreasonably far in the future": an assertion
/// valid for the hour Authlib's `PrivateKeyJWT` gives it is accepted, one valid for two
/// hours is not (it would have to be remembered that long to stop its replay).
#[tokio::test]
async fn client_assertion_valid_for_an_hour_is_accepted_rfc7523_s3() {
    let s = TestServer::start().await;
    let key = crate::keys::ClientKey::new("RS256");
    let c = s
        .client(json!({
            "token_endpoint_auth_method": "private_key_jwt", "jwks": key.jwks(),
            "grant_types": ["client_credentials"], "response_types": [], "redirect_uris": [],
        }))
        .await;
    let now = s.provider.now();
    for (lifetime, expected) in [(3600, 200), (7200, 401)] {
        let assertion = key.sign(
            &json!({
                "iss": c.id, "sub": c.id, "aud": s.url("/token"), "iat": now,
                "exp": now + lifetime, "jti": consentry::secrets::random_token(),
            }),
            true,
        );
        let res = s
            .browser()
            .post(s.url("/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
                ("client_id", c.id.as_str()),
                (
                    "client_assertion_type",
                    consentry::protocol::client_auth::JWT_BEARER,
                ),
                ("client_assertion", assertion.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_eq!(status, expected, "exp = iat + {lifetime}: {body}");
    }
}
