//! Dynamic client registration as the suite performs it (RFC 7591, OpenID Connect Registration):
//! the request of OIDCCCreateDynamicClientRegistrationRequest, the call and checks of
//! CallDynamicRegistrationEndpointAndVerifySuccessfulResponse, and the RFC 7592 delete of
//! UnregisterDynamicallyRegisteredClient, each logged under the suite's condition names.

use crate::browser::{self, Resp};
use crate::config::SigningKeyConfig;
use crate::jose::Signer;
use crate::log::{Check, Flow};
use crate::modules::Ctx;
use crate::report::Outcome::{Failure, Info, Warning};
use serde_json::{json, Value};

/// AddContactsToDynamicRegistrationRequest: the suite's support address.
const CONTACT: &str = "certification@oidf.org";

/// The key a registered client signs with, and the public JWK it registers: the suite makes a
/// fresh RSA key per client (GenerateRS256ClientJWKs, without a `kid`; or
/// GenerateRS256ClientJWKsWithKeyID, `kid` = its RFC 7638 thumbprint). ring cannot generate
/// RSA keys, so the runner takes them from keys `run.sh` makes (the template clients' files).
#[derive(Clone)]
pub struct ClientKey {
    pub signing: SigningKeyConfig,
    pub public_jwk: Value,
}

/// Loads the RSA key of `template` as GenerateRS256ClientJWKs (`with_kid` false: no `kid`)
/// or GenerateRS256ClientJWKsWithKeyID (`with_kid`: the thumbprint) present it.
pub fn client_key(template: &SigningKeyConfig, with_kid: bool) -> Check<ClientKey> {
    let signer = Signer::load(&SigningKeyConfig {
        alg: "RS256".into(),
        ..template.clone()
    })?;
    let kid = if with_kid {
        signer.thumbprint()
    } else {
        String::new()
    };
    let mut public_jwk = signer.public_key_members();
    public_jwk["use"] = json!("sig");
    public_jwk["alg"] = json!("RS256");
    if with_kid {
        public_jwk["kid"] = json!(kid);
    }
    Ok(ClientKey {
        signing: SigningKeyConfig {
            kid,
            alg: "RS256".into(),
            ..template.clone()
        },
        public_jwk,
    })
}

/// How the client presents its key in the registration request.
pub enum KeyPlacement {
    /// AddPublicJwksToDynamicRegistrationRequest.
    Jwks,
    /// AddJwksUriToDynamicRegistrationRequest: the runner serves the set at this URL.
    JwksUri(String),
}

/// OIDCCCreateDynamicClientRegistrationRequest for the module's response type, after the
/// key is made (GenerateRS256ClientJWKs / ...WithKeyID, CheckDistinctKeyIdValueInClientJWKs).
pub fn create_request(
    ctx: &mut Ctx<'_>,
    key: &ClientKey,
    placement: &KeyPlacement,
    redirect_uri: &str,
    client_name: &str,
) -> Flow<Value> {
    let generated = if key.signing.kid.is_empty() {
        "GenerateRS256ClientJWKs"
    } else {
        "GenerateRS256ClientJWKsWithKeyID"
    };
    ctx.log
        .must_ok(generated, &[], Ok(format!("client key {}", key.public_jwk)))?;
    ctx.log.check(
        "CheckDistinctKeyIdValueInClientJWKs",
        Failure,
        &["RFC7517-4.5"],
        Ok("one key: distinct kid".into()),
    );
    let mut req = json!({});
    ctx.log.must_ok(
        "CreateEmptyDynamicRegistrationRequest",
        &[],
        Ok("Created empty dynamic registration request".into()),
    )?;
    req["client_name"] = json!(client_name);
    ctx.log.must_ok(
        "AddClientNameToDynamicRegistrationRequest",
        &[],
        Ok(format!("client_name {client_name}")),
    )?;
    let rt = ctx.response_type;
    let parts: Vec<&str> = rt.split(' ').collect();
    if parts.contains(&"code") {
        add_grant_type(ctx, &mut req, "authorization_code")?;
    }
    if parts.contains(&"id_token") || parts.contains(&"token") {
        add_grant_type(ctx, &mut req, "implicit")?;
    }
    match placement {
        KeyPlacement::Jwks => {
            req["jwks"] = json!({ "keys": [key.public_jwk.clone()] });
            ctx.log.must_ok(
                "AddPublicJwksToDynamicRegistrationRequest",
                &["RFC7591-2"],
                Ok("Added client public JWKS to dynamic registration request".into()),
            )?;
        }
        KeyPlacement::JwksUri(uri) => {
            req["jwks_uri"] = json!(uri);
            ctx.log.must_ok(
                "AddJwksUriToDynamicRegistrationRequest",
                &[],
                Ok(format!("jwks_uri {uri}")),
            )?;
        }
    }
    let method = ctx.auth.name();
    req["token_endpoint_auth_method"] = json!(method);
    ctx.log.must_ok(
        "AddTokenEndpointAuthMethodToDynamicRegistrationRequestFromEnvironment",
        &[],
        Ok(format!("token_endpoint_auth_method {method}")),
    )?;
    req["response_types"] = json!([rt]);
    ctx.log.must_ok(
        "AddResponseTypesArrayToDynamicRegistrationRequestFromEnvironment",
        &[],
        Ok(format!("response_types [{rt}]")),
    )?;
    req["redirect_uris"] = json!([redirect_uri]);
    ctx.log.must_ok(
        "AddRedirectUriToDynamicRegistrationRequest",
        &[],
        Ok(format!("redirect_uris [{redirect_uri}]")),
    )?;
    req["contacts"] = json!([CONTACT]);
    ctx.log.check(
        "AddContactsToDynamicRegistrationRequest",
        Info,
        &[],
        Ok(format!("contacts [{CONTACT}]")),
    );
    Ok(req)
}

/// AbstractAddGrantTypeToDynamicRegistrationRequest: appends to `grant_types`.
pub fn add_grant_type(ctx: &mut Ctx<'_>, req: &mut Value, grant: &str) -> Flow {
    let condition = match grant {
        "authorization_code" => "AddAuthorizationCodeGrantTypeToDynamicRegistrationRequest",
        "implicit" => "AddImplicitGrantTypeToDynamicRegistrationRequest",
        _ => "AddRefreshTokenGrantTypeToDynamicRegistrationRequest",
    };
    if !req["grant_types"].is_array() {
        req["grant_types"] = json!([]);
    }
    if let Some(a) = req["grant_types"].as_array_mut() {
        a.push(json!(grant));
    }
    ctx.log.must_ok(
        condition,
        &[],
        Ok(format!("grant_types {}", req["grant_types"])),
    )
}

/// CallDynamicRegistrationEndpoint: POSTs the request as JSON with the initial access token.
pub async fn call_endpoint(ctx: &mut Ctx<'_>, req: &Value, reqs: &[&str]) -> Flow<Resp> {
    let endpoint = ctx.server_str("registration_endpoint");
    let token = ctx.cfg.registration_token.clone();
    let r = match endpoint {
        None => Err("Couldn't find registration endpoint".to_string()),
        Some(url) => {
            let mut rb = ctx
                .back
                .post(&url)
                .header("accept", "application/json")
                .json(req);
            if let Some(t) = token.filter(|t| !t.is_empty()) {
                rb = rb.bearer_auth(t);
            }
            browser::send(rb).await.map(|resp| {
                let s = format!("HTTP {}: {}", resp.status, clip(&resp.body));
                (resp, s)
            })
        }
    };
    ctx.log.must("CallDynamicRegistrationEndpoint", reqs, r)
}

/// EnsureContentTypeJson on an endpoint response.
pub fn content_type_json(resp: &Resp) -> Check {
    let ct = resp.content_type.split(';').next().unwrap_or("").trim();
    if ct.eq_ignore_ascii_case("application/json") {
        Ok("Content-Type is application/json".into())
    } else {
        Err(format!(
            "Content-Type is '{}', expected application/json",
            resp.content_type
        ))
    }
}

/// AbstractEnsureHttpStatusCode.
pub fn status_is(resp: &Resp, want: u16) -> Check {
    if resp.status == want {
        Ok(format!("HTTP {want}"))
    } else {
        Err(format!(
            "Invalid http status: expected {want}, got {}: {}",
            resp.status,
            clip(&resp.body)
        ))
    }
}

fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// CallDynamicRegistrationEndpointAndVerifySuccessfulResponse: the registered client's
/// metadata (the registration response).
pub async fn register(ctx: &mut Ctx<'_>, req: &Value) -> Flow<Value> {
    let resp = call_endpoint(ctx, req, &["RFC7591-3.1", "OIDCR-3.2"]).await?;
    ctx.log.check(
        "EnsureContentTypeJson",
        Failure,
        &["OIDCR-3.2"],
        content_type_json(&resp),
    );
    ctx.log.check(
        "EnsureHttpStatusCodeIs201",
        Failure,
        &["OIDCR-3.2"],
        status_is(&resp, 201),
    );
    let body = resp.json().unwrap_or(Value::Null);
    let r = match body.get("error") {
        Some(e) => Err(format!(
            "'error' field found in response from dynamic registration endpoint: {e} {}",
            body["error_description"]
        )),
        None => Ok("Dynamic registration endpoint did not return an error.".into()),
    };
    ctx.log.check(
        "CheckNoErrorFromDynamicRegistrationEndpoint",
        Failure,
        &["OIDCR-3.2"],
        r,
    );
    let r = match &body {
        Value::Object(_) if body["client_id"].is_string() => Ok((
            body.clone(),
            format!("Extracted client {}", body["client_id"]),
        )),
        Value::Object(_) => Err("no client id in dynamic registration response".to_string()),
        _ => Err("No json response from dynamic registration endpoint".to_string()),
    };
    let client = ctx
        .log
        .must("ExtractDynamicRegistrationResponse", &["OIDCR-3.2"], r)?;
    ctx.log.check(
        "VerifyClientManagementCredentials",
        Failure,
        &["OIDCR-3.2"],
        management_credentials(&client),
    );
    let r = match (
        client.get("client_secret"),
        client.get("client_secret_expires_at"),
    ) {
        (None, _) => Ok("Skipped check for valid credential information (no client_secret)".into()),
        (Some(_), Some(e)) if e.is_i64() || e.is_u64() => {
            Ok("Found required credential information for token_endpoint_auth_method".into())
        }
        (Some(_), _) => Err(
            "Missing client_secret_expires_at for token_endpoint_auth_method in client registration response"
                .into(),
        ),
    };
    ctx.log.check(
        "VerifyDynamicRegistrationResponseClientCredentials",
        Failure,
        &["OIDCR-3.2"],
        r,
    );
    Ok(client)
}

/// VerifyClientManagementCredentials (RFC 7592 §3: both or neither; an https URI).
fn management_credentials(client: &Value) -> Check {
    let uri = client.get("registration_client_uri");
    let token = client.get("registration_access_token");
    match (uri, token) {
        (None, None) => Ok(
            "Dynamic registration returned neither registration_client_uri nor registration_access_token"
                .into(),
        ),
        (None, Some(_)) => Err(
            "Dynamic registration returned registration_access_token but not registration_client_uri"
                .into(),
        ),
        (Some(_), None) => Err(
            "Dynamic registration returned registration_client_uri but not registration_access_token"
                .into(),
        ),
        (Some(u), Some(t)) => {
            let u = u.as_str().unwrap_or_default();
            match url::Url::parse(u) {
                _ if u.is_empty() => Err("registration_client_uri must not be an empty string".into()),
                Err(_) => Err(format!("registration_client_uri is not a valid URL: {u}")),
                Ok(url) if url.scheme() != "https" => Err(format!(
                    "URL for client management point does not use https scheme: {u}"
                )),
                Ok(_) if t.as_str().is_none_or(str::is_empty) => {
                    Err("registration_access_token must not be an empty string".into())
                }
                Ok(_) => Ok("Verified dynamic registration management credentials".into()),
            }
        }
    }
}

/// UnregisterDynamicallyRegisteredClient (a failure is a WARNING, as the suite's cleanup).
pub async fn unregister(ctx: &mut Ctx<'_>, client: &Value) {
    let (Some(token), Some(uri)) = (
        client["registration_access_token"].as_str(),
        client["registration_client_uri"].as_str(),
    ) else {
        ctx.log.info(
            "UnregisterDynamicallyRegisteredClient",
            "Couldn't find registration_access_token or registration_client_uri.",
        );
        return;
    };
    let r = browser::send(
        ctx.back
            .delete(uri)
            .header("accept", "application/json")
            .bearer_auth(token),
    )
    .await
    .and_then(|resp| {
        if resp.status == 204 {
            Ok("Client successfully unregistered".to_string())
        } else {
            Err(format!(
                "registration_client_uri returned a http status code other than 204 No Content: {}",
                resp.status
            ))
        }
    });
    ctx.log
        .check("UnregisterDynamicallyRegisteredClient", Warning, &[], r);
}
