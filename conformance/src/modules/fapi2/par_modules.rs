//! The PAR modules: request_uri reuse, expiry and binding, client assertion audiences and
//! times at the PAR endpoint, and what the PAR endpoint must refuse.

use super::*;

/// The PAR request for the standard authorization request with `auth` instead of the
/// variant's client authentication; returns the PAR response.
pub(super) async fn par_with_auth(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    auth: crate::modules::AuthOverride,
) -> Flow<Resp> {
    create_authorization_request(ctx, f, &AuthReq::default())?;
    let ro = if f.signed {
        create_request_object(ctx, f, &RequestObject::default())?;
        Some(sign_request_object(ctx, f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, f, ro)?;
    call_par(ctx, f, auth).await
}

/// CheckErrorFromParEndpointResponseErrorInvalidClientOrInvalidRequest with
/// EnsureHttpStatusCodeIs400or401.
pub(super) fn par_auth_error_checks(ctx: &mut Ctx<'_>, resp: &Resp, reqs: &[&str]) {
    ctx.log.check(
        "EnsureHttpStatusCodeIs400or401",
        Failure,
        reqs,
        if [400, 401].contains(&resp.status) {
            ok(format!(
                "pushed authorization request endpoint http status code was {}",
                resp.status
            ))
        } else {
            fail(format!(
                "pushed authorization request endpoint returned HTTP {} (expected 400 or 401): {}",
                resp.status,
                resp.body.chars().take(200).collect::<String>()
            ))
        },
    );
    let error = resp
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_string));
    ctx.log.check(
        "CheckErrorFromParEndpointResponseErrorInvalidClientOrInvalidRequest",
        Failure,
        reqs,
        match error.as_deref() {
            Some("invalid_client") | Some("invalid_request") => {
                ok(format!("error {}", error.unwrap_or_default()))
            }
            other => fail(format!(
                "expected invalid_client or invalid_request, got {other:?}"
            )),
        },
    );
}

/// fapi2-security-profile-final-par-test-*-as-audience-fails: a client assertion whose
/// audience is not (only) the issuer must be refused at PAR (FAPI2-SP-FINAL-5.3.2.1-8).
pub async fn par_audience_fails(ctx: &mut Ctx<'_>, which: &'static str) -> Flow {
    let mut f = setup(ctx).await?;
    let mut claims = assertion_claims_iss_aud(ctx);
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let (cond, aud) = match which {
        "array" => (
            "AddArrayContainingIssuerAndAnotherValueAsAudToClientAuthenticationAssertionClaims",
            json!([issuer, ctx.server_str("token_endpoint").unwrap_or_default()]),
        ),
        "par" => (
            "AddPAREndpointAsAudToClientAuthenticationAssertionClaims",
            json!(ctx
                .server_str("pushed_authorization_request_endpoint")
                .unwrap_or_default()),
        ),
        _ => (
            "AddTokenEndpointAsAudToClientAuthenticationAssertionClaims",
            json!(ctx.server_str("token_endpoint").unwrap_or_default()),
        ),
    };
    claims["aud"] = aud.clone();
    ctx.log
        .must_ok(cond, &["PAR-2"], ok(format!("aud {aud}")))?;
    let auth = signed_assertion(ctx, &claims)?;
    let resp = par_with_auth(ctx, &mut f, auth).await?;
    par_auth_error_checks(ctx, &resp, &["FAPI2-SP-FINAL-5.3.2.1-8"]);
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-jwt-client-assertion-with-iat-nbf-8-seconds-in-the-future-is-accepted
/// (aud: the issuer, iat and nbf 8 s ahead).
pub async fn par_assertion_iat_nbf_8_seconds_future_accepted(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let mut claims = assertion_claims_iss_aud(ctx);
    claims["iat"] = (now() + 8).into();
    claims["nbf"] = (now() + 8).into();
    ctx.log.must_ok(
        "AddIatNbf8SecondsInTheFutureToClientAuthenticationAssertionClaims",
        &[
            "PAR-2",
            "RFC7519-4.1.5",
            "RFC7519-4.1.6",
            "FAPI2-SP-FINAL-5.3.2.1",
        ],
        ok("iat and nbf 8 seconds in the future"),
    )?;
    let auth = signed_assertion(ctx, &claims)?;
    let resp = par_with_auth(ctx, &mut f, auth).await?;
    if resp.status != 201 {
        ctx.log.check(
            "CheckPAREndpointResponse201WithNoError",
            Warning,
            &["PAR-2.2", "PAR-2.3"],
            fail(format!("HTTP {}: {}", resp.status, resp.body)),
        );
        ctx.log.info(
            "PAR endpoint",
            "PAR endpoint doesn't seem to support clock skew, finishing test prematurely.",
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-par-ensure-jwt-client-assertion-with-iat-nbf-over-60-seconds-in-the-future-fails
/// (CreateClientAuthenticationAssertionClaims, its iat, nbf and exp moved 62 s ahead).
pub async fn par_assertion_iat_nbf_over_60_seconds_future_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let token_endpoint = ctx.server_str("token_endpoint").unwrap_or_default();
    let mut claims = crate::modules::client_assertion_claims(ctx, token_endpoint.into());
    for c in ["iat", "nbf", "exp"] {
        if let Some(t) = claims[c].as_i64() {
            claims[c] = (t + 62).into();
        }
    }
    claims["aud"] = ctx.server_str("issuer").unwrap_or_default().into();
    ctx.log.must_ok(
        "AddIatNbfExpOver60SecondsInTheFutureToClientAuthenticationAssertionClaims",
        &[
            "PAR-2",
            "RFC7519-4.1.5",
            "RFC7519-4.1.6",
            "FAPI2-SP-FINAL-5.3.2.1",
        ],
        ok("iat, nbf and exp 62 seconds in the future"),
    )?;
    let auth = signed_assertion(ctx, &claims)?;
    let resp = par_with_auth(ctx, &mut f, auth).await?;
    par_auth_error_checks(ctx, &resp, &["PAR-2.3", "RFC6749-4.1.2.1", "RFC6749-5.2"]);
    Ok(())
}

/// fapi2-security-profile-final-par-attempt-invalid-http-method: PUT to the PAR endpoint.
pub async fn par_reject_invalid_http_verb(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let url =
        crate::modules::endpoint(ctx, "pushed_authorization_request_endpoint").unwrap_or_default();
    let mut form = f.par_form.clone();
    if !f.mtls_auth {
        let claims = assertion_claims_iss_aud(ctx);
        let jws = crate::modules::sign_client_assertion(ctx, &claims).map_err(|_| Stop)?;
        form.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        form.push(("client_assertion".into(), jws));
    }
    let http = if f.mtls_auth {
        ctx.back.clone()
    } else {
        ctx.back_without_certificate()
    };
    let r = browser::send(http.put(&url).form(&form)).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let resp = ctx.log.must("CallPAREndpoint", &["PAR-2.1"], r)?;
    ctx.log.check(
        "EnsureParHTTPError",
        Failure,
        &["PAR-2.3"],
        if (400..600).contains(&resp.status) {
            ok(format!("Pushed Authorization Request Endpoint returned a HTTP {} error as expected", resp.status))
        } else {
            fail(format!("Invalid pushed authorization request endpoint response http status code (expected 4xx or 5xx, actual {})", resp.status))
        },
    );
    Ok(())
}

/// fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param.
pub async fn par_reject_request_uri_in_form(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    f.par_form.push((
        "request_uri".into(),
        "urn:fdc:authlete.com:E2ooXxELkEFSKR90ymYV-BbwAvCC2TozHfSb_mMCw2s".into(),
    ));
    ctx.log.must_ok(
        "AddBadRequestUriToRequestParameters",
        &[],
        ok("request_uri added to the PAR form"),
    )?;
    let auth = variant_auth(ctx, &f);
    let resp = call_par(ctx, &mut f, auth).await?;
    ctx.log.check(
        "EnsurePARInvalidRequestOrInvalidRequestObjectOrRequestUriNotSupportedError",
        Failure,
        &["PAR-2.1-2"],
        par_error(
            &resp,
            &[
                "invalid_request",
                "invalid_request_object",
                "request_uri_not_supported",
            ],
        ),
    );
    Ok(())
}

/// fapi2-security-profile-final-par-without-duplicate-parameters
/// (BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates: only
/// client_id and request_uri in the redirect).
pub async fn par_without_duplicate_parameters(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    ctx.log.block("Make request to authorization endpoint");
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let pairs = [
        ("client_id", ctx.client.client_id.clone()),
        ("request_uri", f.request_uri.clone().unwrap_or_default()),
    ];
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(pairs.iter());
            let s = u.to_string();
            (u, s)
        });
    let url = ctx.log.must(
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates",
        &["PAR-4"],
        r,
    )?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-par-attempt-reuse-request_uri: after a successful flow, the
/// same request_uri again "should" be refused (PAR §7.3).
pub async fn par_attempt_reuse_request_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    authorization_flow(ctx, &mut f, &AuthReq::default()).await?;
    ctx.log.block("Attempting reuse of request_uri and testing if Authorization server returns error in callback");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectInvalidRequestUriErrorPage",
        &["PAR-7.3", "PAR-4", "PAR-2.2"],
        true,
    )? {
        return Ok(());
    }
    if ctx.response.contains_key("error") {
        let r = auth_error_in(ctx, &["invalid_request_uri"]);
        ctx.log.check(
            "EnsureInvalidRequestUriError",
            Failure,
            &["PAR-2.2", "JAR-7"],
            r,
        );
        return Ok(());
    }
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Warning,
        &["PAR-7.3"],
        fail("the request_uri was accepted a second time"),
    );
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-par-attempt-to-use-expired-request_uri: wait expires_in, then
/// the request_uri must be refused (invalid_request_uri).
pub async fn par_attempt_to_use_expired_request_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let ro = if f.signed {
        create_request_object(ctx, &mut f, &RequestObject::default())?;
        Some(sign_request_object(ctx, &f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    let expires_in = resp
        .json()
        .and_then(|b| b["expires_in"].as_i64())
        .unwrap_or(0);
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Attempting use of request_uri after expiry and testing if Authorization server returns error in callback");
    if expires_in > 30 * 60 {
        return Err(ctx.log.skip("The expires in value is longer than 30 minutes so is too long for the suite to wait for it to expire."));
    }
    ctx.log
        .info("WaitForExpiry", format!("waiting {} s", expires_in + 1));
    tokio::time::sleep(std::time::Duration::from_secs(
        (expires_in + 1).max(0) as u64
    ))
    .await;
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectInvalidRequestUriErrorPage",
        &["PAR-2.2"],
        true,
    )? {
        let r = auth_error_in(ctx, &["invalid_request_uri"]);
        ctx.log
            .check("EnsureInvalidRequestUriError", Failure, &["PAR-2.2"], r);
    }
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-request-uri-is-bound-to-client: client 1's
/// request_uri with client 2's client_id must be refused (PAR §3).
pub async fn par_ensure_request_uri_is_bound_to_client(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    ctx.log.block("Attempting to send client2's clientId with request_uri to AS and expect it returns error in callback");
    switch_to_second_client(ctx, &mut f)?;
    ctx.request
        .insert("client_id".into(), ctx.client.client_id.clone());
    ctx.log.must_ok(
        "AddClientIdToAuthorizationEndpointRequest",
        &["PAR-4"],
        ok("client2's client_id"),
    )?;
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectInvalidRequestUriErrorPage",
        &["PAR-3-3"],
        true,
    )? {
        let r = auth_error_in(
            ctx,
            &[
                "invalid_request",
                "invalid_request_object",
                "invalid_request_uri",
            ],
        );
        ctx.log.check(
            "EnsureInvalidRequestInvalidRequestObjectOrInvalidRequestUriError",
            Failure,
            &["PAR-3-3"],
            r,
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds:
/// the request_uri opened once (the login page shown, nobody logs in), then again in the same
/// browser, where the user logs in: that must work.
pub async fn par_reused_request_uri_before_completion(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let first = browse(ctx, url.clone(), false).await?;
    ctx.log.check(
        "ExpectLoginPage",
        Failure,
        &[],
        if first.login_pages > 0 {
            ok("the login page was shown; nobody logs in")
        } else {
            fail("the first visit did not reach a login page")
        },
    );
    ctx.log
        .block("Make second request to authorization endpoint");
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(ctx, &f, &v, "ExpectLoginPage", &[], false)? {
        return Ok(());
    }
    if ctx.response.contains_key("error") {
        ctx.log.check(
            "WarningAboutRequestUriError",
            Warning,
            &["FAPI2-SP-FINAL-5.3.2.2"],
            fail("the request_uri was refused on its second use before authentication completed"),
        );
        error_response_checks(
            ctx,
            "EnsureInvalidRequestUriError",
            &["invalid_request_uri"],
            Failure,
            &["OIDCC-3.3.2.6"],
        );
        return Ok(());
    }
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}
