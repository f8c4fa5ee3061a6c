//! The request objects and authorization requests the provider must refuse (or may
//! accept, where the suite allows it): missing or bad claims, bad signatures, outer
//! parameters that must not count.

use super::*;

const EXPECT_UNVERIFIABLE: &[&str] = &["OIDCC-3.1.2.6", "RFC6749-4.2.2.1"];

/// fapi1-advanced-final-ensure-response-mode-query: response_mode=query must be refused, or
/// ignored (the response then stays in the fragment).
pub async fn fapi1_advanced_final_ensure_response_mode_query(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        request: vec![RequestTweak::ResponseModeQuery],
        par_error_expected: true,
        ..Tweaks::default()
    };
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(resp) => {
            par_error(
                ctx,
                &resp,
                "EnsurePARInvalidRequestOrInvalidRequestObjectError",
                REQ_OR_OBJ,
                &["JAR-6.2"],
            );
            return Ok(());
        }
        Arrival::Visit(v) => v,
    };
    if !arrive(
        ctx,
        &mut f,
        &v,
        Some(("ExpectResponseModeQueryErrorPage", &["OAuth2-RT-5"])),
    )? {
        return Ok(());
    }
    ctx.log.block("Verify authorization endpoint response");
    reject_code_in_query(ctx, &f);
    let r = if f.query.contains_key("error") {
        ctx.response = f.query.clone();
        Ok("Server has chosen to return 'error' in URL query".to_string())
    } else if f.fragment.contains_key("error") {
        ctx.response = f.fragment.clone();
        Ok("Server has chosen to return 'error' in URL fragment".to_string())
    } else if f.fragment.contains_key("id_token") {
        ctx.response = f.fragment.clone();
        Ok("Authorization server ignores response_mode=query and return a successful response in the fragment".to_string())
    } else {
        Err("Authorization server returns a non-error response in the url query".to_string())
    };
    ctx.log.must_ok(
        "CheckAuthorizationResponseWhenResponseModeQuery",
        &["OAuth2-RT-5"],
        r,
    )?;
    if ctx.response.contains_key("error") {
        error_response_checks(
            ctx,
            false,
            "EnsureInvalidRequestError",
            Failure,
            &["OIDCC-3.3.2.6"],
            INVALID_REQUEST,
        );
    }
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_different_nonce_inside_and_outside_request_object(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let r = Refusal {
        success_allowed: true,
        ..Refusal::new(
            (
                "ExpectRequestDifferentNonceInsideAndOutsideErrorPage",
                &["OIDCC-6.1"],
            ),
            None,
            (
                "EnsureInvalidRequestError",
                Failure,
                &["OIDCC-3.3.2.6"],
                INVALID_REQUEST,
            ),
        )
    };
    let t = Tweaks {
        incorrect_outer_nonce: true,
        ..Tweaks::default()
    };
    expect_refusal(ctx, t, r).await
}

/// fapi1-advanced-final-ensure-registered-redirect-uri: an unregistered redirect_uri must end
/// on an error page (or be refused at the PAR endpoint); any redirect fails.
pub async fn fapi1_advanced_final_ensure_registered_redirect_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let bad = format!(
        "{}/{}",
        ctx.client.redirect_uri.trim_end_matches('/'),
        random_alnum(10)
    );
    ctx.log.must_ok(
        "CreateBadRedirectUriByAppending",
        &[],
        Ok(format!(
            "a randomised (and hence unregistered) redirect URI: {bad}"
        )),
    )?;
    let t = Tweaks {
        redirect_uri: Some(bad),
        par_error_expected: true,
        ..Tweaks::default()
    };
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(resp) => {
            par_error(
                ctx,
                &resp,
                "EnsurePARInvalidRequestOrInvalidRequestObjectError",
                REQ_OR_OBJ,
                &["PAR-2.3"],
            );
            return Ok(());
        }
        Arrival::Visit(v) => v,
    };
    if arrive(
        ctx,
        &mut f,
        &v,
        Some(("ExpectRedirectUriErrorPage", &["FAPI1-BASE-5.2.2-8"])),
    )? {
        ctx.log.must_ok(
            "processCallback",
            &[],
            Err("The authorization server redirected the user to the requested but randomised/unregistered redirect uri. This must not happen as the provided redirect uri could not have been registered.".into()),
        )?;
    }
    Ok(())
}

fn long_value_refusal(page: &'static str) -> Refusal {
    Refusal {
        success_allowed: true,
        ..Refusal::new(
            (page, &[]),
            Some((
                "EnsurePARInvalidRequestError",
                &["PAR-2.3"],
                INVALID_REQUEST,
            )),
            (
                "EnsureInvalidRequestError",
                Warning,
                &["OIDCC-3.3.2.6"],
                INVALID_REQUEST,
            ),
        )
    }
}

pub async fn fapi1_advanced_final_ensure_request_object_with_long_nonce(ctx: &mut Ctx<'_>) -> Flow {
    let t = Tweaks {
        nonce_len: Some(384),
        ..Tweaks::default()
    };
    expect_refusal(
        ctx,
        t,
        long_value_refusal("ExpectRequestObjectWithLongNonceErrorPage"),
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_request_object_with_64_char_nonce_success(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let t = Tweaks {
        nonce_len: Some(64),
        ..Tweaks::default()
    };
    expect_refusal(
        ctx,
        t,
        long_value_refusal("ExpectRequestObjectWithLongNonceErrorPage"),
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_request_object_with_long_state(ctx: &mut Ctx<'_>) -> Flow {
    let t = Tweaks {
        state_len: Some(1000),
        ..Tweaks::default()
    };
    let before = ctx.log.steps.len();
    expect_refusal(
        ctx,
        t,
        long_value_refusal("ExpectRequestObjectWithLongStateErrorPage"),
    )
    .await?;
    // WarningAboutRejectingLongState: a refusal of a long state is worth a warning.
    let refused = ctx.log.steps[before..].iter().any(|s| {
        s.condition == "EnsureErrorFromAuthorizationEndpointResponse"
            && s.outcome == crate::report::Outcome::Success
    });
    if refused {
        ctx.log.check(
            "WarningAboutRejectingLongState",
            Warning,
            &[],
            Err("the server refused a request with a 1000 character state".into()),
        );
    }
    Ok(())
}

/// The request object negatives: refused at the PAR endpoint (`par_cond` with `par_errors`),
/// on an error page, or with one of `errors` (the PAR variant's list when pushed).
async fn object_refusal(
    ctx: &mut Ctx<'_>,
    t: Tweaks,
    page: Page,
    par: ErrSpec,
    errors: ErrSpec,
    par_errors: Option<ErrSpec>,
    allow_plain_jarm_error_with_par: bool,
) -> Flow {
    let pushed = ctx.variant_is("fapi_auth_request_method", "pushed");
    let (cond, reqs, allowed) = match par_errors {
        Some(p) if pushed => p,
        _ => errors,
    };
    let r = Refusal {
        allow_plain_jarm_error: allow_plain_jarm_error_with_par && pushed,
        ..Refusal::new(page, Some(par), (cond, Failure, reqs, allowed))
    };
    expect_refusal(ctx, t, r).await
}

const PAGE_UNVERIFIABLE: &[&str] = &[];

pub async fn fapi1_advanced_final_ensure_request_object_without_exp_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    object_refusal(
        ctx,
        Tweaks {
            object: vec![ObjectTweak::NoExp],
            ..Tweaks::default()
        },
        (
            "ExpectRequestObjectMissingExpClaimErrorPage",
            &["FAPI1-ADV-5.2.2-13"],
        ),
        (
            "EnsurePARInvalidRequestObjectError",
            &["JAR-6.2", "PAR-2.3"],
            INVALID_REQUEST_OBJECT,
        ),
        (
            "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
            EXPECT_UNVERIFIABLE,
            REQ_OBJ_URI_DENIED,
        ),
        Some((
            "EnsureInvalidRequestInvalidRequestUriOrAccessDeniedError",
            EXPECT_UNVERIFIABLE,
            REQ_URI_DENIED,
        )),
        false,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_request_object_without_nbf_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    object_refusal(
        ctx,
        Tweaks {
            object: vec![ObjectTweak::NoNbf],
            ..Tweaks::default()
        },
        (
            "ExpectRequestObjectMissingNbfClaimErrorPage",
            &["FAPI1-ADV-5.2.2-17"],
        ),
        (
            "EnsurePARInvalidRequestObjectError",
            &["JAR-6.3", "PAR-2.1-3"],
            INVALID_REQUEST_OBJECT,
        ),
        (
            "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
            EXPECT_UNVERIFIABLE,
            REQ_OBJ_URI_DENIED,
        ),
        Some((
            "EnsureInvalidRequestInvalidRequestUriOrAccessDeniedError",
            EXPECT_UNVERIFIABLE,
            REQ_URI_DENIED,
        )),
        false,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_request_object_without_scope_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    object_refusal(
        ctx,
        Tweaks {
            object: vec![ObjectTweak::NoScope],
            ..Tweaks::default()
        },
        (
            "ExpectRequestObjectMissingScopeErrorPage",
            &["FAPI1-ADV-5.2.3-8"],
        ),
        (
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            &["PAR-2.3"],
            REQ_OR_OBJ,
        ),
        (
            "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
            EXPECT_UNVERIFIABLE,
            REQ_OBJ_URI_DENIED,
        ),
        None,
        false,
    )
    .await
}

/// fapi1-advanced-final-state-only-outside-request-object-not-used: the state outside the
/// object must be ignored (no state, no s_hash back) or the request refused.
pub async fn fapi1_advanced_final_state_only_outside_request_object_not_used(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let r = Refusal {
        success_allowed: true,
        state_if_present: true,
        no_state: true,
        ..Refusal::new(
            (
                "ExpectRequestObjectMissingStateErrorPage",
                &["FAPI1-ADV-5.2.3-8"],
            ),
            None,
            (
                "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
                Failure,
                EXPECT_UNVERIFIABLE,
                REQ_OBJ_URI_DENIED,
            ),
        )
    };
    let t = Tweaks {
        state_outside_only: true,
        ..Tweaks::default()
    };
    // The state sent outside the object is not one the response may carry.
    expect_refusal_outer_state(ctx, t, r).await
}

/// expect_refusal, where the state was sent only outside the object: it does not count as
/// the request's state.
async fn expect_refusal_outer_state(ctx: &mut Ctx<'_>, t: Tweaks, r: Refusal) -> Flow {
    let mut f = setup(ctx).await?;
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(_) => return Err(Stop),
        Arrival::Visit(v) => v,
    };
    if !arrive(ctx, &mut f, &v, Some(r.page))? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    if !ctx.response.contains_key("error") {
        ctx.state = None;
        return success_without_state(ctx, &mut f).await;
    }
    let (cond, severity, reqs, allowed) = r.error;
    error_response_checks(ctx, true, cond, severity, reqs, allowed);
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_request_object_without_nonce_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    object_refusal(
        ctx,
        Tweaks {
            nonce_outside_only: true,
            ..Tweaks::default()
        },
        (
            "ExpectRequestObjectMissingNonceErrorPage",
            &["FAPI1-ADV-5.2.3-8"],
        ),
        (
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            &["PAR-2.3"],
            REQ_OR_OBJ,
        ),
        (
            "EnsureInvalidRequestInvalidRequestObjectOrInvalidRequestUriError",
            &["OIDCC-3.1.2.6", "OIDCC-3.3.2.6"],
            REQ_OBJ_URI,
        ),
        None,
        false,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_request_object_without_redirect_uri_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    object_refusal(
        ctx,
        Tweaks {
            object: vec![ObjectTweak::NoRedirectUri],
            ..Tweaks::default()
        },
        (
            "ExpectRequestObjectMissingRedirectUriErrorPage",
            &["FAPI1-ADV-5.2.3-8"],
        ),
        (
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            &["JAR-6.2"],
            REQ_OR_OBJ,
        ),
        (
            "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrInvalidRequestObject",
            &["OIDCC-3.1.2.6"],
            REQ_OR_OBJ,
        ),
        None,
        false,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_expired_request_object_fails(ctx: &mut Ctx<'_>) -> Flow {
    object_refusal(
        ctx,
        Tweaks {
            object: vec![ObjectTweak::ExpiredExp],
            ..Tweaks::default()
        },
        (
            "ExpectExpiredRequestObjectClaimErrorPage",
            &["RFC7519-4.1.4"],
        ),
        (
            "EnsurePARInvalidRequestObjectError",
            &["JAR-6.2", "PAR-2.3"],
            INVALID_REQUEST_OBJECT,
        ),
        (
            "EnsureInvalidRequestObjectError",
            &["OIDCC-3.1.2.6"],
            INVALID_REQUEST_OBJECT,
        ),
        None,
        true,
    )
    .await
}

fn aud_or_dates_refusal(page: Page, par: ErrSpec) -> (Page, ErrSpec, ErrSpec, Option<ErrSpec>) {
    (
        page,
        par,
        (
            "EnsureInvalidRequestObjectError",
            &["OIDCC-3.1.2.6"],
            INVALID_REQUEST_OBJECT,
        ),
        Some((
            "EnsureInvalidRequestUriError",
            &["JAR-4"],
            INVALID_REQUEST_URI,
        )),
    )
}

pub async fn fapi1_advanced_final_ensure_request_object_with_bad_aud_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (page, par, errors, par_errors) = aud_or_dates_refusal(
        (
            "ExpectRequestObjectWithBadAudClaimErrorPage",
            &["OIDCC-6.1", "RFC7519-4.1.3"],
        ),
        (
            "EnsurePARInvalidRequestObjectError",
            &["JAR-6.2"],
            INVALID_REQUEST_OBJECT,
        ),
    );
    let t = Tweaks {
        object: vec![ObjectTweak::BadAud],
        ..Tweaks::default()
    };
    object_refusal(ctx, t, page, par, errors, par_errors, false).await
}

pub async fn fapi1_advanced_final_ensure_request_object_with_exp_over_60_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (page, par, errors, par_errors) = aud_or_dates_refusal(
        (
            "ExpectRequestObjectWithExpOver60ClaimErrorPage",
            &["FAPI1-ADV-5.2.2-13"],
        ),
        (
            "EnsurePARInvalidRequestObjectError",
            &["JAR-6.3", "PAR-2.1-3"],
            INVALID_REQUEST_OBJECT,
        ),
    );
    let t = Tweaks {
        object: vec![ObjectTweak::Exp70MinutesAhead],
        ..Tweaks::default()
    };
    object_refusal(ctx, t, page, par, errors, par_errors, false).await
}

pub async fn fapi1_advanced_final_ensure_request_object_with_nbf_over_60_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (page, par, errors, par_errors) = aud_or_dates_refusal(
        (
            "ExpectRequestObjectWithNbfOver60ClaimErrorPage",
            &["OIDCC-6.1", "RFC7519-4.1.5"],
        ),
        (
            "EnsurePARInvalidRequestObjectError",
            &["JAR-6.3", "PAR-2.1-3"],
            INVALID_REQUEST_OBJECT,
        ),
    );
    let t = Tweaks {
        object: vec![ObjectTweak::Nbf70MinutesAgo],
        ..Tweaks::default()
    };
    object_refusal(ctx, t, page, par, errors, par_errors, false).await
}

/// The signature negatives: refused with invalid_request_object (a plain error allowed with
/// JARM when pushed).
async fn signature_refusal(
    ctx: &mut Ctx<'_>,
    t: Tweaks,
    page: Page,
    par_cond: &'static str,
    par_errors: &'static [&'static str],
) -> Flow {
    object_refusal(
        ctx,
        t,
        page,
        (par_cond, &["JAR-6.2"], par_errors),
        (
            "EnsureInvalidRequestObjectError",
            &["OIDCC-3.1.2.6"],
            INVALID_REQUEST_OBJECT,
        ),
        None,
        true,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_signed_request_object_with_rs256_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let alg = ctx
        .client
        .signing_key
        .as_ref()
        .map(|k| k.alg.clone())
        .unwrap_or_default();
    if alg != "PS256" {
        return Err(ctx.log.skip(&format!(
            "This test requires RSA keys to be performed, the alg in client configuration is '{alg}' so this test is being skipped."
        )));
    }
    let t = Tweaks {
        sign: Sign::Rs256,
        ..Tweaks::default()
    };
    signature_refusal(
        ctx,
        t,
        (
            "ExpectSignedRS256RequestObjectErrorPage",
            &["FAPI1-ADV-8.6"],
        ),
        "EnsurePARInvalidRequestObjectError",
        INVALID_REQUEST_OBJECT,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_request_object_signature_algorithm_is_not_none(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let t = Tweaks {
        sign: Sign::NoneAlg,
        expose_state: true,
        ..Tweaks::default()
    };
    signature_refusal(
        ctx,
        t,
        (
            "ExpectRequestObjectUnverifiableErrorPage",
            &["FAPI1-ADV-5.2.3.1-3"],
        ),
        "EnsurePARInvalidRequestObjectError",
        INVALID_REQUEST_OBJECT,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_request_object_with_invalid_signature_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let t = Tweaks {
        sign: Sign::InvalidSignature,
        ..Tweaks::default()
    };
    signature_refusal(
        ctx,
        t,
        (
            "ExpectRequestObjectInvalidSignatureErrorPage",
            PAGE_UNVERIFIABLE,
        ),
        "EnsurePARInvalidRequestObjectError",
        INVALID_REQUEST_OBJECT,
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_matching_key_in_authorization_request(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let t = Tweaks {
        sign: Sign::SecondClientKey,
        expose_state: true,
        ..Tweaks::default()
    };
    object_refusal(
        ctx,
        t,
        (
            "ExpectRequestObjectUnverifiableErrorPage",
            &["FAPI1-ADV-5.2.2-1", "OIDCC-6.3.2"],
        ),
        (
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            &["JAR-6.2"],
            REQ_OR_OBJ,
        ),
        (
            "EnsureInvalidRequestObjectError",
            &["OIDCC-3.1.2.6"],
            INVALID_REQUEST_OBJECT,
        ),
        None,
        false,
    )
    .await
}

// ---- authorization request negatives ---------------------------------------------------------

/// fapi1-advanced-final-ensure-authorization-request-without-request-object-fails: the
/// parameters in the URL only, never pushed.
pub async fn fapi1_advanced_final_ensure_authorization_request_without_request_object_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    f.par = false;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &mut f, &Tweaks::default())?;
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let params = ctx.request.clone();
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(params.iter());
            let s = u.to_string();
            (u, s)
        });
    let url = ctx.log.must(
        "BuildPlainRedirectToAuthorizationEndpoint",
        &["FAPI1-ADV-5.2.2-1"],
        r,
    )?;
    let v = go(ctx, url).await?;
    if !arrive(
        ctx,
        &mut f,
        &v,
        Some((
            "ExpectAuthorizationRequestWithoutRequestObjectErrorPage",
            &["FAPI1-ADV-5.2.2-1"],
        )),
    )? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    error_response_checks(
        ctx,
        true,
        "EnsureInvalidRequestError",
        Failure,
        &["OIDCC-3.3.2.6"],
        INVALID_REQUEST,
    );
    Ok(())
}

/// fapi1-advanced-final-ensure-redirect-uri-in-authorization-request: without redirect_uri
/// the request is refused, or the registered one is used (the client has one).
pub async fn fapi1_advanced_final_ensure_redirect_uri_in_authorization_request(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        request: vec![RequestTweak::RemoveRedirectUri],
        par_error_expected: true,
        ..Tweaks::default()
    };
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(resp) => {
            par_error(
                ctx,
                &resp,
                "EnsurePARInvalidRequestOrInvalidRequestObjectError",
                REQ_OR_OBJ,
                &["PAR-2.3"],
            );
            return Ok(());
        }
        Arrival::Visit(v) => v,
    };
    if !arrive(
        ctx,
        &mut f,
        &v,
        Some(("ExpectRedirectUriMissingErrorPage", &["FAPI1-BASE-5.2.2-9"])),
    )? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    // The registered redirect URI was used as a default: the standard flow goes on.
    ctx.request
        .insert("redirect_uri".into(), ctx.client.redirect_uri.clone());
    successful_callback(ctx, &mut f)?;
    redeem_code(ctx, &mut f, TokenAuth::Default).await?;
    request_protected_resource(ctx, &mut f, false).await
}

/// fapi1-advanced-final-ensure-response-type-code-fails: plain `code` without JARM is refused.
pub async fn fapi1_advanced_final_ensure_response_type_code_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        request: vec![RequestTweak::ResponseTypeCode],
        par_error_expected: true,
        ..Tweaks::default()
    };
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(resp) => {
            par_error(
                ctx,
                &resp,
                "EnsurePARUnsupportedResponseTypeOrInvalidRequestOrUnauthorizedClientError",
                &[
                    "unsupported_response_type",
                    "invalid_request",
                    "unauthorized_client",
                ],
                &["PAR-2.3"],
            );
            return Ok(());
        }
        Arrival::Visit(v) => v,
    };
    if !arrive(
        ctx,
        &mut f,
        &v,
        Some(("ExpectResponseTypeErrorPage", &["FAPI1-ADV-5.2.2-2"])),
    )? {
        return Ok(());
    }
    ctx.log
        .block("Verify authorization endpoint error response");
    reject_code_in_query(ctx, &f);
    let r = if f.fragment.contains_key("code") {
        Err("the authorization code is in the URL fragment".into())
    } else {
        Ok("no code in the URL fragment".into())
    };
    ctx.log.check(
        "RejectAuthCodeInUrlFragment",
        Failure,
        &["FAPI1-ADV-5.2.2-2"],
        r,
    );
    let r = if f.query.contains_key("error") {
        ctx.response = f.query.clone();
        Ok("Server has chosen to return 'error' in URL query".to_string())
    } else if f.fragment.contains_key("error") {
        ctx.response = f.fragment.clone();
        Ok("Server has chosen to return 'error' in URL fragment".to_string())
    } else {
        Err("authorization server did not return an error in the url query or fragment".to_string())
    };
    ctx.log
        .must_ok("DetectWhetherErrorResponseIsInQueryOrFragment", &[], r)?;
    error_is_one_of(
        ctx,
        "EnsureUnsupportedResponseTypeOrInvalidRequestError",
        Failure,
        &["OIDCC-3.3.2.6"],
        &["unsupported_response_type", "invalid_request"],
    );
    check_state(ctx);
    ensure_error(ctx);
    unexpected_error_params(ctx);
    Ok(())
}
