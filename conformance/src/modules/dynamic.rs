//! The modules of `oidcc-dynamic-certification-test-plan` (OIDCCDynamicTestPlan), variant
//! client_registration=dynamic_client, client_auth_type=private_key_jwt: each module registers
//! its own client(s) at the provider's `registration_endpoint` (AbstractOIDCCServerTest
//! configure with DYNAMIC_CLIENT, or AbstractOIDCCDynamicRegistrationTest), runs the module's
//! requests and checks, and unregisters them at the end (the suite's cleanup).
//!
//! Modules the basic plan has too (`oidcc-server`, `oidcc-refresh-token`) run their body from
//! `oidcc.rs` with the dynamically registered client in place of the static one.

use super::oidcc::{self, error_page_review};
use super::*;
use crate::browser::Landing;
use crate::registration::{self as reg, ClientKey, KeyPlacement};
use crate::rp_server;
use serde_json::json;

/// The modules this file runs, as OIDCCDynamicTestPlan lists them.
pub const MODULES: &[&str] = &[
    "oidcc-idtoken-rs256",
    "oidcc-idtoken-unsigned",
    "oidcc-userinfo-rs256",
    "oidcc-ensure-redirect-uri-in-authorization-request",
    "oidcc-redirect-uri-query-OK",
    "oidcc-redirect-uri-query-mismatch",
    "oidcc-redirect-uri-query-added",
    "oidcc-redirect-uri-regfrag",
    "oidcc-discovery-endpoint-verification",
    "oidcc-server",
    "oidcc-registration-logo-uri",
    "oidcc-registration-policy-uri",
    "oidcc-registration-tos-uri",
    "oidcc-registration-jwks-uri",
    "oidcc-registration-sector-uri",
    "oidcc-registration-sector-bad",
    "oidcc-server-rotate-keys",
    "oidcc-refresh-token-rp-key-rotation",
    "oidcc-request-uri-unsigned",
    "oidcc-request-uri-signed-rs256",
    "oidcc-ensure-request-object-with-redirect-uri",
    "oidcc-refresh-token",
    "oidcc-ensure-client-assertion-with-iss-aud-succeeds",
];

/// What a module run registered, unregistered at the end whatever happened.
struct Run {
    module: &'static str,
    registered: Vec<Value>,
}

/// Runs `module` (one of MODULES) and then the suite's cleanup (unregisterClient).
pub async fn run(ctx: &mut Ctx<'_>, module: &'static str) -> Flow {
    let mut run = Run {
        module,
        registered: Vec::new(),
    };
    let result = match module {
        "oidcc-idtoken-rs256" => idtoken_rs256(ctx, &mut run).await,
        "oidcc-idtoken-unsigned" => idtoken_unsigned(ctx).await,
        "oidcc-userinfo-rs256" => userinfo_rs256(ctx, &mut run).await,
        "oidcc-ensure-redirect-uri-in-authorization-request" => {
            redirect_uri_missing(ctx, &mut run).await
        }
        "oidcc-redirect-uri-query-OK" => redirect_uri_query_ok(ctx, &mut run).await,
        "oidcc-redirect-uri-query-mismatch" => redirect_uri_query_mismatch(ctx, &mut run).await,
        "oidcc-redirect-uri-query-added" => redirect_uri_query_added(ctx, &mut run).await,
        "oidcc-redirect-uri-regfrag" => redirect_uri_regfrag(ctx, &mut run).await,
        "oidcc-discovery-endpoint-verification" => {
            super::discovery::oidcc_discovery_endpoint_verification(ctx).await
        }
        "oidcc-server" => {
            configure_dynamic(ctx, &mut run, &Spec::default()).await?;
            oidcc::oidcc_server(ctx).await
        }
        "oidcc-registration-logo-uri" => registration_display(ctx, &mut run, Display::Logo).await,
        "oidcc-registration-policy-uri" => {
            registration_display(ctx, &mut run, Display::Policy).await
        }
        "oidcc-registration-tos-uri" => registration_display(ctx, &mut run, Display::Tos).await,
        "oidcc-registration-jwks-uri" => registration_jwks_uri(ctx, &mut run).await,
        "oidcc-registration-sector-uri" => registration_sector(ctx, &mut run, true).await,
        "oidcc-registration-sector-bad" => registration_sector(ctx, &mut run, false).await,
        "oidcc-server-rotate-keys" => server_rotate_keys(ctx).await,
        "oidcc-refresh-token-rp-key-rotation" => refresh_token_rp_key_rotation(ctx, &mut run).await,
        "oidcc-request-uri-unsigned" => request_uri_unsigned(ctx, &mut run).await,
        "oidcc-request-uri-signed-rs256" => request_uri_signed_rs256(ctx, &mut run).await,
        "oidcc-ensure-request-object-with-redirect-uri" => {
            request_object_with_redirect_uri(ctx, &mut run).await
        }
        "oidcc-refresh-token" => refresh_token(ctx, &mut run).await,
        "oidcc-ensure-client-assertion-with-iss-aud-succeeds" => {
            client_assertion_iss_aud(ctx, &mut run).await
        }
        other => ctx.log.must_ok(
            "dispatch",
            &[],
            Err(format!("{other} is not a dynamic plan module")),
        ),
    };
    if !run.registered.is_empty() {
        for (i, client) in run.registered.clone().iter().enumerate() {
            ctx.log.block(&format!(
                "{}Unregister dynamically registered client",
                if i == 0 { "" } else { "Second client: " }
            ));
            reg::unregister(ctx, client).await;
        }
    }
    result
}

// ---- configuration -------------------------------------------------------------------------

/// A module's additions to the standard registration (its `createDynamicClientRegistrationRequest`
/// override) and to the client's configuration.
#[derive(Default)]
struct Spec {
    /// Members the module adds: (condition, requirement, member, value).
    members: Vec<(&'static str, &'static str, &'static str, Value)>,
    /// AddRefreshTokenGrantTypeToDynamicRegistrationRequest.
    refresh_grant: bool,
    /// A `jwks_uri` served by the runner (CreateJwksUri) instead of `jwks`, with a key whose
    /// `kid` is its thumbprint.
    jwks_uri: bool,
    /// AddQueryToRedirectUri, before registration.
    redirect_query: bool,
    /// AddMultipleRedirectUriToDynamicRegistrationRequest.
    second_redirect_uri: bool,
    /// CreateRandomRequestUriWithFragment and AddRequestUriToDynamicRegistrationRequest.
    request_uri: bool,
    /// SetScopeInClientConfigurationToOpenIdOfflineAccess instead of ...ToOpenId.
    offline_access: bool,
}

/// Where the runner serves its documents (`rp_listen`), with a path of this run's own.
fn rp_document_url(ctx: &Ctx<'_>, name: &str) -> Check<String> {
    let addr = ctx
        .cfg
        .rp_listen
        .as_deref()
        .ok_or("no rp_listen configured: the runner cannot serve its documents")?;
    Ok(format!(
        "http://{addr}/dynamic/{}/{name}",
        jose::random_value(12)
    ))
}

/// The server half of AbstractOIDCCServerTest.configure: discovery, its sanity checks, and the
/// server's keys.
async fn configure_server(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Configure");
    ctx.log.must_ok(
        "CreateRedirectUri",
        &[],
        Ok(format!("redirect_uri {}", ctx.client.redirect_uri)),
    )?;
    get_dynamic_server_configuration(ctx).await?;
    check_server_configuration(ctx)?;
    fetch_server_keys(ctx).await?;
    check_server_jwks(ctx);
    Ok(())
}

/// CheckServerConfiguration.
fn check_server_configuration(ctx: &mut Ctx<'_>) -> Flow {
    let s = ctx.server.clone();
    ctx.log.must_ok(
        "CheckServerConfiguration",
        &[],
        ["authorization_endpoint", "token_endpoint", "issuer"]
            .iter()
            .find(|k| !s[**k].is_string())
            .map_or(Ok("required endpoints present".into()), |k| {
                Err(format!("'{k}' missing from the server configuration"))
            }),
    )
}

/// StoreOriginalClientConfiguration (for a module's first client only),
/// ExtractClientNameFromStoredConfig, ExtractInitialAccessTokenFromStoredConfig.
pub(super) fn stored_client_configuration(ctx: &mut Ctx<'_>, first_client: bool) -> Flow {
    if first_client {
        ctx.log.must_ok(
            "StoreOriginalClientConfiguration",
            &[],
            Ok("the client template of the runner configuration".into()),
        )?;
    }
    ctx.log.must_ok(
        "ExtractClientNameFromStoredConfig",
        &[],
        Ok("no client_name configured: one is made per module".into()),
    )?;
    let r = if ctx.cfg.registration_token.is_some() {
        Ok("initial access token configured".to_string())
    } else {
        Ok("no initial access token configured".to_string())
    };
    ctx.log
        .must_ok("ExtractInitialAccessTokenFromStoredConfig", &[], r)
}

fn client_name(run: &Run) -> String {
    format!(
        "OIDF Conformance Test {}-{}",
        run.module,
        jose::random_value(6)
    )
}

/// The key a client of `template` registers: its file, without or with a thumbprint `kid`.
fn load_key(ctx: &mut Ctx<'_>, template: &Client, with_kid: bool) -> Flow<ClientKey> {
    let r = template
        .signing_key
        .as_ref()
        .ok_or("the client template has no signing_key".to_string())
        .and_then(|k| reg::client_key(k, with_kid))
        .map(|k| {
            let s = format!("RSA key from {}", k.signing.file.display());
            (k, s)
        });
    ctx.log.must("LoadClientKey", &[], r)
}

/// Serves `key`'s public set at `uri` (the suite's `client1_jwks` path).
fn serve_jwks(ctx: &mut Ctx<'_>, uri: &str, key: &ClientKey) -> Flow {
    let body = json!({ "keys": [key.public_jwk.clone()] }).to_string();
    let r = rp_server::publish_as(uri, "application/json", &body)
        .map(|()| format!("serving the client's public keys at {uri}"));
    ctx.log.must_ok("ServeClientJwks", &[], r)
}

/// Builds, sends and checks one client's registration; `ctx.client` becomes that client
/// (client_id, redirect_uri, key) and the registration request is returned.
async fn register_client(
    ctx: &mut Ctx<'_>,
    run: &mut Run,
    template: &Client,
    spec: &Spec,
) -> Flow<Value> {
    let mut redirect_uri = template.redirect_uri.clone();
    if spec.redirect_query {
        redirect_uri = with_query(&redirect_uri, "bar", "foo", false);
        ctx.log.must_ok(
            "AddQueryToRedirectUri",
            &[],
            Ok(format!("redirect_uri {redirect_uri}")),
        )?;
    }
    let key = load_key(ctx, template, spec.jwks_uri)?;
    let placement = if spec.jwks_uri {
        let uri = ctx.log.must(
            "CreateJwksUri",
            &[],
            rp_document_url(ctx, "client1_jwks").map(|u| (u.clone(), u)),
        )?;
        serve_jwks(ctx, &uri, &key)?;
        KeyPlacement::JwksUri(uri)
    } else {
        KeyPlacement::Jwks
    };
    let name = client_name(run);
    let mut req = reg::create_request(ctx, &key, &placement, &redirect_uri, &name)?;
    if spec.refresh_grant {
        reg::add_grant_type(ctx, &mut req, "refresh_token")?;
    }
    if spec.second_redirect_uri {
        req["redirect_uris"] = json!([redirect_uri, "https://example.org/redirect"]);
        ctx.log.must_ok(
            "AddMultipleRedirectUriToDynamicRegistrationRequest",
            &[],
            Ok(format!("redirect_uris {}", req["redirect_uris"])),
        )?;
    }
    let mut request_uri = None;
    if spec.request_uri {
        let r = rp_document_url(ctx, &format!("requesturi/{}", jose::random_value(32))).map(|u| {
            let full = format!("{u}#{}", jose::sha256_b64(&jose::random_value(32)));
            (full.clone(), full)
        });
        let uri = ctx
            .log
            .must("CreateRandomRequestUriWithFragment", &["OIDCC-6.2"], r)?;
        req["request_uris"] = json!([uri]);
        ctx.log.must_ok(
            "AddRequestUriToDynamicRegistrationRequest",
            &[],
            Ok(format!("request_uris [{uri}]")),
        )?;
        request_uri = Some(uri);
    }
    for (condition, requirement, member, value) in &spec.members {
        req[*member] = value.clone();
        let reqs: &[&str] = if requirement.is_empty() {
            &[]
        } else {
            std::slice::from_ref(requirement)
        };
        ctx.log
            .must_ok(condition, reqs, Ok(format!("{member}: {value}")))?;
    }
    let registered = reg::register(ctx, &req).await?;
    run.registered.push(registered.clone());
    let mut client = template.clone();
    client.client_id = registered["client_id"].as_str().unwrap_or_default().into();
    client.client_secret = registered["client_secret"].as_str().map(str::to_string);
    client.redirect_uri = redirect_uri;
    client.request_uri = request_uri;
    client.signing_key = Some(key.signing);
    ctx.client = client;
    Ok(req)
}

/// completeClientConfiguration for private_key_jwt with discovery.
fn complete_client_configuration(ctx: &mut Ctx<'_>, offline_access: bool) -> Flow {
    if offline_access {
        ctx.scope = "openid offline_access".into();
        ctx.log.must_ok(
            "SetScopeInClientConfigurationToOpenIdOfflineAccess",
            &[],
            Ok("scope: openid offline_access, so that a refresh token is issued".into()),
        )?;
    } else {
        ctx.scope = "openid".into();
        ctx.log.must_ok(
            "SetScopeInClientConfigurationToOpenId",
            &[],
            Ok("scope: openid".into()),
        )?;
    }
    let r = match json_array_strings(&ctx.server["token_endpoint_auth_methods_supported"]) {
        None => Err("Only default auth method supported".to_string()),
        Some(l) if l.iter().any(|m| m == "private_key_jwt") => {
            Ok("Found supported private_key_jwt method".into())
        }
        Some(_) => {
            Err("private_key_jwt is not listed as a supported client authentication method".into())
        }
    };
    ctx.log.check(
        "EnsureServerConfigurationSupportsPrivateKeyJwt",
        Failure,
        &[],
        r,
    );
    Ok(())
}

/// AbstractOIDCCServerTest.configure with DYNAMIC_CLIENT: the server, then the client
/// registered with the module's additions. Returns the registration request.
async fn configure_dynamic(ctx: &mut Ctx<'_>, run: &mut Run, spec: &Spec) -> Flow<Value> {
    configure_server(ctx).await?;
    stored_client_configuration(ctx, true)?;
    let template = ctx.client.clone();
    let req = register_client(ctx, run, &template, spec).await?;
    complete_client_configuration(ctx, spec.offline_access)?;
    ctx.log.must_ok(
        "SetProtectedResourceUrlToUserInfoEndpoint",
        &[],
        Ok("the UserInfo endpoint".into()),
    )?;
    Ok(req)
}

/// AbstractOIDCCDynamicRegistrationTest.configure: discovery and the stored client
/// configuration, no keys.
async fn configure_registration_test(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Configure");
    ctx.log.must_ok(
        "CreateRedirectUri",
        &[],
        Ok(format!("redirect_uri {}", ctx.client.redirect_uri)),
    )?;
    get_dynamic_server_configuration(ctx).await?;
    check_server_configuration(ctx)?;
    stored_client_configuration(ctx, true)
}

/// `uri` with `name=value` added to its query (`replace`: instead of its query).
fn with_query(uri: &str, name: &str, value: &str, replace: bool) -> String {
    match Url::parse(uri) {
        Ok(mut u) => {
            if replace {
                u.set_query(None);
            }
            u.query_pairs_mut().append_pair(name, value);
            u.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

// ---- ID token and UserInfo signing -------------------------------------------------------

/// oidcc-idtoken-rs256 (OIDCCIdTokenRS256).
async fn idtoken_rs256(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        members: vec![(
            "AddIdTokenSigningAlgRS256ToDynamicRegistrationRequest",
            "",
            "id_token_signed_response_alg",
            json!("RS256"),
        )],
        ..Spec::default()
    };
    let registration = configure_dynamic(ctx, run, &spec).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    exchange_code(ctx).await?;
    // OIDCCIdTokenRS256.performIdTokenValidation, before the standard checks in the suite.
    let header = ensure_id_token_contains_kid(ctx);
    let wanted = registration["id_token_signed_response_alg"]
        .as_str()
        .unwrap_or_default();
    let r = match header["alg"].as_str() {
        None | Some("") => Err("alg not present in ID token header".into()),
        Some(a) if a == wanted => Ok(format!("ID token was signed with \"{wanted}\" as expected")),
        Some(a) => Err(format!(
            "ID token signature algorithm is not \"{wanted}\": {a}"
        )),
    };
    ctx.log.check(
        "CheckIdTokenSignatureAlgorithm",
        Failure,
        &["OIDCC-3.1.3.7"],
        r,
    );
    request_protected_resource(ctx).await
}

/// oidcc-idtoken-unsigned (OIDCCIdTokenUnsigned): skipTestIfSigningAlgorithmNotSupported runs
/// before the client is registered.
async fn idtoken_unsigned(ctx: &mut Ctx<'_>) -> Flow {
    configure_server(ctx).await?;
    let algs = json_array_strings(&ctx.server["id_token_signing_alg_values_supported"]);
    let r = match algs {
        None => Err("'id_token_signing_alg_values_supported' is null".to_string()),
        Some(a) if a.iter().any(|x| x == "none") => {
            Ok("'id_token_signing_alg_values_supported' contain 'none' algorithm".into())
        }
        Some(_) => {
            Err("'id_token_signing_alg_values_supported' doesn't contain 'none' algorithm'".into())
        }
    };
    if ctx.log.check(
        "OIDCCCheckIdTokenSigningAlgValuesSupportedAlgNone",
        Info,
        &[],
        r,
    ) {
        return ctx.log.must_ok(
            "AddIdTokenSigningAlgNoneToDynamicRegistrationRequest",
            &[],
            Err(
                "unsigned ID tokens are advertised, but this runner does not register for them"
                    .into(),
            ),
        );
    }
    Err(ctx.log.skip("The discovery endpoint 'id_token_signing_alg_values_supported' doesn't support 'none' algorithm; this cannot be tested (which is acceptable for certification, servers are not required to support 'none'"))
}

/// oidcc-userinfo-rs256 (OIDCCUserInfoRS256).
async fn userinfo_rs256(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        members: vec![(
            "AddUserinfoSignedResponseAlgRS256ToDynamicRegistrationRequest",
            "OIDCR-2",
            "userinfo_signed_response_alg",
            json!("RS256"),
        )],
        ..Spec::default()
    };
    configure_dynamic(ctx, run, &spec).await?;
    let algs = json_array_strings(&ctx.server["userinfo_signing_alg_values_supported"]);
    let r = match algs {
        None => Err("userinfo_signing_alg_values_supported is missing or not an array".to_string()),
        Some(a) if a.iter().any(|x| x == "RS256") => {
            Ok(format!("userinfo_signing_alg_values_supported: {a:?}"))
        }
        Some(_) => Err("RS256 is not listed in userinfo_signing_alg_values_supported".into()),
    };
    ctx.log.check(
        "CheckDiscEndpointUserinfoSigningAlgValuesSupportedContainsRS256",
        Failure,
        &["OIDCD-3"],
        r,
    );
    code_flow(ctx, &Req::default()).await?;
    let resp = call_userinfo(ctx, false, "CallUserInfoEndpoint").await?;
    ensure_status(ctx, &resp, 200, "EnsureHttpStatusCodeIs200", Failure);
    let ct = resp.content_type.split(';').next().unwrap_or("").trim();
    let r = if ct.eq_ignore_ascii_case("application/jwt") {
        Ok("Content-Type is application/jwt".into())
    } else {
        Err(format!(
            "Content-Type is '{}', expected application/jwt",
            resp.content_type
        ))
    };
    ctx.log.check(
        "EnsureContentTypeApplicationJwt",
        Failure,
        &["OIDCC-5.3.2"],
        r,
    );
    let decoded = jose::decode(resp.body.trim());
    let r = decoded
        .as_ref()
        .map_err(|e| e.clone())
        .and_then(|jws| jws.verify(&ctx.server_jwks));
    ctx.log.check(
        "ValidateUserInfoResponseSignature",
        Failure,
        &["OIDCC-5.3.2"],
        r,
    );
    let r = decoded.map(|jws| {
        let s = "Found and parsed the userinfo from userinfo_endpoint_response_full".to_string();
        (jws, s)
    });
    let jws = ctx
        .log
        .must("ExtractSignedUserInfoFromUserInfoEndpointResponse", &[], r)?;
    let r = if jws.alg() == "RS256" {
        Ok("userinfo response is signed with RS256".into())
    } else {
        Err(format!(
            "userinfo response must be signed with RS256 as requested in the client registration: {}",
            jws.alg()
        ))
    };
    ctx.log
        .check("ValidateUserInfoSigningAlgIsRS256", Failure, &[], r);
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let r = signed_userinfo_claims(&jws.claims, &issuer, &ctx.client.client_id);
    ctx.log.check(
        "ValidateSignedUserInfoResponseStandardJWTClaims",
        Warning,
        &["OIDCC-5.3.2"],
        r,
    );
    let mut userinfo = jws.claims.clone();
    if let Some(o) = userinfo.as_object_mut() {
        for c in ["iss", "aud", "exp", "nbf", "iat", "jti"] {
            o.remove(c);
        }
    }
    let r = if userinfo.get("nonce").is_some() {
        Err(
            "The signed userinfo response contains 'nonce'; it may be mistaken for an id_token"
                .into(),
        )
    } else {
        Ok("userinfo response does not contain 'nonce' and hence cannot be confused with an id_token.".into())
    };
    ctx.log.check(
        "EnsureUserInfoDoesNotContainNonce",
        Failure,
        &["OIDCC-5.3.2", "OIDCC-5.1"],
        r,
    );
    // AbstractOIDCCUserInfoTest.validateExtractedUserInfoResponse
    ctx.log.check(
        "ValidateUserInfoStandardClaims",
        Failure,
        &["OIDCC-5.1"],
        standard_claims_valid(&userinfo, false),
    );
    let r = match userinfo["sub"].as_str() {
        Some(s) if !s.is_empty() => Ok(format!("sub {s}")),
        _ => Err("UserInfo has no sub".into()),
    };
    ctx.log
        .check("EnsureUserInfoContainsSub", Failure, &["OIDCC-5.3.2"], r);
    ctx.log.check(
        "EnsureUserInfoUpdatedAtValid",
        Failure,
        &["OIDCC-5.1"],
        updated_at_valid(&userinfo),
    );
    let r = match userinfo.get("_claim_names") {
        None => Ok("no aggregated or distributed claims".to_string()),
        Some(_) => Err("aggregated or distributed claims are not expected here".to_string()),
    };
    ctx.log.check(
        "EnsureMemberValuesInClaimNameReferenceToMemberNamesInClaimSources",
        Failure,
        &["OIDCC-5.6.2"],
        r,
    );
    Ok(())
}

/// ValidateSignedUserInfoResponseStandardJWTClaims: iss and aud required; exp, iat and nbf
/// valid when present (5 minutes of skew).
fn signed_userinfo_claims(claims: &Value, issuer: &str, client_id: &str) -> Check {
    let now = now();
    let skew = 300;
    match claims["iss"].as_str() {
        None => return Err("Missing issuer".into()),
        Some(i) if i != issuer => {
            return Err(format!("Issuer mismatch: expected {issuer}, actual {i}"))
        }
        _ => {}
    }
    match &claims["aud"] {
        Value::Null => return Err("Missing audience".into()),
        Value::String(s) if s == client_id => {}
        Value::Array(a) if a.iter().any(|x| x == client_id) => {}
        Value::String(_) | Value::Array(_) => {
            return Err(format!(
                "Audience mismatch: expected {client_id}, actual {}",
                claims["aud"]
            ))
        }
        _ => return Err("'aud' is neither a string nor an array".into()),
    }
    if let Some(exp) = claims["exp"].as_i64() {
        if exp < now - skew {
            return Err("response expired".into());
        }
        if exp > now + 50 * 365 * 86400 {
            return Err("'exp' is unreasonably far in the future (more than 50 years)".into());
        }
    }
    if let Some(iat) = claims["iat"].as_i64() {
        if iat > now + skew {
            return Err("response issued in the future".into());
        }
        if iat < now - 86400 {
            return Err("'iat' is more than 1 day in the past".into());
        }
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + skew) {
        return Err("response has future not-before".into());
    }
    Ok("Signed userinfo response iss and aud claims passed validation checks. If present, exp, iat and nbf are also valid.".into())
}

// ---- redirect URIs ---------------------------------------------------------------------------

/// The browser visits the authorization URL watching for `watch`; what it saw, or a FAILURE.
async fn visit_watching(ctx: &mut Ctx<'_>, watch: &str) -> Flow<Visit> {
    let url = authorization_url(ctx)?;
    let user = ctx.cfg.user.clone();
    let r = ctx.browser.visit(url, watch, Some(&user)).await;
    ctx.log.must(
        "performRedirect",
        &[],
        r.map(|v| (v, "browser visit".to_string())),
    )
}

/// A module expecting an error page for a bad redirect_uri (the suite's placeholder): a
/// redirect to the client is a FAILURE (`callback_failure`).
fn expect_redirect_error_page(
    ctx: &mut Ctx<'_>,
    v: &Visit,
    placeholder: &str,
    callback_condition: &str,
    callback_failure: &str,
) -> Flow {
    if let Landing::Callback { url, .. } = &v.landing {
        return ctx.log.must_ok(
            callback_condition,
            &[],
            Err(format!("{callback_failure} ({url})")),
        );
    }
    error_page_review(ctx, v, placeholder, &["OIDCC-3.1.2.1"]);
    Ok(())
}

/// oidcc-ensure-redirect-uri-in-authorization-request
/// (OIDCCEnsureRedirectUriInAuthorizationRequest).
async fn redirect_uri_missing(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        second_redirect_uri: true,
        ..Spec::default()
    };
    configure_dynamic(ctx, run, &spec).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    ctx.request.remove("redirect_uri");
    ctx.log.must_ok(
        "RemoveRedirectUriFromAuthorizationEndpointRequest",
        &[],
        Ok("redirect_uri removed".into()),
    )?;
    let watch = ctx.client.redirect_uri.clone();
    let v = visit_watching(ctx, &watch).await?;
    expect_redirect_error_page(
        ctx,
        &v,
        "ExpectRedirectUriMissingErrorPage",
        "AuthorizationEndpointRedirectedBackUnexpectedly",
        "Authorization server redirected back in a case where it should not",
    )
}

/// oidcc-redirect-uri-query-OK (OIDCCRedirectUriQueryOK): the whole flow with a registered
/// redirect_uri that has a query (kept in the redirect back: CheckMatchingCallbackParameters).
async fn redirect_uri_query_ok(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        redirect_query: true,
        ..Spec::default()
    };
    configure_dynamic(ctx, run, &spec).await?;
    code_flow(ctx, &Req::default()).await
}

const BAD_REDIRECT: &str = "The authorization server called the registered redirect uri. This should not have happened as the client provided a bad redirect_uri in the request.";

/// oidcc-redirect-uri-query-mismatch (OIDCCRedirectUriQueryMismatch): the client registered a
/// redirect URI with a query; the request changes that query.
async fn redirect_uri_query_mismatch(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        redirect_query: true,
        ..Spec::default()
    };
    redirect_uri_query_refused(
        ctx,
        run,
        &spec,
        "ReplaceRedirectUriQueryInAuthorizationRequest",
        true,
    )
    .await
}

/// oidcc-redirect-uri-query-added (OIDCCRedirectUriQueryAdded): the request adds a query to
/// the registered redirect URI.
async fn redirect_uri_query_added(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    redirect_uri_query_refused(
        ctx,
        run,
        &Spec::default(),
        "AddQueryToRedirectUriInAuthorizationRequest",
        false,
    )
    .await
}

/// The authorization request names the registered redirect URI with its query replaced (or
/// one added): the provider must show an error page, never redirect (OIDC Core §3.1.2.1).
async fn redirect_uri_query_refused(
    ctx: &mut Ctx<'_>,
    run: &mut Run,
    spec: &Spec,
    condition: &str,
    replace: bool,
) -> Flow {
    configure_dynamic(ctx, run, spec).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    let bad = with_query(&ctx.client.redirect_uri, "foo", "bar", replace);
    ctx.request.insert("redirect_uri".into(), bad.clone());
    ctx.log
        .must_ok(condition, &[], Ok(format!("redirect_uri {bad}")))?;
    let v = visit_watching(ctx, &bad).await?;
    expect_redirect_error_page(
        ctx,
        &v,
        "ExpectRedirectUriErrorPage",
        "processCallback",
        BAD_REDIRECT,
    )
}

/// A registration the provider must refuse: the answer is JSON, HTTP 400, with one of
/// `errors` (a WARNING otherwise, OIDCR-3.3).
fn expect_registration_error(
    ctx: &mut Ctx<'_>,
    resp: &crate::browser::Resp,
    condition: &str,
    errors: &[&str],
) {
    ctx.log.check(
        "EnsureContentTypeJson",
        Failure,
        &[],
        reg::content_type_json(resp),
    );
    ctx.log.check(
        "EnsureHttpStatusCodeIs400",
        Failure,
        &[],
        reg::status_is(resp, 400),
    );
    let body = resp.json().unwrap_or_default();
    let r = match body["error"].as_str() {
        None | Some("") => {
            Err("'error' field not found in response from dynamic registration endpoint".into())
        }
        Some(e) if errors.contains(&e) => Ok(format!(
            "Dynamic registration endpoint returned 'error': {e}"
        )),
        Some(e) => Err(format!(
            "'error' field has unexpected value: {e} (permitted: {errors:?})"
        )),
    };
    ctx.log.check(condition, Warning, &["OIDCR-3.3"], r);
}

/// oidcc-redirect-uri-regfrag (OIDCCRedirectUriRegFrag): a redirect_uri with a fragment must
/// be refused at registration (RFC 6749 §3.1.2).
async fn redirect_uri_regfrag(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    configure_registration_test(ctx).await?;
    let template = ctx.client.clone();
    let uri = format!("{}#foobar", template.redirect_uri);
    ctx.log.must_ok(
        "AddFragmentToRedirectUri",
        &[],
        Ok(format!("redirect_uri {uri}")),
    )?;
    let key = load_key(ctx, &template, false)?;
    let name = client_name(run);
    let req = reg::create_request(ctx, &key, &KeyPlacement::Jwks, &uri, &name)?;
    let resp = reg::call_endpoint(ctx, &req, &["RFC6749-3.1.2"]).await?;
    expect_registration_error(
        ctx,
        &resp,
        "CheckErrorFromDynamicRegistrationEndpointIsInvalidRedirectUriOrInvalidClientMetadata",
        &["invalid_redirect_uri", "invalid_client_metadata"],
    );
    Ok(())
}

// ---- registration metadata -------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Display {
    Logo,
    Policy,
    Tos,
}

/// oidcc-registration-logo-uri / -policy-uri / -tos-uri (OIDCCRegistrationLogoUri, ...): the
/// login page of a fresh browser must show the logo or link the document. The suite asks for
/// a screenshot; the runner checks the page's HTML for the element and records a REVIEW.
async fn registration_display(ctx: &mut Ctx<'_>, run: &mut Run, which: Display) -> Flow {
    configure_registration_test(ctx).await?;
    // The suite's base URL is the origin of its redirect_uri.
    let base = Url::parse(&ctx.client.redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let (create, uri, add, member, placeholder, element) = match which {
        Display::Logo => (
            "CreateLogoUri",
            format!("{base}/images/openid.png"),
            "AddLogoUriToDynamicRegistrationRequest",
            "logo_uri",
            "ExpectLoginPageWithLogo",
            "src",
        ),
        Display::Policy => (
            "CreatePolicyUri",
            format!("{base}/login.html"),
            "AddPolicyUriToDynamicRegistrationRequest",
            "policy_uri",
            "ExpectLoginPageWithPolicyLink",
            "href",
        ),
        Display::Tos => (
            "CreateTosUri",
            "https://openid.net".to_string(),
            "AddTosUriToDynamicRegistrationRequest",
            "tos_uri",
            "ExpectLoginPageWithTosLink",
            "href",
        ),
    };
    ctx.log
        .must_ok(create, &[], Ok(format!("{member} {uri}")))?;
    let template = ctx.client.clone();
    let spec = Spec {
        members: vec![(add, "", member, json!(uri))],
        ..Spec::default()
    };
    register_client(ctx, run, &template, &spec).await?;
    ctx.scope = "openid".into();
    ctx.log.must_ok(
        "SetScopeInClientConfigurationToOpenId",
        &[],
        Ok("scope: openid".into()),
    )?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    ctx.new_browser();
    let v = visit(ctx, false).await?;
    match &v.landing {
        Landing::Page { status, body, .. } if *status == 200 && v.login_pages > 0 => {
            let wanted = format!("{element}=\"{uri}\"");
            if body.contains(&wanted) {
                ctx.log.review(
                    placeholder,
                    &["OIDCR-2"],
                    format!("the login page (HTTP 200) has {wanted}"),
                );
                Ok(())
            } else {
                ctx.log.must_ok(
                    placeholder,
                    &["OIDCR-2"],
                    Err(format!(
                        "the login page does not show {member} ({wanted} not found)"
                    )),
                )
            }
        }
        Landing::Page { status, url, .. } => ctx.log.must_ok(
            placeholder,
            &["OIDCR-2"],
            Err(format!("no login page was shown: HTTP {status} at {url}")),
        ),
        Landing::Callback { query, .. } => {
            let r = match query.get("error") {
                Some(e) => Err(format!("authorization endpoint returned an error: {e}")),
                None => Err("redirected back without a login page in a fresh browser".into()),
            };
            ctx.log.must_ok("CheckIfAuthorizationEndpointError", &[], r)
        }
    }
}

/// oidcc-registration-jwks-uri (OIDCCRegistrationJwksUri): the client's keys at a jwks_uri the
/// runner serves, then the whole flow with private_key_jwt.
async fn registration_jwks_uri(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        jwks_uri: true,
        ..Spec::default()
    };
    configure_dynamic(ctx, run, &spec).await?;
    code_flow(ctx, &Req::default()).await
}

/// oidcc-registration-sector-uri / -sector-bad (OIDCCRegistrationSectorUri,
/// OIDCCRegistrationSectorBad): skipped unless discovery lists `pairwise`.
async fn registration_sector(ctx: &mut Ctx<'_>, run: &mut Run, good: bool) -> Flow {
    configure_registration_test(ctx).await?;
    let pairwise = json_array_strings(&ctx.server["subject_types_supported"])
        .is_some_and(|l| l.iter().any(|t| t == "pairwise"));
    if !pairwise {
        return Err(ctx
            .log
            .skip("Server configuration does not explicitly support pairwise subject type"));
    }
    let template = ctx.client.clone();
    let listed = if good {
        template.redirect_uri.clone()
    } else {
        "https://example.com/op".to_string()
    };
    ctx.log.must_ok(
        if good {
            "CreateSectorRedirectUris"
        } else {
            "CreateInvalidSectorRedirectUris"
        },
        &[],
        Ok(format!("sector redirect URIs [{listed}]")),
    )?;
    let r = rp_document_url(ctx, "redirect_uris.json").and_then(|u| {
        rp_server::publish_as(&u, "application/json", &json!([listed]).to_string())
            .map(|()| (u.clone(), u))
    });
    let sector = ctx.log.must("ServeSectorRedirectUris", &[], r)?;
    let key = load_key(ctx, &template, false)?;
    let name = client_name(run);
    let mut req = reg::create_request(
        ctx,
        &key,
        &KeyPlacement::Jwks,
        &template.redirect_uri,
        &name,
    )?;
    req["subject_type"] = json!("pairwise");
    ctx.log.must_ok(
        "AddSubjectTypePairwiseToDynamicRegistrationRequest",
        &[],
        Ok("subject_type pairwise".into()),
    )?;
    req["sector_identifier_uri"] = json!(sector);
    ctx.log.must_ok(
        "AddSectorIdentifierUriToDynamicRegistrationRequest",
        &[],
        Ok(format!("sector_identifier_uri {sector}")),
    )?;
    if good {
        let registered = reg::register(ctx, &req).await?;
        run.registered.push(registered);
        return ctx.log.must_ok(
            "SetScopeInClientConfigurationToOpenId",
            &[],
            Ok("scope: openid".into()),
        );
    }
    let resp = reg::call_endpoint(ctx, &req, &["OIDCR-5"]).await?;
    expect_registration_error(
        ctx,
        &resp,
        "CheckErrorFromDynamicRegistrationEndpointIsInvalidClientMetadata",
        &["invalid_client_metadata"],
    );
    Ok(())
}

// ---- key rotation ----------------------------------------------------------------------------

/// The keys of a JWK set the suite compares: `use` sig or no `use` (AbstractCompareJwks).
fn signing_keys(jwks: &Value) -> Vec<Value> {
    jwks["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
        .collect()
}

/// The public part of a key, as VerifyNewJwksHasNewSigningKey compares them.
fn public_part(k: &Value) -> Value {
    let names: &[&str] = match k["kty"].as_str() {
        Some("RSA") => &["kty", "n", "e", "kid"],
        Some("EC") => &["kty", "crv", "x", "y", "kid"],
        _ => &["kty", "kid"],
    };
    Value::Object(
        names
            .iter()
            .filter_map(|n| k.get(*n).map(|v| (n.to_string(), v.clone())))
            .collect(),
    )
}

/// VerifyNewJwksHasNewSigningKey (OIDCC-10.1.1).
fn new_signing_key(original: &[Value], latest: &[Value]) -> Check {
    let old: Vec<Value> = original.iter().map(public_part).collect();
    let new_keys: Vec<Value> = latest
        .iter()
        .map(public_part)
        .filter(|k| !old.contains(k))
        .collect();
    if new_keys.is_empty() {
        return Err("No new keys with 'use':'sig' (or no 'use') found".into());
    }
    for k in &new_keys {
        if original.iter().any(|o| o["kid"] == k["kid"]) {
            return Err(format!(
                "One of the new keys uses the same kid as one of the original keys: {}",
                k["kid"]
            ));
        }
        let field = match k["kty"].as_str() {
            Some("RSA") => "n",
            Some("EC") => "x",
            other => return Err(format!("unknown key type '{other:?}' found")),
        };
        if original.iter().any(|o| o.get(field) == k.get(field)) {
            return Err(format!(
                "One of the new keys uses the same {field} as one of the original keys"
            ));
        }
    }
    Ok(format!("Found {} new keys", new_keys.len()))
}

/// Fetches and checks the server's keys (OIDCCServerRotateKeys.fetchAndValidateJwks).
async fn fetch_and_validate_jwks(ctx: &mut Ctx<'_>) -> Flow<Value> {
    fetch_server_keys(ctx).await?;
    // Here CheckServerKeysIsValid is a FAILURE, where the other modules make it a WARNING.
    check_server_jwks_as(ctx, Failure);
    Ok(ctx.server_jwks.clone())
}

/// Runs `rotate_keys_command` (the operator rotating the provider's keys, as the suite asks
/// the tester to: TellUserToRotateOpKeys).
async fn rotate_provider_keys(ctx: &mut Ctx<'_>) -> Flow {
    let r = match ctx
        .cfg
        .rotate_keys_command
        .clone()
        .filter(|c| !c.is_empty())
    {
        None => Err(
            "no rotate_keys_command configured: the provider's keys cannot be rotated".to_string(),
        ),
        Some(argv) => {
            let run = argv.clone();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new(&run[0]).args(&run[1..]).output()
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| format!("{}: {e}", argv[0])))
            .and_then(|out| {
                if out.status.success() {
                    Ok(format!("ran {}", argv.join(" ")))
                } else {
                    Err(format!(
                        "{} failed ({}): {}",
                        argv.join(" "),
                        out.status,
                        String::from_utf8_lossy(&out.stderr)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    ))
                }
            })
        }
    };
    ctx.log.must_ok("TellUserToRotateOpKeys", &[], r)
}

/// oidcc-server-rotate-keys (OIDCCServerRotateKeys): the keys before and after a rotation.
async fn server_rotate_keys(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Configure");
    get_dynamic_server_configuration(ctx).await?;
    check_server_configuration(ctx)?;
    ctx.log.block("Fetch & validate current server keys");
    let original = fetch_and_validate_jwks(ctx).await?;
    rotate_provider_keys(ctx).await?;
    // The provider publishes the new keys within its key watcher's period: wait for the set to
    // change, as the tester would before pressing 'Start'.
    let url = ctx.server_str("jwks_uri").unwrap_or_default();
    for _ in 0..30 {
        let now = browser::send(ctx.back.get(&url))
            .await
            .ok()
            .and_then(|r| r.json());
        if now.as_ref().is_some_and(|n| n["keys"] != original["keys"]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    ctx.log.block("Fetch & validate new server keys");
    let latest = fetch_and_validate_jwks(ctx).await?;
    let (original, latest) = (signing_keys(&original), signing_keys(&latest));
    ctx.log.check(
        "VerifyNewJwksHasNewSigningKey",
        Failure,
        &["OIDCC-10.1.1"],
        new_signing_key(&original, &latest),
    );
    let r = if original.iter().any(|k| latest.contains(k)) {
        Ok("Some keys are in both the old and new JWKS".into())
    } else {
        Err("None of the previous present keys (with 'use':'sig' or no 'use') are still present. The JWK Set document at the jwks_uri SHOULD retain recently decommissioned signing keys.".into())
    };
    ctx.log.check(
        "VerifyNewJwksStillHasOldSigningKey",
        Warning,
        &["OIDCC-10.1.1"],
        r,
    );
    Ok(())
}

/// The second template client (its key), as the run configuration gives it.
fn second_template(ctx: &mut Ctx<'_>) -> Flow<Client> {
    let r = ctx
        .client2()
        .map(|c| (c, format!("the client template '{}_2'", ctx.role)));
    ctx.log.must("StoreOriginalClient2Configuration", &[], r)
}

/// oidcc-refresh-token-rp-key-rotation (OIDCCRefreshTokenRPKeyRotation): after the code
/// flow the client replaces the key at its jwks_uri (a new kid), waits as the suite does
/// (WaitForJWKSRefreshDelay, 60 s), and refreshes with an assertion signed by the new key.
async fn refresh_token_rp_key_rotation(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        jwks_uri: true,
        refresh_grant: true,
        offline_access: true,
        ..Spec::default()
    };
    let registration = configure_dynamic(ctx, run, &spec).await?;
    let jwks_uri = registration["jwks_uri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ctx.log.block("Make request to authorization endpoint");
    let req = Req {
        extra: vec![("prompt".into(), "consent".into())],
        ..Req::default()
    };
    ctx.log.must_ok(
        "AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess",
        &["OIDCC-11"],
        Ok("prompt=consent".into()),
    )?;
    create_authorization_request(ctx, &req)?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    exchange_code(ctx).await?;
    ctx.log.block("Cycling keys in RP jwks_uri");
    let second = second_template(ctx)?;
    let key = load_key(ctx, &second, true)?;
    serve_jwks(ctx, &jwks_uri, &key)?;
    ctx.client.signing_key = Some(key.signing);
    ctx.log.block(
        "Waiting, so that any DoS limits on retrieving the jwks_uri too often are not triggered",
    );
    ctx.log.must_ok(
        "WaitForJWKSRefreshDelay",
        &[],
        Ok("waiting 60 seconds".into()),
    )?;
    tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    ctx.log.block("");
    let rt = ctx.refresh_token.clone();
    let rt = ctx.log.must(
        "ExtractRefreshTokenFromTokenResponse",
        &[],
        rt.map(|t| (t, "Extracted refresh token from response".to_string()))
            .ok_or("Token endpoint response does not contain a refresh token".to_string()),
    )?;
    let grants = json_array_strings(&ctx.server["grant_types_supported"]).unwrap_or_default();
    let r = if grants.iter().any(|g| g == "refresh_token") {
        Ok("refresh_token in grant_types_supported".into())
    } else {
        Err("grant_types_supported does not list refresh_token".into())
    };
    ctx.log.check(
        "EnsureServerConfigurationSupportsRefreshToken",
        Warning,
        &["OIDCD-3"],
        r,
    );
    let r = if !rt.is_empty() && rt.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Ok("VSCHAR only".into())
    } else {
        Err("refresh token has characters outside %x20-7E".into())
    };
    ctx.log.check(
        "EnsureRefreshTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.17"],
        r,
    );
    oidcc::refresh(ctx, "").await?;
    request_protected_resource(ctx).await
}

// ---- request objects -------------------------------------------------------------------------

/// CheckDiscEndpointRequestUriParameterSupported (AbstractOIDCCRequestUriServerTest.onConfigure).
fn check_request_uri_parameter_supported(ctx: &mut Ctx<'_>) {
    let r = match ctx.server["request_uri_parameter_supported"].as_bool() {
        None => Ok("request_uri_parameter_supported absent: defaults to true".into()),
        Some(true) => Ok("request_uri_parameter_supported is true".into()),
        Some(false) => Err("request_uri_parameter_supported is false".into()),
    };
    ctx.log.check(
        "CheckDiscEndpointRequestUriParameterSupported",
        Failure,
        &["OIDCD-3"],
        r,
    );
}

/// skipTestIfNoneUnsupported: skipped when discovery lists request object algorithms
/// without `none`.
fn skip_if_none_unsupported(ctx: &mut Ctx<'_>) -> Flow {
    if let Some(algs) =
        json_array_strings(&ctx.server["request_object_signing_alg_values_supported"])
    {
        if !algs.iter().any(|a| a == "none") {
            return Err(ctx.log.skip("'none' is not listed in request_object_signing_alg_values_supported - assuming it is not supported."));
        }
    }
    ctx.log.must_ok(
        "SerializeRequestObjectWithNullAlgorithm",
        &[],
        Err("unsigned request objects are advertised, but this runner does not send them".into()),
    )
}

/// oidcc-request-uri-unsigned (OIDCCRequestUriUnsigned): the client is registered with its
/// request_uri, then the module is skipped unless `none` is advertised.
async fn request_uri_unsigned(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        request_uri: true,
        ..Spec::default()
    };
    configure_dynamic(ctx, run, &spec).await?;
    check_request_uri_parameter_supported(ctx);
    skip_if_none_unsupported(ctx)
}

/// oidcc-ensure-request-object-with-redirect-uri (OIDCCEnsureRequestObjectWithRedirectUri):
/// by value and unsigned, so skipped unless `none` is advertised.
async fn request_object_with_redirect_uri(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    configure_dynamic(ctx, run, &Spec::default()).await?;
    skip_if_none_unsupported(ctx)
}

/// oidcc-request-uri-signed-rs256 (OIDCCRequestUriSignedRS256).
async fn request_uri_signed_rs256(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        request_uri: true,
        members: vec![(
            "AddRequestObjectSigningAlgRS256ToDynamicRegistrationRequest",
            "",
            "request_object_signing_alg",
            json!("RS256"),
        )],
        ..Spec::default()
    };
    configure_dynamic(ctx, run, &spec).await?;
    check_request_uri_parameter_supported(ctx);
    let algs = json_array_strings(&ctx.server["request_object_signing_alg_values_supported"]);
    let r = if algs.is_some_and(|a| a.iter().any(|x| x == "RS256")) {
        Ok("RS256 is listed in request_object_signing_alg_values_supported".into())
    } else {
        Err("RS256 is not listed in request_object_signing_alg_values_supported".into())
    };
    ctx.log.check(
        "CheckDiscEndpointRequestObjectSigningAlgValuesSupportedContainsRS256",
        Failure,
        &["OIDCD-3"],
        r,
    );
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    signed_request_object_by_reference(ctx)?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    exchange_code(ctx).await?;
    request_protected_resource(ctx).await
}

/// The parameters BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint repeats outside
/// the object.
const REQUIRED_DUPLICATES: [&str; 4] = ["response_type", "client_id", "scope", "redirect_uri"];

/// ConvertAuthorizationEndpointRequestToRequestObject, AddAudToRequestObject,
/// AddIssToRequestObject, SignRequestObject (the client's key, no `typ`), the runner serving
/// it at the registered request_uri, and the redirect by reference.
fn signed_request_object_by_reference(ctx: &mut Ctx<'_>) -> Flow {
    let mut claims = serde_json::Map::new();
    for (k, v) in &ctx.request {
        claims.insert(k.clone(), Value::String(v.clone()));
    }
    ctx.log.must_ok(
        "ConvertAuthorizationEndpointRequestToRequestObject",
        &[],
        Ok(format!("request object with {} claims", claims.len())),
    )?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    claims.insert("aud".into(), json!(issuer));
    ctx.log.must_ok(
        "AddAudToRequestObject",
        &["OIDCC-6.1"],
        Ok(format!("aud {issuer}")),
    )?;
    let client_id = ctx.client.client_id.clone();
    claims.insert("iss".into(), json!(client_id));
    ctx.log.must_ok(
        "AddIssToRequestObject",
        &["OIDCC-6.1"],
        Ok(format!("iss {client_id}")),
    )?;
    let r = ctx
        .signer()
        .and_then(|s| s.sign(json!({}), &Value::Object(claims)))
        .map(|jwt| (jwt, "Signed the request object (RS256)".to_string()));
    let jwt = ctx.log.must("SignRequestObject", &[], r)?;
    let r = ctx
        .client
        .request_uri
        .clone()
        .ok_or("the client has no request_uri".to_string())
        .and_then(|uri| rp_server::publish_as(&uri, "application/jwt", &jwt).map(|()| uri));
    let uri = ctx.log.must(
        "ServeRequestObject",
        &[],
        r.map(|u| (u.clone(), format!("request object at {u}"))),
    )?;
    let mut outside: BTreeMap<String, String> = ctx
        .request
        .iter()
        .filter(|(k, _)| REQUIRED_DUPLICATES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    outside.insert("request_uri".into(), uri);
    ctx.request = outside;
    ctx.redirect_builder = "BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint";
    Ok(())
}

// ---- refresh tokens and client assertions ----------------------------------------------------

/// oidcc-refresh-token (OIDCCRefreshToken) with two registered clients.
async fn refresh_token(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    let spec = Spec {
        refresh_grant: true,
        ..Spec::default()
    };
    configure_dynamic(ctx, run, &spec).await?;
    let first = ctx.client.clone();
    let template2 = second_template(ctx)?;
    ctx.log.block("Second client: Configure");
    register_client(ctx, run, &template2, &spec).await?;
    complete_client_configuration(ctx, false)?;
    let second = std::mem::replace(&mut ctx.client, first);
    oidcc::refresh_token_flows(ctx, second).await
}

/// oidcc-ensure-client-assertion-with-iss-aud-succeeds
/// (OIDCCEnsureClientAssertionWithIssAudSucceeds): the assertion's `aud` is the issuer; the
/// provider should accept it (a WARNING if it answers `invalid_client` properly instead).
async fn client_assertion_iss_aud(ctx: &mut Ctx<'_>, run: &mut Run) -> Flow {
    configure_dynamic(ctx, run, &Spec::default()).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    ctx.log.block("Token endpoint");
    create_code_request(ctx);
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let claims = client_assertion_claims(ctx, json!(issuer));
    ctx.log.must_ok(
        "UpdateClientAuthenticationAssertionClaimsWithISSAud",
        &[],
        Ok(format!("aud {issuer}")),
    )?;
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let form = ctx.token_form.clone();
    let r = post_with_client_auth(ctx, &url, &form, AuthOverride::Assertion(claims), &[]).await;
    let resp = ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &[],
        r.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        }),
    )?;
    ctx.token_response = Some(resp.clone());
    let body = resp.json().unwrap_or_default();
    let Some(error) = body["error"].as_str().filter(|e| !e.is_empty()) else {
        ctx.log.must_ok(
            "CheckIfTokenEndpointResponseError",
            &[],
            Ok("no error".into()),
        )?;
        accept_token_response(ctx, &body)?;
        id_token_checks(ctx);
        return Ok(());
    };
    ctx.log.check(
        "CheckIfTokenEndpointResponseError",
        Warning,
        &[],
        Err(format!("token endpoint error: {body}")),
    );
    let r = if resp.content_type.starts_with("application/json") {
        Ok("application/json".into())
    } else {
        Err(format!("Content-Type '{}'", resp.content_type))
    };
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["OIDCC-3.1.3.4"],
        r,
    );
    let codes = [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ];
    let r = if codes.contains(&error) {
        Ok(format!("error {error}"))
    } else {
        Err(format!("'{error}' is not an RFC 6749 §5.2 error code"))
    };
    ctx.log.check(
        "ValidateErrorFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    let description = body["error_description"].as_str().unwrap_or_default();
    let r = if description.contains(['\r', '\n', '\t']) {
        Err("error_description contains CR, LF or TAB".into())
    } else {
        Ok("error_description has no CR, LF or TAB".into())
    };
    ctx.log.check(
        "CheckErrorDescriptionFromTokenEndpointResponseErrorContainsCRLFTAB",
        Warning,
        &["RFC6749-5.2"],
        r,
    );
    let r = if description
        .bytes()
        .all(|b| b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
    {
        Ok("error_description characters are valid".into())
    } else {
        Err("error_description has characters outside %x20-21 / %x23-5B / %x5D-7E".into())
    };
    ctx.log.check(
        "ValidateErrorDescriptionFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    let r = match body.get("error_uri").and_then(Value::as_str) {
        None => Ok("no error_uri".into()),
        Some(u) if Url::parse(u).is_ok() => Ok(format!("error_uri {u}")),
        Some(u) => Err(format!("error_uri is not a valid URI: {u}")),
    };
    ctx.log.check(
        "ValidateErrorUriFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    let r = match (error, resp.status) {
        ("invalid_client", 400 | 401) | (_, 400) => Ok(format!(
            "Token endpoint http status code was {} for error '{error}'",
            resp.status
        )),
        _ => Err(format!("HTTP {} for error '{error}'", resp.status)),
    };
    ctx.log.check(
        "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    let r = if error == "invalid_client" {
        Ok("invalid_client".into())
    } else {
        Err(format!("expected invalid_client, got {error}"))
    };
    ctx.log.check(
        "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    Ok(())
}
