//! The pushed authorization request: the PAR form, DPoP proofs, the PAR call and its
//! response, and the redirect to the authorization endpoint with the request_uri.

use super::*;

/// BuildUnsignedPAREndpointRequest (or BuildRequestObjectPostToPAREndpoint with a request
/// object).
pub fn build_par_request(ctx: &mut Ctx<'_>, f: &mut Fapi, request_object: Option<String>) -> Flow {
    match request_object {
        None => {
            f.par_form = ctx
                .request
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            f.request_object_claims = json!(ctx.request);
            ctx.log.must_ok(
                "BuildUnsignedPAREndpointRequest",
                &[],
                ok("the authorization request as the PAR form"),
            )
        }
        Some(jws) => {
            f.par_form = vec![
                ("request".into(), jws),
                ("client_id".into(), ctx.client.client_id.clone()),
            ];
            ctx.log.must_ok(
                "BuildRequestObjectPostToPAREndpoint",
                &[],
                ok("request and client_id as the PAR form"),
            )
        }
    }
}

/// The request as a signed request object when the variant signs its requests.
pub fn request_object_if_signed(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow<Option<String>> {
    if !f.signed {
        return Ok(None);
    }
    create_request_object(ctx, f, &RequestObject::default())?;
    Ok(Some(sign_request_object(ctx, f)?))
}

/// A DPoP proof for `method` `url` with the current key and nonce.
pub fn make_proof(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    resource: bool,
) -> Flow<String> {
    ensure_dpop_key(ctx, f)?;
    let nonce = if resource {
        f.rs_nonce.clone()
    } else {
        f.as_nonce.clone()
    };
    let mut claims = dpop::claims(
        method,
        url,
        f.proof_iat_offset,
        nonce.as_deref(),
        access_token,
    );
    ctx.log
        .must_ok("CreateDpopHeader", &[], ok("alg ES256, typ dpop+jwt, jwk"))?;
    ctx.log.must_ok(
        "CreateDpopClaims",
        &[],
        ok(format!("htm {method}, htu {url}")),
    )?;
    match f.proof_iat_offset {
        0 => {}
        o if o < 0 => ctx
            .log
            .info("SetDpopIatTo10SecondsInPast", format!("iat moved by {o} s")),
        o => ctx.log.info(
            "SetDpopIatTo8SecondsInFuture",
            format!("iat moved by {o} s"),
        ),
    }
    if f.proof_nbf_exp {
        claims["nbf"] = now().into();
        claims["exp"] = (now() + 300).into();
        ctx.log.info("SetDpopNbfToNow", "nbf: now");
        ctx.log
            .info("SetDpopExpToFiveMinutesInFuture", "exp: in 5 minutes");
    }
    if let Some(n) = &nonce {
        ctx.log.check(
            "EnsureDpopNonceContainsAllowedCharactersOnly",
            Failure,
            &["DPOP-8.1"],
            if dpop::nonce_chars_valid(n) {
                ok("nonce characters are allowed")
            } else {
                fail(format!("nonce {n} has characters outside NQCHAR"))
            },
        );
    }
    let key = f.dpop_key.as_ref().expect("dpop key");
    let r = key
        .sign_raw(&key.header(), &claims)
        .map(|p| (p, "Signed the DPoP proof".to_string()));
    ctx.log.must("SignDpopProof", &[], r)
}

pub(super) fn nonce_of(resp: &Resp) -> Option<String> {
    resp.headers.get("dpop-nonce").cloned()
}

/// callParEndpointAndStopOnFailure: the PAR request with the client's authentication (and a
/// DPoP proof when the code is bound to the DPoP key), retried once on `use_dpop_nonce`.
/// Without mTLS client authentication no certificate is presented (performParAuthorizationRequestFlow).
pub async fn call_par(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    auth: crate::modules::AuthOverride,
) -> Flow<Resp> {
    let without_cert = !f.mtls_auth;
    let saved = without_cert.then(|| {
        let plain = ctx.back_without_certificate();
        std::mem::replace(&mut ctx.back, plain)
    });
    let out = call_par_inner(ctx, f, auth).await;
    if let Some(b) = saved {
        ctx.back = b;
    }
    out
}

pub(super) async fn call_par_inner(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    auth: crate::modules::AuthOverride,
) -> Flow<Resp> {
    let url =
        crate::modules::endpoint(ctx, "pushed_authorization_request_endpoint").unwrap_or_default();
    let mut form = f.par_form.clone();
    if f.mtls_auth
        && matches!(
            auth,
            crate::modules::AuthOverride::Default | crate::modules::AuthOverride::None
        )
    {
        // The client authentication adds client_id itself (RFC 8705 §2).
        form.retain(|(k, _)| k != "client_id");
    }
    for attempt in 0..2 {
        let auth = resolve_auth(ctx, f, &auth);
        let mut headers = Vec::new();
        if f.dpop && f.dpop_at_par {
            let proof = make_proof(ctx, f, "POST", &url, None, false)?;
            ctx.log.must_ok(
                "AddDpopHeaderForParEndpointRequest",
                &[],
                ok("DPoP header added"),
            )?;
            headers.push(("DPoP".to_string(), proof));
        }
        let r = crate::modules::push_authorization_request(ctx, &form, auth, &headers).await;
        let resp = ctx.log.must(
            if f.dpop && f.dpop_at_par {
                "CallPAREndpointAllowingDpopNonceError"
            } else {
                "CallPAREndpoint"
            },
            &["PAR-2.1"],
            r.map(|x| {
                let s = format!("HTTP {}", x.status);
                (x, s)
            }),
        )?;
        let nonce_error =
            resp.status == 400 && resp.json().is_some_and(|b| b["error"] == "use_dpop_nonce");
        if let Some(n) = nonce_of(&resp) {
            f.as_nonce = Some(n);
        }
        if !(f.dpop && f.dpop_at_par && nonce_error && attempt == 0) {
            return Ok(resp);
        }
    }
    unreachable!("the loop returns")
}

/// processParResponse up to the redirect.
pub fn process_par_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckPAREndpointResponse201WithNoError",
        &["PAR-2.2", "PAR-2.3", "PAR-2.4"],
        if resp.status != 201 {
            fail(format!(
                "Invalid pushed authorization request endpoint response http status code (expected 201, actual {}): {}",
                resp.status,
                resp.body.chars().take(300).collect::<String>()
            ))
        } else if body.get("error").is_some() {
            fail(format!("pushed authorization request endpoint error response: {body}"))
        } else {
            ok("pushed authorization request endpoint correct response.")
        },
    )?;
    let uri = body["request_uri"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "CheckForRequestUriValue",
        &["PAR-2.2"],
        uri.clone()
            .map(|u| format!("request_uri {u}"))
            .ok_or("request_uri is missing from the PAR response".to_string()),
    )?;
    let r = match body["expires_in"].as_i64() {
        None => fail("expires_in is missing or empty in pushed authorization response"),
        Some(n) if n < 5 => fail("expires_in too short and is unlikely to give the client enough time to use the request_uri"),
        Some(n) if n >= 365 * 86400 => fail(format!("expires_in too long ({n})")),
        Some(n) => ok(format!("Found expires_in {n}")),
    };
    ctx.log
        .check("CheckForPARResponseExpiresIn", Failure, &["PAR-2.2"], r);
    ctx.log.check(
        "EnsureContentTypeJson",
        Failure,
        &[],
        if resp.content_type.starts_with("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    let uri = uri.unwrap_or_default();
    ctx.log
        .must_ok("ExtractRequestUriFromPARResponse", &[], ok(uri.clone()))?;
    ctx.log.check(
        "EnsureMinimumRequestUriEntropy",
        Failure,
        &["PAR-2.2", "PAR-7.1", "JAR-10.2"],
        entropy_check("request_uri", &uri),
    );
    f.request_uri = Some(uri);
    Ok(())
}

/// BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint (ReorderedParams for the
/// happy flow's second client): request_uri with response_type, client_id, scope and
/// redirect_uri repeated outside it, plus anything that differs from the pushed request.
pub fn request_uri_redirect(ctx: &mut Ctx<'_>, f: &Fapi, reordered: bool) -> Flow<Url> {
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let mut params: Vec<(String, String)> = vec![(
        "request_uri".into(),
        f.request_uri.clone().unwrap_or_default(),
    )];
    for (k, v) in &ctx.request {
        let inside = f.request_object_claims.get(k).map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if ["response_type", "client_id", "scope", "redirect_uri"].contains(&k.as_str())
            || inside.is_none()
            || inside.as_deref() != Some(v.as_str())
        {
            params.push((k.clone(), v.clone()));
        }
    }
    params.sort();
    if reordered {
        params.reverse();
    }
    let cond = if reordered {
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointReorderedParams"
    } else {
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint"
    };
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(params.iter());
            let s = u.to_string();
            (u, s)
        });
    ctx.log.must(cond, &["PAR-4"], r)
}
