//! The authorization response: the hybrid fragment or the JARM response, and its checks.

use super::*;

/// The browser came back to the redirect_uri: keeps its query and fragment. An error page
/// instead is the suite's placeholder (`placeholder`: the condition naming what the page must
/// say), checked as far as a machine can; without one the module fails (WaitForCallback).
pub(super) fn arrive(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    v: &Visit,
    placeholder: Option<(&str, &[&str])>,
) -> Flow<bool> {
    match &v.landing {
        Landing::Callback {
            query, fragment, ..
        } => {
            f.query = query.clone();
            f.fragment = fragment.clone();
            Ok(true)
        }
        Landing::Page { status, url, body } => {
            let text: String = body.chars().take(200).collect();
            match placeholder {
                Some((cond, reqs)) if *status >= 400 && v.login_pages == 0 => {
                    ctx.log.review(
                        cond,
                        reqs,
                        format!("the provider showed an error page (HTTP {status}) and did not redirect: {text}"),
                    );
                    Ok(false)
                }
                Some((cond, reqs)) => {
                    ctx.log.check(
                        cond,
                        Failure,
                        reqs,
                        Err(format!(
                            "expected an error page or a redirect, got HTTP {status} with {} login page(s) at {url}: {text}",
                            v.login_pages
                        )),
                    );
                    Ok(false)
                }
                None => {
                    ctx.log.must_ok(
                        "WaitForCallback",
                        &[],
                        Err(format!(
                            "the provider did not redirect back to the client: HTTP {status} at {url}: {text}"
                        )),
                    )?;
                    Ok(false)
                }
            }
        }
    }
}

/// processCallback: the authorization response, from the JARM JWT in the query or the
/// fragment of the hybrid response.
pub(super) fn process_callback(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block(&format!(
        "{}Verify authorization endpoint response",
        f.who()
    ));
    if f.jarm {
        if f.allow_plain_jarm_error
            && !f.query.contains_key("response")
            && f.query.contains_key("error")
        {
            ctx.response = f.query.clone();
            ctx.log.must_ok(
                "AddPlainErrorResponseAsAuthorizationEndpointResponseForJARM",
                &[],
                Ok("a plain error response in the query".into()),
            )?;
        } else {
            let expected = expected_query(ctx);
            let q = f.query.clone();
            ctx.response = jarm::authorization_response(ctx, &q, &expected)?;
        }
    } else {
        ctx.response = f.fragment.clone();
        let r = if f.query.contains_key("error") {
            Err("the error is in the URL query, not the fragment".into())
        } else {
            Ok("no error in the URL query".into())
        };
        ctx.log
            .check("RejectErrorInUrlQuery", Failure, &["OAuth2-RT-5"], r);
    }
    reject_code_in_query(ctx, f);
    Ok(())
}

pub(super) fn reject_code_in_query(ctx: &mut Ctx<'_>, f: &Fapi) {
    let r = if f.query.contains_key("code") {
        Err("the authorization code is in the URL query".into())
    } else {
        Ok("no code in the URL query".into())
    };
    ctx.log
        .check("RejectAuthCodeInUrlQuery", Failure, &["OIDCC-3.3.2.5"], r);
}

/// The query of the redirect_uri itself (the second client's dummy parameters).
pub(super) fn expected_query(ctx: &Ctx<'_>) -> BTreeMap<String, String> {
    let uri = ctx
        .request
        .get("redirect_uri")
        .cloned()
        .unwrap_or(ctx.client.redirect_uri.clone());
    Url::parse(&uri)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// CheckMatchingCallbackParameters: the redirect_uri's own query comes back unchanged.
pub(super) fn check_matching_callback_parameters(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    on_fail: Outcome,
) -> bool {
    let expected = expected_query(ctx);
    let r = match expected
        .iter()
        .find(|(k, v)| f.query.get(*k) != Some(*v))
    {
        Some((k, v)) => Err(format!(
            "the redirect uri's query parameter {k}={v} did not come back in the callback (the provider must keep the registered redirect uri's query)"
        )),
        None => Ok("Callback parameters successfully verified".into()),
    };
    ctx.log
        .check("CheckMatchingCallbackParameters", on_fail, &[], r)
}

/// onAuthorizationCallbackResponse and handleSuccessfulAuthorizationEndpointResponse.
pub(super) fn successful_callback(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    check_matching_callback_parameters(ctx, f, Failure);
    let r = if f.query.contains_key("code") {
        Err("state is present in URL query returned from authorization endpoint - hybrid/implicit flow require it to be returned in the URL fragment/hash only".into())
    } else {
        Ok("no code in the URL query".into())
    };
    ctx.log.check(
        "RejectStateInUrlQueryForHybridFlow",
        Failure,
        &["OIDCC-3.3.2.5"],
        r,
    );
    check_if_authorization_endpoint_error(ctx)?;
    let expected: &[&str] = if f.jarm {
        &["code", "state", "session_state", "iss"]
    } else {
        &["code", "state", "id_token", "session_state", "iss"]
    };
    let unexpected: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| !expected.contains(&k.as_str()))
        .collect();
    let r = if unexpected.is_empty() {
        Ok("authorization endpoint response does not include unexpected parameters".into())
    } else {
        Err(format!(
            "authorization endpoint response includes unexpected parameters: {unexpected:?}"
        ))
    };
    ctx.log.check(
        if f.jarm {
            "ValidateSuccessfulJARMResponseFromAuthorizationEndpoint"
        } else {
            "ValidateSuccessfulHybridResponseFromAuthorizationEndpoint"
        },
        Warning,
        &[],
        r,
    );
    check_state(ctx);
    validate_iss_if_present(ctx);
    extract_code(ctx)?;
    front_channel_id_token(ctx, f, false)
}

pub(super) fn check_if_authorization_endpoint_error(ctx: &mut Ctx<'_>) -> Flow {
    let r = match ctx.response.get("error") {
        Some(e) => Err(format!(
            "authorization endpoint returned an error: {e} {}",
            ctx.response
                .get("error_description")
                .cloned()
                .unwrap_or_default()
        )),
        None => Ok("no error in the authorization response".into()),
    };
    ctx.log.must_ok("CheckIfAuthorizationEndpointError", &[], r)
}

/// ExtractAuthorizationCodeFromAuthorizationResponse and the code's length and entropy.
pub(super) fn extract_code(ctx: &mut Ctx<'_>) -> Flow {
    let r = match ctx.response.get("code") {
        Some(c) if !c.is_empty() => Ok((c.clone(), "code found".to_string())),
        _ => Err("no code in the authorization response".into()),
    };
    let code = ctx
        .log
        .must("ExtractAuthorizationCodeFromAuthorizationResponse", &[], r)?;
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeLength",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        min_length("authorization code", Some(&code)),
    );
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeEntropy",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        min_entropy("authorization code", Some(&code)),
    );
    ctx.code = Some(code);
    Ok(())
}

pub(super) fn decode_id_token(raw: &str) -> Check<(IdToken, String)> {
    jose::decode(raw).map(|jws| {
        (
            IdToken {
                raw: raw.to_string(),
                claims: jws.claims.clone(),
                jws,
            },
            "id_token extracted".to_string(),
        )
    })
}

/// FAPIValidateIdTokenSigningAlg and EnsureIdTokenContainsKid, after the standard checks.
pub(super) fn fapi_id_token_checks(ctx: &mut Ctx<'_>) {
    id_token_checks(ctx);
    let Some(t) = ctx.id_token.as_ref() else {
        return;
    };
    let kid = t.jws.header["kid"].as_str().map(str::to_string);
    let alg = t.jws.alg().to_string();
    ctx.log.check(
        "EnsureIdTokenContainsKid",
        Failure,
        &["OIDCC-10.1"],
        kid.map(|k| format!("kid {k}"))
            .ok_or("kid was not found in the ID token header".into()),
    );
    ctx.log.check(
        "FAPIValidateIdTokenSigningAlg",
        Failure,
        &["FAPI1-ADV-8.6"],
        if alg == "PS256" || alg == "ES256" {
            Ok(format!("id_token alg {alg}"))
        } else {
            Err(format!(
                "id_token must be signed with PS256 or ES256, not {alg}"
            ))
        },
    );
}

/// The hash claim `claim` of the current ID token over `value` (ValidateCHash, ...).
pub(super) fn validate_hash(
    ctx: &mut Ctx<'_>,
    claim: &str,
    value: Option<String>,
    cond: &str,
    reqs: &[&str],
) {
    let Some(t) = ctx.id_token.as_ref() else {
        return;
    };
    let Some(h) = t.claims[claim].as_str().map(str::to_string) else {
        return;
    };
    let alg = t.jws.alg().to_string();
    let r = match value {
        None => Err(format!("nothing to compare {claim} with")),
        Some(v) => match jose::half_hash(&alg, &v) {
            Some(want) if want == h => Ok(format!("{claim} matches")),
            Some(want) => Err(format!("{claim} {h} does not match ({want})")),
            None => Err(format!("no hash for alg {alg}")),
        },
    };
    ctx.log.check(cond, Failure, reqs, r);
}

pub(super) fn extract_hash(
    ctx: &mut Ctx<'_>,
    claim: &str,
    cond: &str,
    severity: Outcome,
    reqs: &[&str],
) {
    let present = ctx
        .id_token
        .as_ref()
        .and_then(|t| t.claims[claim].as_str().map(str::to_string));
    ctx.log.check(
        cond,
        severity,
        reqs,
        present
            .map(|h| format!("{claim} {h}"))
            .ok_or(format!("{claim} is missing from the id_token")),
    );
}

/// The hybrid response's ID token (not with JARM): the standard and FAPI checks, s_hash and
/// c_hash. `no_state`: the request had no state, so there must be no s_hash either.
pub(super) fn front_channel_id_token(ctx: &mut Ctx<'_>, f: &mut Fapi, no_state: bool) -> Flow {
    if f.jarm {
        return Ok(());
    }
    let r = match ctx.response.get("id_token") {
        None => Err("no id_token in the authorization response".to_string()),
        Some(raw) => decode_id_token(raw),
    };
    let token = ctx.log.must(
        "ExtractIdTokenFromAuthorizationResponse",
        &["FAPI1-ADV-5.2.2.1-4"],
        r,
    )?;
    f.auth_id_token = Some(IdToken {
        raw: token.raw.clone(),
        claims: token.claims.clone(),
        jws: jose::decode(&token.raw).map_err(|_| Stop)?,
    });
    ctx.id_token = Some(token);
    fapi_id_token_checks(ctx);
    if no_state {
        let has = ctx
            .id_token
            .as_ref()
            .is_some_and(|t| t.claims.get("s_hash").is_some());
        ctx.log.check(
            "VerifyNoSHash",
            Failure,
            &["FAPI1-ADV-5.2.2-10"],
            if has {
                Err("s_hash is in the id_token, but no state was sent in the request object".into())
            } else {
                Ok("no s_hash".into())
            },
        );
    } else {
        extract_hash(
            ctx,
            "s_hash",
            "ExtractSHash",
            Failure,
            &["FAPI1-ADV-5.2.2.1-5"],
        );
        let state = ctx.state.clone();
        validate_hash(
            ctx,
            "s_hash",
            state,
            "ValidateSHash",
            &["FAPI1-ADV-5.2.2.1-5"],
        );
    }
    extract_hash(ctx, "c_hash", "ExtractCHash", Failure, &["OIDCC-3.3.2.11"]);
    let code = ctx.code.clone();
    validate_hash(ctx, "c_hash", code, "ValidateCHash", &["OIDCC-3.3.2.11"]);
    Ok(())
}
