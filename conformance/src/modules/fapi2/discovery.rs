//! fapi2-security-profile-final-discovery-end-point-verification.

use super::*;

/// fapi2-security-profile-final-discovery-end-point-verification
/// (FAPI2SPFinalDiscoveryEndpointVerification).
pub async fn discovery_end_point_verification(ctx: &mut Ctx<'_>) -> Flow {
    let f = Fapi::new(ctx);
    ctx.log.block("Configure");
    let resp = fetch_configuration(ctx, f.openid).await?;
    let reqs: &[&str] = if f.openid {
        &["OIDCD-4"]
    } else {
        &["RFC8414-3.2"]
    };
    ctx.log.check(
        "EnsureDiscoveryEndpointResponseStatusCodeIs200",
        Failure,
        reqs,
        if resp.status == 200 {
            ok("HTTP 200")
        } else {
            fail(format!("HTTP {}", resp.status))
        },
    );
    ctx.log.check(
        "CheckDiscoveryEndpointReturnedJsonContentType",
        Failure,
        reqs,
        if resp.content_type.split(';').next().map(str::trim) == Some("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    if f.mtls_auth || f.mtls_bound {
        ctx.log.info(
            "SupportMTLSEndpointAliases",
            "mtls_endpoint_aliases are used for the client's back-channel requests",
        );
    }
    ctx.log.block("Verify discovery document");
    let s = ctx.server.clone();
    ctx.log.check(
        "CheckDiscEndpointResponseTypeCodeSupported",
        Failure,
        &["FAPI2-SP-FINAL-5.3.2.2-1"],
        array_has(&s, "response_types_supported", &["code"], 1),
    );
    if f.jarm {
        ctx.log.check(
            "CheckDiscEndpointResponseModesSupportedContainsJwt",
            Failure,
            &["JARM-2.3.4"],
            array_has(&s, "response_modes_supported", &["jwt"], 1),
        );
        for (cond, name) in [
            (
                "CheckDiscEndpointAuthSignAlgValuesIsJsonArray",
                "authorization_signing_alg_values_supported",
            ),
            (
                "CheckDiscEndpointAuthEncryptAlgValuesIsJsonArray",
                "authorization_encryption_alg_values_supported",
            ),
            (
                "CheckDiscEndpointAuthEncryptEncValuesIsJsonArray",
                "authorization_encryption_enc_values_supported",
            ),
        ] {
            let r = match s.get(name) {
                None => ok(format!("{name} absent")),
                Some(v) if v.is_array() => ok(format!("{name} is an array")),
                Some(_) => fail(format!("{name} is not a JSON array")),
            };
            ctx.log.check(cond, Failure, &["JARM-4"], r);
        }
    } else {
        let r = if s["authorization_response_iss_parameter_supported"] == true {
            ok("authorization_response_iss_parameter_supported is true")
        } else {
            fail(format!(
                "authorization_response_iss_parameter_supported must be true, is {}",
                s["authorization_response_iss_parameter_supported"]
            ))
        };
        ctx.log.check(
            "EnsureAuthorizationResponseIssParameterSupportedIsTrue",
            Failure,
            &["OAuth2-iss-3", "FAPI2-SP-FINAL-5.3.2.2-7"],
            r,
        );
    }
    ctx.log.check(
        "CheckDiscEndpointPARSupported",
        Failure,
        &["PAR-5", "FAPI2-SP-FINAL-5.3.2.2-2"],
        match s["pushed_authorization_request_endpoint"].as_str() {
            Some(u) if u.starts_with("https://") => ok(format!("PAR endpoint {u}")),
            _ => fail("pushed_authorization_request_endpoint is missing or not an https URL"),
        },
    );
    // AbstractFAPI2SPFinalDiscoveryEndpointVerification.performEndpointVerification.
    let issuer = s["issuer"].as_str().unwrap_or("").to_string();
    let discovery = ctx.cfg.discovery_url.clone();
    let (cond_url, cond_iss, iss_reqs): (&str, &str, &[&str]) = if f.openid {
        (
            "CheckDiscEndpointDiscoveryUrl",
            "CheckDiscEndpointIssuer",
            &["OIDCD-4.3", "OIDCD-7.2"],
        )
    } else {
        (
            "CheckOauthDiscEndpointDiscoveryUrl",
            "CheckOauthDiscEndpointIssuer",
            &["RFC8414-3.3", "RFC8414-6.2"],
        )
    };
    let r = match Url::parse(&discovery) {
        Ok(u) if u.scheme() != "https" => fail("Expected https protocol for server.discoveryUrl"),
        Ok(u)
            if u.path().ends_with("/.well-known/openid-configuration")
                || (!f.openid
                    && u.path()
                        .starts_with("/.well-known/oauth-authorization-server")) =>
        {
            ok("discoveryUrl is valid")
        }
        Ok(_) => fail("discoveryUrl does not name a well-known configuration path"),
        Err(e) => fail(format!("Invalid URL. Unable to parse: {e}")),
    };
    ctx.log.check(cond_url, Failure, &[], r);
    let expected = if let Some(i) = discovery.find("/.well-known/oauth-authorization-server") {
        format!(
            "{}{}",
            &discovery[..i],
            &discovery[i + "/.well-known/oauth-authorization-server".len()..]
        )
    } else {
        discovery
            .trim_end_matches("/.well-known/openid-configuration")
            .to_string()
    };
    ctx.log.check(
        cond_iss,
        Failure,
        iss_reqs,
        if issuer.trim_end_matches('/') == expected.trim_end_matches('/') {
            ok(format!("issuer is consistent with the discovery endpoint: {issuer}"))
        } else {
            fail(format!("issuer {issuer} is not consistent with the location the discovery document was retrieved from ({expected})"))
        },
    );
    ctx.log.check(
        "CheckDiscEndpointIssuerIsValidUrl",
        Failure,
        &["RFC8414-2"],
        match Url::parse(&issuer) {
            Ok(u) if u.scheme() == "https" && u.query().is_none() && u.fragment().is_none() => {
                ok("issuer is a valid issuer identifier URL")
            }
            _ => fail(format!(
                "issuer is not a valid RFC 8414 issuer identifier URL: {issuer}"
            )),
        },
    );
    ctx.log.check(
        "ValidateServerMetadataAgainstSchema",
        Failure,
        &["RFC8414-2"],
        crate::modules::discovery::metadata_types_valid(&s),
    );
    ctx.log.check(
        "CheckForUnexpectedParametersInServerMetadata",
        Warning,
        &["RFC8414-2"],
        crate::modules::discovery::unexpected_metadata(&s),
    );
    if f.dpop {
        ctx.log.check(
            "FAPI2CheckDpopSigningAlgValuesSupported",
            Failure,
            &["FAPI2-SP-FINAL-5.4-1"],
            array_has(&s, "dpop_signing_alg_values_supported", FAPI2_ALGS, 1),
        );
    } else {
        let r = match &s["tls_client_certificate_bound_access_tokens"] {
            Value::Bool(true) => ok("tls_client_certificate_bound_access_tokens was 'true'"),
            Value::Bool(false) => fail("tls_client_certificate_bound_access_tokens must be 'true'"),
            Value::Null => fail("Certificate bound access tokens are used, so tls_client_certificate_bound_access_tokens must be present in the discovery document and contain true"),
            _ => fail("Type of tls_client_certificate_bound_access_tokens must be boolean."),
        };
        ctx.log.check(
            "CheckTLSClientCertificateBoundAccessTokensTrue",
            Failure,
            &["FAPI2-SP-FINAL-5.3.3.1-5", "RFC8705-3.3"],
            r,
        );
    }
    if f.openid {
        ctx.log.check(
            "FAPI2CheckDiscEndpointIdTokenSigningAlgValuesSupported",
            Failure,
            &["FAPI2-SP-FINAL-5.4-1"],
            array_has(&s, "id_token_signing_alg_values_supported", FAPI2_ALGS, 1),
        );
    }
    ctx.log.check(
        "CheckDiscEndpointTokenEndpointAuthMethodsSupportedContainsPrivateKeyOrTlsClient",
        Failure,
        &["FAPI2-SP-FINAL-5.3.2.1-6"],
        array_has(
            &s,
            "token_endpoint_auth_methods_supported",
            &["private_key_jwt", "tls_client_auth"],
            1,
        ),
    );
    let pkj = s["token_endpoint_auth_methods_supported"]
        .as_array()
        .is_some_and(|a| a.iter().any(|m| m == "private_key_jwt"));
    ctx.log.check(
        "FAPI2CheckDiscEndpointTokenEndpointAuthSigningAlgValuesSupported",
        Failure,
        &["FAPI2-SP-FINAL-5.4-1"],
        if pkj {
            array_has(
                &s,
                "token_endpoint_auth_signing_alg_values_supported",
                FAPI2_ALGS,
                1,
            )
        } else {
            ok("Not checking token_endpoint_auth_signing_alg_values_supported: private_key_jwt is not offered")
        },
    );
    if s.get("userinfo_signing_alg_values_supported").is_some() {
        ctx.log.check(
            "FAPI2CheckDiscEndpointUserinfoSigningAlgValuesSupported",
            Failure,
            &["FAPI2-SP-FINAL-5.4"],
            array_has(&s, "userinfo_signing_alg_values_supported", FAPI2_ALGS, 1),
        );
    } else {
        ctx.log.info(
            "FAPI2CheckDiscEndpointUserinfoSigningAlgValuesSupported",
            "skipped: userinfo_signing_alg_values_supported is absent",
        );
    }
    ctx.log.check(
        "CheckDiscEndpointTokenEndpoint",
        Failure,
        &["OIDCD-3"],
        https_member(&s, "token_endpoint"),
    );
    if s.get("registration_endpoint").is_some() {
        ctx.log.check(
            "CheckDiscEndpointRegistrationEndpoint",
            Failure,
            &["OIDCD-3"],
            https_member(&s, "registration_endpoint"),
        );
    } else {
        ctx.log.info(
            "CheckDiscEndpointRegistrationEndpoint",
            "skipped: registration_endpoint is absent",
        );
    }
    if f.jarm || f.openid {
        ctx.log.check(
            "CheckJwksUri",
            Failure,
            &["OIDCD-3"],
            https_member(&s, "jwks_uri"),
        );
    }
    ctx.log.check(
        "EnsureServerConfigurationSupportsCodeChallengeMethodS256",
        Failure,
        &["FAPI2-SP-FINAL-5.3.2.2-5"],
        array_has(&s, "code_challenge_methods_supported", &["S256"], 1),
    );
    let scopes_ok = match s.get("scopes_supported") {
        None => ok("scopes_supported absent"),
        Some(v) => match json_array_strings(v) {
            Some(list)
                if list.iter().all(|t| {
                    !t.is_empty()
                        && t.bytes().all(|b| {
                            b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
                        })
                }) =>
            {
                ok("scopes are valid scope-tokens")
            }
            _ => fail("scopes_supported holds values that are not scope-tokens"),
        },
    };
    ctx.log.check(
        "CheckDiscEndpointScopesSupportedSyntax",
        Failure,
        &["RFC6749-3.3"],
        scopes_ok,
    );
    crate::modules::discovery::locale_checks(ctx, &s);
    if f.mtls_auth {
        ctx.log.check(
            "EnsureServerConfigurationSupportsMTLS",
            Failure,
            &["FAPI2-SP-FINAL-5.3.3.1-5"],
            array_has(
                &s,
                "token_endpoint_auth_methods_supported",
                &["tls_client_auth", "self_signed_tls_client_auth"],
                1,
            ),
        );
    } else {
        ctx.log.check(
            "EnsureServerConfigurationSupportsPrivateKeyJwt",
            Failure,
            &["FAPI2-SP-FINAL-5.3.2.1-6"],
            array_has(
                &s,
                "token_endpoint_auth_methods_supported",
                &["private_key_jwt"],
                1,
            ),
        );
    }
    ctx.log.check(
        "CheckDiscRequirePushedAuthorizationRequestsIsABoolean",
        Failure,
        &["PAR-5"],
        match s.get("require_pushed_authorization_requests") {
            None | Some(Value::Bool(_)) => {
                ok("require_pushed_authorization_requests is absent or a boolean")
            }
            Some(v) => fail(format!(
                "require_pushed_authorization_requests is not a boolean: {v}"
            )),
        },
    );
    if f.signed {
        ctx.log.check(
            "FAPI2CheckDiscEndpointRequestObjectSigningAlgValuesSupported",
            Failure,
            &[],
            array_has(
                &s,
                "request_object_signing_alg_values_supported",
                FAPI2_ALGS,
                1,
            ),
        );
    }
    ctx.log.check(
        "CheckDiscEndpointAuthorizationEndpoint",
        Failure,
        &[],
        https_member(&s, "authorization_endpoint"),
    );
    ctx.log.check(
        "CheckDiscEndpointGrantTypesSupportedContainsAuthorizationCode",
        Failure,
        &[],
        array_has(&s, "grant_types_supported", &["authorization_code"], 1),
    );
    if f.openid {
        ctx.log.check(
            "CheckDiscEndpointScopesSupportedContainsOpenId",
            Failure,
            &[],
            array_has(&s, "scopes_supported", &["openid"], 1),
        );
        ctx.log.check(
            "CheckDiscEndpointSubjectTypesSupported",
            Failure,
            &["OIDCD-3"],
            array_has(&s, "subject_types_supported", &["public", "pairwise"], 1),
        );
    }
    Ok(())
}

pub(super) fn https_member(s: &Value, name: &str) -> Check {
    match s[name].as_str().map(Url::parse) {
        Some(Ok(u)) if u.scheme() == "https" => ok(format!("{name} is an https URL")),
        Some(_) => fail(format!("{name} is not a valid https URL")),
        None => fail(format!("{name} is missing from the discovery document")),
    }
}
