//! The token endpoint: the code's redemption, its response's checks, the RFC 6749 §5.2
//! error checks.

use super::*;

/// How the token request authenticates the client.
pub(super) enum TokenAuth {
    Default,
    /// private_key_jwt with these claims (the module's change to the defaults).
    Claims(Value),
    /// A client assertion signed with RS256.
    Rs256,
    /// client_id only.
    ClientIdOnly,
    /// This exact client assertion.
    Raw(String),
}

/// createAuthorizationCodeRequest and the call: the code, the client's authentication, the
/// PKCE verifier when asked.
pub(super) async fn call_token_endpoint_for_code(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    auth: TokenAuth,
    verifier: bool,
) -> Flow<Resp> {
    create_code_request(ctx);
    let mut form = ctx.token_form.clone();
    if verifier {
        if let Some(v) = &f.verifier {
            form.push(("code_verifier".into(), v.clone()));
            ctx.log.must_ok(
                "AddCodeVerifierToTokenEndpointRequest",
                &["RFC7636-4.5"],
                Ok("code_verifier added".into()),
            )?;
        }
    }
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let over = match auth {
        TokenAuth::Default => AuthOverride::Default,
        TokenAuth::Claims(c) => AuthOverride::Assertion(c),
        TokenAuth::Raw(jwt) => AuthOverride::RawAssertion(jwt),
        TokenAuth::ClientIdOnly => {
            ctx.log.must_ok(
                "AddClientIdToRequest",
                &["FAPI1-BASE-5.2.2-19"],
                Ok(format!("client_id {}", ctx.client.client_id)),
            )?;
            AuthOverride::None
        }
        TokenAuth::Rs256 => {
            let aud = json!(url);
            let claims = client_assertion_claims(ctx, aud);
            ctx.log.must_ok(
                "CreateClientAuthenticationAssertionClaims",
                &[],
                Ok(format!("{claims}")),
            )?;
            ctx.log.must_ok(
                "ChangeClientJwksAlgToRS256",
                &["FAPI1-ADV-8.6"],
                Ok("the client key is used with RS256".into()),
            )?;
            let r = ctx
                .client
                .signing_key
                .as_ref()
                .ok_or("no signing key".to_string())
                .and_then(|k| {
                    let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
                    Signer::from_der("RS256", &k.kid, &der)?.sign(json!({}), &claims)
                })
                .map(|j| (j, "client assertion signed with RS256".to_string()));
            let jwt = ctx.log.must("SignClientAuthenticationAssertion", &[], r)?;
            AuthOverride::RawAssertion(jwt)
        }
    };
    let r = post_with_client_auth(ctx, &url, &form, over, &[])
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &["FAPI1-BASE-5.2.2-19"],
        r,
    )
}

/// The token endpoint's successful response (processTokenEndpointResponse).
pub(super) fn process_token_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    ctx.log
        .block(&format!("{}Verify token endpoint response", f.who()));
    let body = resp.json().unwrap_or(Value::Null);
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
    ctx.log.must_ok(
        "CheckForAccessTokenValue",
        &["FAPI1-BASE-5.2.2-14"],
        at.clone()
            .map(|_| "access_token present".into())
            .ok_or("no access_token".into()),
    )?;
    ctx.access_token = at.clone();
    f.token_type = body["token_type"].as_str().unwrap_or("Bearer").to_string();
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        Ok(format!("token_type {}", f.token_type)),
    )?;
    let has_expires = body.get("expires_in").is_some();
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-5.1"],
        if has_expires {
            Ok("expires_in present".into())
        } else {
            Err("expires_in missing".into())
        },
    );
    if has_expires {
        let r = match body["expires_in"].as_u64() {
            Some(n) if n > 0 => Ok(format!("expires_in {n}")),
            _ => Err(format!(
                "expires_in is not a positive integer: {}",
                body["expires_in"]
            )),
        };
        ctx.log
            .check("ValidateExpiresIn", Failure, &["RFC6749-5.1"], r);
    }
    let rt = body["refresh_token"].as_str().map(str::to_string);
    ctx.log.check(
        "CheckForRefreshTokenValue",
        Info,
        &[],
        rt.as_ref()
            .map(|_| "refresh_token present".into())
            .ok_or("no refresh_token".into()),
    );
    if rt.is_some() {
        ctx.log.check(
            "EnsureMinimumRefreshTokenLength",
            Failure,
            &["RFC6749-10.10"],
            min_length("refresh token", rt.as_deref()),
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenEntropy",
            Failure,
            &["RFC6749-10.10"],
            min_entropy("refresh token", rt.as_deref()),
        );
    }
    ctx.refresh_token = rt;
    ctx.log.check(
        "EnsureMinimumAccessTokenLength",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        min_length("access token", at.as_deref()),
    );
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        min_entropy("access token", at.as_deref()),
    );
    let r = match body["id_token"].as_str() {
        None => Err("no id_token in the token endpoint response".to_string()),
        Some(raw) => decode_id_token(raw),
    };
    ctx.id_token = Some(ctx.log.must(
        "ExtractIdTokenFromTokenResponse",
        &["FAPI1-BASE-5.2.2.1-6", "OIDCC-3.3.2.5"],
        r,
    )?);
    fapi_id_token_checks(ctx);
    if !f.jarm {
        if let (Some(a), Some(t)) = (&f.auth_id_token, &ctx.id_token) {
            let r = if a.claims["sub"] == t.claims["sub"] {
                Ok("authorization endpoint and token endpoint id_token have same sub".into())
            } else {
                Err(format!(
                    "\"sub\" in authorization endpoint id_token ({}) doesn't match with \"sub\" in token endpoint id_token ({})",
                    a.claims["sub"], t.claims["sub"]
                ))
            };
            ctx.log.check(
                "VerifyIdTokenSubConsistentHybridFlow",
                Failure,
                &["OIDCC-2"],
                r,
            );
        }
    }
    extract_hash(ctx, "c_hash", "ExtractCHash", Info, &["OIDCC-3.3.2.11"]);
    extract_hash(
        ctx,
        "s_hash",
        "ExtractSHash",
        Info,
        &["FAPI1-ADV-5.2.2.1-5"],
    );
    extract_hash(ctx, "at_hash", "ExtractAtHash", Info, &["OIDCC-3.3.2.11"]);
    let (code, state, at) = (
        ctx.code.clone(),
        ctx.state.clone(),
        ctx.access_token.clone(),
    );
    validate_hash(ctx, "c_hash", code, "ValidateCHash", &["OIDCC-3.3.2.11"]);
    validate_hash(
        ctx,
        "s_hash",
        state,
        "ValidateSHash",
        &["FAPI1-ADV-5.2.2.1-5"],
    );
    validate_hash(
        ctx,
        "at_hash",
        at.clone(),
        "ValidateAtHash",
        &["OIDCC-3.3.2.11"],
    );
    if !f.jarm {
        ctx.log.block(&format!(
            "{}Verify at_hash in the authorization endpoint id_token",
            f.who()
        ));
        let token_endpoint_id_token = ctx.id_token.take();
        ctx.id_token = f.auth_id_token.as_ref().and_then(|t| {
            jose::decode(&t.raw).ok().map(|jws| IdToken {
                raw: t.raw.clone(),
                claims: t.claims.clone(),
                jws,
            })
        });
        extract_hash(ctx, "at_hash", "ExtractAtHash", Info, &["OIDCC-3.3.2.11"]);
        validate_hash(ctx, "at_hash", at, "ValidateAtHash", &["OIDCC-3.3.2.11"]);
        ctx.id_token = token_endpoint_id_token;
    }
    f.token_body = body;
    Ok(())
}

/// performPostAuthorizationFlow up to the processed token response.
pub(super) async fn redeem_code(ctx: &mut Ctx<'_>, f: &mut Fapi, auth: TokenAuth) -> Flow {
    ctx.log.block(&format!("{}Call token endpoint", f.who()));
    let verifier = f.verifier.is_some();
    let resp = call_token_endpoint_for_code(ctx, f, auth, verifier).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &[],
        if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(format!("token endpoint returned {}", status_msg(&resp)))
        },
    )?;
    process_token_response(ctx, f, &resp)
}

/// The RFC 6749 §5.2 error checks a module names, in its order.
#[derive(Clone, Copy)]
pub(super) enum TokenErr {
    /// CheckTokenEndpointHttpStatus400.
    Status400,
    /// CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError.
    Status400Or401ForInvalidClient,
    JsonContentType,
    /// The error must be one of these (the condition's name first).
    Error(&'static str, &'static [&'static str]),
    /// CheckTokenEndpointReturnedInvalidClientGrantOrRequestError.
    InvalidClientGrantOrRequest,
    /// ValidateErrorFromTokenEndpointResponseError and the description and uri checks.
    Valid,
}

pub(super) fn token_error_checks(ctx: &mut Ctx<'_>, resp: &Resp, checks: &[TokenErr]) {
    let body = resp.json().unwrap_or_default();
    let error = body["error"].as_str().map(str::to_string);
    for c in checks {
        match *c {
            TokenErr::Status400 => {
                let r = if resp.status == 400 {
                    Ok("HTTP 400".into())
                } else {
                    Err(format!("expected HTTP 400, got {}", status_msg(resp)))
                };
                ctx.log.check(
                    "CheckTokenEndpointHttpStatus400",
                    Failure,
                    &["RFC6749-5.2"],
                    r,
                );
            }
            TokenErr::Status400Or401ForInvalidClient => {
                let r = match error.as_deref() {
                    None => Err(format!("Couldn't find error field: {}", status_msg(resp))),
                    Some("invalid_client") if resp.status == 400 || resp.status == 401 => {
                        Ok(format!("HTTP {} for invalid_client", resp.status))
                    }
                    Some("invalid_client") => Err(format!(
                        "Invalid http status for error invalid_client: {}, expected 400 or 401",
                        resp.status
                    )),
                    Some(e) if resp.status == 400 => Ok(format!("HTTP 400 for {e}")),
                    Some(e) => Err(format!(
                        "Http status must be 400 for token endpoint errors other than invalid_client: {} for {e}",
                        resp.status
                    )),
                };
                ctx.log.check(
                    "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
                    Failure,
                    &["RFC6749-5.2"],
                    r,
                );
            }
            TokenErr::JsonContentType => {
                let r = if is_json(resp) {
                    Ok("application/json".into())
                } else {
                    Err(format!("Content-Type '{}'", resp.content_type))
                };
                ctx.log.check(
                    "CheckTokenEndpointReturnedJsonContentType",
                    Failure,
                    &["OIDCC-3.1.3.4"],
                    r,
                );
            }
            TokenErr::Error(cond, allowed) => {
                let r = match error.as_deref() {
                    Some(e) if allowed.contains(&e) => Ok(format!("error {e}")),
                    other => Err(format!("expected error {allowed:?}, got {other:?}")),
                };
                ctx.log.check(cond, Failure, &["RFC6749-5.2"], r);
            }
            TokenErr::InvalidClientGrantOrRequest => {
                let r = match (error.as_deref(), resp.status) {
                    (Some("invalid_request" | "invalid_grant"), 400)
                    | (Some("invalid_client"), 400 | 401) => {
                        Ok(format!("{} with HTTP {}", error.clone().unwrap_or_default(), resp.status))
                    }
                    _ => Err(format!(
                        "expected invalid_client (400/401), invalid_grant or invalid_request (400), got {}",
                        status_msg(resp)
                    )),
                };
                ctx.log.check(
                    "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                    Failure,
                    &["RFC6749-5.2"],
                    r,
                );
            }
            TokenErr::Valid => valid_error_body(ctx, &body, "TokenEndpointResponse", "RFC6749-5.2"),
        }
    }
}

/// ValidateErrorFrom<where>Error and its description and uri checks (RFC 6749 §5.2).
pub(super) fn valid_error_body(ctx: &mut Ctx<'_>, body: &Value, place: &str, req: &str) {
    let valid_codes = [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ];
    let r = match body["error"].as_str() {
        Some(e) if valid_codes.contains(&e) => Ok(format!("error {e} is one of RFC 6749 §5.2")),
        other => Err(format!("error {other:?} is not one of RFC 6749 §5.2")),
    };
    ctx.log.check(
        &format!("ValidateErrorFrom{place}Error"),
        Failure,
        &[req],
        r,
    );
    let desc = body["error_description"].as_str().unwrap_or("");
    let r = if desc.contains(['\r', '\n', '\t']) {
        Err("error_description contains CR, LF or TAB".into())
    } else {
        Ok("no CR/LF/TAB".into())
    };
    ctx.log.check(
        &format!("CheckErrorDescriptionFrom{place}ErrorContainsCRLFTAB"),
        Warning,
        &[req],
        r,
    );
    let ok = desc.bytes().all(|b| {
        b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
    });
    let r = if ok {
        Ok("error_description is valid".into())
    } else {
        Err(format!(
            "error_description has characters outside RFC 6749 §5.2: {desc}"
        ))
    };
    ctx.log.check(
        &format!("ValidateErrorDescriptionFrom{place}Error"),
        Failure,
        &[req],
        r,
    );
    let r = match body["error_uri"].as_str() {
        Some(u) if Url::parse(u).is_err() => Err(format!("error_uri is not a URI: {u}")),
        _ => Ok("error_uri absent or valid".into()),
    };
    ctx.log.check(
        &format!("ValidateErrorUriFrom{place}Error"),
        Failure,
        &[req],
        r,
    );
}

/// The error checks of a PAR refusal (AbstractEnsureSpecifiedErrorFromPushedAuthorizationEndpointResponse).
pub(super) fn par_error(
    ctx: &mut Ctx<'_>,
    resp: &Resp,
    cond: &str,
    allowed: &[&str],
    reqs: &[&str],
) {
    let body = resp.json().unwrap_or_default();
    let r = match body["error"].as_str() {
        _ if resp.status != 400 => Err(format!(
            "Invalid pushed authorization request endpoint response http status code: expected 400, got {}",
            status_msg(resp)
        )),
        None => Err("Expected 'error' field not found".into()),
        Some(e) if allowed.contains(&e) => Ok(format!(
            "Pushed Authorization Request Endpoint returned expected 'error' {e}"
        )),
        Some(e) => Err(format!(
            "'error' field has unexpected value: expected {allowed:?}, got {e}"
        )),
    };
    ctx.log.check(cond, Failure, reqs, r);
}

/// CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError and
/// EnsurePARInvalidClientOrInvalidRequestError.
pub(super) fn par_client_error(ctx: &mut Ctx<'_>, resp: &Resp) {
    let body = resp.json().unwrap_or_default();
    let error = body["error"].as_str();
    let r = match error {
        None => Err(format!(
            "Expected 'error' field is not present in PAR endpoint response body: {}",
            status_msg(resp)
        )),
        Some("invalid_client") if resp.status == 400 || resp.status == 401 => {
            Ok(format!("HTTP {} for invalid_client", resp.status))
        }
        Some(e) if e != "invalid_client" && resp.status == 400 => Ok(format!("HTTP 400 for {e}")),
        Some(e) => Err(format!("HTTP {} is wrong for PAR error {e}", resp.status)),
    };
    ctx.log.check(
        "CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        Failure,
        &["PAR-2.3", "RFC6749-5.2"],
        r,
    );
    let r = match error {
        Some(e @ ("invalid_client" | "invalid_request")) => Ok(format!("error {e}")),
        other => Err(format!(
            "expected invalid_client or invalid_request, got {other:?}"
        )),
    };
    ctx.log.check(
        "EnsurePARInvalidClientOrInvalidRequestError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
}
