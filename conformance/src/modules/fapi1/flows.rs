//! The plan's well-behaved flows: both clients, the user who cancels, request objects the
//! provider must accept, and the resource called with the token type in another case.

use super::*;

/// fapi1-advanced-final (FAPI1AdvancedFinal): both clients' flows, the second with a redirect
/// URI carrying a query and reordered parameters, then the second client's token over the
/// first client's certificate.
pub async fn fapi1_advanced_final(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    happy_flow(ctx, &mut f, &Tweaks::default(), true).await?;
    ensure_id_token_has_only_requested_claims(ctx);
    switch_to_second_client(ctx, &mut f)?;
    let t = Tweaks {
        nonce_len: Some(43),
        redirect: Redirect::Reordered,
        ..Tweaks::default()
    };
    happy_flow(ctx, &mut f, &t, false).await?;
    try_client2_token_with_client1_certificate(ctx, &mut f).await
}

/// EnsureIdTokenDoesNotContainNonRequestedClaims (a WARNING).
fn ensure_id_token_has_only_requested_claims(ctx: &mut Ctx<'_>) {
    let Some(t) = ctx.id_token.as_ref() else {
        return;
    };
    let scope = ctx.request.get("scope").cloned().unwrap_or_default();
    let r = crate::modules::id_token_has_only_requested_claims(&t.claims, &scope);
    ctx.log.check(
        "EnsureIdTokenDoesNotContainNonRequestedClaims",
        Warning,
        &[],
        r,
    );
}

/// fapi1-advanced-final-user-rejects-authentication (FAPI1AdvancedFinalUserRejectsAuthentication).
pub async fn fapi1_advanced_final_user_rejects_authentication(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    for second in [false, true] {
        if second {
            switch_to_second_client(ctx, &mut f)?;
        }
        // The user must be offered the chance to reject, so no login session is carried over
        // (the suite asks the tester to clear the provider's cookies).
        ctx.new_browser();
        let t = Tweaks {
            state_len: Some(128),
            ..Tweaks::default()
        };
        let v = match authorize_deciding(ctx, &mut f, &t, "deny").await? {
            Some(v) => v,
            None => return Ok(()),
        };
        arrive(ctx, &mut f, &v, None)?;
        process_callback(ctx, &mut f)?;
        check_state(ctx);
        ensure_error(ctx);
        unexpected_error_params(ctx);
        error_is_one_of(
            ctx,
            "ExpectAccessDeniedErrorFromAuthorizationEndpointDueToUserRejectingRequest",
            Failure,
            &["OIDCC-3.1.2.6", "RFC6749-4.1.2.1"],
            &["access_denied"],
        );
        if second {
            check_matching_callback_parameters(ctx, &f, Failure);
        }
    }
    Ok(())
}

/// `authorize` with the user answering the consent page with `decision`.
async fn authorize_deciding(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    t: &Tweaks,
    decision: &str,
) -> Flow<Option<Visit>> {
    ctx.log.block(&format!(
        "{}Make request to authorization endpoint",
        f.who()
    ));
    create_authorization_request(ctx, f, t)?;
    create_request_object(ctx, f, t)?;
    let url = if f.par {
        let resp = call_par(ctx, f, t).await?;
        process_par_response(ctx, f, &resp)?;
        par_redirect(ctx, f, t.redirect)?
    } else {
        let object = f.request_object.clone();
        build_redirect(
            ctx,
            f,
            "request",
            &object,
            Redirect::Normal,
            false,
            (
                "BuildRequestObjectByValueRedirectToAuthorizationEndpoint",
                &[],
            ),
        )?
    };
    let redirect_uri = ctx.client.redirect_uri.clone();
    let user = ctx.cfg.user.clone();
    let r = ctx
        .browser
        .visit_deciding(url, &redirect_uri, Some(&user), decision)
        .await;
    match r {
        Ok(v) => {
            ctx.log.info(
                "performRedirect",
                format!(
                    "browser: {} login page(s), {} consent page(s), the user chose '{decision}'",
                    v.login_pages, v.consent_pages
                ),
            );
            Ok(Some(v))
        }
        Err(e) => {
            ctx.log.must_ok("performRedirect", &[], Err(e))?;
            Ok(None)
        }
    }
}

pub async fn fapi1_advanced_final_ensure_request_object_with_multiple_aud_succeeds(
    ctx: &mut Ctx<'_>,
) -> Flow {
    standard(
        ctx,
        Tweaks {
            object: vec![ObjectTweak::MultipleAud],
            redirect: Redirect::WithoutDuplicates,
            ..Tweaks::default()
        },
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_authorization_request_without_state_success(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks {
        no_state: true,
        ..Tweaks::default()
    };
    let Arrival::Visit(v) = authorize(ctx, &mut f, &t).await? else {
        return Err(Stop);
    };
    arrive(ctx, &mut f, &v, None)?;
    process_callback(ctx, &mut f)?;
    success_without_state(ctx, &mut f).await
}

pub async fn fapi1_advanced_final_ensure_valid_pkce_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    standard(
        ctx,
        Tweaks {
            pkce: Pkce::Always,
            ..Tweaks::default()
        },
    )
    .await
}

pub async fn fapi1_advanced_final_ensure_other_scope_order_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    standard(
        ctx,
        Tweaks {
            request: vec![RequestTweak::ReverseScope],
            ..Tweaks::default()
        },
    )
    .await
}

/// fapi1-advanced-final-access-token-type-header-case-sensitivity: the resource is called
/// with the token type in inverted case (RFC 9110 §11.1: the scheme is case-insensitive).
pub async fn fapi1_advanced_final_access_token_type_header_case_sensitivity(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    let t = Tweaks::default();
    let Arrival::Visit(v) = authorize(ctx, &mut f, &t).await? else {
        return Err(Stop);
    };
    arrive(ctx, &mut f, &v, None)?;
    process_callback(ctx, &mut f)?;
    successful_callback(ctx, &mut f)?;
    redeem_code(ctx, &mut f, TokenAuth::Default).await?;
    let inverted: String = f
        .token_type
        .chars()
        .map(|c| {
            if c.is_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect();
    ctx.log.must_ok(
        "SetAccessTokenTypeToInvertedCase",
        &["RFC9110-11.1"],
        Ok(format!("token type {inverted}")),
    )?;
    f.token_type = inverted;
    request_protected_resource(ctx, &mut f, false).await
}
