//! fapi1-advanced-final-discovery-end-point-verification: the discovery document's FAPI 1
//! Advanced members (FAPI1AdvancedFinalDiscoveryEndpointVerification, plain_fapi).

use super::*;

/// fapi1-advanced-final-discovery-end-point-verification
/// (FAPI1AdvancedFinalDiscoveryEndpointVerification, plain_fapi).
pub async fn fapi1_advanced_final_discovery_end_point_verification(ctx: &mut Ctx<'_>) -> Flow {
    use crate::modules::discovery::{array_contains, metadata_types_valid, unexpected_metadata};
    ctx.log.block("Configure");
    let resp = get_dynamic_server_configuration(ctx).await?;
    ctx.log.check(
        "EnsureDiscoveryEndpointResponseStatusCodeIs200",
        Failure,
        &["OIDCD-4"],
        if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(format!("HTTP {}", resp.status))
        },
    );
    ctx.log.check(
        "CheckDiscoveryEndpointReturnedJsonContentType",
        Failure,
        &["OIDCD-4"],
        if is_json(&resp) {
            Ok("application/json".into())
        } else {
            Err(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    let jarm = ctx.variant_is("fapi_response_mode", "jarm");
    let par = ctx.variant_is("fapi_auth_request_method", "pushed");
    let s = ctx.server.clone();
    ctx.log.block("Verify discovery document");
    let array_check = |name: &str| -> Check {
        match s.get(name) {
            None => Ok(format!("{name} absent")),
            Some(v) if v.is_array() => Ok(format!("{name} is an array")),
            Some(_) => Err(format!("{name} is not a JSON array")),
        }
    };
    if jarm {
        ctx.log.check(
            "CheckDiscEndpointResponseTypeCodeSupported",
            Failure,
            &["JARM-2.1.1"],
            array_contains(
                &s,
                "response_types_supported",
                &["code"],
                1,
                "code is not supported",
            ),
        );
        ctx.log.check(
            "CheckDiscEndpointResponseModesSupportedContainsJwt",
            Failure,
            &["JARM-2.3.4"],
            array_contains(
                &s,
                "response_modes_supported",
                &["jwt"],
                1,
                "response mode jwt is not supported",
            ),
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
            ctx.log.check(cond, Failure, &["JARM-4"], array_check(name));
        }
    } else {
        ctx.log.check(
            "FAPIRWCheckDiscEndpointResponseTypesSupported",
            Failure,
            &["FAPI1-ADV-5.2.2-2"],
            array_contains(
                &s,
                "response_types_supported",
                &["code id_token"],
                1,
                "code id_token is not supported",
            ),
        );
    }
    if par {
        ctx.log.check(
            "CheckDiscEndpointPARSupported",
            Failure,
            &["PAR-5"],
            s["pushed_authorization_request_endpoint"]
                .as_str()
                .map(|u| format!("pushed_authorization_request_endpoint {u}"))
                .ok_or("pushed_authorization_request_endpoint is missing".into()),
        );
    }
    let expected = ctx
        .cfg
        .discovery_url
        .trim_end_matches(".well-known/openid-configuration")
        .trim_end_matches('/')
        .to_string();
    ctx.log.check(
        "CheckDiscEndpointDiscoveryUrl",
        Failure,
        &[],
        if ctx.cfg.discovery_url.starts_with("https://")
            && ctx
                .cfg
                .discovery_url
                .ends_with("/.well-known/openid-configuration")
        {
            Ok("discoveryUrl is valid".into())
        } else {
            Err("discoveryUrl must be https and end with /.well-known/openid-configuration".into())
        },
    );
    ctx.log.check(
        "CheckDiscEndpointIssuer",
        Failure,
        &["OIDCD-4.3", "OIDCD-7.2"],
        match s["issuer"].as_str() {
            Some(i) if i.trim_end_matches('/') == expected => Ok(format!("issuer {i}")),
            other => Err(format!(
                "issuer {other:?} does not match the discovery URL ({expected})"
            )),
        },
    );
    ctx.log.check(
        "CheckDiscEndpointIssuerIsValidUrl",
        Failure,
        &["RFC8414-2"],
        match s["issuer"].as_str().map(Url::parse) {
            Some(Ok(u))
                if u.scheme() == "https" && u.query().is_none() && u.fragment().is_none() =>
            {
                Ok("issuer is a valid issuer identifier URL".into())
            }
            other => Err(format!("issuer is not a valid RFC 8414 issuer: {other:?}")),
        },
    );
    ctx.log.check(
        "ValidateServerMetadataAgainstSchema",
        Failure,
        &["RFC8414-2"],
        metadata_types_valid(&s),
    );
    ctx.log.check(
        "CheckForUnexpectedParametersInServerMetadata",
        Warning,
        &["RFC8414-2"],
        unexpected_metadata(&s),
    );
    ctx.log.check(
        "CheckTLSClientCertificateBoundAccessTokensTrue",
        Failure,
        &["FAPI1-ADV-5.2.2-6", "RFC8705-3.3"],
        if s["tls_client_certificate_bound_access_tokens"] == true {
            Ok("tls_client_certificate_bound_access_tokens is true".into())
        } else {
            Err("tls_client_certificate_bound_access_tokens must be true".into())
        },
    );
    ctx.log.check(
        "CheckDiscEndpointIdTokenSigningAlgValuesSupportedContainsPS256OrES256",
        Failure,
        &["FAPI1-ADV-8.6"],
        array_contains(
            &s,
            "id_token_signing_alg_values_supported",
            &["PS256", "ES256"],
            1,
            "neither PS256 nor ES256",
        ),
    );
    ctx.log.check(
        "CheckDiscEndpointTokenEndpointAuthMethodsSupportedContainsPrivateKeyOrTlsClient",
        Failure,
        &["FAPI1-ADV-5.2.2-14"],
        array_contains(
            &s,
            "token_endpoint_auth_methods_supported",
            &[
                "private_key_jwt",
                "tls_client_auth",
                "self_signed_tls_client_auth",
            ],
            1,
            "none of private_key_jwt, tls_client_auth, self_signed_tls_client_auth",
        ),
    );
    ctx.log.check(
        "CheckDiscEndpointTokenEndpointAuthSigningAlgValuesSupported",
        Failure,
        &["FAPI1-ADV-8.6"],
        if array_contains(&s, "token_endpoint_auth_methods_supported", &["private_key_jwt"], 1, "").is_ok() {
            fapi_algs(&s, "token_endpoint_auth_signing_alg_values_supported")
        } else {
            Ok("no method that signs: token_endpoint_auth_signing_alg_values_supported not checked".into())
        },
    );
    if s.get("userinfo_signing_alg_values_supported").is_some() {
        ctx.log.check(
            "FAPICheckDiscEndpointUserinfoSigningAlgValuesSupported",
            Failure,
            &["FAPI1-ADV-8.6"],
            fapi_algs(&s, "userinfo_signing_alg_values_supported"),
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
    }
    ctx.log.check(
        "CheckJwksUri",
        Failure,
        &["OIDCD-3"],
        https_member(&s, "jwks_uri"),
    );
    ctx.log.check(
        "CheckDiscEndpointScopesSupportedSyntax",
        Failure,
        &["RFC6749-3.3"],
        match s.get("scopes_supported").map(json_array_strings) {
            None => Ok("scopes_supported absent".into()),
            Some(Some(l))
                if l.iter().all(|x| {
                    !x.is_empty()
                        && x.bytes().all(|b| {
                            b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
                        })
                }) =>
            {
                Ok("scopes are valid".into())
            }
            Some(other) => Err(format!("scopes_supported has invalid values: {other:?}")),
        },
    );
    for (cond, severity) in [
        ("CheckDiscEndpointLocalesSyntax", Failure),
        ("CheckDiscEndpointLocalesCanonicalCasing", Warning),
    ] {
        ctx.log.check(
            cond,
            severity,
            &["RFC8414-2"],
            locales(&s, severity == Warning),
        );
    }
    if ctx.auth == ClientAuth::Mtls {
        ctx.log.check(
            "EnsureServerConfigurationSupportsMTLS",
            Failure,
            &["FAPI1-ADV-5.2.2-6"],
            array_contains(
                &s,
                "token_endpoint_auth_methods_supported",
                &["tls_client_auth", "self_signed_tls_client_auth"],
                1,
                "mutual TLS client authentication is not supported",
            ),
        );
    } else {
        ctx.log.check(
            "EnsureServerConfigurationSupportsPrivateKeyJwt",
            Failure,
            &["FAPI1-ADV-5.2.2-6"],
            array_contains(
                &s,
                "token_endpoint_auth_methods_supported",
                &["private_key_jwt"],
                1,
                "private_key_jwt is not supported",
            ),
        );
    }
    if par {
        ctx.log.check(
            "CheckDiscRequirePushedAuthorizationRequestsIsABoolean",
            Failure,
            &["PAR-5"],
            match s.get("require_pushed_authorization_requests") {
                None | Some(Value::Bool(_)) => Ok("absent or a boolean".into()),
                Some(v) => Err(format!(
                    "require_pushed_authorization_requests is not a boolean: {v}"
                )),
            },
        );
        ctx.log.check(
            "EnsureServerConfigurationSupportsCodeChallengeMethodS256",
            Failure,
            &["FAPI1-ADV-5.2.2-18"],
            array_contains(
                &s,
                "code_challenge_methods_supported",
                &["S256"],
                1,
                "S256 is not supported",
            ),
        );
    } else {
        ctx.log.check(
            "CheckDiscEndpointRequestParameterSupported",
            Failure,
            &["FAPI1-ADV-5.2.2-1", "OIDCD-3"],
            if s["request_parameter_supported"] == true {
                Ok("request_parameter_supported is true".into())
            } else {
                Err("request_parameter_supported must be true".into())
            },
        );
        ctx.log.must_ok(
            "CheckDiscRequirePushedAuthorizationRequestsNotSet",
            &["PAR-5"],
            if s["require_pushed_authorization_requests"] == true {
                Err("require_pushed_authorization_requests is true, but the by-value variant is being tested".into())
            } else {
                Ok("require_pushed_authorization_requests is not set".into())
            },
        )?;
    }
    ctx.log.check(
        "FAPICheckDiscEndpointRequestObjectSigningAlgValuesSupported",
        Failure,
        &[],
        fapi_algs(&s, "request_object_signing_alg_values_supported"),
    );
    ctx.log.check(
        "CheckDiscEndpointAuthorizationEndpoint",
        Failure,
        &[],
        https_member(&s, "authorization_endpoint"),
    );
    ctx.log.check(
        "CheckDiscEndpointSubjectTypesSupported",
        Failure,
        &["OIDCD-3"],
        array_contains(
            &s,
            "subject_types_supported",
            &["public", "pairwise"],
            1,
            "no subject type",
        ),
    );
    ctx.log.check(
        "CheckDiscEndpointGrantTypesSupportedContainsAuthorizationCode",
        Failure,
        &[],
        match s.get("grant_types_supported") {
            // RFC 8414 §2: the default includes authorization_code.
            None => {
                Ok("grant_types_supported absent: defaults to authorization_code, implicit".into())
            }
            Some(_) => array_contains(
                &s,
                "grant_types_supported",
                &["authorization_code"],
                1,
                "authorization_code is not supported",
            ),
        },
    );
    ctx.log.check(
        "CheckDiscEndpointScopesSupportedContainsOpenId",
        Failure,
        &[],
        array_contains(
            &s,
            "scopes_supported",
            &["openid"],
            1,
            "openid is not listed",
        ),
    );
    Ok(())
}

/// The member is an https URL.
fn https_member(s: &Value, name: &str) -> Check {
    match s[name].as_str().map(Url::parse) {
        Some(Ok(u)) if u.scheme() == "https" => Ok(format!("{name} {u}")),
        other => Err(format!("{name} must be an https URL: {other:?}")),
    }
}

/// The member lists at least one FAPI algorithm (PS256, ES256).
fn fapi_algs(s: &Value, name: &str) -> Check {
    crate::modules::discovery::array_contains(
        s,
        name,
        &["PS256", "ES256"],
        1,
        "No matching value from server",
    )
}

/// CheckDiscEndpointLocalesSyntax / ...CanonicalCasing: BCP 47 tags (language lowercase,
/// region uppercase when `canonical`).
fn locales(s: &Value, canonical: bool) -> Check {
    for name in ["ui_locales_supported", "claims_locales_supported"] {
        let Some(list) = s.get(name) else { continue };
        let Some(list) = json_array_strings(list) else {
            return Err(format!("{name} is not an array of strings"));
        };
        for tag in &list {
            let parts: Vec<&str> = tag.split('-').collect();
            let syntax = !parts.is_empty()
                && parts.iter().all(|p| {
                    !p.is_empty() && p.len() <= 8 && p.chars().all(|c| c.is_ascii_alphanumeric())
                });
            if !syntax {
                return Err(format!("{name}: '{tag}' is not a BCP 47 language tag"));
            }
            if canonical {
                let lang_ok = parts[0].chars().all(|c| c.is_ascii_lowercase());
                let region_ok = parts
                    .get(1)
                    .is_none_or(|r| r.len() != 2 || r.chars().all(|c| c.is_ascii_uppercase()));
                if !lang_ok || !region_ok {
                    return Err(format!("{name}: '{tag}' is not in canonical case"));
                }
            }
        }
    }
    Ok("locales are valid".into())
}
