//! The OIDCC modules of the Basic plan (code flow, static client), each named and checked as
//! the suite's module class of the same name.

use super::*;
use crate::browser::Landing;
use crate::report::Outcome::{Failure, Warning};

const SCOPE_CLAIMS: &[(&str, &[&str])] = &[
    ("openid", &["sub"]),
    (
        "profile",
        &[
            "name",
            "given_name",
            "family_name",
            "middle_name",
            "nickname",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
            "preferred_username",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
    ("offline_access", &[]),
];

fn scope_claims(scope: &str) -> Vec<&'static str> {
    scope
        .split(' ')
        .flat_map(|s| {
            SCOPE_CLAIMS
                .iter()
                .find(|(n, _)| *n == s)
                .map(|(_, c)| c.to_vec())
                .unwrap_or_default()
        })
        .collect()
}

/// oidcc-server (OIDCCServerTest).
pub async fn oidcc_server(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    ctx.check_front_channel_at_hash = true;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    // OIDCCServerTest.performAuthorizationCodeValidation, when there is a code.
    if response_type_includes(ctx, "code") {
        let code = ctx.code.clone().unwrap_or_default();
        let r = if code.len() * 8 >= 128 {
            Ok(format!(
                "Authorization code is of sufficient length ({} bits)",
                code.len() * 8
            ))
        } else {
            Err(format!(
                "Authorization code is not long enough ({} bits)",
                code.len() * 8
            ))
        };
        ctx.log.check(
            "EnsureMinimumAuthorizationCodeLength",
            Failure,
            &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
            r,
        );
        let e = shannon_entropy(&code);
        let r = if e > 96.0 {
            Ok(format!("entropy {e:.1} bits"))
        } else {
            Err(format!("entropy {e:.1} bits, 96 required"))
        };
        ctx.log.check(
            "EnsureMinimumAuthorizationCodeEntropy",
            Failure,
            &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
            r,
        );
    }
    front_channel_resource(ctx).await?;
    exchange_code(ctx).await?;
    // OIDCCServerTest.additionalTokenEndpointResponseValidation
    let body = ctx
        .token_response
        .as_ref()
        .and_then(|r| r.json())
        .unwrap_or_default();
    if response_type_includes(ctx, "code") {
        ctx.log.check(
            "ExtractExpiresInFromTokenEndpointResponse",
            Warning,
            &["RFC6749-5.1"],
            if body.get("expires_in").is_some() {
                Ok("expires_in present".into())
            } else {
                Err("expires_in missing".into())
            },
        );
    }
    hash_claims(ctx);
    let claims = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or_default();
    let r = if claims.get("name").is_some() {
        Err("Unexpectedly found name in id_token".into())
    } else {
        Ok("name claim not found in id_token".into())
    };
    ctx.log.check(
        "EnsureIdTokenDoesNotContainName",
        Warning,
        &["OIDCC-5.5", "OIDCC-5.5.1"],
        r,
    );
    request_protected_resource(ctx).await?;
    let mut allowed = vec![
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "at_hash",
        "c_hash",
        "nbf",
        "jti",
        "sid",
        "s_hash",
        "openbanking_intent_id",
        "txn",
    ];
    allowed.extend(scope_claims(&ctx.scope));
    let extra: Vec<&String> = claims
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !allowed.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let r = if extra.is_empty() {
        Ok("no non-requested id_token claims found".into())
    } else {
        Err(format!("id_token contains non-requested claims: {extra:?}"))
    };
    ctx.log.check(
        "EnsureIdTokenDoesNotContainNonRequestedClaims",
        Warning,
        &[],
        r,
    );
    Ok(())
}

/// at_hash / c_hash in the token endpoint's ID token: optional, correct when present.
fn hash_claims(ctx: &mut Ctx<'_>) {
    let Some(t) = ctx.id_token.as_ref() else {
        return;
    };
    let (claims, alg) = (t.claims.clone(), t.jws.alg().to_string());
    for (claim, value) in [
        ("at_hash", ctx.access_token.clone()),
        ("c_hash", ctx.code.clone()),
    ] {
        let Some(got) = claims[claim].as_str() else {
            ctx.log.info(
                &format!(
                    "Extract{}",
                    if claim == "at_hash" {
                        "AtHash"
                    } else {
                        "CHash"
                    }
                ),
                format!("{claim} absent (optional here)"),
            );
            continue;
        };
        let want = value.as_deref().and_then(|v| jose::half_hash(&alg, v));
        let r = if want.as_deref() == Some(got) {
            Ok(format!("{claim} matches"))
        } else {
            Err(format!("{claim} {got} does not match {want:?}"))
        };
        let cond = if claim == "at_hash" {
            "ValidateAtHash"
        } else {
            "ValidateCHash"
        };
        ctx.log.check(cond, Failure, &["OIDCC-3.3.2.11"], r);
    }
}

fn shannon_entropy(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// oidcc-server-client-secret-post (OIDCCServerTestClientSecretPost): oidcc-server with
/// client_secret_post; the variant picks the client.
pub async fn oidcc_server_client_secret_post(ctx: &mut Ctx<'_>) -> Flow {
    oidcc_server(ctx).await
}

/// The generic error-response checks (performGenericAuthorizationEndpointErrorResponseValidation).
pub(super) fn generic_error_checks(ctx: &mut Ctx<'_>) {
    check_state(ctx);
    validate_iss_if_present(ctx);
    let r = match ctx.response.get("error") {
        Some(e) if !e.is_empty() => Ok(format!("error: {e}")),
        _ => Err("no 'error' in the authorization endpoint response".into()),
    };
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Failure,
        &["OIDCC-3.1.2.6"],
        r,
    );
    let r = if ctx.response.contains_key("code") {
        Err("an error response carries a code".into())
    } else {
        Ok("no code".into())
    };
    ctx.log.check(
        "RejectAuthCodeInAuthorizationEndpointResponse",
        Failure,
        &["OIDCC-3.1.2.6"],
        r,
    );
    let expected = [
        "error",
        "error_description",
        "error_uri",
        "state",
        "iss",
        "session_state",
    ];
    let extra: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| !expected.contains(&k.as_str()))
        .collect();
    let r = if extra.is_empty() {
        Ok("no unexpected parameters".into())
    } else {
        Err(format!("unexpected parameters {extra:?}"))
    };
    ctx.log.check(
        "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint",
        Warning,
        &["OIDCC-3.1.2.6"],
        r,
    );
    let desc = ctx.response.get("error_description").cloned();
    let r = match &desc {
        Some(d) if d.contains(['\r', '\n', '\t']) => {
            Err("error_description contains CR, LF or TAB".into())
        }
        _ => Ok("error_description has no CR/LF/TAB".into()),
    };
    ctx.log.check(
        "CheckErrorDescriptionFromAuthorizationEndpointResponseErrorContainsCRLFTAB",
        Warning,
        &["RFC6749-4.1.2.1"],
        r,
    );
    // RFC 6749 §4.1.2.1: %x20-21 / %x23-5B / %x5D-7E
    let ok = |s: &str| {
        s.bytes().all(|b| {
            b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
        })
    };
    let r = match &desc {
        Some(d) if !ok(d) => Err(format!(
            "error_description has characters outside the allowed set: {d}"
        )),
        _ => Ok("error_description is valid".into()),
    };
    ctx.log.check(
        "ValidateErrorDescriptionFromAuthorizationEndpointResponseError",
        Failure,
        &["RFC6749-4.1.2.1"],
        r,
    );
    let r = match ctx.response.get("error_uri") {
        Some(u) if url::Url::parse(u).is_err() => Err(format!("error_uri is not a URI: {u}")),
        _ => Ok("error_uri absent or valid".into()),
    };
    ctx.log.check(
        "ValidateErrorUriFromAuthorizationEndpointResponseError",
        Failure,
        &["RFC6749-4.1.2.1"],
        r,
    );
}

/// For modules that accept either an error page (the suite's screenshot placeholder) or an
/// error redirect: what we can check of the page by machine.
pub(super) fn error_page_review(
    ctx: &mut Ctx<'_>,
    v: &Visit,
    condition: &str,
    reqs: &[&str],
) -> bool {
    if let Landing::Page { status, body, .. } = &v.landing {
        let is_error = *status >= 400 && v.login_pages == 0;
        let text: String = body.chars().take(160).collect();
        if is_error {
            ctx.log.review(condition, reqs, format!("the provider showed an error page (HTTP {status}) and did not redirect: {text}"));
        } else {
            ctx.log.check(
                condition,
                Failure,
                reqs,
                Err(format!(
                    "expected an error page, got HTTP {status} with {} login page(s): {text}",
                    v.login_pages
                )),
            );
        }
        return true;
    }
    false
}

/// oidcc-response-type-missing (OIDCCResponseTypeMissing).
pub async fn oidcc_response_type_missing(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(
        ctx,
        &Req {
            response_type: None,
            ..Req::default()
        },
    )?;
    let v = visit(ctx, false).await?;
    if error_page_review(
        ctx,
        &v,
        "ExpectResponseTypeMissingErrorPage",
        &["RFC6749-3.1.1"],
    ) {
        return Ok(());
    }
    expect_callback(ctx, &v)?;
    ctx.log.block("Verify authorization endpoint response");
    generic_error_checks(ctx);
    check_error_is_one_of(
        ctx,
        "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrUnsupportedResponseType",
        &["RFC6749-3.1.1"],
        &["unsupported_response_type", "invalid_request"],
    );
    Ok(())
}

/// oidcc-ensure-request-without-nonce-fails (OIDCCEnsureRequestWithoutNonceFails; response
/// types returning an ID token from the authorization endpoint): OIDC Core §3.2.2.1 / §3.3.2.11
/// make the nonce REQUIRED, so the request must end on an error page or with invalid_request.
pub async fn oidcc_ensure_request_without_nonce_fails(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(
        ctx,
        &Req {
            nonce: false,
            ..Req::default()
        },
    )?;
    let v = visit(ctx, true).await?;
    if error_page_review(
        ctx,
        &v,
        "ExpectRequestMissingNonceErrorPage",
        &["OIDCC-3.2.2.1"],
    ) {
        return Ok(());
    }
    expect_callback(ctx, &v)?;
    ctx.log.block("Verify authorization endpoint response");
    generic_error_checks(ctx);
    check_error_is_one_of(
        ctx,
        "CheckErrorFromAuthorizationEndpointErrorInvalidRequest",
        &["OIDCC-3.2.2.1"],
        &["invalid_request"],
    );
    Ok(())
}

/// oidcc-ensure-registered-redirect-uri (OIDCCEnsureRegisteredRedirectUri).
pub async fn oidcc_ensure_registered_redirect_uri(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    let bad = format!(
        "{}/{}",
        ctx.client.redirect_uri.trim_end_matches('/'),
        jose::random_value(6)
    );
    ctx.log.must_ok(
        "CreateBadRedirectUriByAppending",
        &[],
        Ok(format!("redirect_uri {bad}")),
    )?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(
        ctx,
        &Req {
            redirect_uri: Some(bad.clone()),
            ..Req::default()
        },
    )?;
    // The browser watches for both the registered and the bad redirect URI.
    let url = authorization_url(ctx)?;
    let user = ctx.cfg.user.clone();
    let r = ctx.browser.visit(url.clone(), &bad, Some(&user)).await;
    let v = ctx.log.must(
        "performRedirect",
        &[],
        r.map(|v| (v, "browser visit".to_string())),
    )?;
    if let Landing::Callback { .. } = v.landing {
        return ctx.log.must_ok("ExpectRedirectUriErrorPage", &["OIDCC-3.1.2.1"], Err("The authorization server redirected the user to the requested but randomised/unregistered redirect uri.".into()));
    }
    let r = ctx
        .browser
        .visit(url, &ctx.client.redirect_uri.clone(), Some(&user))
        .await;
    let v = ctx.log.must(
        "performRedirect",
        &[],
        r.map(|v| (v, "browser visit".to_string())),
    )?;
    if let Landing::Callback { .. } = v.landing {
        return ctx.log.must_ok("ExpectRedirectUriErrorPage", &["OIDCC-3.1.2.1"], Err("The authorization server called the registered redirect uri although the request named another.".into()));
    }
    error_page_review(ctx, &v, "ExpectRedirectUriErrorPage", &["OIDCC-3.1.2.1"]);
    Ok(())
}

/// AbstractOIDCCUserInfoTest: the flow, then UserInfo by `how`.
async fn userinfo_module(ctx: &mut Ctx<'_>, how: &str) -> Flow {
    configure(ctx).await?;
    code_flow(ctx, &Req::default()).await?;
    ctx.log.block("Userinfo endpoint");
    let endpoint = ctx.server_str("userinfo_endpoint").unwrap_or_default();
    let at = ctx.access_token.clone().unwrap_or_default();
    let resp = match how {
        "get" => call_userinfo(ctx, false, "CallUserInfoEndpoint").await?,
        "post-header" => {
            ctx.log.info("SetResourceMethodToPost", "POST");
            call_userinfo(ctx, true, "CallUserInfoEndpoint").await?
        }
        _ => {
            let r = browser::send(
                ctx.back
                    .post(&endpoint)
                    .form(&[("access_token", at.as_str())]),
            )
            .await;
            ctx.log.must(
                "CallUserInfoEndpointWithBearerTokenInBody",
                &["OIDCC-5.3.1"],
                r.map(|x| {
                    let s = format!("HTTP {}", x.status);
                    (x, s)
                }),
            )?
        }
    };
    if how == "post-body" && !(200..300).contains(&resp.status) {
        ctx.log.check(
            "UserInfoEndpointWithAccessTokenInBodyNotSupported",
            Warning,
            &[],
            Err(format!("HTTP {}", resp.status)),
        );
        return Ok(());
    }
    if how != "post-body" {
        ensure_status(ctx, &resp, 200, "EnsureHttpStatusCodeIs200", Failure);
    }
    validate_userinfo(ctx, &resp)
}

pub async fn oidcc_userinfo_get(ctx: &mut Ctx<'_>) -> Flow {
    userinfo_module(ctx, "get").await
}
pub async fn oidcc_userinfo_post_header(ctx: &mut Ctx<'_>) -> Flow {
    userinfo_module(ctx, "post-header").await
}
pub async fn oidcc_userinfo_post_body(ctx: &mut Ctx<'_>) -> Flow {
    userinfo_module(ctx, "post-body").await
}

/// oidcc-ensure-request-without-nonce-succeeds-for-code-flow.
pub async fn oidcc_ensure_request_without_nonce_succeeds_for_code_flow(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    code_flow(
        ctx,
        &Req {
            nonce: false,
            ..Req::default()
        },
    )
    .await
}

/// A module that adds parameters to an otherwise standard flow.
async fn flow_with(
    ctx: &mut Ctx<'_>,
    condition: &str,
    reqs: &[&str],
    extra: &[(&str, &str)],
) -> Flow {
    configure(ctx).await?;
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ctx.log.must_ok(condition, reqs, Ok(format!("{extra:?}")))?;
    code_flow(
        ctx,
        &Req {
            extra,
            ..Req::default()
        },
    )
    .await
}

pub async fn oidcc_display_page(ctx: &mut Ctx<'_>) -> Flow {
    flow_with(
        ctx,
        "AddDisplayPageToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        &[("display", "page")],
    )
    .await
}
pub async fn oidcc_display_popup(ctx: &mut Ctx<'_>) -> Flow {
    flow_with(
        ctx,
        "AddDisplayPopupToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        &[("display", "popup")],
    )
    .await
}
pub async fn oidcc_ensure_request_with_unknown_parameter_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    flow_with(
        ctx,
        "AddExtraFoobarToAuthorizationEndpointRequest",
        &["RFC6749-3.1"],
        &[("extra", "foobar")],
    )
    .await
}
pub async fn oidcc_login_hint(ctx: &mut Ctx<'_>) -> Flow {
    let hint = ctx.cfg.user.username.clone();
    flow_with(
        ctx,
        "AddLoginHintFromConfigurationToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1"],
        &[("login_hint", hint.as_str())],
    )
    .await
}
pub async fn oidcc_ui_locales(ctx: &mut Ctx<'_>) -> Flow {
    flow_with(
        ctx,
        "AddUiLocalesFromConfigurationToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1"],
        &[("ui_locales", "se")],
    )
    .await
}

/// oidcc-claims-locales (OIDCCClaimsLocales): claims_locales=se must not cause an error.
pub async fn oidcc_claims_locales(ctx: &mut Ctx<'_>) -> Flow {
    flow_with(
        ctx,
        "AddClaimsLocalesSeToAuthorizationEndpointRequest",
        &["OIDCC-5.2", "OIDCC-15.1"],
        &[("claims_locales", "se")],
    )
    .await
}

/// oidcc-ensure-request-with-acr-values-succeeds.
pub async fn oidcc_ensure_request_with_acr_values_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    let acr = match json_array_strings(&ctx.server["acr_values_supported"]) {
        Some(l) if !l.is_empty() => l.join(" "),
        _ => "1 2".to_string(),
    };
    ctx.log.must_ok(
        "OIDCCAddAcrValuesToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok(format!("acr_values={acr}")),
    )?;
    code_flow(
        ctx,
        &Req {
            extra: vec![("acr_values".into(), acr.clone())],
            ..Req::default()
        },
    )
    .await?;
    let got = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims["acr"].clone())
        .unwrap_or_default();
    let r = match got.as_str() {
        None if got.is_null() => Err("An acr value was requested using acr_values, so the server 'SHOULD' return an acr claim, but it did not.".into()),
        None => Err("acr value in id_token must be a string".into()),
        Some(a) if acr.split(' ').any(|x| x == a) => Ok(format!("id_token acr {a} is one of the requested values")),
        Some(a) => Err(format!("acr value in id_token ({a}) is not (one of the) requested values")),
    };
    ctx.log.check(
        "ValidateIdTokenACRClaimAgainstAcrValuesRequest",
        Warning,
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        r,
    );
    Ok(())
}

/// AbstractOIDCCReturnedClaimsServerTest with `scope`.
/// VerifyScopesReturnedInAuthorizationEndpointIdToken.
fn verify_scopes_in_id_token(ctx: &mut Ctx<'_>) {
    let claims = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or_default();
    let expected = scope_claims(&ctx.scope);
    let missing: Vec<&&str> = expected
        .iter()
        .filter(|c| claims.get(**c).is_none())
        .collect();
    let r = if missing.is_empty() {
        Ok("the id_token contains all scope items of scope in authorization request".into())
    } else {
        Err(format!("the id_token doesn't contain all scope items of scope in authorization request: missing {missing:?}"))
    };
    ctx.log.check(
        "VerifyScopesReturnedInAuthorizationEndpointIdToken",
        Warning,
        &["OIDCC-5.4"],
        r,
    );
}

async fn scope_module(ctx: &mut Ctx<'_>, scope: &str, condition: &str, reverse: bool) -> Flow {
    configure(ctx).await?;
    ctx.log
        .must_ok(condition, &[], Ok(format!("scope: {scope}")))?;
    ctx.scope = scope.to_string();
    let supported = json_array_strings(&ctx.server["scopes_supported"]).unwrap_or_default();
    let missing: Vec<&str> = scope
        .split(' ')
        .filter(|s| !supported.iter().any(|x| x == s))
        .collect();
    if !missing.is_empty() {
        ctx.log.check(
            "OIDCCCheckScopesSupportedContainScopeTest",
            crate::report::Outcome::Info,
            &[],
            Err(format!("scopes_supported lacks {missing:?}")),
        );
        return Err(ctx.log.skip("scopes_supported from the discovery endpoint indicates the server doesn't support the scopes required for this test; so the test has been skipped"));
    }
    ctx.log.check(
        "OIDCCCheckScopesSupportedContainScopeTest",
        crate::report::Outcome::Info,
        &[],
        Ok("scopes_supported contains the scopes".into()),
    );
    if reverse {
        let reversed: Vec<&str> = scope.split(' ').rev().collect();
        ctx.scope = reversed.join(" ");
        ctx.log.check(
            "ReverseScopeOrderInAuthorizationEndpointRequest",
            Failure,
            &["RFC6749-3.3"],
            Ok(format!("scope: {}", ctx.scope)),
        );
        ctx.log.info(
            "BuildPlainRedirectToAuthorizationEndpointReorderedParams",
            "parameters sent in reverse order",
        );
    }
    code_flow(ctx, &Req::default()).await?;
    // AbstractOIDCCReturnedClaimsServerTest: without an access token the claims are in the
    // ID token of the authorization response.
    if ctx.response_type == "id_token" {
        verify_scopes_in_id_token(ctx);
        return Ok(());
    }
    ctx.log.block("Userinfo endpoint");
    let resp = call_userinfo(ctx, false, "CallUserInfoEndpoint").await?;
    ensure_status(ctx, &resp, 200, "EnsureHttpStatusCodeIs200", Failure);
    validate_userinfo(ctx, &resp)?;
    let ui = ctx.userinfo.clone().unwrap_or_default();
    let expected = scope_claims(&ctx.scope);
    let missing: Vec<&&str> = expected.iter().filter(|c| ui.get(**c).is_none()).collect();
    let r = if missing.is_empty() {
        Ok(
            "'claims' in userinfo contains all scope items of scope in authorization request"
                .into(),
        )
    } else {
        Err(format!("'claims' in userinfo doesn't contain all scope items of scope in authorization request: missing {missing:?}"))
    };
    ctx.log.check(
        "VerifyScopesReturnedInUserInfoClaims",
        Warning,
        &["OIDCC-5.4"],
        r,
    );
    Ok(())
}

pub async fn oidcc_scope_profile(ctx: &mut Ctx<'_>) -> Flow {
    scope_module(
        ctx,
        "openid profile",
        "SetScopeInClientConfigurationToOpenIdProfile",
        false,
    )
    .await
}
pub async fn oidcc_scope_email(ctx: &mut Ctx<'_>) -> Flow {
    scope_module(
        ctx,
        "openid email",
        "SetScopeInClientConfigurationToOpenIdEmail",
        false,
    )
    .await
}
pub async fn oidcc_scope_address(ctx: &mut Ctx<'_>) -> Flow {
    scope_module(
        ctx,
        "openid address",
        "SetScopeInClientConfigurationToOpenIdAddress",
        false,
    )
    .await
}
pub async fn oidcc_scope_phone(ctx: &mut Ctx<'_>) -> Flow {
    scope_module(
        ctx,
        "openid phone",
        "SetScopeInClientConfigurationToOpenIdPhone",
        false,
    )
    .await
}
pub async fn oidcc_scope_all(ctx: &mut Ctx<'_>) -> Flow {
    scope_module(
        ctx,
        "openid email phone address profile",
        "SetScopeInClientConfigurationToOpenIdEmailPhoneAddressProfile",
        false,
    )
    .await
}
/// oidcc-alternate-happy-flow: oidcc-scope-email with the scope order reversed.
pub async fn oidcc_alternate_happy_flow(ctx: &mut Ctx<'_>) -> Flow {
    scope_module(
        ctx,
        "openid email",
        "SetScopeInClientConfigurationToOpenIdEmail",
        true,
    )
    .await
}

/// AbstractOIDCCSameAuthTwiceServerTest and the two-login modules: the first flow's ID token.
async fn first_flow(ctx: &mut Ctx<'_>, req: &Req) -> Flow<Value> {
    configure(ctx).await?;
    code_flow(ctx, req).await?;
    Ok(ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or_default())
}

fn same_auth_checks(ctx: &mut Ctx<'_>, first: &Value) {
    let second = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or_default();
    let r = match (first.get("auth_time"), second.get("auth_time")) {
        (Some(a), Some(b)) if a != b => Err(format!("auth_time differs: {a} then {b}")),
        (Some(_), Some(_)) => Ok("auth_time is the same".into()),
        _ => Ok("auth_time absent from at least one id_token".into()),
    };
    ctx.log.check(
        "CheckIdTokenAuthTimeClaimsSameIfPresent",
        Failure,
        &["OIDCC-2"],
        r,
    );
    let r = if first["sub"] == second["sub"] {
        Ok("sub is the same".into())
    } else {
        Err(format!(
            "sub differs: {} then {}",
            first["sub"], second["sub"]
        ))
    };
    ctx.log.check(
        "CheckIdTokenSubConsistentForSecondAuthorization",
        Failure,
        &["OIDCC-2"],
        r,
    );
}

/// The second authorization of a two-flow module, in the same browser.
async fn second_flow(ctx: &mut Ctx<'_>, req: &Req, interact: bool) -> Flow<Visit> {
    ctx.log
        .block("Second authorization: Make request to authorization endpoint");
    create_authorization_request(ctx, req)?;
    visit(ctx, interact).await
}

async fn finish_second(ctx: &mut Ctx<'_>, v: &Visit) -> Flow {
    expect_callback(ctx, v)?;
    process_callback(ctx)?;
    exchange_code(ctx).await?;
    request_protected_resource(ctx).await
}

/// oidcc-prompt-none-logged-in.
pub async fn oidcc_prompt_none_logged_in(ctx: &mut Ctx<'_>) -> Flow {
    let first = first_flow(ctx, &Req::default()).await?;
    ctx.log.must_ok(
        "AddPromptNoneToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("prompt=none".into()),
    )?;
    let v = second_flow(
        ctx,
        &Req {
            extra: vec![("prompt".into(), "none".into())],
            ..Req::default()
        },
        false,
    )
    .await?;
    finish_second(ctx, &v).await?;
    same_auth_checks(ctx, &first);
    Ok(())
}

/// oidcc-id-token-hint.
pub async fn oidcc_id_token_hint(ctx: &mut Ctx<'_>) -> Flow {
    let first = first_flow(ctx, &Req::default()).await?;
    let hint = ctx
        .id_token
        .as_ref()
        .map(|t| t.raw.clone())
        .unwrap_or_default();
    ctx.log.must_ok(
        "AddPromptNoneToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("prompt=none".into()),
    )?;
    ctx.log.must_ok(
        "AddIdTokenHintFromFirstLoginToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-3.1.2.2"],
        Ok("id_token_hint".into()),
    )?;
    let req = Req {
        extra: vec![
            ("prompt".into(), "none".into()),
            ("id_token_hint".into(), hint),
        ],
        ..Req::default()
    };
    let v = second_flow(ctx, &req, false).await?;
    finish_second(ctx, &v).await?;
    same_auth_checks(ctx, &first);
    Ok(())
}

/// oidcc-max-age-10000.
pub async fn oidcc_max_age_10000(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    ctx.log.must_ok(
        "AddMaxAge15000ToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("max_age=15000".into()),
    )?;
    code_flow(
        ctx,
        &Req {
            extra: vec![("max_age".into(), "15000".into())],
            ..Req::default()
        },
    )
    .await?;
    let first = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or_default();
    auth_time_present(ctx);
    ctx.log.must_ok(
        "AddMaxAge10000ToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("max_age=10000".into()),
    )?;
    // The user must not be asked to log in again: no user is given to the browser.
    let v = second_flow(
        ctx,
        &Req {
            extra: vec![("max_age".into(), "10000".into())],
            ..Req::default()
        },
        false,
    )
    .await?;
    finish_second(ctx, &v).await?;
    auth_time_present(ctx);
    same_auth_checks(ctx, &first);
    Ok(())
}

fn auth_time_present(ctx: &mut Ctx<'_>) {
    let has = ctx
        .id_token
        .as_ref()
        .is_some_and(|t| t.claims["auth_time"].is_number());
    let r = if has {
        Ok("auth_time present".into())
    } else {
        Err("max_age was requested, so auth_time is required in the id_token".into())
    };
    ctx.log.check(
        "CheckIdTokenAuthTimeClaimPresentDueToMaxAge",
        Failure,
        &["OIDCC-2", "OIDCC-3.1.2.1"],
        r,
    );
}

/// The second login page of prompt=login and max_age=1: the suite's screenshot placeholder;
/// we check that a login form was served again.
fn expect_second_login_page(ctx: &mut Ctx<'_>, v: &Visit) {
    if v.login_pages > 0 {
        ctx.log.review(
            "ExpectSecondLoginPage",
            &["OIDCC-3.1.2.1"],
            format!(
                "the provider served its login form again ({} time(s)) before redirecting back",
                v.login_pages
            ),
        );
    } else {
        ctx.log.check(
            "ExpectSecondLoginPage",
            Failure,
            &["OIDCC-3.1.2.1"],
            Err("the provider did not ask the user to log in again".into()),
        );
    }
}

fn second_auth_time_later(ctx: &mut Ctx<'_>, first: &Value) {
    let second = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or_default();
    let r = match (first["auth_time"].as_i64(), second["auth_time"].as_i64()) {
        (Some(a), Some(b)) if a == b => Err("the id_token from the second authorization incorrectly has the same auth_time as the first".into()),
        (Some(a), Some(b)) if a > b => Err("the second id_token has an earlier auth_time than the first".into()),
        (Some(_), Some(_)) => Ok("auth_time is later in the second id_token".into()),
        _ => Ok("auth_time cannot be checked: missing from at least one id_token".into()),
    };
    ctx.log.check(
        "CheckSecondIdTokenAuthTimeIsLaterIfPresent",
        Failure,
        &["OIDCC-2"],
        r,
    );
}

/// oidcc-prompt-login.
pub async fn oidcc_prompt_login(ctx: &mut Ctx<'_>) -> Flow {
    let first = first_flow(ctx, &Req::default()).await?;
    ctx.log
        .must_ok("WaitForOneSecond", &[], Ok("waited".into()))?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ctx.log.must_ok(
        "AddPromptLoginToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("prompt=login".into()),
    )?;
    let v = second_flow(
        ctx,
        &Req {
            extra: vec![("prompt".into(), "login".into())],
            ..Req::default()
        },
        true,
    )
    .await?;
    expect_second_login_page(ctx, &v);
    finish_second(ctx, &v).await?;
    second_auth_time_later(ctx, &first);
    Ok(())
}

/// oidcc-max-age-1.
pub async fn oidcc_max_age_1(ctx: &mut Ctx<'_>) -> Flow {
    let first = first_flow(ctx, &Req::default()).await?;
    ctx.log
        .must_ok("WaitFor2Seconds", &[], Ok("waited".into()))?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    ctx.log.must_ok(
        "AddMaxAge1ToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("max_age=1".into()),
    )?;
    let v = second_flow(
        ctx,
        &Req {
            extra: vec![("max_age".into(), "1".into())],
            ..Req::default()
        },
        true,
    )
    .await?;
    expect_second_login_page(ctx, &v);
    finish_second(ctx, &v).await?;
    auth_time_present(ctx);
    second_auth_time_later(ctx, &first);
    let recent = ctx
        .id_token
        .as_ref()
        .and_then(|t| t.claims["auth_time"].as_i64());
    let r = match recent {
        Some(t) if t < now() - 301 => {
            Err("id_token auth_time is older than 1 second (allowing 5 minutes skew)".into())
        }
        Some(_) => Ok("auth_time in id_token is recent".into()),
        None => Ok("auth_time cannot be checked as it is missing".into()),
    };
    ctx.log.check(
        "CheckIdTokenAuthTimeIsRecentIfPresent",
        Failure,
        &["OIDCC-2"],
        r,
    );
    Ok(())
}

/// oidcc-prompt-none-not-logged-in.
pub async fn oidcc_prompt_none_not_logged_in(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(
        ctx,
        &Req {
            extra: vec![("prompt".into(), "none".into())],
            ..Req::default()
        },
    )?;
    ctx.log.must_ok(
        "AddPromptNoneToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("prompt=none".into()),
    )?;
    let v = visit(ctx, false).await?;
    expect_callback(ctx, &v)?;
    ctx.log.block("Verify authorization endpoint response");
    generic_error_checks(ctx);
    check_error_is_one_of(
        ctx,
        "CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface",
        &["OIDCC-3.1.2.6"],
        &[
            "interaction_required",
            "login_required",
            "account_selection_required",
            "consent_required",
        ],
    );
    Ok(())
}

/// AbstractOIDCCAuthCodeReuse: the flow, then the same code again.
async fn reuse_code(ctx: &mut Ctx<'_>) -> Flow<Resp> {
    configure(ctx).await?;
    code_flow(ctx, &Req::default()).await?;
    ctx.log.block("Attempting reuse of authorization code");
    let form = ctx.token_form.clone();
    let r = call_token_endpoint(ctx, &form).await;
    ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &[],
        r.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        }),
    )
}

fn reuse_error_checks(ctx: &mut Ctx<'_>, resp: &Resp) {
    ensure_status(ctx, resp, 400, "CheckTokenEndpointHttpStatus400", Failure);
    let r = if resp.content_type.starts_with("application/json") {
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
    let body = resp.json().unwrap_or_default();
    let r = match body["error"].as_str() {
        Some("invalid_grant") => Ok("error: invalid_grant".into()),
        other => Err(format!("expected error invalid_grant, got {other:?}")),
    };
    ctx.log.check(
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
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
        "ValidateErrorFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    let desc = body["error_description"].as_str().unwrap_or("");
    let r = if desc.contains(['\r', '\n', '\t']) {
        Err("error_description contains CR, LF or TAB".into())
    } else {
        Ok("no CR/LF/TAB".into())
    };
    ctx.log.check(
        "CheckErrorDescriptionFromTokenEndpointResponseErrorContainsCRLFTAB",
        Warning,
        &["RFC6749-5.2"],
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
        "ValidateErrorDescriptionFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    let r = match body["error_uri"].as_str() {
        Some(u) if url::Url::parse(u).is_err() => Err(format!("error_uri is not a URI: {u}")),
        _ => Ok("error_uri absent or valid".into()),
    };
    ctx.log.check(
        "ValidateErrorUriFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
}

/// oidcc-codereuse (OIDCCAuthCodeReuse): a second redemption that succeeds is a WARNING, as
/// in the suite; an error response must be a proper invalid_grant.
pub async fn oidcc_codereuse(ctx: &mut Ctx<'_>) -> Flow {
    let resp = reuse_code(ctx).await?;
    if resp.status == 200 {
        ctx.log.check(
            "ServerAllowedReusingAuthorizationCode",
            Warning,
            &[],
            Err("the server accepted the same authorization code twice".into()),
        );
    } else {
        reuse_error_checks(ctx, &resp);
    }
    Ok(())
}

/// oidcc-codereuse-30seconds (OIDCCAuthCodeReuseAfter30Seconds).
pub async fn oidcc_codereuse_30seconds(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    code_flow(ctx, &Req::default()).await?;
    ctx.log.block("Attempting reuse of authorization code");
    ctx.log
        .must_ok("WaitFor30Seconds", &[], Ok("waiting 30 seconds".into()))?;
    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    let form = ctx.token_form.clone();
    let r = call_token_endpoint(ctx, &form).await;
    let resp = ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &[],
        r.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        }),
    )?;
    reuse_error_checks(ctx, &resp);
    ctx.log
        .block("Testing if access token was revoked after authorization code reuse");
    let resp = call_userinfo(ctx, false, "CallProtectedResource").await?;
    let r = if (400..500).contains(&resp.status) {
        Ok(format!("HTTP {}", resp.status))
    } else {
        Err(format!(
            "the access token still works after the code was replayed (HTTP {})",
            resp.status
        ))
    };
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Warning,
        &["RFC6749-4.1.2", "RFC6750-3.1"],
        r,
    );
    Ok(())
}

/// oidcc-ensure-post-request-succeeds: the authorization request is a POST (form).
pub async fn oidcc_ensure_post_request_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let fields: Vec<(String, String)> = ctx
        .request
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // The browser posts the form; the provider answers as to a GET (a redirect to login).
    let r = browser::send(ctx.browser.http.post(&endpoint).form(&fields)).await;
    let resp = ctx.log.must(
        "performRedirect",
        &["OIDCC-3.1.2.1"],
        r.map(|x| {
            let s = format!("POST: HTTP {}", x.status);
            (x, s)
        }),
    )?;
    let next = match resp
        .location
        .as_deref()
        .map(|l| url::Url::parse(&endpoint).and_then(|b| b.join(l)))
    {
        Some(Ok(u)) if (300..400).contains(&resp.status) => u,
        _ => {
            return ctx.log.must_ok(
                "ExpectRedirectUriHasBeenCalled",
                &["OIDCC-3.1.2.1"],
                Err(format!(
                    "the POST authorization request was not accepted: HTTP {}",
                    resp.status
                )),
            );
        }
    };
    let user = ctx.cfg.user.clone();
    let redirect_uri = ctx.client.redirect_uri.clone();
    let v = if next.as_str().starts_with(&redirect_uri) {
        let query = next.query_pairs().into_owned().collect();
        Visit {
            landing: Landing::Callback {
                url: next,
                query,
                fragment: Default::default(),
                form: None,
            },
            login_pages: 0,
            consent_pages: 0,
        }
    } else {
        let r = ctx.browser.visit(next, &redirect_uri, Some(&user)).await;
        ctx.log.must(
            "performRedirect",
            &[],
            r.map(|v| (v, "browser continued".to_string())),
        )?
    };
    let ok = matches!(v.landing, Landing::Callback { .. });
    ctx.log.check(
        "ExpectRedirectUriHasBeenCalled",
        Warning,
        &["OIDCC-3.1.2.1"],
        if ok {
            Ok("the redirect_uri was called".into())
        } else {
            Err("the redirect_uri was not called".into())
        },
    );
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    exchange_code(ctx).await?;
    request_protected_resource(ctx).await
}

/// oidcc-id-token-unsigned (OIDCCIdTokenUnsigned).
pub async fn oidcc_idtoken_unsigned(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    let algs = json_array_strings(&ctx.server["id_token_signing_alg_values_supported"])
        .unwrap_or_default();
    if !algs.iter().any(|a| a == "none") {
        return Err(ctx.log.skip("id_token_signing_alg_values_supported in the server's discovery document does not include 'none'; unsigned ID tokens are not supported"));
    }
    ctx.log.must_ok(
        "ExpectUnsignedIdToken",
        &[],
        Err(
            "unsigned ID tokens are advertised but this runner has no client registered for them"
                .into(),
        ),
    )
}

/// oidcc-idtoken-signature (OIDCCIdTokenSignature): the client names no signing alg, so the
/// ID token must be RS256 (OIDC Registration §2 default) and carry a kid (OIDCC-10.1, required
/// always, as the suite does).
pub async fn oidcc_idtoken_signature(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    code_flow(ctx, &Req::default()).await?;
    ctx.log.block("ID token signature");
    let header = ensure_id_token_contains_kid(ctx);
    let r = match header["alg"].as_str() {
        Some("RS256") => Ok("id_token is signed with RS256".into()),
        other => Err(format!(
            "id_token alg must be RS256 when the client registered none, got {other:?}"
        )),
    };
    ctx.log.check(
        "EnsureIdTokenSignatureIsRS256",
        Failure,
        &["OIDCC-3.1.3.7"],
        r,
    );
    Ok(())
}

/// AbstractOIDCCRequestObjectServerTest.skipTestIfNoneUnsupported: unsigned request objects
/// are tested only where `none` is advertised.
async fn unsigned_request_object_module(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    if let Some(algs) =
        json_array_strings(&ctx.server["request_object_signing_alg_values_supported"])
    {
        if !algs.iter().any(|a| a == "none") {
            return Err(ctx.log.skip("'none' is not listed in request_object_signing_alg_values_supported - assuming it is not supported."));
        }
    }
    ctx.log.must_ok(
        "ConvertAuthorizationEndpointRequestToRequestObject",
        &[],
        Err(
            "unsigned request objects are advertised, but this runner does not send them yet"
                .into(),
        ),
    )
}

/// oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported.
pub async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    ctx: &mut Ctx<'_>,
) -> Flow {
    unsigned_request_object_module(ctx).await
}

/// oidcc-ensure-request-object-with-redirect-uri.
pub async fn oidcc_ensure_request_object_with_redirect_uri(ctx: &mut Ctx<'_>) -> Flow {
    unsigned_request_object_module(ctx).await
}

/// oidcc-ensure-request-with-valid-pkce-succeeds (SetupPkceAndAddToAuthorizationRequest,
/// AddCodeVerifierToTokenEndpointRequest).
pub async fn oidcc_ensure_request_with_valid_pkce_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    ctx.log.block("Make request to authorization endpoint");
    let verifier = jose::random_value(32);
    let challenge = jose::sha256_b64(&verifier);
    ctx.log.must_ok(
        "CreateRandomCodeVerifier",
        &["RFC7636-4.1"],
        Ok("code_verifier created".into()),
    )?;
    ctx.log.must_ok(
        "CreateS256CodeChallenge",
        &["RFC7636-4.2"],
        Ok("S256 challenge".into()),
    )?;
    let req = Req {
        extra: vec![
            ("code_challenge".into(), challenge),
            ("code_challenge_method".into(), "S256".into()),
        ],
        ..Req::default()
    };
    ctx.log.must_ok(
        "AddCodeChallengeToAuthorizationEndpointRequest",
        &["RFC7636-4.3"],
        Ok("code_challenge, code_challenge_method=S256".into()),
    )?;
    create_authorization_request(ctx, &req)?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    ctx.log.block("Token endpoint");
    create_code_request(ctx);
    ctx.token_form.push(("code_verifier".into(), verifier));
    ctx.log.must_ok(
        "AddCodeVerifierToTokenEndpointRequest",
        &["RFC7636-4.5"],
        Ok("code_verifier added".into()),
    )?;
    let form = ctx.token_form.clone();
    let r = call_token_endpoint(ctx, &form).await;
    let resp = ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &[],
        r.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        }),
    )?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &[],
        if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(format!("HTTP {}: {}", resp.status, resp.body))
        },
    )?;
    let body = resp.json().unwrap_or_default();
    ctx.token_response = Some(resp);
    accept_token_response(ctx, &body)?;
    id_token_checks(ctx);
    request_protected_resource(ctx).await
}

/// oidcc-claims-essential: `name` requested as an essential UserInfo claim.
pub async fn oidcc_claims_essential(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    // For response_type id_token the name is asked for in the ID token.
    let id_token_only = ctx.response_type == "id_token";
    let (claims, condition) = if id_token_only {
        (
            r#"{"id_token":{"name":{"essential":true}}}"#,
            "AddIdTokenEssentialNameClaimToAuthorizationEndpointRequest",
        )
    } else {
        (
            r#"{"userinfo":{"name":{"essential":true}}}"#,
            "AddUserInfoEssentialNameClaimToAuthorizationEndpointRequest",
        )
    };
    ctx.log.must_ok(
        condition,
        &["OIDCC-5.5", "OIDCC-5.5.1"],
        Ok(format!("claims={claims}")),
    )?;
    code_flow(
        ctx,
        &Req {
            extra: vec![("claims".into(), claims.into())],
            ..Req::default()
        },
    )
    .await?;
    if id_token_only {
        verify_scopes_in_id_token(ctx);
        let has_name = ctx
            .id_token
            .as_ref()
            .is_some_and(|t| t.claims["name"].is_string());
        let r = if has_name {
            Ok("name returned in the id_token".into())
        } else {
            Err("the essential name claim was not returned in the id_token".into())
        };
        ctx.log.check(
            "EnsureIdTokenContainsName",
            Warning,
            &["OIDCC-5.5", "OIDCC-5.5.1"],
            r,
        );
        return Ok(());
    }
    ctx.log.block("Userinfo endpoint");
    let resp = call_userinfo(ctx, false, "CallUserInfoEndpoint").await?;
    ensure_status(ctx, &resp, 200, "EnsureHttpStatusCodeIs200", Failure);
    validate_userinfo(ctx, &resp)?;
    let ui = ctx.userinfo.clone().unwrap_or_default();
    let expected = scope_claims(&ctx.scope);
    let missing: Vec<&&str> = expected.iter().filter(|c| ui.get(**c).is_none()).collect();
    let r = if missing.is_empty() {
        Ok("userinfo has the scope's claims".into())
    } else {
        Err(format!("missing {missing:?}"))
    };
    ctx.log.check(
        "VerifyScopesReturnedInUserInfoClaims",
        Warning,
        &["OIDCC-5.4"],
        r,
    );
    let r = if ui["name"].is_string() {
        Ok("name returned in userinfo".into())
    } else {
        Err("the essential name claim was not returned in userinfo".into())
    };
    ctx.log.check(
        "EnsureUserInfoContainsName",
        Warning,
        &["OIDCC-5.5", "OIDCC-5.5.1"],
        r,
    );
    let has_name = ctx
        .id_token
        .as_ref()
        .is_some_and(|t| t.claims.get("name").is_some());
    let r = if has_name {
        Err("Unexpectedly found name in id_token".into())
    } else {
        Ok("name claim not found in id_token".into())
    };
    ctx.log.check(
        "EnsureIdTokenDoesNotContainName",
        Warning,
        &["OIDCC-5.5", "OIDCC-5.5.1"],
        r,
    );
    Ok(())
}

fn vschar(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// RefreshTokenRequestSteps: refresh, and compare the new ID token with the first.
pub(super) async fn refresh(ctx: &mut Ctx<'_>, label: &str) -> Flow {
    ctx.log.block(&format!("{label}Refresh Token Request"));
    let rt = ctx.refresh_token.clone().unwrap_or_default();
    let first_at = ctx.access_token.clone();
    let first_id = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or_default();
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), rt),
        ("scope".to_string(), ctx.scope.clone()),
    ];
    ctx.log.must_ok(
        "CreateRefreshTokenRequest",
        &[],
        Ok("grant_type=refresh_token".into()),
    )?;
    ctx.log.must_ok(
        "AddScopeToTokenEndpointRequest",
        &["RFC6749-6"],
        Ok(format!("scope={}", ctx.scope)),
    )?;
    ctx.log
        .must_ok("WaitForOneSecond", &[], Ok("waited".into()))?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let r = call_token_endpoint(ctx, &form).await;
    let resp = ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &[],
        r.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        }),
    )?;
    ensure_status(ctx, &resp, 200, "CheckTokenEndpointHttpStatus200", Failure);
    let r = if resp.content_type.starts_with("application/json") {
        Ok("application/json".into())
    } else {
        Err(format!("Content-Type '{}'", resp.content_type))
    };
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["RFC6749-5.1"],
        r,
    );
    let r = match resp.cache_control.as_deref() {
        Some(c) if c.contains("no-store") => Ok(format!("Cache-Control: {c}")),
        other => Err(format!(
            "Cache-Control must include no-store, got {other:?}"
        )),
    };
    ctx.log.check(
        "CheckTokenEndpointCacheHeaders",
        Failure,
        &["RFC6749-5.1"],
        r,
    );
    let body = resp.json().unwrap_or_default();
    ctx.log.must_ok(
        "CheckIfTokenEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            Err(format!("error: {body}"))
        } else {
            Ok("no error".into())
        },
    )?;
    let at = body["access_token"].as_str().map(str::to_string);
    let at = ctx.log.must(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        at.map(|a| (a, "extracted".to_string()))
            .ok_or("no access_token".to_string()),
    )?;
    let r = if body["token_type"]
        .as_str()
        .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
    {
        Ok("Bearer".into())
    } else {
        Err(format!("token_type {}", body["token_type"]))
    };
    ctx.log.check(
        "CheckTokenTypeIsBearer",
        Failure,
        &["FAPI1-BASE-6.2.2-1"],
        r,
    );
    let e = shannon_entropy(&at);
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        if e > 96.0 {
            Ok(format!("{e:.1} bits"))
        } else {
            Err(format!("{e:.1} bits, 96 required"))
        },
    );
    ctx.log.check(
        "EnsureAccessTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.12"],
        if vschar(&at) {
            Ok("VSCHAR only".into())
        } else {
            Err("access token has characters outside %x20-7E".into())
        },
    );
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-6", "RFC6749-5.1"],
        if body.get("expires_in").is_some() {
            Ok("expires_in present".into())
        } else {
            Err("expires_in missing".into())
        },
    );
    if body.get("expires_in").is_some() {
        let r = if body["expires_in"].as_u64().is_some_and(|n| n > 0) {
            Ok("positive".into())
        } else {
            Err(format!("expires_in {}", body["expires_in"]))
        };
        ctx.log
            .check("ValidateExpiresIn", Failure, &["RFC6749-5.1"], r);
    }
    let r = if first_at.as_deref() != Some(at.as_str()) {
        Ok("a new access token".into())
    } else {
        Err("the same access token was returned".into())
    };
    ctx.log
        .check("EnsureAccessTokenValuesAreDifferent", Info, &[], r);
    ctx.access_token = Some(at);
    match body["id_token"].as_str().map(jose::decode) {
        Some(Ok(jws)) => {
            ctx.log.check(
                "ExtractIdTokenFromTokenResponse",
                Info,
                &[],
                Ok("id_token present".into()),
            );
            let second = jws.claims.clone();
            // OIDC Core §12.2: iss, sub, aud, azp and auth_time as in the first; iat newer.
            let mut bad = Vec::new();
            for c in ["iss", "sub", "aud", "azp", "auth_time"] {
                if first_id.get(c) != second.get(c) {
                    bad.push(format!(
                        "{c}: {:?} then {:?}",
                        first_id.get(c),
                        second.get(c)
                    ));
                }
            }
            if second["iat"].as_i64() < first_id["iat"].as_i64() {
                bad.push("iat is older than the first id_token's".into());
            }
            let r = if bad.is_empty() {
                Ok("id_token claims are consistent".into())
            } else {
                Err(bad.join("; "))
            };
            ctx.log
                .check("CompareIdTokenClaims", Failure, &["OIDCC-12.2"], r);
            let r = jws.verify(&ctx.server_jwks);
            ctx.log.check("ValidateIdTokenSignature", Failure, &[], r);
        }
        Some(Err(e)) => {
            ctx.log
                .check("ExtractIdTokenFromTokenResponse", Failure, &[], Err(e));
        }
        None => {
            ctx.log.check(
                "ExtractIdTokenFromTokenResponse",
                Info,
                &[],
                Err("no id_token in the refresh response".into()),
            );
        }
    }
    match body["refresh_token"].as_str() {
        Some(rt) => {
            ctx.log.check(
                "ExtractRefreshTokenFromTokenResponse",
                Info,
                &[],
                Ok("refresh_token present".into()),
            );
            let bits = rt.len() * 8;
            ctx.log.check(
                "EnsureMinimumRefreshTokenLength",
                Failure,
                &["RFC6749-10.10"],
                if bits >= 128 {
                    Ok(format!("{bits} bits"))
                } else {
                    Err(format!("{bits} bits, 128 required"))
                },
            );
            let e = shannon_entropy(rt);
            ctx.log.check(
                "EnsureMinimumRefreshTokenEntropy",
                Failure,
                &["RFC6749-10.10"],
                if e > 96.0 {
                    Ok(format!("{e:.1} bits"))
                } else {
                    Err(format!("{e:.1} bits, 96 required"))
                },
            );
            ctx.refresh_token = Some(rt.to_string());
        }
        None => {
            ctx.log.check(
                "ExtractRefreshTokenFromTokenResponse",
                Info,
                &[],
                Err("no new refresh_token".into()),
            );
        }
    }
    Ok(())
}

/// One client's part of oidcc-refresh-token: authorize (offline_access, prompt=consent), code,
/// refresh, UserInfo.
async fn refresh_flow(ctx: &mut Ctx<'_>, label: &str) -> Flow {
    ctx.log
        .block(&format!("{label}Make request to authorization endpoint"));
    let mut req = Req::default();
    if ctx.scope.split(' ').any(|s| s == "offline_access") {
        req.extra.push(("prompt".into(), "consent".into()));
        ctx.log.must_ok(
            "AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess",
            &["OIDCC-11"],
            Ok("prompt=consent".into()),
        )?;
    }
    create_authorization_request(ctx, &req)?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    exchange_code(ctx).await?;
    let rt = ctx.refresh_token.clone();
    ctx.log.check(
        "ExtractRefreshTokenFromTokenResponse",
        Info,
        &[],
        rt.as_ref()
            .map(|_| "refresh_token present".to_string())
            .ok_or("no refresh_token".to_string()),
    );
    let grants = json_array_strings(&ctx.server["grant_types_supported"]).unwrap_or_default();
    let Some(rt) = rt else {
        let r = if grants.iter().any(|g| g == "refresh_token") {
            Err("grant_types_supported lists refresh_token but none was issued".into())
        } else {
            Ok("refresh_token not advertised".into())
        };
        ctx.log.check(
            "EnsureServerConfigurationDoesNotSupportRefreshToken",
            Warning,
            &["OIDCD-3"],
            r,
        );
        return Err(ctx
            .log
            .skip("Refresh tokens cannot be tested. No refresh token was issued."));
    };
    let r = if grants.iter().any(|g| g == "refresh_token") {
        Ok("refresh_token in grant_types_supported".into())
    } else {
        Err("grant_types_supported does not list refresh_token".into())
    };
    ctx.log.check(
        "EnsureServerConfigurationSupportsRefreshToken",
        Warning,
        &["OIDCD-3"],
        r,
    );
    ctx.log.check(
        "EnsureRefreshTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.17"],
        if vschar(&rt) {
            Ok("VSCHAR only".into())
        } else {
            Err("refresh token has characters outside %x20-7E".into())
        },
    );
    refresh(ctx, label).await?;
    request_protected_resource(ctx).await
}

/// oidcc-refresh-token (OIDCCRefreshToken, two clients).
pub async fn oidcc_refresh_token(ctx: &mut Ctx<'_>) -> Flow {
    configure(ctx).await?;
    // With dynamic registration the second client was registered in Configure.
    let second = match ctx.registered_client2.clone() {
        Some(c) => c,
        None => ctx.log.must(
            "GetStaticClient2Configuration",
            &[],
            ctx.client2().map(|c| {
                let s = format!("client_id {}", c.client_id);
                (c, s)
            }),
        )?,
    };
    refresh_token_flows(ctx, second).await
}

/// OIDCCRefreshToken after the clients are configured: both clients' flows and refreshes,
/// then client 2's refresh token with client 1's credentials.
pub(super) async fn refresh_token_flows(ctx: &mut Ctx<'_>, second: Client) -> Flow {
    let offline = json_array_strings(&ctx.server["scopes_supported"])
        .unwrap_or_default()
        .iter()
        .any(|s| s == "offline_access");
    if offline {
        ctx.scope = "openid offline_access".into();
    }
    ctx.log.must_ok(
        "SetScopeInClientConfigurationToOpenIdOfflineAccessIfServerSupportsOfflineAccess",
        &[],
        Ok(format!("scope: {}", ctx.scope)),
    )?;
    refresh_flow(ctx, "").await?;
    let first = ctx.client.clone();
    ctx.client = second;
    refresh_flow(ctx, "Second client: ").await?;
    let second_rt = ctx.refresh_token.clone().unwrap_or_default();
    ctx.client = first;
    ctx.log
        .block("Attempting to use refresh_token issued to client 2 with client 1");
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), second_rt),
        ("scope".to_string(), ctx.scope.clone()),
    ];
    ctx.log.must_ok(
        "CreateRefreshTokenRequest",
        &[],
        Ok("client 2's refresh token, client 1's credentials".into()),
    )?;
    let r = call_token_endpoint(ctx, &form).await;
    let resp = ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &[],
        r.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        }),
    )?;
    let body = resp.json().unwrap_or_default();
    let codes = [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ];
    let r = match body["error"].as_str() {
        Some(e) if codes.contains(&e) => Ok(format!("error {e}")),
        other => Err(format!(
            "expected an RFC 6749 §5.2 error, got {other:?} (HTTP {})",
            resp.status
        )),
    };
    ctx.log
        .must_ok("ValidateErrorFromTokenEndpointResponseError", &[], r)?;
    ensure_status(ctx, &resp, 400, "CheckTokenEndpointHttpStatus400", Failure);
    let r = if resp.content_type.starts_with("application/json") {
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
    let r = if body["error"] == "invalid_grant" {
        Ok("invalid_grant".into())
    } else {
        Err(format!("expected invalid_grant, got {}", body["error"]))
    };
    ctx.log.check(
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
    Ok(())
}

/// The authorization endpoint answered with an `error` among `allowed` (a FAILURE otherwise).
pub(super) fn check_error_is_one_of(
    ctx: &mut Ctx<'_>,
    condition: &str,
    refs: &[&str],
    allowed: &[&str],
) {
    let r = match ctx.response.get("error") {
        None => Err("Expected 'error' field not found".into()),
        Some(e) if allowed.contains(&e.as_str()) => Ok(format!(
            "Authorization endpoint returned an expected error: {e}"
        )),
        Some(e) => Err(format!("'error' field has an unexpected value: {e}")),
    };
    ctx.log.check(condition, Failure, refs, r);
}
