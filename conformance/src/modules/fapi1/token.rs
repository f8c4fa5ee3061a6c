//! The token endpoint's negatives: codes of another client, reused or redeemed without the
//! certificate, bent client assertions; and the refresh token module.

use super::*;

/// The checks of the private_key_jwt negatives (processTokenEndpointResponse).
fn assertion_refused_checks(ctx: &mut Ctx<'_>, resp: &Resp) {
    token_error_checks(
        ctx,
        resp,
        &[
            TokenErr::JsonContentType,
            TokenErr::Valid,
            TokenErr::Status400Or401ForInvalidClient,
            TokenErr::Error(
                "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
                INVALID_CLIENT_OR_REQUEST,
            ),
        ],
    );
}

/// fapi1-advanced-final-ensure-client-id-in-token-endpoint: the code redeemed under the
/// second client's client_id (and, with private_key_jwt, an assertion naming it).
pub async fn fapi1_advanced_final_ensure_client_id_in_token_endpoint(ctx: &mut Ctx<'_>) -> Flow {
    let f = authorized(ctx, &Tweaks::default()).await?;
    ctx.log.block("Swapping to Client2");
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let one = ctx.client.clone();
    ctx.client = f.two.client.clone();
    let auth = if f.mtls {
        TokenAuth::ClientIdOnly
    } else {
        // The client is the second one, its key still the first one's.
        let claims = client_assertion_claims(ctx, json!(url));
        let r = signer_for(&one)
            .and_then(|s| s.sign(json!({}), &claims))
            .map(|j| {
                (
                    j,
                    "assertion naming the second client, signed with the first client's key"
                        .to_string(),
                )
            });
        let jwt = ctx.log.must("SignClientAuthenticationAssertion", &[], r)?;
        TokenAuth::Raw(jwt)
    };
    let resp = call_token_endpoint_for_code(ctx, &f, auth, true).await?;
    ctx.client = one;
    token_error_checks(
        ctx,
        &resp,
        &[
            TokenErr::Status400Or401ForInvalidClient,
            TokenErr::JsonContentType,
            TokenErr::Error(
                "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidGrant",
                &["invalid_client", "invalid_grant"],
            ),
            TokenErr::Valid,
        ],
    );
    Ok(())
}

/// fapi1-advanced-final-ensure-mtls-holder-of-key-required: the code redeemed without the
/// client's certificate must fail (FAPI 1 Adv. §5.2.2-6).
pub async fn fapi1_advanced_final_ensure_mtls_holder_of_key_required(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    crate::modules::tls::probe_server_endpoints(ctx, crate::tls_probe::Ciphers::Fapi1).await;
    let Arrival::Visit(v) = authorize(ctx, &mut f, &Tweaks::default()).await? else {
        return Err(Stop);
    };
    arrive(ctx, &mut f, &v, None)?;
    process_callback(ctx, &mut f)?;
    // handleSuccessfulAuthorizationEndpointResponse goes straight to the token endpoint.
    check_matching_callback_parameters(ctx, &f, Failure);
    check_if_authorization_endpoint_error(ctx)?;
    check_state(ctx);
    validate_iss_if_present(ctx);
    extract_code(ctx)?;
    ctx.log
        .block("Call token endpoint without the client certificate");
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    ctx.log.must_ok(
        "RemoveMTLSCertificates",
        &[],
        Ok("no client certificate on the connection".into()),
    )?;
    let bare = ctx.back_without_certificate();
    let with_cert = std::mem::replace(&mut ctx.back, bare);
    create_code_request(ctx);
    let mut form = ctx.token_form.clone();
    if let Some(ver) = &f.verifier {
        form.push(("code_verifier".into(), ver.clone()));
    }
    let r = post_with_client_auth(ctx, &url, &form, AuthOverride::Default, &[]).await;
    ctx.back = with_cert;
    let resp = match r {
        Err(e) => {
            ctx.log.check(
                "CallTokenEndpointAllowingTLSFailure",
                Failure,
                &["FAPI1-ADV-5.2.2-6"],
                Ok(format!(
                    "Call to token_endpoint failed due to a TLS issue: {e}"
                )),
            );
            return Ok(());
        }
        Ok(resp) => resp,
    };
    ctx.log.check(
        "CallTokenEndpointAllowingTLSFailure",
        Failure,
        &["FAPI1-ADV-5.2.2-6"],
        Ok(format!("HTTP {}", resp.status)),
    );
    token_refused_without_certificate(ctx, &f, &resp);
    Ok(())
}

/// The checks of a token request made without the client's certificate.
fn token_refused_without_certificate(ctx: &mut Ctx<'_>, f: &Fapi, resp: &Resp) {
    ensure_4xx(ctx, resp.status, Failure, &["RFC6749-5.2"]);
    ctx.log.check(
        "CheckTokenEndpointHttpStatus400or401",
        Warning,
        &["RFC6749-5.2"],
        if resp.status == 400 || resp.status == 401 {
            Ok(format!("HTTP {}", resp.status))
        } else {
            Err(format!("expected HTTP 400 or 401, got {}", resp.status))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Warning,
        &["OIDCC-3.1.3.4"],
        if is_json(resp) {
            Ok("application/json".into())
        } else {
            Err(format!("Content-Type '{}'", resp.content_type))
        },
    );
    if is_json(resp) {
        if f.mtls {
            token_error_checks(
                ctx,
                resp,
                &[
                    TokenErr::Status400Or401ForInvalidClient,
                    TokenErr::Error(
                        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
                        INVALID_CLIENT_OR_REQUEST,
                    ),
                ],
            );
        } else {
            token_error_checks(ctx, resp, &[TokenErr::InvalidClientGrantOrRequest]);
        }
        token_error_checks(ctx, resp, &[TokenErr::Valid]);
    }
}

/// fapi1-advanced-final-ensure-authorization-code-is-bound-to-client: the first client's code
/// redeemed by the second client.
pub async fn fapi1_advanced_final_ensure_authorization_code_is_bound_to_client(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let f = authorized(ctx, &Tweaks::default()).await?;
    ctx.log
        .block("Second client: Call token endpoint with the first client's code");
    let two = f.two.clone();
    use_party(ctx, &two);
    let resp = call_token_endpoint_for_code(ctx, &f, TokenAuth::Default, true).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus400",
        &["OIDCC-3.1.3.4"],
        if resp.status == 400 {
            Ok("HTTP 400".into())
        } else {
            Err(format!("expected HTTP 400, got {}", status_msg(&resp)))
        },
    )?;
    token_error_checks(
        ctx,
        &resp,
        &[
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

/// fapi1-advanced-final-attempt-reuse-authorisation-code-after-one-second.
pub async fn fapi1_advanced_final_attempt_reuse_authorisation_code_after_one_second(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let mut f = setup(ctx).await?;
    happy_flow(ctx, &mut f, &Tweaks::default(), false).await?;
    ctx.log.block("Attempting reuse of authorization code");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ctx.log
        .must_ok("WaitForOneSecond", &[], Ok("waited".into()))?;
    // A fresh client assertion (the old one's jti is spent); the same code.
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let form = ctx.token_form.clone();
    let mut form = form;
    if let Some(ver) = &f.verifier {
        if !form.iter().any(|(k, _)| k == "code_verifier") {
            form.push(("code_verifier".into(), ver.clone()));
        }
    }
    let r = post_with_client_auth(ctx, &url, &form, AuthOverride::Default, &[])
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    let resp = ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &["FAPI1-BASE-5.2.2-13"],
        r,
    )?;
    if resp.status == 200 {
        ctx.log.check(
            "ServerAllowedReusingAuthorizationCode",
            Failure,
            &["FAPI1-BASE-5.2.2-13"],
            Err("the server accepted the same authorization code twice".into()),
        );
    } else {
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
    }
    ctx.log.block("Testing if access token was revoked after authorization code reuse (the AS 'should' have revoked the access token)");
    let token = ctx.access_token.clone().unwrap_or_default();
    let back = ctx.back.clone();
    let r = call_resource(ctx, &mut f, &back, &token, &ResourceCall::default())
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    let res = ctx
        .log
        .must("CallProtectedResource", &["RFC6749-4.1.2"], r)?;
    ensure_4xx(ctx, res.status, Warning, &["RFC6749-4.1.2", "RFC6750-3.1"]);
    Ok(())
}

// ---- private_key_jwt negatives ---------------------------------------------------------------

/// A private_key_jwt module: the code redeemed with the assertion claims `change` makes.
async fn assertion_module(
    ctx: &mut Ctx<'_>,
    change: impl FnOnce(&mut Value, &str) -> Page,
) -> Flow<(Fapi, Resp)> {
    let f = authorized(ctx, &Tweaks::default()).await?;
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let mut claims = client_assertion_claims(ctx, json!(url));
    ctx.log.must_ok(
        "CreateClientAuthenticationAssertionClaims",
        &[],
        Ok(format!("{claims}")),
    )?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let (cond, reqs) = change(&mut claims, &issuer);
    ctx.log.must_ok(cond, reqs, Ok(format!("{claims}")))?;
    let resp = call_token_endpoint_for_code(ctx, &f, TokenAuth::Claims(claims), true).await?;
    Ok((f, resp))
}

pub async fn fapi1_advanced_final_ensure_signed_client_assertion_with_rs256_fails(
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
    let f = authorized(ctx, &Tweaks::default()).await?;
    let resp = call_token_endpoint_for_code(ctx, &f, TokenAuth::Rs256, true).await?;
    token_error_checks(
        ctx,
        &resp,
        &[
            TokenErr::Status400Or401ForInvalidClient,
            TokenErr::JsonContentType,
            TokenErr::Error(
                "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
                &["invalid_client"],
            ),
            TokenErr::Valid,
        ],
    );
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_client_assertion_in_token_endpoint(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let f = authorized(ctx, &Tweaks::default()).await?;
    let resp = call_token_endpoint_for_code(ctx, &f, TokenAuth::ClientIdOnly, true).await?;
    assertion_refused_checks(ctx, &resp);
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (_, resp) = assertion_module(ctx, |c, _| {
        c["exp"] = json!(now() - 300);
        ("AddExpIs5MinutesInPastToClientAssertionClaims", &[])
    })
    .await?;
    assertion_refused_checks(ctx, &resp);
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_client_assertion_with_wrong_aud_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (_, resp) = assertion_module(ctx, |c, _| {
        c["aud"] = json!("https://fapidev-rs.authlete.net/api/userinfo");
        ("AddWrongAudToClientAssertionClaims", &[])
    })
    .await?;
    assertion_refused_checks(ctx, &resp);
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_client_assertion_with_no_sub_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (_, resp) = assertion_module(ctx, |c, _| {
        if let Some(o) = c.as_object_mut() {
            o.remove("sub");
        }
        ("RemoveSubFromClientAssertionClaims", &["RFC7523-3"])
    })
    .await?;
    assertion_refused_checks(ctx, &resp);
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_client_assertion_with_wrong_iss_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (_, resp) = assertion_module(ctx, |c, _| {
        c["iss"] = json!("wrong-issuer-value");
        (
            "AddWrongIssToClientAssertionClaims",
            &["RFC7523-3", "OIDCC-9"],
        )
    })
    .await?;
    assertion_refused_checks(ctx, &resp);
    Ok(())
}

pub async fn fapi1_advanced_final_ensure_client_assertion_with_wrong_sub_fails(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (_, resp) = assertion_module(ctx, |c, _| {
        c["sub"] = json!("wrong-sub-value");
        (
            "SetSubToWrongValueInClientAssertionClaims",
            &["RFC7523-3", "OIDCC-9"],
        )
    })
    .await?;
    assertion_refused_checks(ctx, &resp);
    Ok(())
}

/// fapi1-advanced-final-ensure-client-assertion-with-iss-aud-succeeds: the issuer as the
/// assertion's audience must be accepted (or refused as invalid_client, with a warning).
pub async fn fapi1_advanced_final_ensure_client_assertion_with_iss_aud_succeeds(
    ctx: &mut Ctx<'_>,
) -> Flow {
    let (mut f, resp) = assertion_module(ctx, |c, issuer| {
        c["aud"] = json!(issuer);
        ("UpdateClientAuthenticationAssertionClaimsWithISSAud", &[])
    })
    .await?;
    let body = resp.json().unwrap_or_default();
    if body["error"].as_str().is_some_and(|e| !e.is_empty()) {
        ctx.log.check(
            "CheckIfTokenEndpointResponseError",
            Warning,
            &[],
            Err(format!("token endpoint error: {body}")),
        );
        token_error_checks(
            ctx,
            &resp,
            &[
                TokenErr::JsonContentType,
                TokenErr::Valid,
                TokenErr::Status400Or401ForInvalidClient,
                TokenErr::Error(
                    "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
                    &["invalid_client"],
                ),
            ],
        );
        return Ok(());
    }
    process_token_response(ctx, &mut f, &resp)
}

// ---- refresh tokens ------------------------------------------------------------------------

/// fapi1-advanced-final-refresh-token (FAPI1AdvancedFinalRefreshToken).
pub async fn fapi1_advanced_final_refresh_token(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let mut first_refresh = None;
    for second in [false, true] {
        if second {
            ctx.refresh_token = None;
            switch_to_second_client(ctx, &mut f)?;
        }
        refresh_flow(ctx, &mut f).await?;
        if !second {
            first_refresh = ctx.refresh_token.clone();
        }
    }
    let _ = first_refresh;
    let client2_refresh = ctx.refresh_token.clone();
    try_client2_token_with_client1_certificate(ctx, &mut f).await?;
    ctx.log
        .block("Attempting to use refresh_token issued to client 2 with client 1");
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        (
            "refresh_token".to_string(),
            client2_refresh.unwrap_or_default(),
        ),
        ("scope".to_string(), SCOPE.to_string()),
    ];
    ctx.log.must_ok(
        "CreateRefreshTokenRequest",
        &[],
        Ok("grant_type=refresh_token".into()),
    )?;
    ctx.log.must_ok(
        "AddScopeToTokenEndpointRequest",
        &["RFC6749-6"],
        Ok(SCOPE.into()),
    )?;
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let r = post_with_client_auth(ctx, &url, &form, AuthOverride::Default, &[])
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    let resp = ctx
        .log
        .must("CallTokenEndpointAndReturnFullResponse", &[], r)?;
    let body = resp.json().unwrap_or_default();
    ctx.log.must_ok(
        "ValidateErrorFromTokenEndpointResponseError",
        &[],
        match body["error"].as_str() {
            Some(e) => Ok(format!("error {e}")),
            None => Err(format!("expected an error, got {}", status_msg(&resp))),
        },
    )?;
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
        ],
    );
    Ok(())
}

/// One client's flow of the refresh token module: prompt=consent with offline_access, the
/// code, a refresh (and, for the first client, one without the certificate), the resource.
async fn refresh_flow(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    let t = Tweaks::default();
    ctx.log.block(&format!(
        "{}Make request to authorization endpoint",
        f.who()
    ));
    create_authorization_request(ctx, f, &t)?;
    if SCOPE.split(' ').any(|s| s == "offline_access") {
        f.request.insert("prompt".into(), json!("consent"));
        ctx.request.insert("prompt".into(), "consent".into());
        ctx.log.must_ok(
            "AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess",
            &["OIDCC-11"],
            Ok("prompt=consent".into()),
        )?;
    }
    create_request_object(ctx, f, &t)?;
    let url = if f.par {
        let resp = call_par(ctx, f, &t).await?;
        process_par_response(ctx, f, &resp)?;
        par_redirect(ctx, f, Redirect::Normal)?
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
    let v = go(ctx, url).await?;
    arrive(ctx, f, &v, None)?;
    process_callback(ctx, f)?;
    successful_callback(ctx, f)?;
    redeem_code(ctx, f, TokenAuth::Default).await?;
    ctx.log
        .block(&format!("{}Check for refresh token", f.who()));
    let Some(rt) = ctx.refresh_token.clone() else {
        ctx.log.check(
            "FAPIEnsureServerConfigurationDoesNotSupportRefreshToken",
            Warning,
            &["OIDCD-3"],
            match json_array_strings(&ctx.server["grant_types_supported"]) {
                Some(l) if l.iter().any(|g| g == "refresh_token") => Err(
                    "refresh_token is in grant_types_supported, but no refresh token was issued"
                        .into(),
                ),
                _ => Ok("refresh tokens are not advertised".into()),
            },
        );
        return Err(ctx
            .log
            .skip("Refresh tokens cannot be tested. No refresh token was issued."));
    };
    ctx.log.check(
        "EnsureServerConfigurationSupportsRefreshToken",
        Warning,
        &["OIDCD-3"],
        crate::modules::discovery::array_contains(
            &ctx.server,
            "grant_types_supported",
            &["refresh_token"],
            1,
            "refresh_token is not in grant_types_supported",
        ),
    );
    ctx.log.check(
        "EnsureRefreshTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.17"],
        if rt.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok("Refresh token does not contain any illegal characters".into())
        } else {
            Err("Refresh token contains illegal characters".into())
        },
    );
    refresh_request(ctx, f).await?;
    if !f.second {
        ctx.log.block("Attempting to use an MTLS sender constrained refresh_token without proof of possession");
        let form = refresh_form(ctx, f);
        let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
        let bare = ctx.back_without_certificate();
        let with_cert = std::mem::replace(&mut ctx.back, bare);
        let r = post_with_client_auth(ctx, &url, &form, AuthOverride::Default, &[]).await;
        ctx.back = with_cert;
        match r {
            Err(e) => ctx.log.check(
                "CallTokenEndpointAllowingTLSFailure",
                Failure,
                &["FAPI1-ADV-5.2.2-6"],
                Ok(format!(
                    "Call to token_endpoint failed due to a TLS issue: {e}"
                )),
            ),
            Ok(resp) => {
                ctx.log.check(
                    "CallTokenEndpointAllowingTLSFailure",
                    Failure,
                    &["FAPI1-ADV-5.2.2-6"],
                    Ok(format!("HTTP {}", resp.status)),
                );
                ctx.log.check(
                    "CheckTokenEndpointHttpStatus400or401",
                    Failure,
                    &["RFC6749-5.2"],
                    if resp.status == 400 || resp.status == 401 {
                        Ok(format!("HTTP {}", resp.status))
                    } else {
                        Err(format!(
                            "expected HTTP 400 or 401, got {}",
                            status_msg(&resp)
                        ))
                    },
                );
                let json = is_json(&resp);
                ctx.log.check(
                    "CheckTokenEndpointReturnedJsonContentType",
                    Warning,
                    &["OIDCC-3.1.3.4"],
                    if json {
                        Ok("application/json".into())
                    } else {
                        Err(format!("Content-Type '{}'", resp.content_type))
                    },
                );
                if json {
                    if f.mtls {
                        token_error_checks(ctx, &resp, &[
                            TokenErr::Status400Or401ForInvalidClient,
                            TokenErr::Error("CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest", INVALID_CLIENT_OR_REQUEST),
                        ]);
                    } else {
                        token_error_checks(ctx, &resp, &[TokenErr::InvalidClientGrantOrRequest]);
                    }
                    token_error_checks(ctx, &resp, &[TokenErr::Valid]);
                }
                true
            }
        };
    }
    request_protected_resource(ctx, f, false).await
}

fn refresh_form(ctx: &mut Ctx<'_>, f: &Fapi) -> Vec<(String, String)> {
    let mut form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        (
            "refresh_token".to_string(),
            ctx.refresh_token.clone().unwrap_or_default(),
        ),
    ];
    ctx.log
        .info("CreateRefreshTokenRequest", "grant_type=refresh_token");
    if !f.second {
        form.push(("scope".to_string(), SCOPE.to_string()));
        ctx.log
            .info("AddScopeToTokenEndpointRequest", format!("scope {SCOPE}"));
    }
    form
}

/// RefreshTokenRequestSteps.
async fn refresh_request(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block(&format!("{}Refresh Token Request", f.who()));
    let form = refresh_form(ctx, f);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ctx.log
        .must_ok("WaitForOneSecond", &[], Ok("waited".into()))?;
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let r = post_with_client_auth(ctx, &url, &form, AuthOverride::Default, &[])
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    let resp = ctx
        .log
        .must("CallTokenEndpointAndReturnFullResponse", &[], r)?;
    ctx.log.check(
        "CheckTokenEndpointHttpStatus200",
        Failure,
        &["RFC6749-5.1"],
        if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(status_msg(&resp))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["RFC6749-5.1"],
        if is_json(&resp) {
            Ok("application/json".into())
        } else {
            Err(format!("Content-Type '{}'", resp.content_type))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointCacheHeaders",
        Failure,
        &["RFC6749-5.1"],
        match resp.cache_control.as_deref() {
            Some(c) if c.to_ascii_lowercase().contains("no-store") => {
                Ok(format!("Cache-Control: {c}"))
            }
            other => Err(format!("Cache-Control must include no-store: {other:?}")),
        },
    );
    let body = resp.json().unwrap_or_default();
    ctx.log.must_ok(
        "CheckIfTokenEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            Err(format!("token endpoint error: {body}"))
        } else {
            Ok("no error".into())
        },
    )?;
    let at = body["access_token"].as_str().map(str::to_string);
    let at = ctx.log.must(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        at.map(|a| (a, "access_token extracted".to_string()))
            .ok_or("no access_token".to_string()),
    )?;
    ctx.log.check(
        "CheckTokenTypeIsBearer",
        Failure,
        &["FAPI-R-6.2.2-1", "FAPI1-BASE-6.2.2-1"],
        match body["token_type"].as_str() {
            Some(t) if t.eq_ignore_ascii_case("bearer") => Ok(format!("token_type {t}")),
            other => Err(format!("token_type must be Bearer: {other:?}")),
        },
    );
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI-R-5.2.2-16", "FAPI1-BASE-5.2.2-16"],
        min_entropy("access token", Some(&at)),
    );
    ctx.log.check(
        "EnsureAccessTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.12"],
        if at.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok("Access token does not contain any illegal characters".into())
        } else {
            Err("Access token contains illegal characters".into())
        },
    );
    let has_expires = body.get("expires_in").is_some();
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-6", "RFC6749-5.1"],
        if has_expires {
            Ok("expires_in present".into())
        } else {
            Err("expires_in missing".into())
        },
    );
    ctx.log.check(
        "EnsureAccessTokenValuesAreDifferent",
        Info,
        &[],
        if Some(&at) == ctx.access_token.as_ref() {
            Err("the refreshed access token is the same as the first".into())
        } else {
            Ok("a new access token".into())
        },
    );
    let first_id_token = ctx.id_token.as_ref().map(|t| t.claims.clone());
    if let Some(raw) = body["id_token"].as_str() {
        if let Ok(jws) = jose::decode(raw) {
            ctx.log
                .info("ExtractIdTokenFromTokenResponse", "id_token extracted");
            if let Some(first) = first_id_token {
                let second = jws.claims.clone();
                let same = |k: &str| first.get(k) == second.get(k);
                let r = if !same("iss")
                    || !same("sub")
                    || !same("aud")
                    || !same("azp")
                    || !same("auth_time")
                {
                    Err("the refreshed id_token's iss, sub, aud, azp or auth_time differ from the first id_token's".into())
                } else if second["iat"].as_i64() <= first["iat"].as_i64() {
                    Err("the refreshed id_token's iat is not later than the first's".into())
                } else {
                    Ok("the id_tokens' claims are consistent (OIDC Core §12.2)".into())
                };
                ctx.log
                    .check("CompareIdTokenClaims", Failure, &["OIDCC-12.2"], r);
            }
        }
    } else {
        ctx.log.info(
            "ExtractIdTokenFromTokenResponse",
            "no id_token in the refresh response",
        );
    }
    if let Some(rt) = body["refresh_token"].as_str() {
        ctx.log.check(
            "EnsureMinimumRefreshTokenLength",
            Failure,
            &["RFC6749-10.10"],
            min_length("refresh token", Some(rt)),
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenEntropy",
            Failure,
            &["RFC6749-10.10"],
            min_entropy("refresh token", Some(rt)),
        );
        ctx.refresh_token = Some(rt.to_string());
    }
    ctx.access_token = Some(at);
    f.token_type = body["token_type"].as_str().unwrap_or("Bearer").to_string();
    Ok(())
}
