//! The request object passed by reference (AbstractOIDCCRequestUriServerTest): the module
//! converts its authorization request into a request object, publishes it on the runner's own
//! server at the client's registered `request_uri`, and sends only `request_uri` plus the
//! duplicates OAuth requires (BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint).

use super::*;
use crate::rp_server;

/// The role of the client registered with `request_uris` and `jwks`.
const CLIENT_ROLE: &str = "request_uri";

/// The parameters BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint repeats outside
/// the object (OIDC Core §6.1: response_type, client_id, scope; RFC 6749 §3.1.2.3: redirect_uri).
const REQUIRED_DUPLICATES: [&str; 4] = ["response_type", "client_id", "scope", "redirect_uri"];

/// The client registered for request objects by reference, in place of the static one.
fn use_request_uri_client(ctx: &mut Ctx<'_>) -> Flow {
    let r = ctx
        .cfg
        .client(CLIENT_ROLE)
        .map(|c| (c.clone(), format!("client_id {}", c.client_id)));
    ctx.client = ctx.log.must("GetStaticClientConfiguration", &[], r)?;
    Ok(())
}

/// CheckDiscEndpointRequestUriParameterSupported.
fn check_request_uri_parameter_supported(ctx: &mut Ctx<'_>, severity: Outcome) {
    let r = match ctx.server["request_uri_parameter_supported"].as_bool() {
        // OIDC Discovery §3: the default is true.
        None => Ok("request_uri_parameter_supported absent: defaults to true".into()),
        Some(true) => Ok("request_uri_parameter_supported is true".into()),
        Some(false) => Err("request_uri_parameter_supported is false".into()),
    };
    ctx.log.check(
        "CheckDiscEndpointRequestUriParameterSupported",
        severity,
        &["OIDCD-3"],
        r,
    );
}

/// ConvertAuthorizationEndpointRequestToRequestObject, AddAudToRequestObject,
/// AddIssToRequestObject, SignRequestObject, publishing at the request_uri, and
/// BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint (through `visit`).
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
    claims.insert("aud".into(), Value::String(issuer.clone()));
    ctx.log.must_ok(
        "AddAudToRequestObject",
        &["OIDCC-6.1"],
        Ok(format!("aud {issuer}")),
    )?;
    claims.insert("iss".into(), Value::String(ctx.client.client_id.clone()));
    ctx.log.must_ok(
        "AddIssToRequestObject",
        &["OIDCC-6.1"],
        Ok(format!("iss {}", ctx.client.client_id)),
    )?;
    let key = ctx
        .cfg
        .rp_rsa_key_file
        .as_ref()
        .ok_or("no rp_rsa_key_file configured".to_string())
        .and_then(|p| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display())));
    let kid = ctx.cfg.rp_kid.clone().unwrap_or_default();
    let r = key
        .and_then(|k| jose::sign_rs256(&k, &kid, &Value::Object(claims)))
        .map(|jwt| (jwt, format!("RS256, kid {kid}")));
    let jwt = ctx.log.must("SignRequestObject", &[], r)?;
    let r = ctx
        .client
        .request_uri
        .clone()
        .ok_or("the client has no request_uri configured".to_string())
        .and_then(|uri| rp_server::publish(&uri, &jwt).map(|()| (uri.clone(), uri)));
    let uri = ctx.log.must("CreateRandomRequestUri", &["OIDCC-6.2"], r)?;
    // Outside the object: request_uri and the duplicates OAuth requires; state and nonce only
    // inside it.
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

/// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: skipped unless
/// discovery lists `none` in request_object_signing_alg_values_supported (skipTestIfNoneUnsupported).
pub async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    ctx: &mut Ctx<'_>,
) -> Flow {
    use_request_uri_client(ctx)?;
    configure(ctx).await?;
    let algs = json_array_strings(&ctx.server["request_object_signing_alg_values_supported"]);
    if !algs.is_some_and(|a| a.iter().any(|x| x == "none")) {
        return Err(ctx.log.skip("'none' is not listed in request_object_signing_alg_values_supported - assuming it is not supported."));
    }
    ctx.log.must_ok(
        "SerializeRequestObjectWithNullAlgorithm",
        &[],
        Err("unsigned request objects are advertised, but this runner does not send them".into()),
    )
}

/// oidcc-request-uri-signed-rs256 (OIDCCRequestUriSignedRS256).
pub async fn oidcc_request_uri_signed_rs256(ctx: &mut Ctx<'_>) -> Flow {
    use_request_uri_client(ctx)?;
    configure(ctx).await?;
    check_request_uri_parameter_supported(ctx, Failure);
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
