//! The Message Signing plan's request object modules: what a request object must carry
//! and what the server must refuse.

use super::*;

/// How a request-object module breaks its request object.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum RoChange {
    NoExp,
    NoNbf,
    Expired,
    BadAud,
    ExpOver60,
    NbfOver60,
    AlgNone,
    BadSignature,
    Rs256,
    OtherClientsKey,
    RequestUriInside,
}

pub(super) struct RoModule {
    pub(super) change: RoChange,
    pub(super) page: (&'static str, &'static [&'static str]),
    pub(super) par: (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    ),
    pub(super) callback: (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    ),
    pub(super) allow_plain_jarm_error: bool,
}

/// The request object of the standard request with `change` made, signed (or not) as the
/// module says.
pub(super) fn broken_request_object(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    change: RoChange,
) -> Flow<String> {
    let now = now();
    let mut shape = RequestObject::default();
    match change {
        RoChange::NoExp => {
            shape.exp = false;
            ctx.log.info(
                "AddExpToRequestObject",
                "skipped: NOT adding exp to request object",
            );
        }
        RoChange::NoNbf => {
            shape.nbf = false;
            ctx.log.info(
                "AddNbfToRequestObject",
                "skipped: NOT adding nbf to request object",
            );
        }
        RoChange::Expired => {
            shape.exp_offset = -3600;
            ctx.log
                .info("AddExpiredExpToRequestObject", "exp an hour ago");
        }
        RoChange::BadAud => {
            shape.aud = Some("https://www.other1.example.com/".into());
            ctx.log.info(
                "AddBadAudToRequestObject",
                "aud https://www.other1.example.com/",
            );
        }
        RoChange::ExpOver60 => {
            shape.exp_offset = 70 * 60;
            ctx.log.info(
                "AddExpValueIs70MinutesInFutureToRequestObject",
                "exp in 70 minutes",
            );
        }
        RoChange::NbfOver60 => {
            shape.nbf_offset = -70 * 60;
            ctx.log.info(
                "AddNbfValueIs70MinutesInPastToRequestObject",
                "nbf 70 minutes ago",
            );
        }
        RoChange::RequestUriInside => {
            shape.claims.push((
                "request_uri".into(),
                "urn:ietf:params:oauth:request_uri:bad".into(),
            ));
            ctx.log.info(
                "AddBadRequestUriToAuthorizationRequest",
                "request_uri inside the request object",
            );
        }
        _ => {}
    }
    let _ = now;
    create_request_object(ctx, f, &shape)?;
    let claims = f.request_object_claims.clone();
    let jws = match change {
        RoChange::AlgNone => {
            let h = jose::b64(br#"{"alg":"none"}"#);
            let jwt = format!("{h}.{}.", jose::b64(claims.to_string().as_bytes()));
            ctx.log.must_ok(
                "SerializeRequestObjectWithNullAlgorithm",
                &[],
                ok("alg none"),
            )?;
            jwt
        }
        RoChange::Rs256 => {
            let key = ctx.client.signing_key.clone();
            let r = key
                .ok_or("no signing key configured".to_string())
                .and_then(|k| {
                    let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
                    crate::jose::Signer::from_der("RS256", &k.kid, &der)
                })
                .and_then(|s| s.sign(json!({}), &claims))
                .map(|j| (j, "signed with RS256".to_string()));
            ctx.log
                .must("ChangeClientJwksAlgToRS256", &["FAPI2-SP-FINAL-5.4"], r)?
        }
        RoChange::OtherClientsKey => {
            ctx.log.block(
                "Sign request object containing client_id for client 1 using JWK for client 2",
            );
            let c2 = ctx.client2().map_err(|_| Stop)?;
            let r = c2
                .signing_key
                .clone()
                .ok_or("client2 has no signing key".to_string())
                .and_then(|k| crate::jose::Signer::load(&k))
                .and_then(|s| s.sign(json!({}), &claims))
                .map(|j| (j, "signed with client 2's key".to_string()));
            ctx.log.must("SignRequestObject", &[], r)?
        }
        _ => {
            let mut jws = sign_request_object(ctx, f)?;
            if change == RoChange::BadSignature {
                let mut parts: Vec<String> = jws.split('.').map(str::to_string).collect();
                let mut sig = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &parts[2],
                )
                .unwrap_or_default();
                if let Some(b) = sig.first_mut() {
                    *b ^= 1;
                }
                parts[2] = jose::b64(&sig);
                jws = parts.join(".");
                ctx.log.info(
                    "InvalidateRequestObjectSignature",
                    "one bit of the signature flipped",
                );
            }
            jws
        }
    };
    Ok(jws)
}

/// The request-object negatives: refused at PAR, or at the authorization endpoint (error page
/// or error redirect).
pub(super) async fn request_object_negative(ctx: &mut Ctx<'_>, m: RoModule) -> Flow {
    let mut f = setup(ctx).await?;
    if m.change == RoChange::OtherClientsKey {
        configure_second_client(ctx, &mut f)?;
    }
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let jws = broken_request_object(ctx, &mut f, m.change)?;
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, Some(jws))?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    if m.change == RoChange::RequestUriInside || !(200..300).contains(&resp.status) {
        let (cond, errors, reqs) = m.par;
        ctx.log.check(cond, Failure, reqs, par_error(&resp, errors));
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(ctx, &f, &v, m.page.0, m.page.1, m.allow_plain_jarm_error)? {
        let (cond, errors, reqs) = m.callback;
        error_response_checks(ctx, cond, errors, Failure, reqs);
    }
    Ok(())
}

pub(super) const INVALID_REQUEST_OBJECT: &[&str] = &["invalid_request_object"];

pub async fn request_object_without_exp_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::NoExp,
            page: (
                "ExpectRequestObjectMissingExpClaimErrorPage",
                &["FAPI2-MS-ID1-5.3.1-4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.3"],
            ),
            callback: (
                "EnsureInvalidRequestInvalidRequestUriOrAccessDeniedError",
                &["invalid_request", "invalid_request_uri", "access_denied"],
                &["OIDCC-3.1.2.6", "RFC6749-4.2.2.1"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_without_nbf_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::NoNbf,
            page: (
                "ExpectRequestObjectMissingNbfClaimErrorPage",
                &["FAPI2-MS-ID1-5.3.1-3"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.3", "PAR-2.1-3"],
            ),
            callback: (
                "EnsureInvalidRequestInvalidRequestUriOrAccessDeniedError",
                &["invalid_request", "invalid_request_uri", "access_denied"],
                &["OIDCC-3.1.2.6", "RFC6749-4.2.2.1"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn expired_request_object_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::Expired,
            page: (
                "ExpectExpiredRequestObjectClaimErrorPage",
                &["RFC7519-4.1.4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.3"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn request_object_with_bad_aud_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::BadAud,
            page: (
                "ExpectRequestObjectWithBadAudClaimErrorPage",
                &["OIDCC-6.1", "RFC7519-4.1.3"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.3"],
            ),
            callback: (
                "EnsureInvalidRequestUriError",
                &["invalid_request_uri"],
                &["JAR-4"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_with_exp_over_60_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::ExpOver60,
            page: (
                "ExpectRequestObjectWithExpOver60ClaimErrorPage",
                &["FAPI2-MS-ID1-5.3.1-4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.3", "PAR-2.1-3"],
            ),
            callback: (
                "EnsureInvalidRequestUriError",
                &["invalid_request_uri"],
                &["JAR-4"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_with_nbf_over_60_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::NbfOver60,
            page: (
                "ExpectRequestObjectWithNbfOver60ClaimErrorPage",
                &["OIDCC-6.1", "RFC7519-4.1.5"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.3", "PAR-2.1-3"],
            ),
            callback: (
                "EnsureInvalidRequestUriError",
                &["invalid_request_uri"],
                &["JAR-4"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_signature_algorithm_is_not_none(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::AlgNone,
            page: (
                "ExpectRequestObjectUnverifiableErrorPage",
                &["FAPI2-MS-ID1-5.4.2-2"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn request_object_with_invalid_signature_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::BadSignature,
            page: ("ExpectRequestObjectInvalidSignatureErrorPage", &[]),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn signed_request_object_with_rs256_fails(ctx: &mut Ctx<'_>) -> Flow {
    let alg = ctx.signer().map(|s| s.alg.clone()).unwrap_or_default();
    if alg != "PS256" {
        ctx.log.block("Configure");
        return Err(ctx.log.skip(&format!("This test requires RSA keys to be performed, the alg in client configuration is '{alg}' so this test is being skipped. If your server does not support PS256 then this will not prevent you certifying.")));
    }
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::Rs256,
            page: (
                "ExpectSignedRS256RequestObjectErrorPage",
                &["FAPI2-SP-FINAL-5.4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn matching_key_in_authorization_request(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::OtherClientsKey,
            page: (
                "ExpectRequestObjectUnverifiableErrorPage",
                &["FAPI2-MS-ID1-5.3.1-1", "OIDCC-6.3.2"],
            ),
            par: (
                "EnsurePARInvalidRequestOrInvalidRequestObjectError",
                &["invalid_request", "invalid_request_object"],
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn par_reject_request_uri_in_request_object(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::RequestUriInside,
            page: ("ExpectRequestObjectUnverifiableErrorPage", &[]),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.1"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &[],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

/// fapi2-security-profile-final-ensure-unsigned-request-at-par-endpoint-fails: with signed
/// requests required, the plain parameters at PAR must be refused.
pub async fn unsigned_request_at_par_endpoint_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.signed = false;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        ("EnsurePARInvalidRequestError", &["invalid_request"], &["PAR-2.3"]),
        ("ExpectAuthorizationRequestWithoutRequestObjectErrorPage", &["FAPI2-MS-ID1-5.3.2-1"]),
        (
            "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrInvalidRequestObjectOrInvalidRequestUri",
            &["invalid_request", "invalid_request_object", "invalid_request_uri"],
            Failure,
            &["OIDCC-3.1.2.6"],
        ),
        false,
    )
    .await
}

/// fapi2-security-profile-final-ensure-request-object-with-multiple-aud-succeeds
/// (AddMultipleAudToRequestObject; the redirect without duplicates).
pub async fn request_object_with_multiple_aud_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    create_request_object(
        ctx,
        &mut f,
        &RequestObject {
            aud: Some(json!([issuer, "https://other1.example.com", "invalid"])),
            ..Default::default()
        },
    )?;
    ctx.log.info(
        "AddMultipleAudToRequestObject",
        "aud: the issuer and two others",
    );
    let jws = sign_request_object(ctx, &f)?;
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, Some(jws))?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let pairs = [
        ("client_id", ctx.client.client_id.clone()),
        ("request_uri", f.request_uri.clone().unwrap_or_default()),
    ];
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(pairs.iter());
            let s = u.to_string();
            (u, s)
        });
    let url = ctx.log.must(
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates",
        &["PAR-4"],
        r,
    )?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-ensure-request-object-with-nbf-8-seconds-in-the-future-is-accepted.
pub async fn request_object_with_nbf_8_seconds_future_accepted(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    create_request_object(
        ctx,
        &mut f,
        &RequestObject {
            nbf_offset: 8,
            ..Default::default()
        },
    )?;
    ctx.log.info(
        "AddNbfValueIs8SecondsInFutureToRequestObject",
        "nbf 8 seconds ahead",
    );
    let jws = sign_request_object(ctx, &f)?;
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, Some(jws))?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    if resp.status != 201 {
        ctx.log.check(
            "CheckPAREndpointResponse201WithNoError",
            Warning,
            &["PAR-2.2", "PAR-2.3"],
            fail(format!("HTTP {}: {}", resp.status, resp.body)),
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}
