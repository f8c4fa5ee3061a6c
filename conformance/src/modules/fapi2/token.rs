//! The token endpoint: the code exchange with the client's authentication and sender
//! constraint, and the token response and ID token checks.

use super::*;

/// CreateTokenEndpointRequestForAuthorizationCodeGrant and AddCodeVerifierToTokenEndpointRequest.
pub fn create_code_request(ctx: &mut Ctx<'_>, f: &Fapi, verifier: bool) -> Flow {
    let code = ctx.code.clone().unwrap_or_default();
    let redirect_uri = ctx.request.get("redirect_uri").cloned().unwrap_or_default();
    ctx.token_form = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code),
        ("redirect_uri".into(), redirect_uri),
    ];
    ctx.log.must_ok(
        "CreateTokenEndpointRequestForAuthorizationCodeGrant",
        &[],
        ok("grant_type=authorization_code, code, redirect_uri"),
    )?;
    if verifier {
        if let Some(v) = &f.code_verifier {
            ctx.token_form.push(("code_verifier".into(), v.clone()));
        }
        ctx.log.must_ok(
            "AddCodeVerifierToTokenEndpointRequest",
            &["RFC7636-4.5", "FAPI2-SP-FINAL-5.3.3.2-3"],
            ok("code_verifier added"),
        )?;
    }
    Ok(())
}

/// How a token request is sent (negative modules change one thing).
#[derive(Clone)]
pub struct TokenCall {
    pub auth: crate::modules::AuthOverride,
    /// Send a DPoP proof (the sender_constrain dpop variant); a fixed proof when given.
    pub dpop: bool,
    pub proof: Option<String>,
    /// Present the client certificate (default: when the client has one).
    pub certificate: bool,
    pub condition: &'static str,
}

impl TokenCall {
    pub fn for_variant(f: &Fapi) -> TokenCall {
        TokenCall {
            auth: crate::modules::AuthOverride::Default,
            dpop: f.dpop,
            proof: None,
            certificate: true,
            condition: if f.dpop {
                "CallTokenEndpointAllowingDpopNonceErrorAndReturnFullResponse"
            } else {
                "CallTokenEndpointAndReturnFullResponse"
            },
        }
    }
}

/// callSenderConstrainedTokenEndpoint: the form with the client's authentication and the
/// DPoP proof, retried once with the server's nonce on `use_dpop_nonce`.
pub async fn call_token(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    form: &[(String, String)],
    how: &TokenCall,
) -> Flow<Resp> {
    let url = crate::modules::endpoint(ctx, "token_endpoint").unwrap_or_default();
    let saved = (!how.certificate).then(|| {
        let plain = ctx.back_without_certificate();
        std::mem::replace(&mut ctx.back, plain)
    });
    let mut last = None;
    for attempt in 0..2 {
        let mut headers = Vec::new();
        if how.dpop {
            let proof = match &how.proof {
                Some(p) => p.clone(),
                None => match make_proof(ctx, f, "POST", &url, None, false) {
                    Ok(p) => p,
                    Err(e) => {
                        if let Some(b) = saved {
                            ctx.back = b;
                        }
                        return Err(e);
                    }
                },
            };
            ctx.log
                .info("AddDpopHeaderForTokenEndpointRequest", "DPoP header added");
            headers.push(("DPoP".to_string(), proof));
        }
        let auth = resolve_auth(ctx, f, &how.auth);
        let r = crate::modules::post_with_client_auth(ctx, &url, form, auth, &headers).await;
        let resp = match ctx.log.must(
            how.condition,
            &[],
            r.map(|x| {
                let s = format!("HTTP {}", x.status);
                (x, s)
            }),
        ) {
            Ok(r) => r,
            Err(e) => {
                if let Some(b) = saved {
                    ctx.back = b;
                }
                return Err(e);
            }
        };
        let nonce_error =
            resp.status == 400 && resp.json().is_some_and(|b| b["error"] == "use_dpop_nonce");
        if let Some(n) = nonce_of(&resp) {
            f.as_nonce = Some(n);
        }
        let retry = how.dpop && how.proof.is_none() && nonce_error && attempt == 0;
        last = Some(resp);
        if !retry {
            break;
        }
    }
    if let Some(b) = saved {
        ctx.back = b;
    }
    Ok(last.expect("one attempt"))
}

/// exchangeAuthorizationCode: the token request, then processTokenEndpointResponse.
pub async fn exchange_code(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block(&format!("{}Call token endpoint", f.prefix()));
    create_code_request(ctx, f, true)?;
    let form = ctx.token_form.clone();
    let resp = call_token(ctx, f, &form, &TokenCall::for_variant(f)).await?;
    ctx.log
        .block(&format!("{}Verify token endpoint response", f.prefix()));
    process_token_response(ctx, f, &resp)
}

/// processTokenEndpointResponse.
pub fn process_token_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    ctx.token_response = Some(resp.clone());
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &[],
        if resp.status == 200 {
            ok("HTTP 200")
        } else {
            fail(format!(
                "token endpoint returned HTTP {}: {}",
                resp.status, resp.body
            ))
        },
    )?;
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
        "CheckForAccessTokenValue",
        &["RFC6749-4.1.4"],
        at.clone()
            .map(|_| "access_token present".into())
            .ok_or("no access_token".into()),
    )?;
    ctx.access_token = at.clone();
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        ok(format!("token_type {}", body["token_type"])),
    )?;
    crate::modules::check_expiry_and_refresh_token(ctx, &body, Warning);
    if let Some(rt) = ctx.refresh_token.clone() {
        ctx.log.check(
            "EnsureMinimumRefreshTokenLength",
            Failure,
            &["RFC6749-10.10"],
            length_check("Refresh token", &rt),
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenEntropy",
            Failure,
            &["RFC6749-10.10"],
            entropy_check("refresh token", &rt),
        );
    }
    let at = at.unwrap_or_default();
    ctx.log.check(
        "EnsureMinimumAccessTokenLength",
        Failure,
        &["FAPI2-SP-FINAL-5.4.1-4"],
        length_check("Access token", &at),
    );
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI2-SP-FINAL-5.4.1-4"],
        entropy_check("access token", &at),
    );
    f.token_body = body.clone();
    f.token_type = body["token_type"].as_str().map(str::to_string);
    if f.openid {
        id_token_from_token_response(ctx, &body)?;
    } else {
        ctx.log.must_ok(
            "ExpectNoIdTokenInTokenResponse",
            &[],
            if body.get("id_token").is_some() {
                fail("Test is not targeting Open ID Connect but the token endpoint response contains an ID token.")
            } else {
                ok("no ID token, as expected without openid")
            },
        )?;
    }
    Ok(())
}

/// ExtractIdTokenFromTokenResponse, PerformStandardIdTokenChecks and the FAPI 2 additions.
pub(super) fn id_token_from_token_response(ctx: &mut Ctx<'_>, body: &Value) -> Flow {
    let r = match body["id_token"].as_str() {
        None => Err("no id_token in the token endpoint response".to_string()),
        Some(raw) => jose::decode(raw).map(|jws| {
            (
                IdToken {
                    raw: raw.to_string(),
                    claims: jws.claims.clone(),
                    jws,
                },
                "id_token extracted".to_string(),
            )
        }),
    };
    let token = ctx.log.must(
        "ExtractIdTokenFromTokenResponse",
        &["FAPI2-SP-FINAL-5.3.2.3", "OIDCC-3.3.2.5"],
        r,
    )?;
    let kid = token.jws.header["kid"].as_str().map(str::to_string);
    let alg = token.jws.alg().to_string();
    let claims = token.claims.clone();
    ctx.id_token = Some(token);
    id_token_checks(ctx);
    ctx.log.check(
        "EnsureIdTokenContainsKid",
        Failure,
        &["OIDCC-10.1"],
        kid.map(|k| format!("kid {k}"))
            .ok_or("kid was not found in the ID token header".into()),
    );
    ctx.log.check(
        "FAPI2ValidateIdTokenSigningAlg",
        Failure,
        &["FAPI2-SP-FINAL-5.4"],
        if FAPI2_ALGS.contains(&alg.as_str()) {
            ok(format!(
                "id_token was signed with a permitted algorithm ({alg})"
            ))
        } else {
            fail(format!(
                "id_token must be signed with a permitted alg (alg {alg})"
            ))
        },
    );
    for (claim, cond, req) in [
        ("c_hash", "ExtractCHash", "OIDCC-3.3.2.11"),
        ("s_hash", "ExtractSHash", "FAPI1-ADV-5.2.2.1-5"),
        ("at_hash", "ExtractAtHash", "OIDCC-3.3.2.11"),
    ] {
        ctx.log.check(
            cond,
            Info,
            &[req],
            claims[claim]
                .as_str()
                .map(|h| format!("{claim} {h}"))
                .ok_or(format!("{claim} not present")),
        );
    }
    let hashed = [
        ("c_hash", "ValidateCHash", ctx.code.clone()),
        ("s_hash", "ValidateSHash", ctx.state.clone()),
        ("at_hash", "ValidateAtHash", ctx.access_token.clone()),
    ];
    for (claim, cond, value) in hashed {
        let (Some(h), Some(v)) = (claims[claim].as_str(), value) else {
            continue;
        };
        let r = match jose::half_hash(&alg, &v) {
            Some(want) if want == h => ok(format!("{claim} matches")),
            Some(want) => fail(format!("{claim} {h} does not match ({want})")),
            None => fail(format!("no hash for alg {alg}")),
        };
        ctx.log.check(cond, Failure, &["OIDCC-3.3.2.11"], r);
    }
    Ok(())
}
