//! The authorization response at the redirect_uri: the query or the JARM response, and
//! the checks of a successful one (onAuthorizationCallbackResponse).

use super::*;

/// The browser must have come back to the redirect_uri; the response is the query
/// (or, with JARM, the claims of the `response` JWT).
pub fn expect_callback(ctx: &mut Ctx<'_>, f: &Fapi, v: &Visit) -> Flow {
    match &v.landing {
        Landing::Callback {
            query, fragment, ..
        } => {
            ctx.log.block(&format!(
                "{}Verify authorization endpoint response",
                f.prefix()
            ));
            let mut response = query.clone();
            if f.jarm {
                response = jarm_response(ctx, query)?;
            }
            ctx.log.check(
                "RejectErrorInUrlFragment",
                Failure,
                &["OAuth2-RT-5"],
                if fragment.contains_key("error") {
                    fail("error in the URL fragment")
                } else {
                    ok("no error in the URL fragment")
                },
            );
            ctx.log.check(
                "RejectAuthCodeInUrlFragment",
                Failure,
                &["OIDCC-3.3.2.5"],
                if fragment.contains_key("code") {
                    fail("code in the URL fragment")
                } else {
                    ok("no code in the URL fragment")
                },
            );
            ctx.response = response;
            Ok(())
        }
        Landing::Page { status, url, body } => {
            let text: String = body.chars().take(300).collect();
            ctx.log.must_ok(
                "WaitForCallback",
                &[],
                fail(format!(
                    "the provider did not redirect back to the client: HTTP {status} at {url}: {text}"
                )),
            )
        }
    }
}

/// processCallbackForJARM: the `response` JWT's signature and claims (JARM §2.4).
pub(super) fn jarm_response(
    ctx: &mut Ctx<'_>,
    query: &BTreeMap<String, String>,
) -> Flow<BTreeMap<String, String>> {
    let raw = query.get("response").cloned();
    let r = match &raw {
        None => Err("no 'response' parameter in the URL query".to_string()),
        Some(jwt) => jose::decode(jwt).map(|j| (j, "JARM response extracted".to_string())),
    };
    let jws = ctx.log.must(
        "ExtractJARMFromURLQuery",
        &["FAPI2-MS-ID1-5.4.2-2", "JARM-2.3.4", "JARM-2.3.1"],
        r,
    )?;
    // The registered redirect_uri's own query (the second client's) is not part of it.
    let own: Vec<String> = ctx
        .request
        .get("redirect_uri")
        .and_then(|r| Url::parse(r).ok())
        .map(|u| u.query_pairs().map(|(k, _)| k.into_owned()).collect())
        .unwrap_or_default();
    let others: Vec<&String> = query
        .keys()
        .filter(|k| *k != "response" && !own.contains(k))
        .collect();
    ctx.log.check(
        "RejectNonJarmResponsesInUrlQuery",
        Failure,
        &["JARM-2.1"],
        if others.is_empty() {
            ok("only 'response' in the URL query")
        } else {
            fail(format!(
                "parameters besides 'response' in the URL query: {others:?}"
            ))
        },
    );
    let mut out = BTreeMap::new();
    if let Some(o) = jws.claims.as_object() {
        for (k, v) in o {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    ctx.log.must_ok(
        "ExtractAuthorizationEndpointResponseFromJARMResponse",
        &[],
        ok("authorization response from the JARM claims"),
    )?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let c = &jws.claims;
    let r = if c["iss"].as_str() != Some(issuer.as_str()) {
        fail(format!("iss {} is not the issuer {issuer}", c["iss"]))
    } else if !(c["aud"] == ctx.client.client_id.as_str()
        || c["aud"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == ctx.client.client_id.as_str())))
    {
        fail(format!("aud {} is not the client id", c["aud"]))
    } else {
        match c["exp"].as_i64() {
            None => fail("exp is missing"),
            Some(e) if e < now() - 300 => fail("the JARM response has expired"),
            Some(_) => ok("iss, aud and exp are valid"),
        }
    };
    ctx.log.check(
        "ValidateJARMResponse",
        Failure,
        &["JARM-2.4-2", "JARM-2.4-3", "JARM-2.4-4"],
        r,
    );
    let alg = jws.alg().to_string();
    ctx.log.check(
        "FAPI2ValidateJarmSigningAlg",
        Failure,
        &[],
        if FAPI2_ALGS.contains(&alg.as_str()) {
            ok(format!("alg {alg}"))
        } else {
            fail(format!("JARM alg {alg} is not permitted by FAPI 2"))
        },
    );
    ctx.log.check(
        "ValidateJARMExpRecommendations",
        Warning,
        &["JARM-2.1"],
        match c["exp"].as_i64() {
            Some(e) if e - now() > 600 => fail("exp is more than 10 minutes in the future"),
            _ => ok("exp follows the recommendations"),
        },
    );
    let r = jws.verify(&ctx.server_jwks);
    ctx.log
        .check("ValidateJARMSignatureUsingKid", Failure, &["JARM-2.4-5"], r);
    Ok(out)
}

/// CheckMatchingCallbackParameters: the redirect_uri's own query parameters came back.
pub(super) fn matching_callback_parameters(ctx: &Ctx<'_>, f: &Fapi) -> Check {
    let expected = redirect_uri_query(ctx);
    let bad: Vec<&String> = expected
        .iter()
        .filter(|(k, v)| ctx.response.get(*k) != Some(*v) && !f.jarm)
        .map(|(k, _)| k)
        .collect();
    if bad.is_empty() {
        ok("Callback parameters successfully verified")
    } else {
        fail(format!(
            "the redirect_uri's own query parameters {bad:?} were not kept"
        ))
    }
}

/// The query parameters of the request's own redirect_uri.
pub(super) fn redirect_uri_query(ctx: &Ctx<'_>) -> BTreeMap<String, String> {
    Url::parse(&ctx.request["redirect_uri"])
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// onAuthorizationCallbackResponse: the checks of a successful response, then the code.
pub fn process_callback(ctx: &mut Ctx<'_>, f: &Fapi) -> Flow {
    let r = matching_callback_parameters(ctx, f);
    ctx.log
        .check("CheckMatchingCallbackParameters", Failure, &[], r);
    ctx.log.check(
        "RejectStateInUrlFragmentForCodeFlow",
        Failure,
        &["OIDCC-3.3.2.5"],
        ok("state is not in the URL fragment"),
    );
    let r = match ctx.response.get("error") {
        Some(e) => fail(format!(
            "The authorization was expected to succeed, but the server returned an error from the authorization endpoint: {e} {}",
            ctx.response.get("error_description").cloned().unwrap_or_default()
        )),
        None => ok("No error from authorization endpoint"),
    };
    ctx.log
        .must_ok("CheckIfAuthorizationEndpointError", &[], r)?;
    let mut allowed = vec!["code", "state", "id_token", "session_state", "iss"];
    if f.jarm {
        allowed.extend(["aud", "exp"]);
    }
    let expected = redirect_uri_query(ctx);
    let extra: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()) && !expected.contains_key(*k))
        .collect();
    ctx.log.check(
        if f.jarm {
            "ValidateSuccessfulJARMResponseFromAuthorizationEndpoint"
        } else {
            "ValidateSuccessfulAuthCodeFlowResponseFromAuthorizationEndpoint"
        },
        Warning,
        &[],
        if extra.is_empty() {
            ok("authorization endpoint response does not include unexpected parameters")
        } else {
            fail(format!(
                "authorization endpoint response includes unexpected parameters: {extra:?}"
            ))
        },
    );
    crate::modules::check_state(ctx);
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let r = match ctx.response.get("iss") {
        None => fail("No 'iss' value in authorization response."),
        Some(i) if *i == issuer => {
            ok("'iss' parameter in authorization response matches server's issuer value.")
        }
        Some(i) => fail(format!(
            "'iss' parameter in authorization response does not match server's issuer value (expected {issuer}, actual {i})"
        )),
    };
    ctx.log.check(
        "RequireIssInAuthorizationResponse",
        Failure,
        &["OAuth2-iss-2", "FAPI2-SP-FINAL-5.3.2.2-7"],
        r,
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
    Ok(())
}
