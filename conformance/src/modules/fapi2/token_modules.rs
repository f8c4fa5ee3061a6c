//! The token endpoint modules: PKCE, holder of key, code binding and reuse, expired codes
//! and client assertions that must be refused.

use super::*;

/// The front channel of AbstractFAPI2SPFinalPerformTokenEndpoint: up to the code.
pub(super) async fn up_to_code(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    let v = par_and_authorize(ctx, f, &AuthReq::default(), false).await?;
    expect_callback(ctx, f, &v)?;
    process_callback(ctx, f)
}

/// A token request with `auth` instead of the variant's client authentication.
pub(super) async fn token_request_with(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    auth: crate::modules::AuthOverride,
    verifier: bool,
) -> Flow<Resp> {
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, f, verifier)?;
    let form = ctx.token_form.clone();
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(f)
    };
    call_token(ctx, f, &form, &how).await
}

/// fapi2-security-profile-final-ensure-pkce-code-verifier-required.
pub async fn pkce_code_verifier_required(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, false).await?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    Ok(())
}

/// fapi2-security-profile-final-incorrect-pkce-code-verifier-rejected.
pub async fn incorrect_pkce_code_verifier_rejected(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    let other = jose::random_value(32);
    ctx.log.info(
        "CreateRandomCodeVerifier",
        format!("a different verifier: {other}"),
    );
    f.code_verifier = Some(other);
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-client-id-in-token-endpoint: client 1's code with
/// client 2's client_id (and, for private_key_jwt, client 2's assertion signed with client 1's
/// key).
pub async fn ensure_client_id_in_token_endpoint(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    up_to_code(ctx, &mut f).await?;
    ctx.log.block("Swapping to Client2");
    let c2 = ctx.client2().map_err(|_| Stop)?;
    ctx.log.must_ok(
        "AddClientIdToRequest",
        &["RFC6749-5.2"],
        ok(format!("client_id {}", c2.client_id)),
    )?;
    create_code_request(ctx, &f, true)?;
    let mut form = ctx.token_form.clone();
    // Client 2's client_id with client 1's credentials: its certificate (mtls), or an
    // assertion for client 2 signed with client 1's key.
    let client1_id = std::mem::replace(&mut ctx.client.client_id, c2.client_id.clone());
    let auth = if f.mtls_auth {
        crate::modules::AuthOverride::Default
    } else {
        form.push(("client_id".into(), c2.client_id.clone()));
        let claims = assertion_claims_iss_aud(ctx);
        signed_assertion(ctx, &claims)?
    };
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(&f)
    };
    let resp = call_token(ctx, &mut f, &form, &how).await;
    ctx.client.client_id = client1_id;
    let resp = resp?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidGrant",
        &["invalid_client", "invalid_grant"],
        true,
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-authorization-code-is-bound-to-client: client 1's code
/// redeemed by client 2 (its own authentication and certificate).
pub async fn ensure_authorization_code_is_bound_to_client(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    up_to_code(ctx, &mut f).await?;
    create_code_request(ctx, &f, true)?;
    switch_to_second_client(ctx, &mut f)?;
    f.dpop_key = None;
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus400",
        &["OIDCC-3.1.3.4"],
        if resp.status == 400 {
            ok("HTTP 400")
        } else {
            fail(format!(
                "expected HTTP 400, got {}: {}",
                resp.status, resp.body
            ))
        },
    )?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    switch_to_first_client(ctx, &mut f);
    Ok(())
}

/// fapi2-security-profile-final-attempt-reuse-authorization-code-after-one-second.
pub async fn attempt_reuse_authorization_code_after_one_second(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    authorization_flow(ctx, &mut f, &AuthReq::default()).await?;
    ctx.log.block("Attempting reuse of authorization code");
    ctx.log.info("WaitForOneSecond", "1 s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let first_token = ctx.access_token.clone();
    let auth = variant_auth(ctx, &f);
    let form = ctx.token_form.clone();
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(&f)
    };
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    if resp.status == 200 {
        ctx.log.check(
            "ServerAllowedReusingAuthorizationCode",
            Failure,
            &["FAPI2-SP-FINAL-5.3.2.2-9"],
            fail("The server allowed the authorization code to be used twice"),
        );
    } else {
        token_error_checks(
            ctx,
            &resp,
            "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
            &["invalid_grant"],
            false,
        );
    }
    ctx.log.block("Testing if access token was revoked after authorization code reuse (the AS 'should' have revoked the access token)");
    ctx.access_token = first_token;
    let resp = call_resource(
        ctx,
        &mut f,
        &ResourceCall {
            reqs: &["RFC6749-4.1.2"],
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Warning,
        &["RFC6749-4.1.2", "RFC6750-3.1"],
        status_in(&resp, 400..=499, "resource"),
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code: the code
/// redeemed 62 s later.
pub async fn attempt_to_use_expired_auth_code(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    ctx.log.info("WaitFor62Seconds", "62 s");
    tokio::time::sleep(std::time::Duration::from_secs(62)).await;
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    ctx.log.block("Verify token endpoint response");
    if resp.status == 200 {
        ctx.log.check(
            "ServerAllowedExpiredAuthorizationCode",
            Failure,
            &["FAPI2-SP-FINAL-5.3.2.1-11"],
            fail("The server accepted an authorization code 62 seconds after it was issued"),
        );
    } else {
        token_error_checks(
            ctx,
            &resp,
            "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
            &["invalid_grant"],
            false,
        );
    }
    Ok(())
}

/// The client-assertion negatives: the code redeemed with a changed assertion; `invalid_client`
/// or `invalid_request` expected.
pub(super) async fn assertion_negative(
    ctx: &mut Ctx<'_>,
    change: &str,
    error_cond: &str,
    allowed: &[&str],
    all_checks: bool,
) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let auth = match change {
        "none" => {
            ctx.log
                .must_ok("AddClientIdToRequest", &[], ok("client_id only"))?;
            crate::modules::AuthOverride::None
        }
        "rs256" => {
            let claims = crate::modules::client_assertion_claims(ctx, issuer.into());
            let key = ctx.client.signing_key.clone();
            let r = key
                .ok_or("no signing key configured".to_string())
                .and_then(|k| {
                    let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
                    crate::jose::Signer::from_der("RS256", &k.kid, &der)
                })
                .map(|s| (s, "client key with alg RS256".to_string()));
            let signer = ctx
                .log
                .must("ChangeClientJwksAlgToRS256", &["FAPI2-SP-FINAL-5.4"], r)?;
            let r = signer
                .sign(json!({}), &claims)
                .map(|j| (j, "signed with RS256".to_string()));
            let jws = ctx.log.must("SignClientAuthenticationAssertion", &[], r)?;
            crate::modules::AuthOverride::RawAssertion(jws)
        }
        _ => {
            let mut claims = crate::modules::client_assertion_claims(ctx, issuer.into());
            let cond = match change {
                "exp" => {
                    claims["exp"] = (now() - 300).into();
                    "AddExpIs5MinutesInPastToClientAssertionClaims"
                }
                "aud" => {
                    claims["aud"] = "https://fapidev-rs.authlete.net/api/userinfo".into();
                    "AddWrongAudToClientAssertionClaims"
                }
                _ => {
                    claims.as_object_mut().map(|o| o.remove("sub"));
                    "RemoveSubFromClientAssertionClaims"
                }
            };
            ctx.log
                .must_ok(cond, &["RFC7523-3"], ok("assertion changed"))?;
            signed_assertion(ctx, &claims)?
        }
    };
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    if all_checks {
        token_error_checks(ctx, &resp, error_cond, allowed, true);
    } else {
        ctx.log.check(
            "CheckTokenEndpointReturnedJsonContentType",
            Failure,
            &["OIDCC-3.1.3.4"],
            if resp.content_type.starts_with("application/json") {
                ok("application/json")
            } else {
                fail(format!("Content-Type is '{}'", resp.content_type))
            },
        );
        let error = resp
            .json()
            .and_then(|b| b["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        let status_ok = if error == "invalid_client" {
            [400, 401].contains(&resp.status)
        } else {
            resp.status == 400
        };
        ctx.log.check(
            "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
            Failure,
            &["RFC6749-5.2"],
            if !error.is_empty() && status_ok {
                ok(format!("HTTP {} for error '{error}'", resp.status))
            } else {
                fail(format!("HTTP {} with error '{error}'", resp.status))
            },
        );
        ctx.log.check(
            error_cond,
            Failure,
            &["RFC6749-5.2"],
            if allowed.contains(&error.as_str()) {
                ok(format!("error {error}"))
            } else {
                fail(format!("error '{error}' is not one of {allowed:?}"))
            },
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-ensure-signed-client-assertion-with-RS256-fails (only with an
/// RSA client key; the suite skips it otherwise).
pub async fn signed_client_assertion_with_rs256_fails(ctx: &mut Ctx<'_>) -> Flow {
    let alg = ctx.signer().map(|s| s.alg.clone()).unwrap_or_default();
    if alg != "PS256" {
        ctx.log.block("Configure");
        return Err(ctx.log.skip(&format!("This test requires RSA keys to be performed, the alg in client configuration is '{alg}' so this test is being skipped. If your server does not support PS256 then this will not prevent you certifying.")));
    }
    assertion_negative(
        ctx,
        "rs256",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
        &["invalid_client"],
        true,
    )
    .await
}

pub async fn client_assertion_in_token_endpoint(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "none",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        true,
    )
    .await
}

pub async fn client_assertion_exp_5_minutes_in_past_fails(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "exp",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        false,
    )
    .await
}

pub async fn client_assertion_wrong_aud_fails(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "aud",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        false,
    )
    .await
}

pub async fn client_assertion_no_sub_fails(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "sub",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        false,
    )
    .await
}

/// fapi2-security-profile-final-ensure-holder-of-key-required: the token request without the
/// sender constraint (no DPoP proof, or no certificate) must be refused.
pub async fn ensure_holder_of_key_required(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    crate::modules::tls::probe_server_endpoints(ctx, crate::tls_probe::Ciphers::Bcp195).await;
    up_to_code(ctx, &mut f).await?;
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, &f, true)?;
    let auth = variant_auth(ctx, &f);
    let form = ctx.token_form.clone();
    let mut how = TokenCall {
        auth,
        condition: "CallTokenEndpointAllowingTLSFailure",
        ..TokenCall::for_variant(&f)
    };
    if f.dpop {
        how.dpop = false;
    } else {
        how.certificate = false;
        ctx.log.info(
            "RemoveMTLSCertificates",
            "no client certificate on this request",
        );
    }
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Failure,
        &["RFC6749-5.2"],
        status_in(&resp, 400..=499, "token"),
    );
    ctx.log.check(
        "CheckTokenEndpointHttpStatus400or401",
        Warning,
        &["RFC6749-5.2"],
        if [400, 401].contains(&resp.status) {
            ok(format!("HTTP {}", resp.status))
        } else {
            fail(format!("HTTP {}", resp.status))
        },
    );
    let json = resp.content_type.starts_with("application/json");
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Warning,
        &["OIDCC-3.1.3.4"],
        if json {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    if json {
        let (cond, expected): (&str, &[(&str, &[u16])]) = if f.dpop {
            (
                "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
                INVALID_REQUEST_GRANT_OR_DPOP,
            )
        } else if f.mtls_auth {
            (
                "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
                &[("invalid_client", &[400, 401]), ("invalid_request", &[400])],
            )
        } else {
            (
                "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                &[
                    ("invalid_client", &[400, 401]),
                    ("invalid_grant", &[400]),
                    ("invalid_request", &[400]),
                ],
            )
        };
        ctx.log.check(
            cond,
            Failure,
            &["RFC6749-5.2"],
            token_error(&resp, expected),
        );
    }
    Ok(())
}
