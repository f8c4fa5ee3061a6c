//! The pushed authorization request modules: request_uri reuse, expiry and binding, client
//! assertion audiences at the PAR endpoint, PKCE, and what the PAR endpoint must refuse.

use super::*;

/// The error page a refused request_uri shows (ExpectInvalidRequestUriErrorPage).
const INVALID_REQUEST_URI_PAGE: (&str, &[&str]) =
    ("ExpectInvalidRequestUriErrorPage", &["PAR-2.2"]);

/// fapi1-advanced-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds: the
/// request_uri opened once (the user stops at the login page), then again to log in.
pub async fn fapi1_advanced_final_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks::default();
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &mut f, &t)?;
    create_request_object(ctx, &mut f, &t)?;
    let resp = call_par(ctx, &f, &t).await?;
    process_par_response(ctx, &mut f, &resp)?;
    let url = par_redirect(ctx, &f, Redirect::Normal)?;
    let redirect_uri = ctx.client.redirect_uri.clone();
    let r = ctx.browser.visit(url.clone(), &redirect_uri, None).await;
    let first = ctx.log.must(
        "ExpectLoginPage",
        &[],
        r.and_then(|v| {
            if v.login_pages > 0 {
                Ok((
                    v,
                    "the login page was shown; the user does not log in yet".to_string(),
                ))
            } else {
                Err("The initial authorization server login page was not visited".to_string())
            }
        }),
    )?;
    let _ = first;
    ctx.log
        .block("Make second request to authorization endpoint");
    let v = go(ctx, url).await?;
    if !arrive(ctx, &mut f, &v, Some(("ExpectLoginPage", &[])))? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    if ctx.response.contains_key("error") {
        ctx.log.check(
            "WarningAboutRequestUriError",
            Warning,
            &[],
            Err(
                "the server refused a request_uri used again before the authorization completed"
                    .into(),
            ),
        );
        error_response_checks(
            ctx,
            false,
            "EnsureInvalidRequestUriError",
            Failure,
            &["OIDCC-3.3.2.6"],
            INVALID_REQUEST_URI,
        );
        return Ok(());
    }
    successful_callback(ctx, &mut f)?;
    redeem_code(ctx, &mut f, TokenAuth::Default).await?;
    request_protected_resource(ctx, &mut f, false).await
}

/// fapi1-advanced-final-par-attempt-reuse-request_uri: the whole flow, then the same
/// request_uri again must be refused (PAR §7.3: one-time use).
pub async fn fapi1_advanced_final_par_attempt_reuse_request_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    happy_flow(ctx, &mut f, &Tweaks::default(), false).await?;
    ctx.log.block("Attempting reuse of request_uri and testing if Authorization server returns error in callback");
    let url = par_redirect(ctx, &f, Redirect::Normal)?;
    f.allow_plain_jarm_error = true;
    let v = go(ctx, url).await?;
    if !arrive(
        ctx,
        &mut f,
        &v,
        Some((
            "ExpectInvalidRequestUriErrorPage",
            &["PAR-7.3", "PAR-4", "PAR-2.2"],
        )),
    )? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    if ctx.response.contains_key("error") {
        error_is_one_of(
            ctx,
            "EnsureInvalidRequestUriError",
            Failure,
            &["PAR-2.2", "JAR-7"],
            INVALID_REQUEST_URI,
        );
        return Ok(());
    }
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Warning,
        &["PAR-7.3"],
        Err("the request_uri was accepted a second time".into()),
    );
    successful_callback(ctx, &mut f)?;
    redeem_code(ctx, &mut f, TokenAuth::Default).await?;
    request_protected_resource(ctx, &mut f, false).await
}

/// fapi1-advanced-final-par-attempt-to-use-expired-request_uri: the request_uri after its
/// expires_in must be refused.
pub async fn fapi1_advanced_final_par_attempt_to_use_expired_request_uri(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    f.allow_plain_jarm_error = true;
    let t = Tweaks::default();
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &mut f, &t)?;
    create_request_object(ctx, &mut f, &t)?;
    let resp = call_par(ctx, &f, &t).await?;
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Attempting use of request_uri after expiry and testing if Authorization server returns error in callback");
    let secs = f.par_expires_in.unwrap_or(0);
    if secs > 30 * 60 {
        return Err(ctx.log.skip(
            "The expires in value is longer than 30 minutes so is too long for the suite to wait for it to expire.",
        ));
    }
    tokio::time::sleep(std::time::Duration::from_secs(secs.max(0) as u64 + 1)).await;
    ctx.log
        .must_ok("WaitForExpiry", &[], Ok(format!("waited {secs} s")))?;
    let url = par_redirect(ctx, &f, Redirect::Normal)?;
    let v = go(ctx, url).await?;
    if !arrive(ctx, &mut f, &v, Some(INVALID_REQUEST_URI_PAGE))? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    error_is_one_of(
        ctx,
        "EnsureInvalidRequestUriError",
        Failure,
        &["PAR-2.2"],
        INVALID_REQUEST_URI,
    );
    Ok(())
}

async fn par_assertion_happy(ctx: &mut Ctx<'_>, a: ParAssertion) -> Flow {
    standard(
        ctx,
        Tweaks {
            par_assertion: a,
            ..Tweaks::default()
        },
    )
    .await
}

pub async fn fapi1_advanced_final_par_test_pushed_authorization_url_as_audience_for_client_jwt_assertion(
    ctx: &mut Ctx<'_>,
) -> Flow {
    par_assertion_happy(ctx, ParAssertion::ParEndpoint).await
}

pub async fn fapi1_advanced_final_par_token_endpoint_url_as_audience_for_client_jwt_assertion(
    ctx: &mut Ctx<'_>,
) -> Flow {
    par_assertion_happy(ctx, ParAssertion::TokenEndpoint).await
}

/// fapi1-advanced-final-test-array-as-audience-for-client-JWT-assertion: [issuer, token
/// endpoint] as the audience of both the PAR and the token request's assertion.
pub async fn fapi1_advanced_final_test_array_as_audience_for_client_jwt_assertion(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        par_assertion: ParAssertion::IssuerAndTokenEndpoint,
        ..Tweaks::default()
    };
    let Arrival::Visit(v) = authorize(ctx, &mut f, &t).await? else {
        return Err(Stop);
    };
    arrive(ctx, &mut f, &v, None)?;
    process_callback(ctx, &mut f)?;
    successful_callback(ctx, &mut f)?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let mut claims = client_assertion_claims(ctx, json!(url));
    claims["aud"] = json!([issuer, url]);
    ctx.log.must_ok(
        "AddArrayContainingIssuerAndAnotherValueAsAudToClientAuthenticationAssertionClaims",
        &["RFC7519-4.1.3"],
        Ok(format!("aud {}", claims["aud"])),
    )?;
    ctx.log.block("Call token endpoint");
    let resp = call_token_endpoint_for_code(ctx, &f, TokenAuth::Claims(claims), true).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &[],
        if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(format!("token endpoint returned {}", status_msg(&resp)))
        },
    )?;
    process_token_response(ctx, &mut f, &resp)?;
    request_protected_resource(ctx, &mut f, false).await
}

/// The PAR client assertion negatives: the PAR endpoint must refuse the client.
async fn par_assertion_refused(ctx: &mut Ctx<'_>, a: ParAssertion) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        par_assertion: a,
        ..Tweaks::default()
    };
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &mut f, &t)?;
    create_request_object(ctx, &mut f, &t)?;
    let resp = call_par(ctx, &f, &t).await?;
    par_client_error(ctx, &resp);
    Ok(())
}

pub async fn fapi1_advanced_final_par_ensure_client_assertion_with_wrong_aud_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    par_assertion_refused(ctx, ParAssertion::WrongAud).await
}

pub async fn fapi1_advanced_final_par_ensure_client_assertion_with_wrong_iss_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    par_assertion_refused(ctx, ParAssertion::WrongIss).await
}

pub async fn fapi1_advanced_final_par_ensure_client_assertion_with_wrong_sub_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    par_assertion_refused(ctx, ParAssertion::WrongSub).await
}

/// fapi1-advanced-final-par-attempt-to-use-request_uri-for-different-client: the first
/// client's request_uri under the second client's client_id (PAR §3: bound to the client).
pub async fn fapi1_advanced_final_par_attempt_to_use_request_uri_for_different_client(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    f.allow_plain_jarm_error = true;
    let t = Tweaks::default();
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &mut f, &t)?;
    create_request_object(ctx, &mut f, &t)?;
    let resp = call_par(ctx, &f, &t).await?;
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Attempting to send client2's clientId with request_uri to AS and expect it returns error in callback");
    let two = f.two.clone();
    use_party(ctx, &two);
    f.request
        .insert("client_id".into(), json!(two.client.client_id));
    ctx.log.must_ok(
        "AddClientIdToAuthorizationEndpointRequest",
        &["PAR-2.2.1"],
        Ok(format!("client_id {}", two.client.client_id)),
    )?;
    let url = par_redirect(ctx, &f, Redirect::Normal)?;
    let v = go(ctx, url).await?;
    if !arrive(
        ctx,
        &mut f,
        &v,
        Some(("ExpectInvalidRequestUriErrorPage", &["PAR-3-3"])),
    )? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    error_is_one_of(
        ctx,
        "EnsureInvalidRequestInvalidRequestObjectOrInvalidRequestUriError",
        Failure,
        &["PAR-3-3"],
        REQ_OBJ_URI,
    );
    Ok(())
}

/// A module that only pushes the request and checks the PAR endpoint's answer.
async fn par_only(ctx: &mut Ctx<'_>, t: Tweaks) -> Flow<Resp> {
    let mut f = setup(ctx).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &mut f, &t)?;
    create_request_object(ctx, &mut f, &t)?;
    call_par(ctx, &f, &t).await
}

pub async fn fapi1_advanced_final_par_authorization_request_containing_request_uri_form_param(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let bad = "urn:fdc:authlete.com:E2ooXxELkEFSKR90ymYV-BbwAvCC2TozHfSb_mMCw2s";
    ctx.log.info(
        "AddBadRequestUriToRequestParameters",
        format!("request_uri {bad} in the PAR form"),
    );
    let resp = par_only(
        ctx,
        Tweaks {
            par_extra: vec![("request_uri".into(), bad.into())],
            ..Tweaks::default()
        },
    )
    .await?;
    par_error(
        ctx,
        &resp,
        "EnsurePARInvalidRequestOrInvalidRequestObjectOrRequestUriNotSupportedError",
        &[
            "invalid_request",
            "invalid_request_object",
            "request_uri_not_supported",
        ],
        &["PAR-2.1-2"],
    );
    Ok(())
}

pub async fn fapi1_advanced_final_par_attempt_invalid_http_method(ctx: &mut Ctx<'_>) -> Flow {
    let resp = par_only(
        ctx,
        Tweaks {
            par_method_put: true,
            ..Tweaks::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureParHTTPError",
        Failure,
        &["PAR-2.3"],
        if (400..600).contains(&resp.status) {
            Ok(format!("HTTP {}", resp.status))
        } else {
            Err(format!("expected a 4xx or 5xx, got {}", status_msg(&resp)))
        },
    );
    Ok(())
}

/// The PKCE negatives at the authorization endpoint: refused at the PAR endpoint, on an error
/// page, or with invalid_request.
async fn pkce_refusal(ctx: &mut Ctx<'_>, t: Tweaks, page: &'static str) -> Flow {
    let r = Refusal::new(
        (page, &["FAPI1-ADV-5.2.2-18"]),
        Some((
            "EnsurePARInvalidRequestError",
            &["RFC7636-4.4.1"],
            INVALID_REQUEST,
        )),
        (
            "EnsureInvalidRequestError",
            Failure,
            &["RFC7636-4.4.1"],
            INVALID_REQUEST,
        ),
    );
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        par_error_expected: true,
        ..t
    };
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(resp) => {
            let (cond, reqs, allowed) = r.par.unwrap_or_default();
            par_error(ctx, &resp, cond, allowed, reqs);
            return Ok(());
        }
        Arrival::Visit(v) => v,
    };
    if !arrive(ctx, &mut f, &v, Some(r.page))? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    let (cond, severity, reqs, allowed) = r.error;
    error_is_one_of(ctx, cond, severity, reqs, allowed);
    Ok(())
}

pub async fn fapi1_advanced_final_par_ensure_pkce_required(ctx: &mut Ctx<'_>) -> Flow {
    pkce_refusal(
        ctx,
        Tweaks {
            pkce: Pkce::Never,
            ..Tweaks::default()
        },
        "ExpectPkceMissingErrorPage",
    )
    .await
}

pub async fn fapi1_advanced_final_par_plain_pkce_rejected(ctx: &mut Ctx<'_>) -> Flow {
    pkce_refusal(
        ctx,
        Tweaks {
            request: vec![RequestTweak::PlainPkce],
            ..Tweaks::default()
        },
        "ExpectPlainPkceErrorPage",
    )
    .await
}

/// The PKCE negatives at the token endpoint: no verifier, or a wrong one (RFC 7636 §4.6).
async fn verifier_refused(ctx: &mut Ctx<'_>, wrong: bool) -> Flow {
    let mut f = authorized(ctx, &Tweaks::default()).await?;
    if wrong {
        let v = jose::random_value(32);
        ctx.log
            .must_ok("CreateRandomCodeVerifier", &["RFC7636-4.1"], Ok(v.clone()))?;
        f.verifier = Some(v);
    } else {
        ctx.log.info(
            "AddCodeVerifierToTokenEndpointRequest",
            "skipped: no code_verifier in the token request",
        );
    }
    let resp = call_token_endpoint_for_code(ctx, &f, TokenAuth::Default, wrong).await?;
    token_error_checks(
        ctx,
        &resp,
        &[
            TokenErr::Status400,
            TokenErr::JsonContentType,
            TokenErr::Error(
                "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
                &["invalid_grant"],
            ),
            TokenErr::Valid,
        ],
    );
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_pkce_code_verifier_required(ctx: &mut Ctx<'_>) -> Flow {
    verifier_refused(ctx, false).await
}

pub async fn fapi1_advanced_final_incorrect_pkce_code_verifier_rejected(ctx: &mut Ctx<'_>) -> Flow {
    verifier_refused(ctx, true).await
}

/// fapi1-advanced-final-par-pushed-authorization-url-as-audience-in-request-object: the PAR
/// endpoint is not an acceptable `aud` for the request object (FAPI 1 Adv. §5.2.2-15).
pub async fn fapi1_advanced_final_par_pushed_authorization_url_as_audience_in_request_object(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let r = Refusal::new(
        ("ExpectInvalidAudienceErrorPage", &["FAPI1-BASE-5.2.2-9"]),
        Some((
            "EnsurePARInvalidRequestObjectError",
            &["JAR-6.2", "PAR-2.3"],
            INVALID_REQUEST_OBJECT,
        )),
        (
            "EnsureInvalidRequestUriError",
            Failure,
            &[],
            INVALID_REQUEST_URI,
        ),
    );
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        object: vec![ObjectTweak::ParEndpointAud],
        par_error_expected: true,
        ..Tweaks::default()
    };
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(resp) => {
            let (cond, reqs, allowed) = r.par.unwrap_or_default();
            par_error(ctx, &resp, cond, allowed, reqs);
            return Ok(());
        }
        Arrival::Visit(v) => v,
    };
    if !arrive(ctx, &mut f, &v, Some(r.page))? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    let (cond, severity, reqs, allowed) = r.error;
    error_is_one_of(ctx, cond, severity, reqs, allowed);
    Ok(())
}

pub async fn fapi1_advanced_final_par_attempt_invalid_redirect_uri(ctx: &mut Ctx<'_>) -> Flow {
    let resp = par_only(
        ctx,
        Tweaks {
            request: vec![RequestTweak::BadRedirectUri],
            ..Tweaks::default()
        },
    )
    .await?;
    par_error(
        ctx,
        &resp,
        "EnsurePARInvalidRequestOrInvalidRequestObjectError",
        REQ_OR_OBJ,
        &["PAR-2.3"],
    );
    Ok(())
}

pub async fn fapi1_advanced_final_par_authorization_request_containing_request_uri(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let resp = par_only(
        ctx,
        Tweaks {
            request: vec![RequestTweak::BadRequestUri],
            ..Tweaks::default()
        },
    )
    .await?;
    par_error(
        ctx,
        &resp,
        "EnsurePARInvalidRequestObjectError",
        INVALID_REQUEST_OBJECT,
        &["JAR-6.2", "PAR-2.1"],
    );
    Ok(())
}

pub async fn fapi1_advanced_final_par_without_duplicate_parameters(ctx: &mut Ctx<'_>) -> Flow {
    standard(
        ctx,
        Tweaks {
            redirect: Redirect::WithoutDuplicates,
            ..Tweaks::default()
        },
    )
    .await
}
