//! The modules that change the authorization request: nonce, state, scope order, PKCE,
//! redirect_uri and response_type.

use super::*;

/// fapi2-security-profile-final-ensure-authorization-request-without-nonce-success.
pub async fn without_nonce_success(ctx: &mut Ctx<'_>) -> Flow {
    let f = setup(ctx).await?;
    ctx.log
        .info("CreateRandomNonceValue", "skipped: NOT creating nonce");
    standard(
        ctx,
        f,
        &AuthReq {
            nonce: false,
            ..Default::default()
        },
    )
    .await
}

/// fapi2-security-profile-final-ensure-authorization-request-with-64-char-nonce-success.
pub async fn with_64_char_nonce_success(ctx: &mut Ctx<'_>) -> Flow {
    let f = setup(ctx).await?;
    standard(
        ctx,
        f,
        &AuthReq {
            nonce_len: Some(64),
            ..Default::default()
        },
    )
    .await
}

/// fapi2-security-profile-final-ensure-other-scope-order-succeeds
/// (ReverseScopeOrderInAuthorizationEndpointRequest).
pub async fn other_scope_order_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    let f = setup(ctx).await?;
    let reversed: Vec<&str> = ctx.scope.split(' ').rev().collect();
    let reversed = reversed.join(" ");
    ctx.log.info(
        "ReverseScopeOrderInAuthorizationEndpointRequest",
        format!("scope={reversed}"),
    );
    ctx.scope = reversed;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-access-token-type-header-case-sensitivity: the token type
/// with its letters' case inverted must still work (RFC 9110 §11.1).
pub async fn access_token_type_header_case_sensitivity(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let v = par_and_authorize(ctx, &mut f, &AuthReq::default(), false).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    let inverted: Option<String> = f.token_type.as_ref().map(|t| {
        t.chars()
            .map(|c| {
                if c.is_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    });
    ctx.log.must_ok(
        "SetAccessTokenTypeToInvertedCase",
        &["RFC9110-11.1"],
        inverted
            .clone()
            .map(|t| format!("token type {t}"))
            .ok_or("token_type not available".to_string()),
    )?;
    f.token_type = inverted;
    request_protected_resource(ctx, &mut f).await
}

/// A module that expects the request rejected at PAR (with one of `par_errors`) or at the
/// authorization endpoint (an error page, or an error redirect checked by `on_error`); a
/// successful redirect goes on through the normal flow when `success_ok`.
pub(super) async fn par_then_page_or_callback(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    par_check: (&str, &[&str], &[&str]),
    page: (&str, &[&str]),
    on_error: (&str, &[&str], crate::report::Outcome, &[&str]),
    success_ok: bool,
) -> Flow {
    let ro = if f.signed {
        create_request_object(ctx, f, &RequestObject::default())?;
        Some(sign_request_object(ctx, f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, f, ro)?;
    let resp = call_par(ctx, f, crate::modules::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        let (cond, errors, reqs) = par_check;
        ctx.log.check(cond, Failure, reqs, par_error(&resp, errors));
        return Ok(());
    }
    process_par_response(ctx, f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(ctx, f, &v, page.0, page.1, false)? {
        return Ok(());
    }
    if ctx.response.contains_key("error") || !success_ok {
        let (cond, allowed, sev, reqs) = on_error;
        error_response_checks(ctx, cond, allowed, sev, reqs);
        return Ok(());
    }
    process_callback(ctx, f)?;
    exchange_code(ctx, f).await?;
    request_protected_resource(ctx, f).await
}

/// fapi2-security-profile-final-ensure-authorization-request-with-long-nonce (384 characters).
pub async fn with_long_nonce(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            nonce_len: Some(384),
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["PAR-2.3"],
        ),
        ("ExpectRequestObjectWithLongNonceErrorPage", &[]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Warning,
            &["OIDCC-3.3.2.6"],
        ),
        true,
    )
    .await
}

/// fapi2-security-profile-final-ensure-authorization-request-with-long-state (1000 characters).
pub async fn with_long_state(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            state_len: Some(1000),
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["PAR-2.3"],
        ),
        ("ExpectRequestObjectWithLongStateErrorPage", &[]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Warning,
            &["OIDCC-3.3.2.6"],
        ),
        true,
    )
    .await?;
    if ctx.response.contains_key("error") {
        ctx.log.check(
            "WarningAboutRejectingLongState",
            Warning,
            &["FAPI2-SP-FINAL-5.3.2.2"],
            fail("the server rejected a 1000-character state"),
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-pkce-required: no code_challenge.
pub async fn par_ensure_pkce_required(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            pkce: None,
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["RFC7636-4.4.1"],
        ),
        ("ExpectPkceMissingErrorPage", &["FAPI2-SP-FINAL-5.3.2.2-5"]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["RFC7636-4.4.1"],
        ),
        false,
    )
    .await
}

/// fapi2-security-profile-final-par-plain-pkce-rejected: code_challenge_method=plain.
pub async fn par_plain_pkce_rejected(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            pkce: Some("plain"),
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["RFC7636-4.4.1"],
        ),
        ("ExpectPlainPkceErrorPage", &["FAPI2-SP-FINAL-5.3.2.2-5"]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["RFC7636-4.4.1"],
        ),
        false,
    )
    .await
}

/// fapi2-security-profile-final-ensure-redirect-uri-in-authorization-request: no redirect_uri;
/// PAR may refuse it, the authorization endpoint may show an error page, or the registered
/// one is used.
pub async fn redirect_uri_in_authorization_request(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            remove: vec!["redirect_uri"],
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            &["invalid_request", "invalid_request_object"],
            &["PAR-2.3"],
        ),
        (
            "ExpectRedirectUriMissingErrorPage",
            &["FAPI2-SP-FINAL-5.3.2.2-6"],
        ),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &[],
        ),
        true,
    )
    .await
}

/// fapi2-security-profile-final-ensure-response-type-code-idtoken-fails and
/// fapi2-security-profile-final-ensure-response-type-token-fails.
pub async fn response_type_fails(ctx: &mut Ctx<'_>, response_type: &'static str) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            response_type,
            ..Default::default()
        },
    )?;
    ctx.log.info(
        if response_type == "token" {
            "SetAuthorizationEndpointRequestResponseTypeToToken"
        } else {
            "SetAuthorizationEndpointRequestResponseTypeToCodeIdtoken"
        },
        format!("response_type={response_type}"),
    );
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        ctx.log.check(
            "EnsureHttpStatusCodeIs4xx",
            Failure,
            &["PAR-2.3"],
            status_in(&resp, 400..=499, "pushed authorization request"),
        );
        let r = par_error(
            &resp,
            &[
                "unsupported_response_type",
                "invalid_request",
                "unauthorized_client",
            ],
        );
        ctx.log.check(
            "EnsurePARUnsupportedResponseTypeOrInvalidRequestOrUnauthorizedClientError",
            Warning,
            &["PAR-2.3"],
            r,
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    match &v.landing {
        Landing::Page { .. } => {
            page_or_callback(
                ctx,
                &f,
                &v,
                "ExpectResponseTypeErrorPage",
                &["FAPI2-SP-FINAL-5.3.2.2-1"],
                false,
            )?;
        }
        Landing::Callback {
            query, fragment, ..
        } => {
            ctx.log
                .block("Verify authorization endpoint error response");
            ctx.log.check(
                "RejectAuthCodeInUrlQuery",
                Failure,
                &["FAPI2-SP-FINAL-5.3.2.2-1"],
                if query.contains_key("code") {
                    fail("a code in the URL query")
                } else {
                    ok("no code in the URL query")
                },
            );
            ctx.log.check(
                "RejectAuthCodeInUrlFragment",
                Failure,
                &["FAPI2-SP-FINAL-5.3.2.2-1"],
                if fragment.contains_key("code") {
                    fail("a code in the URL fragment")
                } else {
                    ok("no code in the URL fragment")
                },
            );
            let in_fragment = fragment.contains_key("error");
            ctx.response = if in_fragment {
                fragment.clone()
            } else {
                query.clone()
            };
            ctx.log.must_ok(
                "DetectWhetherErrorResponseIsInQueryOrFragment",
                &[],
                ok(if in_fragment { "fragment" } else { "query" }),
            )?;
            let r = auth_error_in(ctx, &["unsupported_response_type", "invalid_request"]);
            ctx.log.check(
                "EnsureUnsupportedResponseTypeOrInvalidRequestError",
                Failure,
                &["OIDCC-3.3.2.6"],
                r,
            );
            crate::modules::check_state(ctx);
            error_response_checks(
                ctx,
                "EnsureErrorFromAuthorizationEndpointResponse",
                &["unsupported_response_type", "invalid_request"],
                Failure,
                &[],
            );
        }
    }
    Ok(())
}

/// fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails:
/// the plain request straight to the authorization endpoint must be refused.
pub async fn unsigned_without_par_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    ctx.log.block("Make request to authorization endpoint");
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(ctx.request.iter());
            let s = u.to_string();
            (u, s)
        });
    let url = ctx.log.must(
        "BuildPlainRedirectToAuthorizationEndpoint",
        &["FAPI2-MS-ID1-5.3.1-1"],
        r,
    )?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectAuthorizationRequestWithoutRequestObjectErrorPage",
        &["FAPI2-MS-ID1-5.3.1-1"],
        true,
    )? {
        error_response_checks(
            ctx,
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["OIDCC-3.3.2.6"],
        );
    }
    Ok(())
}

/// The modules whose request has no state (AbstractFAPI2SPFinalEnsureRequestObjectWithoutState):
/// the response must carry no state, or be an error.
pub(super) async fn without_state(
    ctx: &mut Ctx<'_>,
    state_outside: bool,
    page_allowed: bool,
) -> Flow {
    let mut f = setup(ctx).await?;
    let state = random_len(10);
    ctx.log
        .must_ok("CreateRandomStateValue", &[], ok(state.clone()))?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            state: false,
            ..Default::default()
        },
    )?;
    push_current_request(ctx, &mut f).await?;
    if state_outside {
        // Only in the redirect, not in the pushed request: it must not be used.
        ctx.request.insert("state".into(), state.clone());
        ctx.log.must_ok(
            "AddStateToAuthorizationEndpointRequest",
            &[],
            ok("state added outside the pushed request"),
        )?;
    }
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_allowed {
        expect_callback(ctx, &f, &v)?;
    } else if !page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectRequestObjectMissingStateErrorPage",
        &["RFC6749-4.1.1"],
        false,
    )? {
        return Ok(());
    }
    if page_allowed && ctx.response.contains_key("error") {
        ctx.state = ctx.response.get("state").map(|_| state.clone());
        error_response_checks(
            ctx,
            "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
            &[
                "invalid_request",
                "invalid_request_object",
                "invalid_request_uri",
                "access_denied",
            ],
            Failure,
            &["OIDCC-3.1.2.6", "RFC6749-4.2.2.1"],
        );
        return Ok(());
    }
    let redirect = ctx.request["redirect_uri"].clone();
    let expected: BTreeMap<String, String> = Url::parse(&redirect)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    ctx.log.must_ok(
        "CheckMatchingCallbackParameters",
        &[],
        if expected.iter().all(|(k, v)| ctx.response.get(k) == Some(v)) {
            ok("Callback parameters successfully verified")
        } else {
            fail("the redirect_uri's own query parameters were not kept")
        },
    )?;
    let r = match ctx.response.get("error") {
        Some(e) => fail(format!("authorization endpoint error {e}")),
        None => ok("No error from authorization endpoint"),
    };
    ctx.log
        .must_ok("CheckIfAuthorizationEndpointError", &[], r)?;
    ctx.log.check(
        "VerifyNoStateInAuthorizationResponse",
        Failure,
        &[],
        match ctx.response.get("state") {
            Some(s) if !s.is_empty() => fail("state has been returned in authorization endpoint response, when it shouldn't have been"),
            _ => ok("Authorization endpoint response is correctly missing 'state'"),
        },
    );
    let r = match ctx.response.get("code") {
        Some(c) if !c.is_empty() => Ok((c.clone(), "code found".to_string())),
        _ => Err("Couldn't find authorization code".to_string()),
    };
    let code = ctx
        .log
        .must("ExtractAuthorizationCodeFromAuthorizationResponse", &[], r)?;
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeLength",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        length_check("Authorization code", &code),
    );
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeEntropy",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        entropy_check("authorization code", &code),
    );
    ctx.code = Some(code);
    ctx.state = None;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-ensure-authorization-request-without-state-success.
pub async fn without_state_success(ctx: &mut Ctx<'_>) -> Flow {
    without_state(ctx, false, false).await
}

/// fapi2-security-profile-final-state-only-outside-request-object-not-used.
pub async fn state_only_outside_request_object_not_used(ctx: &mut Ctx<'_>) -> Flow {
    without_state(ctx, true, true).await
}

/// fapi2-security-profile-final-ensure-different-nonce-inside-and-outside-request-object and
/// ...-state-...: a value in the redirect that differs from the pushed one is ignored, or the
/// request refused with invalid_request.
pub async fn different_inside_and_outside(ctx: &mut Ctx<'_>, member: &'static str) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    let other = format!("{}{}", random_len(10), "-other");
    ctx.request.insert(member.into(), other);
    let (cond, page) = if member == "nonce" {
        (
            "AddIncorrectNonceToAuthorizationEndpointRequest",
            (
                "ExpectRequestDifferentNonceInsideAndOutsideErrorPage",
                &["OIDCC-6.1"][..],
            ),
        )
    } else {
        (
            "AddIncorrectStateToAuthorizationEndpointRequest",
            (
                "ExpectRequestDifferentStateInsideAndOutsideErrorPage",
                &["FAPI2-MS-ID1-5.3.2-1"][..],
            ),
        )
    };
    ctx.log.must_ok(
        cond,
        &[],
        ok(format!("a different {member} outside the pushed request")),
    )?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(ctx, &f, &v, page.0, page.1, false)? {
        return Ok(());
    }
    if ctx.response.contains_key("error") {
        error_response_checks(
            ctx,
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["OIDCC-3.3.2.6"],
        );
        return Ok(());
    }
    // The pushed values are the request's: state and nonce are checked against them.
    if let Some(Value::String(s)) = f.request_object_claims.get(member) {
        ctx.request.insert(member.into(), s.clone());
    }
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-ensure-request-object-without-redirect-uri-fails
/// (RemoveRedirectUriFromRequestObject: not in the pushed request, still in the redirect).
pub async fn request_object_without_redirect_uri_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let ro = if f.signed {
        create_request_object(
            ctx,
            &mut f,
            &RequestObject {
                claims: vec![("redirect_uri".into(), Value::Null)],
                ..Default::default()
            },
        )?;
        ctx.log
            .info("RemoveRedirectUriFromRequestObject", "redirect_uri removed");
        Some(sign_request_object(ctx, &f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, ro)?;
    if !f.signed {
        f.par_form.retain(|(k, _)| k != "redirect_uri");
        if let Some(o) = f.request_object_claims.as_object_mut() {
            o.remove("redirect_uri");
        }
        ctx.log
            .info("RemoveRedirectUriFromRequestObject", "redirect_uri removed");
    }
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        ctx.log.check(
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            Failure,
            &["JAR-6.2"],
            par_error(&resp, &["invalid_request", "invalid_request_object"]),
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectRequestObjectMissingRedirectUriErrorPage",
        &["FAPI2-MS-ID1-5.3.2-1"],
        false,
    )? {
        error_response_checks(
            ctx,
            "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrInvalidRequestObject",
            &["invalid_request", "invalid_request_object"],
            Failure,
            &["OIDCC-3.1.2.6"],
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-plain-fapi-tolerate-unregistered-redirect-uri
/// (CreateBadRedirectUriByAppending): PAR refuses it, or the authorization endpoint shows an
/// error page; never a redirect to it (or to the registered one).
pub async fn tolerate_unregistered_redirect_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let bad = format!(
        "{}/{}",
        ctx.client.redirect_uri.trim_end_matches('/'),
        random_len(10)
    );
    ctx.log
        .must_ok("CreateBadRedirectUriByAppending", &[], ok(bad.clone()))?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            redirect_uri: Some(bad),
            ..Default::default()
        },
    )?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        ctx.log.check(
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            Failure,
            &["PAR-2.3"],
            par_error(&resp, &["invalid_request", "invalid_request_object"]),
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let registered = ctx.client.redirect_uri.clone();
    let r = ctx
        .browser
        .visit(url, &registered, Some(&ctx.cfg.user.clone()))
        .await;
    match r {
        Ok(v) => match &v.landing {
            Landing::Callback { url, .. } => {
                ctx.log.must_ok(
                    "ExpectRedirectUriErrorPage",
                    &["PAR-2.1-3"],
                    fail(format!("The authorization server redirected to {url} although the request named an unregistered redirect_uri")),
                )?;
            }
            Landing::Page { .. } => {
                page_or_callback(
                    ctx,
                    &f,
                    &v,
                    "ExpectRedirectUriErrorPage",
                    &["PAR-2.1-3"],
                    false,
                )?;
            }
        },
        Err(e) => {
            // The browser stopped at a redirect to the unregistered URI (not followed).
            ctx.log
                .must_ok("ExpectRedirectUriErrorPage", &["PAR-2.1-3"], fail(e))?;
        }
    }
    Ok(())
}
