//! The DPoP modules: proofs with other iat, nbf and exp, code binding at PAR, mismatched
//! keys, and the negative resource requests of RFC 9449.

use super::*;

/// fapi2-security-profile-final-check-dpop-proof-nbf-exp: proofs with nbf and exp (which
/// RFC 9449 does not define) must still be accepted.
pub async fn check_dpop_proof_nbf_exp(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.proof_nbf_exp = true;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds.
pub async fn dpop_iat_10_seconds_before(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    f.proof_iat_offset = -10;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds
/// (SetDpopIatTo8SecondsInFuture).
pub async fn dpop_iat_10_seconds_after(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    f.proof_iat_offset = 8;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpopproof-at-par-endpoint-binding-success: a DPoP proof
/// at PAR binds the code to the key.
pub async fn dpop_proof_at_par_binding_success(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpop-auth-code-binding-success: dpop_jkt and a proof at
/// PAR, both of the same key.
pub async fn dpop_auth_code_binding_success(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    ensure_dpop_key(ctx, &mut f)?;
    let v = {
        create_authorization_request(ctx, &mut f, &AuthReq::default())?;
        add_dpop_jkt(ctx, &mut f)?;
        push_current_request(ctx, &mut f).await?;
        ctx.log.block("Make request to authorization endpoint");
        let url = request_uri_redirect(ctx, &f, false)?;
        browse(ctx, url, true).await?
    };
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// AddInvalidDpopJktToAuthorizationEndpointRequest: the key's thumbprint with every byte
/// changed.
pub(super) fn add_invalid_dpop_jkt(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ensure_dpop_key(ctx, f)?;
    let jkt = f.dpop_key.as_ref().map(|k| k.jkt()).unwrap_or_default();
    let bytes: Vec<u8> =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &jkt)
            .unwrap_or_default()
            .into_iter()
            .map(|b| b ^ 0x5a)
            .collect();
    let bad = jose::b64(&bytes);
    ctx.request.insert("dpop_jkt".into(), bad.clone());
    ctx.log.must_ok(
        "AddInvalidDpopJktToAuthorizationEndpointRequest",
        &[],
        ok(format!("dpop_jkt={bad}")),
    )
}

/// AbstractEnsureSpecifiedErrorFromPushedAuthorizationEndpointResponse: HTTP 400 and one of
/// `expected`.
pub(super) fn par_error(resp: &Resp, expected: &[&str]) -> Check {
    let error = resp
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_string));
    if resp.status != 400 {
        return fail(format!(
            "Invalid pushed authorization request endpoint response http status code (expected 400, actual {}): {}",
            resp.status,
            resp.body.chars().take(200).collect::<String>()
        ));
    }
    match error {
        None => fail("Expected 'error' field not found"),
        Some(e) if expected.contains(&e.as_str()) => ok(format!(
            "Pushed Authorization Request Endpoint returned expected 'error' of {expected:?}: {e}"
        )),
        Some(e) => fail(format!(
            "'error' field has unexpected value (expected {expected:?}, actual {e})"
        )),
    }
}

/// AbstractCheckTokenEndpointReturnedExpectedErrorAndHttpStatus.
pub(super) fn token_error(resp: &Resp, expected: &[(&str, &[u16])]) -> Check {
    let error = resp
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_string));
    let Some(e) = error else {
        return fail(format!(
            "Couldn't find error field (HTTP {}): {}",
            resp.status,
            resp.body.chars().take(200).collect::<String>()
        ));
    };
    match expected.iter().find(|(name, _)| *name == e) {
        None => fail(format!(
            "Unexpected error '{e}' received (expected one of {:?})",
            expected.iter().map(|x| x.0).collect::<Vec<_>>()
        )),
        Some((_, statuses)) if !statuses.contains(&resp.status) => fail(format!(
            "Invalid http status with error {e} (actual {}, expected {statuses:?})",
            resp.status
        )),
        Some(_) => ok(format!(
            "Token endpoint returned error {e} and the http status code was {}",
            resp.status
        )),
    }
}

/// fapi2-security-profile-final-ensure-mismatched-dpop-jkt-fails: dpop_jkt of another value
/// than the key of the PAR request's DPoP proof (RFC 9449 §10.1).
pub async fn ensure_mismatched_dpop_jkt_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    ensure_dpop_key(ctx, &mut f)?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    add_invalid_dpop_jkt(ctx, &mut f)?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    ctx.log.check(
        "EnsurePARInvalidRequestOrInvalidDpopProof",
        Failure,
        &["DPOP-10.1"],
        par_error(&resp, &["invalid_request", "invalid_dpop_proof"]),
    );
    Ok(())
}

pub(super) const INVALID_REQUEST_GRANT_OR_DPOP: &[(&str, &[u16])] = &[
    ("invalid_request", &[400]),
    ("invalid_grant", &[400]),
    ("invalid_dpop_proof", &[400]),
];

/// fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt:
/// the code is bound (proof at PAR) to one key, the token request proves another.
pub async fn token_endpoint_fails_with_mismatched_dpop_proof_jkt(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    let v = par_and_authorize(ctx, &mut f, &AuthReq::default(), false).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, &f, true)?;
    f.dpop_key = None;
    ensure_dpop_key(ctx, &mut f)?;
    let form = ctx.token_form.clone();
    let how = TokenCall::for_variant(&f);
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    ctx.log.check(
        "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
        Failure,
        &["DPOP-10.1"],
        token_error(&resp, INVALID_REQUEST_GRANT_OR_DPOP),
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt: PAR
/// names a dpop_jkt that is not the key the token request proves.
pub async fn token_endpoint_fails_with_mismatched_dpop_jkt(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    ensure_dpop_key(ctx, &mut f)?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    add_invalid_dpop_jkt(ctx, &mut f)?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, crate::modules::AuthOverride::Default).await?;
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, &f, true)?;
    let form = ctx.token_form.clone();
    let how = TokenCall::for_variant(&f);
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    ctx.log.check(
        "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
        Failure,
        &["DPOP-10.1"],
        token_error(&resp, INVALID_REQUEST_GRANT_OR_DPOP),
    );
    Ok(())
}

/// One change the DPoP negative tests make to an otherwise correct resource request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ProofChange {
    Unchanged,
    HeaderNameUpperCase,
    TwoProofs,
    NotWellFormed,
    NoTyp,
    NoAlg,
    NoJwk,
    NoJti,
    NoHtm,
    NoHtu,
    NoIat,
    NoAth,
    BadTyp,
    AlgNone,
    BadSignature,
    PrivateJwk,
    HtmPut,
    HtuWithQuery,
    HtuWithoutQuery,
    HtuOtherUrl,
    IatHourAhead,
    IatHourAgo,
    FixedJti,
    BadAth,
    OtherKey,
    ExtraMembers,
    HtuUpperCase,
    HtuWithPort,
    NoProof,
    NoProofAsBearer,
}

/// A resource request for the DPoP negative tests: the proof made as CreateDpopProofSteps
/// would, with `change` applied.
pub(super) async fn dpop_resource_request(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    change: ProofChange,
    fixed_jti: &mut Option<String>,
) -> Flow<Resp> {
    use ProofChange::*;
    let url = resource_url(ctx, f).unwrap_or_default();
    let at = ctx.access_token.clone().unwrap_or_default();
    ensure_dpop_key(ctx, f)?;
    let mut last = None;
    for _attempt in 0..2 {
        let nonce = f.rs_nonce.clone();
        let ath = (change != NoAth).then_some(at.as_str());
        let mut claims = dpop::claims("GET", &url, 0, nonce.as_deref(), ath);
        let key = f.dpop_key.as_ref().expect("dpop key");
        let mut header = key.header();
        let strip = |v: &mut Value, k: &str| {
            v.as_object_mut().map(|o| o.remove(k));
        };
        let parsed = Url::parse(&url).ok();
        match change {
            NoTyp => strip(&mut header, "typ"),
            NoJwk => strip(&mut header, "jwk"),
            NoJti => strip(&mut claims, "jti"),
            NoHtm => strip(&mut claims, "htm"),
            NoHtu => strip(&mut claims, "htu"),
            NoIat => strip(&mut claims, "iat"),
            BadTyp => header["typ"] = "dpop+jwt+wrongyousee".into(),
            PrivateJwk => {
                // SetDpopHeaderJwkToPrivateKey: a `d` in the header's jwk.
                header["jwk"]["d"] = jose::b64(&[7u8; 32]).into();
            }
            HtmPut => claims["htm"] = "PUT".into(),
            HtuWithQuery => {
                claims["htu"] = format!(
                    "{url}?allthedoorsonthisspaceshiphavebeen#programmedtohaveacheeryandsunnydisposition"
                )
                .into()
            }
            HtuWithoutQuery => claims["htu"] = url.split('?').next().unwrap_or(&url).into(),
            HtuOtherUrl => claims["htu"] = format!("{url}ohnonotagain").into(),
            IatHourAhead => claims["iat"] = (now() + 3600).into(),
            IatHourAgo => claims["iat"] = (now() - 3600).into(),
            FixedJti => {
                let jti = fixed_jti.get_or_insert_with(|| jose::random_value(11)).clone();
                claims["jti"] = jti.into();
            }
            BadAth => claims["ath"] = jose::sha256_b64("not the access token").into(),
            ExtraMembers => {
                header["tx_id"] = (now() + 3600).into();
                claims["tx_id_key"] = (now() + 3600).into();
            }
            HtuUpperCase => {
                if let Some(u) = &parsed {
                    let host = u.host_str().unwrap_or("");
                    claims["htu"] = url
                        .replacen(host, &host.to_uppercase(), 1)
                        .replacen(u.scheme(), &u.scheme().to_uppercase(), 1)
                        .into();
                }
            }
            HtuWithPort => {
                if let Some(u) = &parsed {
                    if u.port().is_none() {
                        claims["htu"] =
                            format!("{}://{}:443{}", u.scheme(), u.host_str().unwrap_or(""), u.path())
                                .into();
                    }
                }
            }
            _ => {}
        }
        let other_key;
        let signer = if change == OtherKey {
            other_key = DpopKey::generate().map_err(|_| Stop)?;
            ctx.log
                .info("GenerateNewSignKey", "a new DPoP key signs this proof");
            &other_key
        } else {
            key
        };
        let mut proof = match change {
            AlgNone => format!(
                "{}.{}.",
                jose::b64(br#"{"alg": "none", "typ": "dpop+jwt"}"#),
                jose::b64(claims.to_string().as_bytes())
            ),
            _ => signer.sign_raw(&header, &claims).map_err(|_| Stop)?,
        };
        let parts: Vec<String> = proof.split('.').map(str::to_string).collect();
        match change {
            NotWellFormed => proof = format!("{}.{}", parts[0], parts[1]),
            NoAlg => {
                let h = String::from_utf8(
                    base64::Engine::decode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        &parts[0],
                    )
                    .unwrap_or_default(),
                )
                .unwrap_or_default()
                .replace("alg", "alg2");
                proof = format!("{}.{}.{}", jose::b64(h.as_bytes()), parts[1], parts[2]);
            }
            BadSignature => {
                // AbstractInvalidateJwsSignature: one bit of the signature flipped.
                let mut sig = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &parts[2],
                )
                .unwrap_or_default();
                if let Some(b) = sig.first_mut() {
                    *b ^= 1;
                }
                proof = format!("{}.{}.{}", parts[0], parts[1], jose::b64(&sig));
            }
            _ => {}
        }
        ctx.log.info("SignDpopProof", "Signed the DPoP proof");
        let mut rb = ctx.back_without_certificate().get(&url);
        let scheme = if change == NoProofAsBearer {
            "Bearer"
        } else {
            "DPoP"
        };
        rb = rb.header("authorization", format!("{scheme} {at}"));
        match change {
            NoProof | NoProofAsBearer => {
                ctx.log
                    .info("RemoveDpopFromResourceRequest", "no DPoP header");
            }
            HeaderNameUpperCase => rb = rb.header("DPOP", proof.clone()),
            TwoProofs => {
                let mut c2 = dpop::claims("GET", &url, 0, nonce.as_deref(), Some(&at));
                c2["jti"] = jose::random_value(15).into();
                let second = key.sign_raw(&key.header(), &c2).map_err(|_| Stop)?;
                rb = rb.header("DPoP", proof.clone()).header("DPoP", second);
            }
            _ => rb = rb.header("DPoP", proof.clone()),
        }
        let cond = if change == NoProofAsBearer {
            "CallProtectedResourceForceBearer"
        } else {
            "CallProtectedResourceAllowingDpopNonceError"
        };
        let r = browser::send(rb).await.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
        let resp = ctx.log.must(cond, &["FAPI2-SP-FINAL-5.3.4-2"], r)?;
        let nonce_error = resp.status == 401
            && resp
                .www_authenticate
                .as_deref()
                .is_some_and(|w| w.contains("use_dpop_nonce"));
        if let Some(n) = nonce_of(&resp) {
            f.rs_nonce = Some(n);
        }
        last = Some(resp);
        if !nonce_error {
            break;
        }
        if change == FixedJti {
            *fixed_jti = None;
        }
    }
    Ok(last.expect("one attempt"))
}

/// fapi2-security-profile-final-dpop-negative-tests (FAPI2SPFinalDpopNegativeTests): after a
/// normal flow, resource requests each breaking one rule of RFC 9449 §4.3 / §7.
pub async fn dpop_negative_tests(ctx: &mut Ctx<'_>) -> Flow {
    use ProofChange::*;
    let mut f = setup(ctx).await?;
    authorization_flow(ctx, &mut f, &AuthReq::default()).await?;
    // (block, change, expect success, a FAILURE (else WARNING) when not as expected, reqs)
    let cases: &[(&str, ProofChange, bool, bool, &[&str])] = &[
        ("Try DPoP proof with all upper case header value", HeaderNameUpperCase, true, false, &["DPOP-4.1"]),
        ("Try with more than one DPoP in the header", TwoProofs, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof not well-formed JWT", NotWellFormed, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'typ' is missing in header", NoTyp, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'alg' is missing", NoAlg, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'jwk' is missing", NoJwk, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'jti' is missing", NoJti, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'htm' is missing", NoHtm, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'htu' is missing", NoHtu, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'iat' is missing", NoIat, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'ath' is missing", NoAth, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof with invalid 'typ' in header", BadTyp, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof with none alg", AlgNone, false, true, &["FAPI2-SP-FINAL-5.4"]),
        ("Try DPoP proof with invalid signature", BadSignature, false, true, &["FAPI2-SP-FINAL-5.4"]),
        ("Try DPoP proof with jwk header incorrectly containing private key", PrivateJwk, false, true, &["DPOP-4.3"]),
        ("Try DPoP proof with incorrect 'htm'", HtmPut, false, true, &["DPOP-4.3"]),
        ("Try DPoP proof where 'htu' has a query/fragment (which must be ignored in match as per 4.3-9 in DPoP spec)", HtuWithQuery, true, true, &["DPOP-4.3"]),
        ("Try DPoP proof where 'htu' does not contain the query/fragment (which must be ignored in match as per 4.3-9 in DPoP spec)", HtuWithoutQuery, true, true, &["DPOP-4.3"]),
        ("Try DPoP proof where 'htu' is a different url", HtuOtherUrl, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof where 'iat' is one hour in the future", IatHourAhead, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof where 'iat' is one hour in the past", IatHourAgo, false, true, &["DPOP-7.1"]),
        ("DPoP reuse, First use of jti", FixedJti, true, true, &["DPOP-7.1"]),
        ("DPoP reuse, Second use of the same jti, this 'should' fail", FixedJti, false, false, &["DPOP-7.1"]),
        ("Try DPoP proof where 'ath' is incorrect", BadAth, false, true, &["DPOP-7.1"]),
        ("Try DPoP signed with a different key", OtherKey, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof with extra claims on header and claims, as it should be ignored by resource server", ExtraMembers, true, true, &["DPOP-7.2"]),
        ("Try DPoP proof expecting RS to compare scheme and hostname using case independent mode when validating htu claim", HtuUpperCase, true, false, &["RFC3986-6.2.2", "RFC3986-6.2.3"]),
        ("Try DPoP proof expecting Scheme based normalization of htu claim, where the port is not considered if that is the default for the scheme.", HtuWithPort, true, false, &["RFC3986-6.2.2", "RFC3986-6.2.3"]),
        ("Try resource access without DPoP proof", NoProof, false, true, &["FAPI2-BASE-4.3.3"]),
        ("Try resource access without DPoP proof and authorization type changed to 'Bearer'", NoProofAsBearer, false, true, &["DPOP-7.1"]),
        ("Check a correct DPoP proof still works", Unchanged, true, true, &["DPOP-7.1"]),
    ];
    let mut fixed_jti: Option<String> = Option::None;
    for (block, change, expect_success, must, reqs) in cases {
        ctx.log.block(block);
        let iat_case = matches!(change, IatHourAhead | IatHourAgo);
        if iat_case {
            f.rs_nonce = Option::None;
        }
        let nonce_before = f.rs_nonce.clone();
        let resp = dpop_resource_request(ctx, &mut f, *change, &mut fixed_jti).await?;
        // callResourceEndpointStepsForIatAndNonceTests: with a server nonce, the proof is
        // fresh however its iat is set.
        let used_nonce =
            iat_case && f.rs_nonce.is_some() && nonce_before.is_none() && resp.status < 300;
        let (expect_success, must) = if used_nonce {
            (true, false)
        } else {
            (*expect_success, *must)
        };
        let severity = if must { Failure } else { Warning };
        if expect_success {
            ctx.log.check(
                "EnsureHttpStatusCodeIs200or201",
                severity,
                reqs,
                status_in(&resp, 200..=201, "resource"),
            );
        } else {
            let r = if [400, 401].contains(&resp.status) {
                ok(format!(
                    "resource endpoint http status code was {}",
                    resp.status
                ))
            } else {
                fail(format!(
                    "resource endpoint returned a different http status than expected ({}, expected 400 or 401)",
                    resp.status
                ))
            };
            ctx.log
                .check("EnsureHttpStatusCodeIs400or401", severity, reqs, r);
        }
    }
    Ok(())
}
