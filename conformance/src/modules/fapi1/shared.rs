//! The flows the modules share, and the checks of refused requests.

use super::*;

/// The whole flow of AbstractFAPI1AdvancedFinalServerTestModule for the current client, up to
/// and including the resource request.
pub(super) async fn happy_flow(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks, extra: bool) -> Flow {
    let Arrival::Visit(v) = authorize(ctx, f, t).await? else {
        return Err(Stop);
    };
    arrive(ctx, f, &v, None)?;
    process_callback(ctx, f)?;
    successful_callback(ctx, f)?;
    redeem_code(ctx, f, TokenAuth::Default).await?;
    if extra && !f.second {
        // FAPI1AdvancedFinal.requestProtectedResource: the resource's TLS, probed twice as
        // the accounts request and accounts resource endpoints (both the resource here).
        for block in [
            "Accounts request endpoint TLS test",
            "Accounts resource endpoint TLS test",
        ] {
            let url = endpoint(ctx, "userinfo_endpoint");
            crate::tls_probe::endpoint_block(
                &mut ctx.log,
                block,
                url,
                crate::tls_probe::Ciphers::Fapi1,
                &["FAPI1-ADV-8.5-2"],
                Some("DisallowInsecureCipher"),
                true,
            )
            .await;
        }
    }
    request_protected_resource(ctx, f, extra).await
}

/// performAuthorizationFlowWithSecondClient: the redirect URI with a query, the second key.
pub(super) fn switch_to_second_client(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    f.second = true;
    ctx.log.block("Second client: Setup");
    let two = f.two.clone();
    use_party(ctx, &two);
    ctx.log.must_ok(
        "AddRedirectUriQuerySuffix",
        &["RFC6749-3.1.2"],
        Ok(format!("?{REDIRECT_QUERY_SUFFIX}")),
    )?;
    let r = if ctx.client.redirect_uri.ends_with(REDIRECT_QUERY_SUFFIX) {
        Ok(format!("redirect_uri {}", ctx.client.redirect_uri))
    } else {
        Err(format!(
            "the second client's redirect_uri must end with ?{REDIRECT_QUERY_SUFFIX}: {}",
            ctx.client.redirect_uri
        ))
    };
    ctx.log.must_ok("CreateRedirectUri", &["RFC6749-3.1.2"], r)
}

/// The error response checks of the negative modules: state, an error, no unexpected
/// parameters, and the error among `allowed`.
pub(super) fn error_response_checks(
    ctx: &mut Ctx<'_>,
    state_if_present: bool,
    cond: &str,
    severity: Outcome,
    reqs: &[&str],
    allowed: &[&str],
) {
    if state_if_present && !ctx.response.contains_key("state") {
        ctx.log.info(
            "CheckStateInAuthorizationResponse",
            "skipped: no state in the response",
        );
    } else {
        check_state(ctx);
    }
    ensure_error(ctx);
    unexpected_error_params(ctx);
    error_is_one_of(ctx, cond, severity, reqs, allowed);
}

pub(super) fn ensure_error(ctx: &mut Ctx<'_>) {
    let r = match ctx.response.get("error") {
        Some(e) if !e.is_empty() => Ok(format!("error: {e}")),
        _ => Err("no 'error' in the authorization endpoint response".into()),
    };
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Failure,
        &["OIDCC-3.1.2.6"],
        r,
    );
}

pub(super) fn unexpected_error_params(ctx: &mut Ctx<'_>) {
    let expected = [
        "error",
        "error_description",
        "error_uri",
        "state",
        "iss",
        "session_state",
    ];
    let extra: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| !expected.contains(&k.as_str()))
        .collect();
    let r = if extra.is_empty() {
        Ok("no unexpected parameters".into())
    } else {
        Err(format!("unexpected parameters {extra:?}"))
    };
    ctx.log.check(
        "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint",
        Warning,
        &["OIDCC-3.1.2.6"],
        r,
    );
}

pub(super) fn error_is_one_of(
    ctx: &mut Ctx<'_>,
    cond: &str,
    severity: Outcome,
    reqs: &[&str],
    allowed: &[&str],
) {
    let r = match ctx.response.get("error") {
        None => Err("Expected 'error' field not found".into()),
        Some(e) if allowed.contains(&e.as_str()) => Ok(format!(
            "Authorization endpoint returned an expected error: {e}"
        )),
        Some(e) => Err(format!(
            "'error' field has an unexpected value: {e} (expected one of {allowed:?})"
        )),
    };
    ctx.log.check(cond, severity, reqs, r);
}

pub(super) const INVALID_REQUEST: &[&str] = &["invalid_request"];
pub(super) const INVALID_REQUEST_OBJECT: &[&str] = &["invalid_request_object"];
pub(super) const INVALID_REQUEST_URI: &[&str] = &["invalid_request_uri"];
pub(super) const REQ_OBJ_URI_DENIED: &[&str] = &[
    "invalid_request",
    "invalid_request_object",
    "invalid_request_uri",
    "access_denied",
];
pub(super) const REQ_URI_DENIED: &[&str] =
    &["invalid_request", "invalid_request_uri", "access_denied"];
pub(super) const REQ_OBJ_URI: &[&str] = &[
    "invalid_request",
    "invalid_request_object",
    "invalid_request_uri",
];
pub(super) const REQ_OR_OBJ: &[&str] = &["invalid_request", "invalid_request_object"];
