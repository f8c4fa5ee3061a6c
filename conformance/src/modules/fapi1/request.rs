//! The authorization request: its parameters, the signed request object, the redirect by
//! value or by reference, the PAR call.

use super::*;

/// CreateAuthorizationRequestSteps with the module's tweaks.
pub(super) fn create_authorization_request(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks) -> Flow {
    let mut p = Map::new();
    p.insert("client_id".into(), json!(ctx.client.client_id));
    let redirect_uri = t
        .redirect_uri
        .clone()
        .unwrap_or(ctx.client.redirect_uri.clone());
    p.insert("redirect_uri".into(), json!(redirect_uri));
    p.insert("scope".into(), json!(SCOPE));
    ctx.log.must_ok(
        "CreateAuthorizationEndpointRequestFromClientInformation",
        &[],
        Ok(format!(
            "client_id, redirect_uri {redirect_uri}, scope {SCOPE}"
        )),
    )?;
    let state_len = t.state_len.or(f.second.then_some(128));
    let state = state_len.map_or_else(|| jose::random_value(16), random_alnum);
    ctx.log
        .must_ok("CreateRandomStateValue", &[], Ok(state.clone()))?;
    ctx.state = None;
    if t.no_state {
        ctx.log.info(
            "AddStateToAuthorizationEndpointRequest",
            "skipped: NOT adding state to request object",
        );
    } else if !t.state_outside_only {
        p.insert("state".into(), json!(state));
        ctx.log.must_ok(
            "AddStateToAuthorizationEndpointRequest",
            &[],
            Ok("state added".into()),
        )?;
        ctx.state = Some(state.clone());
    }
    let nonce = t
        .nonce_len
        .map_or_else(|| jose::random_value(16), random_alnum);
    ctx.log
        .must_ok("CreateRandomNonceValue", &[], Ok(nonce.clone()))?;
    ctx.nonce = None;
    if t.no_nonce || t.nonce_outside_only {
        ctx.log.info(
            "AddNonceToAuthorizationEndpointRequest",
            "skipped: NOT adding nonce to request object",
        );
    } else {
        p.insert("nonce".into(), json!(nonce));
        ctx.log.must_ok(
            "AddNonceToAuthorizationEndpointRequest",
            &[],
            Ok("nonce added".into()),
        )?;
        ctx.nonce = Some(nonce.clone());
    }
    if f.jarm {
        p.insert("response_type".into(), json!("code"));
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseTypeToCode",
            &[],
            Ok("response_type=code".into()),
        )?;
        p.insert("response_mode".into(), json!("jwt"));
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseModeToJWT",
            &[],
            Ok("response_mode=jwt".into()),
        )?;
    } else {
        p.insert("response_type".into(), json!("code id_token"));
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseTypeToCodeIdtoken",
            &[],
            Ok("response_type=code id_token".into()),
        )?;
    }
    f.verifier = None;
    let pkce = match t.pkce {
        Pkce::Variant => f.par,
        Pkce::Always => true,
        Pkce::Never => false,
    };
    if pkce {
        let verifier = jose::random_value(32);
        ctx.log.must_ok(
            "CreateRandomCodeVerifier",
            &["RFC7636-4.1"],
            Ok(verifier.clone()),
        )?;
        p.insert("code_challenge".into(), json!(jose::sha256_b64(&verifier)));
        p.insert("code_challenge_method".into(), json!("S256"));
        ctx.log.must_ok(
            "CreateS256CodeChallenge",
            &[],
            Ok("code_challenge_method S256".into()),
        )?;
        ctx.log.must_ok(
            "AddCodeChallengeToAuthorizationEndpointRequest",
            &["RFC7636-4.3"],
            Ok("code_challenge added".into()),
        )?;
        f.verifier = Some(verifier);
    }
    for tw in &t.request {
        match tw {
            RequestTweak::ReverseScope => {
                let reversed: Vec<&str> = SCOPE.split(' ').rev().collect();
                p.insert("scope".into(), json!(reversed.join(" ")));
                ctx.log.must_ok(
                    "ReverseScopeOrderInAuthorizationEndpointRequest",
                    &["RFC6749-3.3"],
                    Ok(format!("scope {}", reversed.join(" "))),
                )?;
            }
            RequestTweak::ResponseModeQuery => {
                p.insert("response_mode".into(), json!("query"));
                ctx.log.must_ok(
                    "SetAuthorizationEndpointRequestResponseModeToQuery",
                    &[],
                    Ok("response_mode=query".into()),
                )?;
            }
            RequestTweak::PlainPkce => {
                let verifier = jose::random_value(32);
                p.insert("code_challenge".into(), json!(verifier));
                p.insert("code_challenge_method".into(), json!("plain"));
                ctx.log.must_ok(
                    "CreatePlainCodeChallenge",
                    &[],
                    Ok("code_challenge_method plain".into()),
                )?;
                ctx.log.must_ok(
                    "AddCodeChallengeToAuthorizationEndpointRequest",
                    &["RFC7636-4.3"],
                    Ok("plain code_challenge added".into()),
                )?;
                f.verifier = Some(verifier);
            }
            RequestTweak::RemoveRedirectUri => {
                p.remove("redirect_uri");
                ctx.log.info(
                    "RemoveRedirectUriFromAuthorizationEndpointRequest",
                    "redirect_uri removed from the request",
                );
            }
            RequestTweak::BadRedirectUri => {
                p.insert(
                    "redirect_uri".into(),
                    json!("https://junk.io/junk/callback"),
                );
                ctx.log.must_ok(
                    "AddBadRedirectUriToRequestParameters",
                    &[],
                    Ok("redirect_uri https://junk.io/junk/callback".into()),
                )?;
            }
            RequestTweak::BadRequestUri => {
                let v = "urn%3Aexample%3Abwc4JK-ESC0w8acc191e-Y1LTC2";
                p.insert("request_uri".into(), json!(v));
                ctx.log.must_ok(
                    "AddBadRequestUriToAuthorizationRequest",
                    &["PAR-2"],
                    Ok(format!("request_uri {v}")),
                )?;
            }
            RequestTweak::ResponseTypeCode => {
                p.insert("response_type".into(), json!("code"));
                ctx.log.must_ok(
                    "SetAuthorizationEndpointRequestResponseTypeToCode",
                    &[],
                    Ok("response_type=code".into()),
                )?;
                p.remove("response_mode");
                ctx.log.must_ok(
                    "RemoveAuthorizationEndpointRequestResponseMode",
                    &[],
                    Ok("no response_mode".into()),
                )?;
            }
        }
    }
    f.request = p;
    // What the flow's other steps read (the redirect_uri of the token request, the response
    // type of the callback).
    ctx.request = f
        .request
        .iter()
        .map(|(k, v)| (k.clone(), value_str(v)))
        .collect();
    if t.state_outside_only {
        f.request.insert("state".into(), json!(state));
        ctx.request.insert("state".into(), state.clone());
        ctx.state = Some(state);
    }
    if t.nonce_outside_only {
        f.request.insert("nonce".into(), json!(nonce));
        ctx.request.insert("nonce".into(), nonce);
    }
    Ok(())
}

/// CreateAuthorizationRequestObjectSteps with the module's tweaks; signs the object.
pub(super) fn create_request_object(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks) -> Flow {
    let mut c = f.request.clone();
    // Parameters the module adds only to the URL, after signing.
    if t.state_outside_only {
        c.remove("state");
    }
    if t.nonce_outside_only {
        c.remove("nonce");
    }
    ctx.log.must_ok(
        "ConvertAuthorizationEndpointRequestToRequestObject",
        &[],
        Ok(format!(
            "request object claims: {:?}",
            c.keys().collect::<Vec<_>>()
        )),
    )?;
    if t.incorrect_outer_nonce {
        let n = random_alnum(16);
        f.request.insert("nonce".into(), json!(n));
        ctx.request.insert("nonce".into(), n.clone());
        ctx.log.must_ok(
            "AddIncorrectNonceToAuthorizationEndpointRequest",
            &[],
            Ok(format!("nonce outside the object: {n}")),
        )?;
    }
    if t.object.contains(&ObjectTweak::NoScope) {
        c.remove("scope");
        ctx.log.must_ok(
            "RemoveScopeFromRequestObject",
            &[],
            Ok("scope removed".into()),
        )?;
    }
    let now = now();
    if f.second {
        c.insert("iat".into(), json!(now));
        ctx.log
            .must_ok("AddIatToRequestObject", &[], Ok(format!("iat {now}")))?;
    }
    if t.object.contains(&ObjectTweak::NoNbf) {
        ctx.log.info(
            "AddNbfToRequestObject",
            "skipped: NOT adding nbf to request object",
        );
    } else if t.object.contains(&ObjectTweak::Nbf70MinutesAgo) {
        c.insert("nbf".into(), json!(now - 70 * 60));
        ctx.log.must_ok(
            "AddNbfValueIs70MinutesInPastToRequestObject",
            &["FAPI1-ADV-5.2.2-17"],
            Ok("nbf 70 minutes ago".into()),
        )?;
    } else {
        c.insert("nbf".into(), json!(now));
        ctx.log.must_ok(
            "AddNbfToRequestObject",
            &["FAPI1-ADV-5.2.2-17"],
            Ok(format!("nbf {now}")),
        )?;
    }
    if t.object.contains(&ObjectTweak::NoExp) {
        ctx.log.info(
            "AddExpToRequestObject",
            "skipped: NOT adding exp to request object",
        );
    } else if t.object.contains(&ObjectTweak::ExpiredExp) {
        c.insert("exp".into(), json!(now - 3600));
        ctx.log.must_ok(
            "AddExpiredExpToRequestObject",
            &["RFC7519-4.1.4"],
            Ok("exp an hour ago".into()),
        )?;
    } else if t.object.contains(&ObjectTweak::Exp70MinutesAhead) {
        c.insert("exp".into(), json!(now + 70 * 60));
        ctx.log.must_ok(
            "AddExpValueIs70MinutesInFutureToRequestObject",
            &["OIDCC-6.1", "RFC7519-4.1.4"],
            Ok("exp in 70 minutes".into()),
        )?;
    } else {
        c.insert("exp".into(), json!(now + 300));
        ctx.log.must_ok(
            "AddExpToRequestObject",
            &["FAPI1-ADV-5.2.2-13"],
            Ok(format!("exp {}", now + 300)),
        )?;
    }
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    if t.object.contains(&ObjectTweak::BadAud) {
        c.insert("aud".into(), json!("https://www.other1.example.com/"));
        ctx.log.must_ok(
            "AddBadAudToRequestObject",
            &["OIDCC-6.1", "RFC7519-4.1.3"],
            Ok("aud https://www.other1.example.com/".into()),
        )?;
    } else if t.object.contains(&ObjectTweak::MultipleAud) {
        c.insert(
            "aud".into(),
            json!([issuer, "https://other1.example.com", "invalid"]),
        );
        ctx.log.must_ok(
            "AddMultipleAudToRequestObject",
            &["RFC7519-4.1.3"],
            Ok("aud: the issuer and two other values".into()),
        )?;
    } else if t.object.contains(&ObjectTweak::ParEndpointAud) {
        let r = ctx
            .server_str("pushed_authorization_request_endpoint")
            .map(|u| (u.clone(), format!("aud {u}")))
            .ok_or(
                "Could not find pushed_authorization_request_endpoint in the server metadata."
                    .to_string(),
            );
        let aud = ctx.log.must(
            "AddPAREndpointAsAudToRequestObject",
            &["FAPI1-ADV-5.2.2-15", "JAR-4"],
            r,
        )?;
        c.insert("aud".into(), json!(aud));
    } else {
        c.insert("aud".into(), json!(issuer));
        ctx.log.must_ok(
            "AddAudToRequestObject",
            &["FAPI1-ADV-5.2.2-14"],
            Ok(format!("aud {issuer}")),
        )?;
    }
    c.insert("iss".into(), json!(ctx.client.client_id));
    ctx.log.must_ok(
        "AddIssToRequestObject",
        &["OIDCC-6.1"],
        Ok("iss: the client_id".into()),
    )?;
    c.insert("client_id".into(), json!(ctx.client.client_id));
    ctx.log.must_ok(
        "AddClientIdToRequestObject",
        &["FAPI1-ADV-5.2.3-8"],
        Ok("client_id".into()),
    )?;
    if t.object.contains(&ObjectTweak::NoRedirectUri) {
        c.remove("redirect_uri");
        ctx.log.must_ok(
            "RemoveRedirectUriFromRequestObject",
            &[],
            Ok("redirect_uri removed from the object".into()),
        )?;
    }
    f.claims = c.clone();
    let claims = Value::Object(c);
    let key_owner = if t.sign == Sign::SecondClientKey {
        ctx.log
            .block("Sign request object containing client_id for client 1 using JWK for client 2");
        f.two.client.clone()
    } else {
        ctx.client.clone()
    };
    let r = signer_for(&key_owner);
    let signer = ctx.log.must(
        "ExtractJWKsFromStaticClientConfiguration",
        &[],
        r.map(|s| (s, "client key".to_string())),
    )?;
    // The second client's objects carry the media type, in a randomised case (JAR §4).
    let header = if f.second {
        json!({"typ": "OautH-auThZ-REQ+jWt"})
    } else {
        json!({})
    };
    let (condition, r) = match t.sign {
        Sign::NoneAlg => {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            (
                "SerializeRequestObjectWithNullAlgorithm",
                Ok(format!("{h}.{p}.")),
            )
        }
        Sign::Rs256 => {
            let r = if signer.alg != "PS256" {
                Err(format!("the client key's alg is {}, not PS256", signer.alg))
            } else {
                key_owner
                    .signing_key
                    .as_ref()
                    .ok_or("no signing key".to_string())
                    .and_then(|k| std::fs::read(&k.file).map_err(|e| e.to_string()))
                    .and_then(|der| Signer::from_der("RS256", &signer.kid, &der))
                    .and_then(|rs| rs.sign(json!({}), &claims))
            };
            ("SignRequestObject", r)
        }
        _ => (
            if f.second {
                "SignRequestObjectIncludeMediaType"
            } else {
                "SignRequestObject"
            },
            signer.sign(header, &claims),
        ),
    };
    if t.sign == Sign::Rs256 {
        ctx.log.must_ok(
            "ChangeClientJwksAlgToRS256",
            &["FAPI1-ADV-8.6"],
            Ok("the client key is used with RS256".into()),
        )?;
    }
    let reqs: &[&str] = if f.second { &["JAR-4"] } else { &[] };
    let mut object = ctx.log.must(
        condition,
        reqs,
        r.map(|o| (o, "signed the request object".to_string())),
    )?;
    if t.sign == Sign::InvalidSignature {
        let mut parts: Vec<String> = object.split('.').map(str::to_string).collect();
        let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap_or_default();
        if let Some(b) = sig.first_mut() {
            *b ^= 0x01;
        }
        parts[2] = URL_SAFE_NO_PAD.encode(sig);
        object = parts.join(".");
        ctx.log.must_ok(
            "InvalidateRequestObjectSignature",
            &[],
            Ok("a bit of the signature flipped".into()),
        )?;
    }
    if t.state_outside_only {
        ctx.log.must_ok(
            "AddStateToAuthorizationEndpointRequest",
            &[],
            Ok("state added to the URL only".into()),
        )?;
    }
    if t.nonce_outside_only {
        ctx.log.must_ok(
            "AddNonceToAuthorizationEndpointRequest",
            &[],
            Ok("nonce added to the URL only".into()),
        )?;
    }
    f.request_object = object;
    Ok(())
}

/// AbstractBuildRequestObjectRedirectToAuthorizationEndpoint: `name=value` (the object or its
/// request_uri) with the parameters that must or may be repeated outside it.
pub(super) fn build_redirect(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    name: &str,
    value: &str,
    mode: Redirect,
    expose_state: bool,
    (condition, reqs): (&str, &[&str]),
) -> Flow<Url> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    params.insert(name.into(), value.into());
    for (k, v) in &f.request {
        let outer = value_str(v);
        let inner = f.claims.get(k).map(value_str);
        if k == "state" && expose_state {
            params.insert(k.clone(), outer.clone());
        }
        match mode {
            Redirect::WithoutDuplicates => {
                if k == "client_id" {
                    params.insert(k.clone(), outer);
                }
            }
            _ => {
                if REQUIRED_DUPLICATES.contains(&k.as_str()) || inner.as_deref() != Some(&outer) {
                    params.insert(k.clone(), outer);
                }
            }
        }
    }
    let mut pairs: Vec<(String, String)> = params.into_iter().collect();
    if mode == Redirect::Reordered {
        pairs.reverse();
    }
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(pairs.iter());
            let s = format!("Sending to authorization endpoint {u}");
            (u, s)
        });
    ctx.log.must(condition, reqs, r)
}

/// CallPAREndpoint with the module's client authentication.
pub(super) async fn call_par(ctx: &mut Ctx<'_>, f: &Fapi, t: &Tweaks) -> Flow<Resp> {
    let mut form = vec![("request".to_string(), f.request_object.clone())];
    ctx.log.must_ok(
        "BuildRequestObjectPostToPAREndpoint",
        &[],
        Ok("request=<the request object>".into()),
    )?;
    form.extend(t.par_extra.iter().cloned());
    let auth = if f.mtls {
        AuthOverride::Default
    } else {
        let issuer = ctx.server_str("issuer").unwrap_or_default();
        let token = endpoint(ctx, "token_endpoint").unwrap_or_default();
        let par_endpoint = ctx
            .server_str("pushed_authorization_request_endpoint")
            .unwrap_or_default();
        let mut claims = client_assertion_claims(ctx, json!(token));
        ctx.log.info(
            "CreateClientAuthenticationAssertionClaims",
            format!("{claims}"),
        );
        let (cond, reqs): (&str, &[&str]) = match t.par_assertion {
            ParAssertion::Issuer => {
                claims["aud"] = json!(issuer);
                (
                    "UpdateClientAuthenticationAssertionClaimsWithISSAud",
                    &["PAR-2"],
                )
            }
            ParAssertion::ParEndpoint => {
                claims["aud"] = json!(par_endpoint);
                (
                    "AddPAREndpointAsAudToClientAuthenticationAssertionClaims",
                    &["PAR-2"],
                )
            }
            ParAssertion::TokenEndpoint => {
                claims["aud"] = json!(token);
                (
                    "AddTokenEndpointAsAudToClientAuthenticationAssertionClaims",
                    &["PAR-2"],
                )
            }
            ParAssertion::IssuerAndTokenEndpoint => {
                claims["aud"] = json!([issuer, token]);
                (
                    "AddArrayContainingIssuerAndAnotherValueAsAudToClientAuthenticationAssertionClaims",
                    &["PAR-2", "RFC7519-4.1.3"],
                )
            }
            ParAssertion::WrongAud => {
                claims["aud"] = json!("https://fapidev-rs.authlete.net/api/userinfo");
                (
                    "AddWrongAudToClientAssertionClaims",
                    &["PAR-2", "RFC7523-3"],
                )
            }
            ParAssertion::WrongIss => {
                claims["aud"] = json!(issuer);
                claims["iss"] = json!("wrong-issuer-value");
                (
                    "AddWrongIssToClientAssertionClaims",
                    &["RFC7523-3", "OIDCC-9"],
                )
            }
            ParAssertion::WrongSub => {
                claims["aud"] = json!(issuer);
                claims["sub"] = json!("wrong-sub-value");
                (
                    "SetSubToWrongValueInClientAssertionClaims",
                    &["RFC7523-3", "OIDCC-9"],
                )
            }
        };
        ctx.log
            .must_ok(cond, reqs, Ok(format!("aud {}", claims["aud"])))?;
        AuthOverride::Assertion(claims)
    };
    if t.par_method_put {
        let url = endpoint(ctx, "pushed_authorization_request_endpoint").unwrap_or_default();
        let rb = ctx.back.put(&url).form(&form);
        let r = browser::send(rb).await.map(|x| {
            let s = status_msg(&x);
            (x, s)
        });
        return ctx.log.must("CallPAREndpoint", &["PAR-2.1"], r);
    }
    let r = if f.mtls {
        push_authorization_request(ctx, &form, auth, &[]).await
    } else {
        // With private_key_jwt the request goes to the PAR endpoint itself, without the
        // certificate (performParAuthorizationRequestFlow: mTLS only where the client
        // authenticates with it).
        let url = ctx
            .server_str("pushed_authorization_request_endpoint")
            .unwrap_or_default();
        let bare = ctx.back_without_certificate();
        let with_cert = std::mem::replace(&mut ctx.back, bare);
        let r = post_with_client_auth(ctx, &url, &form, auth, &[]).await;
        ctx.back = with_cert;
        r
    };
    let r = r.map(|x| {
        let s = status_msg(&x);
        (x, s)
    });
    ctx.log.must("CallPAREndpoint", &["PAR-2.1"], r)
}

/// processParResponse: a 201 with a request_uri that expires.
pub(super) fn process_par_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckPAREndpointResponse201WithNoError",
        &["PAR-2.2", "PAR-2.3"],
        if resp.status == 201 && body.get("error").is_none() {
            Ok("pushed authorization request endpoint correct response.".into())
        } else {
            Err(format!(
                "Invalid pushed authorization request endpoint response: {}",
                status_msg(resp)
            ))
        },
    )?;
    let uri = body["request_uri"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "CheckForRequestUriValue",
        &["PAR-2.2"],
        uri.clone()
            .map(|u| format!("request_uri {u}"))
            .ok_or("request_uri is missing from the PAR response".into()),
    )?;
    let exp = body["expires_in"].as_i64();
    let r = match exp {
        None => Err("expires_in is missing or empty in pushed authorization response".into()),
        Some(e) if e < 5 => Err("expires_in too short".into()),
        Some(e) if e >= 365 * 86400 => Err("expires_in too long".into()),
        Some(e) => Ok(format!("expires_in {e}")),
    };
    ctx.log
        .check("CheckForPARResponseExpiresIn", Failure, &["PAR-2.2"], r);
    ctx.log.must_ok(
        "ExtractRequestUriFromPARResponse",
        &[],
        Ok("request_uri extracted".into()),
    )?;
    ctx.log.check(
        "EnsureMinimumRequestUriEntropy",
        Failure,
        &["PAR-2.2", "PAR-7.1", "JAR-10.2"],
        min_entropy("request_uri", uri.as_deref()),
    );
    f.request_uri = uri;
    f.par_expires_in = exp;
    Ok(())
}

/// performAuthorizationFlow up to the browser's arrival at the callback (or an error page),
/// or the PAR endpoint's refusal when the module handles it.
pub(super) async fn authorize(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks) -> Flow<Arrival> {
    ctx.log.block(&format!(
        "{}Make request to authorization endpoint",
        f.who()
    ));
    create_authorization_request(ctx, f, t)?;
    create_request_object(ctx, f, t)?;
    let url = if f.par {
        let resp = call_par(ctx, f, t).await?;
        if t.par_error_expected && !(200..300).contains(&resp.status) {
            return Ok(Arrival::ParError(resp));
        }
        process_par_response(ctx, f, &resp)?;
        par_redirect(ctx, f, t.redirect)?
    } else {
        let (cond, mode) = if t.redirect == Redirect::Reordered {
            (
                "BuildRequestObjectByValueRedirectToAuthorizationEndpointReorderedParams",
                Redirect::Reordered,
            )
        } else {
            (
                "BuildRequestObjectByValueRedirectToAuthorizationEndpoint",
                Redirect::Normal,
            )
        };
        let object = f.request_object.clone();
        build_redirect(
            ctx,
            f,
            "request",
            &object,
            mode,
            t.expose_state,
            (cond, &[]),
        )?
    };
    Ok(Arrival::Visit(go(ctx, url).await?))
}

/// BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint (and its variants).
pub(super) fn par_redirect(ctx: &mut Ctx<'_>, f: &Fapi, mode: Redirect) -> Flow<Url> {
    let cond = match mode {
        Redirect::Normal => "BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint",
        Redirect::Reordered => {
            "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointReorderedParams"
        }
        Redirect::WithoutDuplicates => {
            "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates"
        }
    };
    let uri = f.request_uri.clone().unwrap_or_default();
    build_redirect(ctx, f, "request_uri", &uri, mode, false, (cond, &["PAR-4"]))
}

/// The user's browser opens `url`, logs in and consents.
pub(super) async fn go(ctx: &mut Ctx<'_>, url: Url) -> Flow<Visit> {
    let redirect_uri = ctx
        .request
        .get("redirect_uri")
        .cloned()
        .unwrap_or(ctx.client.redirect_uri.clone());
    let user = ctx.cfg.user.clone();
    match ctx.browser.visit(url, &redirect_uri, Some(&user)).await {
        Ok(v) => {
            ctx.log.info(
                "performRedirect",
                format!(
                    "browser: {} login page(s), {} consent page(s), then {}",
                    v.login_pages,
                    v.consent_pages,
                    match &v.landing {
                        Landing::Callback { .. } => "the redirect_uri".to_string(),
                        Landing::Page { status, .. } => format!("a page (HTTP {status})"),
                    }
                ),
            );
            Ok(v)
        }
        Err(e) => {
            ctx.log.must_ok("performRedirect", &[], Err(e))?;
            Err(Stop)
        }
    }
}
