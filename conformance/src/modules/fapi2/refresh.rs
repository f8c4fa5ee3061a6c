//! fapi2-security-profile-final-refresh-token.

use super::*;

/// CreateRefreshTokenRequest (+ AddScopeToTokenEndpointRequest for the first client).
pub(super) fn refresh_form(ctx: &Ctx<'_>, f: &Fapi, refresh_token: &str) -> Vec<(String, String)> {
    let mut form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), refresh_token.to_string()),
    ];
    if !f.second {
        form.push(("scope".into(), ctx.scope.clone()));
    }
    form
}

/// RefreshTokenRequestSteps: a refresh with the client's authentication and, with DPoP, a
/// new DPoP key (RFC 9449 §5: a confidential client's refresh token is not bound to its key).
pub(super) async fn refresh_request_steps(ctx: &mut Ctx<'_>, f: &mut Fapi, title: &str) -> Flow {
    ctx.log.block(&format!("{}{title}", f.prefix()));
    let first_id = ctx.id_token.as_ref().map(|t| t.claims.clone());
    let first_at = ctx.access_token.clone();
    let rt = ctx.refresh_token.clone().unwrap_or_default();
    let form = refresh_form(ctx, f, &rt);
    ctx.log.must_ok(
        "CreateRefreshTokenRequest",
        &[],
        ok("grant_type=refresh_token"),
    )?;
    let auth = variant_auth(ctx, f);
    ctx.log.info("WaitForOneSecond", "1 s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    if f.dpop {
        f.dpop_key = None;
        ensure_dpop_key(ctx, f)?;
    }
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(f)
    };
    let resp = call_token(ctx, f, &form, &how).await?;
    ctx.log.check(
        "CheckTokenEndpointHttpStatus200",
        Failure,
        &["RFC6749-5.1"],
        if resp.status == 200 {
            ok("HTTP 200")
        } else {
            fail(format!("HTTP {}: {}", resp.status, resp.body))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["RFC6749-5.1"],
        if resp.content_type.starts_with("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointCacheHeaders",
        Failure,
        &["RFC6749-5.1"],
        match resp.cache_control.as_deref() {
            Some(c) if c.to_ascii_lowercase().contains("no-store") => {
                ok(format!("Cache-Control: {c}"))
            }
            other => fail(format!("Cache-Control must be no-store, is {other:?}")),
        },
    );
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckIfTokenEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            fail(format!("token endpoint error: {body}"))
        } else {
            ok("no error")
        },
    )?;
    let at = body["access_token"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        at.clone()
            .map(|_| "access_token".to_string())
            .ok_or("no access_token".to_string()),
    )?;
    let tt = body["token_type"].as_str().unwrap_or("").to_string();
    if f.dpop {
        ctx.log.check(
            "CheckTokenTypeIsDpop",
            Failure,
            &["DPOP-5"],
            if tt.eq_ignore_ascii_case("dpop") {
                ok("token_type DPoP")
            } else {
                fail(format!("token_type {tt}"))
            },
        );
    } else {
        ctx.log.check(
            "CheckTokenTypeIsBearer",
            Failure,
            &["FAPI1-BASE-6.2.2-1"],
            if tt.eq_ignore_ascii_case("bearer") {
                ok("token_type Bearer")
            } else {
                fail(format!("token_type {tt}"))
            },
        );
    }
    let at = at.unwrap_or_default();
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        entropy_check("access token", &at),
    );
    ctx.log.check(
        "EnsureAccessTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.12"],
        if at.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            ok("VSCHAR only")
        } else {
            fail("characters outside VSCHAR")
        },
    );
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-6", "RFC6749-5.1"],
        if body.get("expires_in").is_some() {
            ok("expires_in present")
        } else {
            fail("expires_in missing")
        },
    );
    ctx.log.check(
        "EnsureAccessTokenValuesAreDifferent",
        Info,
        &[],
        if first_at.as_deref() != Some(at.as_str()) {
            ok("a new access token")
        } else {
            fail("the same access token")
        },
    );
    ctx.access_token = Some(at);
    f.token_type = Some(tt);
    if let Some(raw) = body["id_token"].as_str() {
        if let Ok(jws) = jose::decode(raw) {
            ctx.log
                .info("ExtractIdTokenFromTokenResponse", "id_token extracted");
            if let Some(first) = first_id {
                let r = compare_id_token_claims(&first, &jws.claims);
                ctx.log
                    .check("CompareIdTokenClaims", Failure, &["OIDCC-12.2"], r);
            }
            ctx.id_token = Some(IdToken {
                raw: raw.to_string(),
                claims: jws.claims.clone(),
                jws,
            });
        }
    } else if !f.openid {
        ctx.log.info(
            "ExpectNoIdTokenInTokenResponse",
            "no ID token, as expected without openid",
        );
    }
    if let Some(new_rt) = body["refresh_token"].as_str() {
        ctx.log.info(
            "ExtractRefreshTokenFromTokenResponse",
            "a new refresh token",
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenLength",
            Failure,
            &["RFC6749-10.10"],
            length_check("Refresh token", new_rt),
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenEntropy",
            Failure,
            &["RFC6749-10.10"],
            entropy_check("refresh token", new_rt),
        );
        ctx.refresh_token = Some(new_rt.to_string());
    }
    Ok(())
}

/// CompareIdTokenClaims (OIDC Core §12.2).
pub(super) fn compare_id_token_claims(first: &Value, second: &Value) -> Check {
    for c in ["iss", "sub"] {
        if first.get(c).is_none() || first[c] != second[c] {
            return fail(format!(
                "{c} claims are not the same ({} / {})",
                first[c], second[c]
            ));
        }
    }
    if first["iat"].is_null() || second["iat"].is_null() {
        return fail("an id token has no iat");
    }
    if first["iat"] == second["iat"] {
        return fail("iat for the second id token MUST represent the time that the new ID Token is issued, cannot be the same as the initial id token");
    }
    let aud_of = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        }
    };
    let (mut a1, mut a2) = (aud_of(&first["aud"]), aud_of(&second["aud"]));
    a1.sort();
    a2.sort();
    if a1 != a2 {
        return fail("aud claims are not the same");
    }
    if second.get("auth_time").is_some() && first["auth_time"] != second["auth_time"] {
        return fail("auth_time claims are not the same");
    }
    if first["azp"] != second["azp"] {
        return fail("azp claims are not the same");
    }
    ok("Validated id token claims successfully")
}

/// fapi2-security-profile-final-refresh-token (FAPI2SPFinalRefreshToken).
pub async fn refresh_token(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    for client in 1..=2 {
        if client == 2 {
            ctx.refresh_token = None;
            ctx.id_token = None;
            ctx.log.block("Second client: Setup");
            f.dpop_key = None;
            switch_to_second_client(ctx, &mut f)?;
        }
        let mut req = AuthReq::default();
        if ctx.scope.split(' ').any(|s| s == "offline_access") {
            req.extra.push(("prompt".into(), "consent".into()));
            ctx.log.info(
                "AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess",
                "prompt=consent",
            );
        }
        let v = par_and_authorize(ctx, &mut f, &req, false).await?;
        expect_callback(ctx, &f, &v)?;
        process_callback(ctx, &f)?;
        exchange_code(ctx, &mut f).await?;
        ctx.log
            .block(&format!("{}Check for refresh token", f.prefix()));
        let Some(rt) = ctx.refresh_token.clone() else {
            ctx.log.check(
                "FAPIEnsureServerConfigurationDoesNotSupportRefreshToken",
                Warning,
                &["OIDCD-3"],
                if ctx.server["grant_types_supported"].as_array().is_some_and(|a| a.iter().any(|g| g == "refresh_token")) {
                    fail("refresh_token is in grant_types_supported, but no refresh token was issued")
                } else {
                    ok("refresh_token grant not advertised")
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
            array_has(&ctx.server, "grant_types_supported", &["refresh_token"], 1),
        );
        ctx.log.check(
            "EnsureRefreshTokenContainsAllowedCharactersOnly",
            Failure,
            &["RFC6749-A.17"],
            if rt.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
                ok("VSCHAR only")
            } else {
                fail("characters outside VSCHAR")
            },
        );
        let prev = rt.clone();
        refresh_request_steps(ctx, &mut f, "Refresh Token Request").await?;
        if ctx.refresh_token.as_deref() == Some(prev.as_str()) {
            ctx.log.info(
                "refresh",
                "Refresh token not rotated. Skipping lost refresh token test.",
            );
        } else {
            ctx.refresh_token = Some(prev);
            refresh_request_steps(
                ctx,
                &mut f,
                "Refresh Token Request With Previous Token, FAPI 2.0 Security Profile 5.3.2.1-9",
            )
            .await?;
        }
        request_protected_resource(ctx, &mut f).await?;
        if client == 1 {
            let rt = ctx.refresh_token.clone().unwrap_or_default();
            if !(f.mtls_auth && f.mtls_bound) {
                ctx.log
                    .block("Attempting to use the refresh_token without client authentication");
                let mut form = refresh_form(ctx, &f, &rt);
                let mut how = TokenCall::for_variant(&f);
                if f.mtls_auth {
                    // The certificate is what authenticates: leave it off.
                    how.certificate = false;
                    form.push(("client_id".into(), ctx.client.client_id.clone()));
                }
                how.auth = crate::modules::AuthOverride::None;
                let resp = call_token(ctx, &mut f, &form, &how).await?;
                refresh_error_checks(
                    ctx,
                    &resp,
                    &[
                        ("invalid_client", &[400, 401]),
                        ("invalid_grant", &[400]),
                        ("invalid_request", &[400]),
                    ],
                    "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                );
            }
            let form = refresh_form(ctx, &f, &rt);
            let auth = variant_auth(ctx, &f);
            if f.mtls_bound {
                ctx.log.block("Attempting to use an MTLS sender constrained refresh_token without proof of possession");
                let how = TokenCall {
                    auth,
                    certificate: false,
                    condition: "CallTokenEndpointAllowingTLSFailure",
                    ..TokenCall::for_variant(&f)
                };
                let resp = call_token(ctx, &mut f, &form, &how).await?;
                let expected: &[(&str, &[u16])] = if f.mtls_auth {
                    &[("invalid_client", &[400, 401]), ("invalid_request", &[400])]
                } else {
                    &[
                        ("invalid_client", &[400, 401]),
                        ("invalid_grant", &[400]),
                        ("invalid_request", &[400]),
                    ]
                };
                refresh_error_checks(
                    ctx,
                    &resp,
                    expected,
                    "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                );
            } else {
                ctx.log.block("Attempting to use an DPOP sender constrained refresh_token without proof of possession");
                let how = TokenCall {
                    auth,
                    dpop: false,
                    condition: "CallTokenEndpointAndReturnFullResponse",
                    ..TokenCall::for_variant(&f)
                };
                let resp = call_token(ctx, &mut f, &form, &how).await?;
                token_error_checks(
                    ctx,
                    &resp,
                    "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
                    &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
                    false,
                );
            }
        }
    }
    // switchToClient1AndTryClient2AccessToken, then client 2's refresh token with client 1.
    let client2_rt = ctx.refresh_token.clone().unwrap_or_default();
    switch_to_first_client(ctx, &mut f);
    f.dpop_key = None;
    ctx.log.block(if f.dpop {
        "Try Client1's DPoP key with Client2's access token"
    } else {
        "Try Client1's MTLS client certificate with Client2's access token"
    });
    let resp = call_resource(
        ctx,
        &mut f,
        &ResourceCall {
            reqs: &["FAPIRW-5.2.2-5", "RFC8705-3"],
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Failure,
        &["RFC6749-4.1.2", "RFC6750-3.1", "RFC8705-3"],
        status_in(&resp, 400..=499, "resource"),
    );
    ctx.log
        .block("Attempting to use refresh_token issued to client 2 with client 1");
    let form = refresh_form(ctx, &f, &client2_rt);
    let auth = variant_auth(ctx, &f);
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(&f)
    };
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    Ok(())
}

pub(super) fn refresh_error_checks(
    ctx: &mut Ctx<'_>,
    resp: &Resp,
    expected: &[(&str, &[u16])],
    cond: &str,
) {
    ctx.log.check(
        "CheckTokenEndpointHttpStatus400or401",
        Failure,
        &["RFC6749-6"],
        if [400, 401].contains(&resp.status) {
            ok(format!("HTTP {}", resp.status))
        } else {
            fail(format!("HTTP {}: {}", resp.status, resp.body))
        },
    );
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
    ctx.log
        .check(cond, Failure, &["RFC6749-6"], token_error(resp, expected));
}
