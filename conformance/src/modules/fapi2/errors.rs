//! Expected refusals: the error page or error redirect of the authorization endpoint and
//! the token endpoint's error responses.

use super::*;

/// performRedirectAndWaitForPlaceholdersOrCallback: the provider may show an error page (the
/// suite asks a human for a screenshot; we record what the machine sees as a REVIEW) or send
/// the browser back. Returns true when the browser came back and `ctx.response` holds the
/// response; the fragment checks of processCallback are made.
pub fn page_or_callback(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    v: &Visit,
    page_condition: &str,
    reqs: &[&str],
    allow_plain_jarm_error: bool,
) -> Flow<bool> {
    match &v.landing {
        Landing::Page { status, body, .. } => {
            let text: String = body.chars().take(160).collect();
            if *status >= 400 && v.login_pages == 0 {
                ctx.log.review(
                    page_condition,
                    reqs,
                    format!("the provider showed an error page (HTTP {status}) and did not redirect: {text}"),
                );
            } else {
                ctx.log.check(
                    page_condition,
                    Failure,
                    reqs,
                    fail(format!(
                        "expected an error page or an error redirect, got HTTP {status} after {} login page(s): {text}",
                        v.login_pages
                    )),
                );
            }
            Ok(false)
        }
        Landing::Callback {
            query, fragment, ..
        } => {
            ctx.log.block(&format!(
                "{}Verify authorization endpoint response",
                f.prefix()
            ));
            let plain_error = allow_plain_jarm_error
                && !query.contains_key("response")
                && query.contains_key("error");
            ctx.response = if f.jarm && !plain_error {
                jarm_response(ctx, query)?
            } else {
                if f.jarm {
                    ctx.log.info(
                        "AddPlainErrorResponseAsAuthorizationEndpointResponseForJARM",
                        "a plain (non-JARM) error response",
                    );
                }
                query.clone()
            };
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
            Ok(true)
        }
    }
}

/// The authorization response's `error` must be one of `allowed` (EnsureInvalidRequestError,
/// EnsureInvalidRequestUriError, ...).
pub fn auth_error_in(ctx: &Ctx<'_>, allowed: &[&str]) -> Check {
    match ctx.response.get("error") {
        None => fail("Expected 'error' field not found"),
        Some(e) if allowed.contains(&e.as_str()) => ok(format!(
            "Authorization endpoint returned expected 'error' of {allowed:?}: {e}"
        )),
        Some(e) => fail(format!(
            "'error' field has unexpected value (expected {allowed:?}, actual {e})"
        )),
    }
}

/// The usual checks of an error redirect: state, an error, nothing unexpected, and the
/// module's own `error` values.
pub fn error_response_checks(
    ctx: &mut Ctx<'_>,
    cond: &str,
    allowed: &[&str],
    severity: crate::report::Outcome,
    reqs: &[&str],
) {
    if ctx.response.contains_key("state") || ctx.state.is_some() {
        crate::modules::check_state(ctx);
    }
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Failure,
        &["OIDCC-3.1.2.6"],
        if ctx.response.contains_key("error") {
            ok("error in the authorization response")
        } else {
            fail("the authorization endpoint did not return an error")
        },
    );
    let extra: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| {
            ![
                "error",
                "error_description",
                "error_uri",
                "state",
                "session_state",
                "iss",
                "dummy1",
                "dummy2",
                "aud",
                "exp",
            ]
            .contains(&k.as_str())
        })
        .collect();
    ctx.log.check(
        "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint",
        Warning,
        &["OIDCC-3.1.2.6"],
        if extra.is_empty() {
            ok("error response includes only expected parameters")
        } else {
            fail(format!(
                "error response includes unexpected parameters: {extra:?}"
            ))
        },
    );
    let r = auth_error_in(ctx, allowed);
    ctx.log.check(cond, severity, reqs, r);
}

/// The checks of a token endpoint error (CheckTokenEndpointHttpStatus400 or ...Allowing401...,
/// the JSON content type, the expected `error`, and the RFC 6749 §5.2 syntax of error,
/// error_description and error_uri).
pub fn token_error_checks(
    ctx: &mut Ctx<'_>,
    resp: &Resp,
    error_cond: &str,
    allowed: &[&str],
    allow_401_for_invalid_client: bool,
) {
    let body = resp.json().unwrap_or(Value::Null);
    let error = body["error"].as_str().unwrap_or("").to_string();
    if allow_401_for_invalid_client {
        let r = if error.is_empty() {
            fail(format!("Couldn't find error field (HTTP {})", resp.status))
        } else if error == "invalid_client" && ![400, 401].contains(&resp.status) {
            fail(format!(
                "Invalid http status for error invalid_client (actual {}, expected 400 or 401)",
                resp.status
            ))
        } else if error != "invalid_client" && resp.status != 400 {
            fail(format!(
                "Http status must be 400 for token endpoint errors other than invalid_client (actual {})",
                resp.status
            ))
        } else {
            ok(format!(
                "Token endpoint http status code was {} for error '{error}'",
                resp.status
            ))
        };
        ctx.log.check(
            "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
            Failure,
            &["RFC6749-5.2"],
            r,
        );
    } else {
        ctx.log.check(
            "CheckTokenEndpointHttpStatus400",
            Failure,
            &["OIDCC-3.1.3.4"],
            if resp.status == 400 {
                ok("HTTP 400")
            } else {
                fail(format!(
                    "expected HTTP 400, got {}: {}",
                    resp.status,
                    resp.body.chars().take(200).collect::<String>()
                ))
            },
        );
    }
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
    let nqschar = |s: &str| {
        s.bytes().all(|b| {
            (0x20..=0x21).contains(&b) || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
        })
    };
    ctx.log.check(
        "ValidateErrorFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        if error.is_empty() {
            fail("The authorization server was expected to return an error, but the 'error' field in the response is either null or empty")
        } else if !nqschar(&error) {
            fail("'error' field MUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E")
        } else {
            ok("valid 'error' field")
        },
    );
    let desc = body["error_description"].as_str().unwrap_or("").to_string();
    ctx.log.check(
        "CheckErrorDescriptionFromTokenEndpointResponseErrorContainsCRLFTAB",
        Warning,
        &["RFC6749-5.2"],
        if desc.contains(['\r', '\n', '\t']) {
            fail("error_description contains CR, LF or TAB")
        } else {
            ok("no CR, LF or TAB in error_description")
        },
    );
    ctx.log.check(
        "ValidateErrorDescriptionFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        if nqschar(&desc) {
            ok("error_description is absent or valid")
        } else {
            fail("error_description includes characters outside %x20-21 / %x23-5B / %x5D-7E")
        },
    );
    ctx.log.check(
        "ValidateErrorUriFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        match body.get("error_uri") {
            None => ok("no error_uri"),
            Some(Value::String(u)) if Url::parse(u).is_ok() => ok("error_uri is a URI"),
            Some(other) => fail(format!("error_uri is not a valid URI: {other}")),
        },
    );
}
