//! oidcc-discovery-endpoint-verification (OIDCCDiscoveryEndpointVerification), with static
//! and dynamic client registration.

use super::{fetch_server_keys, get_dynamic_server_configuration, json_array_strings, Ctx};
use crate::log::{Check, Flow};
use crate::report::Outcome::{Failure, Info, Warning};
use serde_json::Value;
use url::Url;

/// AbstractValidateJsonArray: `name` must be an array holding at least `min` of `wanted`.
pub(super) fn array_contains(
    server: &Value,
    name: &str,
    wanted: &[&str],
    min: usize,
    not_enough: &str,
) -> Check {
    let Some(v) = server.get(name) else {
        return Err(format!("'{name}' is missing from the discovery document"));
    };
    let Some(list) = json_array_strings(v) else {
        return Err(format!("'{name}' is not an array of strings"));
    };
    let found = wanted
        .iter()
        .filter(|w| list.iter().any(|x| x == *w))
        .count();
    if found >= min {
        Ok(format!("{name}: {list:?}"))
    } else {
        Err(format!("{not_enough} ({name}: {list:?})"))
    }
}

/// AbstractValidateResponseTypesArray: every one of `wanted` is listed, the words of a
/// response type in any order.
fn response_types_contain_all(server: &Value, wanted: &[&str]) -> Check {
    let words = |s: &str| {
        let mut w: Vec<String> = s.split(' ').map(str::to_string).collect();
        w.sort();
        w
    };
    let Some(list) = json_array_strings(&server["response_types_supported"]) else {
        return Err("'response_types_supported' is missing or not an array of strings".into());
    };
    let missing: Vec<&&str> = wanted
        .iter()
        .filter(|w| !list.iter().any(|x| words(x) == words(w)))
        .collect();
    if missing.is_empty() {
        Ok(format!("response_types_supported: {list:?}"))
    } else {
        Err(format!(
            "The server does not support all of the mandatory to implement response_types for dynamic OpenID Providers: missing {missing:?} (response_types_supported: {list:?})"
        ))
    }
}

pub(super) fn https_url(server: &Value, name: &str) -> Check {
    let Some(s) = server[name].as_str() else {
        return Err(format!("'{name}' is missing or not a string"));
    };
    match Url::parse(s) {
        Ok(u) if u.scheme() == "https" => Ok(format!("{name} is a valid https URL")),
        Ok(_) => Err(format!("{name} is not https: {s}")),
        Err(e) => Err(format!("{name} is not a valid URL: {e}")),
    }
}

/// The members RFC 8414 and its registry define, with their JSON types (the suite's
/// `json-schemas/rfc8414/oauth_authorization_server_metadata.json`, whose
/// additionalProperties is false).
const SERVER_METADATA: &[(&str, &str)] = &[
    ("acr_values_supported", "array"),
    ("attachments_supported", "array"),
    ("authorization_challenge_endpoint", "string"),
    ("authorization_details_types_supported", "array"),
    ("authorization_encryption_alg_values_supported", "array"),
    ("authorization_encryption_enc_values_supported", "array"),
    ("authorization_endpoint", "string"),
    ("authorization_response_iss_parameter_supported", "boolean"),
    ("authorization_signing_alg_values_supported", "array"),
    ("backchannel_authentication_endpoint", "string"),
    (
        "backchannel_authentication_request_signing_alg_values_supported",
        "array",
    ),
    ("backchannel_logout_session_supported", "boolean"),
    ("backchannel_logout_supported", "boolean"),
    ("backchannel_token_delivery_modes_supported", "array"),
    ("backchannel_user_code_parameter_supported", "boolean"),
    ("challenge_endpoint", "string"),
    ("check_session_iframe", "string"),
    ("claim_types_supported", "array"),
    ("claims_in_verified_claims_supported", "array"),
    ("claims_locales_supported", "array"),
    ("claims_parameter_supported", "boolean"),
    ("claims_supported", "array"),
    (
        "client_attestation_pop_signing_alg_values_supported",
        "array",
    ),
    ("client_attestation_signing_alg_values_supported", "array"),
    ("client_id_metadata_document_supported", "boolean"),
    ("client_registration_types_supported", "array"),
    ("code_challenge_methods_supported", "array"),
    ("contacts", "array"),
    ("description", "string"),
    ("device_authorization_endpoint", "string"),
    ("display_name", "string"),
    ("display_values_supported", "array"),
    ("documents_check_methods_supported", "array"),
    ("documents_methods_supported", "array"),
    ("documents_supported", "array"),
    ("dpop_signing_alg_values_supported", "array"),
    ("electronic_records_supported", "array"),
    ("end_session_endpoint", "string"),
    ("evidence_supported", "array"),
    ("federation_registration_endpoint", "string"),
    ("frontchannel_logout_session_supported", "boolean"),
    ("frontchannel_logout_supported", "boolean"),
    ("global_token_revocation_endpoint", "string"),
    (
        "global_token_revocation_endpoint_auth_methods_supported",
        "array",
    ),
    ("grant_management_action_required", "boolean"),
    ("grant_management_actions_supported", "array"),
    ("grant_management_endpoint", "string"),
    ("grant_types_supported", "array"),
    ("id_token_encryption_alg_values_supported", "array"),
    ("id_token_encryption_enc_values_supported", "array"),
    ("id_token_signing_alg_values_supported", "array"),
    ("information_uri", "string"),
    ("introspection_encryption_alg_values_supported", "array"),
    ("introspection_encryption_enc_values_supported", "array"),
    ("introspection_endpoint", "string"),
    ("introspection_endpoint_auth_methods_supported", "array"),
    (
        "introspection_endpoint_auth_signing_alg_values_supported",
        "array",
    ),
    ("introspection_signing_alg_values_supported", "array"),
    ("issuer", "string"),
    ("jwks", "object"),
    ("jwks_uri", "string"),
    ("keywords", "array"),
    ("logo_uri", "string"),
    ("mtls_endpoint_aliases", "object"),
    ("op_policy_uri", "string"),
    ("op_tos_uri", "string"),
    ("organization_name", "string"),
    ("organization_uri", "string"),
    ("pre-authorized_grant_anonymous_access_supported", "boolean"),
    ("prompt_values_supported", "array"),
    ("protected_resources", "array"),
    ("pushed_authorization_request_endpoint", "string"),
    ("registration_endpoint", "string"),
    ("request_authentication_methods_supported", "any"),
    (
        "request_authentication_signing_alg_values_supported",
        "array",
    ),
    ("request_object_encryption_alg_values_supported", "array"),
    ("request_object_encryption_enc_values_supported", "array"),
    ("request_object_signing_alg_values_supported", "array"),
    ("request_parameter_supported", "boolean"),
    ("request_uri_parameter_supported", "boolean"),
    ("require_pushed_authorization_requests", "boolean"),
    ("require_request_uri_registration", "boolean"),
    ("require_signed_request_object", "boolean"),
    ("response_modes_supported", "array"),
    ("response_types_supported", "array"),
    ("revocation_endpoint", "string"),
    ("revocation_endpoint_auth_methods_supported", "array"),
    (
        "revocation_endpoint_auth_signing_alg_values_supported",
        "array",
    ),
    ("scopes_supported", "array"),
    ("service_documentation", "string"),
    ("signed_jwks_uri", "string"),
    ("signed_metadata", "string"),
    ("status_list_aggregation_endpoint", "string"),
    ("subject_types_supported", "array"),
    ("tls_client_certificate_bound_access_tokens", "boolean"),
    ("token_endpoint", "string"),
    ("token_endpoint_auth_methods_supported", "array"),
    ("token_endpoint_auth_signing_alg_values_supported", "array"),
    ("transformed_claims_functions_supported", "array"),
    ("transformed_claims_predefined", "any"),
    ("trust_frameworks_supported", "array"),
    ("ui_locales_supported", "array"),
    ("userinfo_encryption_alg_values_supported", "array"),
    ("userinfo_encryption_enc_values_supported", "array"),
    ("userinfo_endpoint", "string"),
    ("userinfo_signing_alg_values_supported", "array"),
];

/// ValidateServerMetadataAgainstSchema: each known member has its type.
pub(super) fn metadata_types_valid(server: &Value) -> Check {
    let mut bad = Vec::new();
    for (name, kind) in SERVER_METADATA {
        let Some(v) = server.get(*name) else { continue };
        let ok = match *kind {
            "array" => v.is_array(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "object" => v.is_object(),
            _ => true,
        };
        if !ok {
            bad.push(format!("{name} must be a JSON {kind}"));
        }
    }
    if bad.is_empty() {
        Ok("server metadata matches the RFC 8414 schema".into())
    } else {
        Err(bad.join("; "))
    }
}

/// CheckForUnexpectedParametersInServerMetadata: members the schema does not know.
pub(super) fn unexpected_metadata(server: &Value) -> Check {
    let unknown: Vec<&String> = server
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !SERVER_METADATA.iter().any(|(n, _)| n == k))
                .collect()
        })
        .unwrap_or_default();
    if unknown.is_empty() {
        Ok("no unexpected members".into())
    } else {
        Err(format!(
            "unexpected members in the server metadata: {unknown:?}"
        ))
    }
}

pub async fn oidcc_discovery_endpoint_verification(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Configure");
    let resp = get_dynamic_server_configuration(ctx).await?;
    let r = if resp.status == 200 {
        Ok("HTTP 200".into())
    } else {
        Err(format!("HTTP {}", resp.status))
    };
    ctx.log.check(
        "EnsureDiscoveryEndpointResponseStatusCodeIs200",
        Failure,
        &["OIDCD-4"],
        r,
    );
    let r = if resp.content_type.split(';').next().map(str::trim) == Some("application/json") {
        Ok("application/json".into())
    } else {
        Err(format!("Content-Type is '{}'", resp.content_type))
    };
    ctx.log.check(
        "CheckDiscoveryEndpointReturnedJsonContentType",
        Failure,
        &["OIDCD-4"],
        r,
    );

    ctx.log.block("Verify discovery document");
    let s = ctx.server.clone();
    let dynamic = ctx.variant_is("client_registration", "dynamic_client");
    if dynamic {
        // OIDC Core §15.2: dynamic OpenID Providers support these response types.
        let r = response_types_contain_all(&s, &["code", "id_token", "token id_token"]);
        ctx.log.check(
            "OIDCCCheckDiscEndpointResponseTypesSupportedDynamic",
            Failure,
            &["OIDCD-3", "OIDCC-15.2"],
            r,
        );
    }
    let r = array_contains(
        &s,
        "response_types_supported",
        &[
            "code",
            "code id_token",
            "id_token",
            "token id_token",
            "id_token token",
            "code id_token token",
            "code token",
        ],
        1,
        "The server must support at least one of the response types defined in OpenID Connect.",
    );
    if !dynamic {
        ctx.log.check(
            "OIDCCCheckDiscEndpointResponseTypesSupported",
            Failure,
            &["OIDCD-3", "OIDCC-3"],
            r,
        );
    }
    let r = match Url::parse(&ctx.cfg.discovery_url) {
        Ok(u) if !u.path().ends_with("/.well-known/openid-configuration") => {
            Err("discoveryUrl is missing '/.well-known/openid-configuration'".into())
        }
        Ok(u) if u.scheme() != "https" => {
            Err("Expected https protocol for server.discoveryUrl".into())
        }
        Ok(_) => Ok("discoveryUrl is valid".into()),
        Err(e) => Err(format!("Invalid URL. Unable to parse: {e}")),
    };
    ctx.log
        .check("CheckDiscEndpointDiscoveryUrl", Failure, &[], r);
    let expected = ctx
        .cfg
        .discovery_url
        .trim_end_matches(".well-known/openid-configuration")
        .trim_end_matches('/');
    let r = match s["issuer"].as_str() {
        None => Err("issuer is missing from discovery endpoint document".into()),
        Some(i) if i.trim_end_matches('/') == expected => Ok(format!("issuer is consistent with the discovery endpoint: {i}")),
        Some(i) => Err(format!(
            "issuer listed in the discovery document ({i}) is not consistent with the location the discovery document was retrieved from ({expected})"
        )),
    };
    ctx.log.check(
        "CheckDiscEndpointIssuer",
        Failure,
        &["OIDCD-4.3", "OIDCD-7.2"],
        r,
    );
    // RFC 8414 §2: https, no query, no fragment.
    let r = match s["issuer"].as_str().map(Url::parse) {
        Some(Ok(u)) if u.scheme() == "https" && u.query().is_none() && u.fragment().is_none() => {
            Ok("issuer is a valid issuer identifier URL".into())
        }
        other => Err(format!(
            "issuer is not a valid RFC 8414 issuer identifier URL: {other:?}"
        )),
    };
    ctx.log.check(
        "CheckDiscEndpointIssuerIsValidUrl",
        Failure,
        &["RFC8414-2"],
        r,
    );
    ctx.log.check(
        "ValidateServerMetadataAgainstSchema",
        Failure,
        &["OIDCD-3", "RFC8414-2"],
        metadata_types_valid(&s),
    );
    ctx.log.check(
        "CheckForUnexpectedParametersInServerMetadata",
        Warning,
        &["OIDCD-3", "RFC8414-2"],
        unexpected_metadata(&s),
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
            "subject_types_supported is required to contain at least one of public or pairwise",
        ),
    );
    ctx.log.check(
        "OIDCCCheckDiscEndpointIdTokenSigningAlgValuesSupported",
        Failure,
        &["OIDCD-3"],
        array_contains(
            &s,
            "id_token_signing_alg_values_supported",
            &["RS256"],
            1,
            "RS256 support is required, but the server does not list it",
        ),
    );
    if s.get("userinfo_signing_alg_values_supported").is_some() {
        let r = json_array_strings(&s["userinfo_signing_alg_values_supported"])
            .map(|l| format!("{l:?}"))
            .ok_or("userinfo_signing_alg_values_supported is not an array".to_string());
        ctx.log.check(
            "OIDCCCheckDiscEndpointUserinfoSigningAlgValuesSupported",
            Failure,
            &["OIDCD-3"],
            r,
        );
    }
    ctx.log.check(
        "CheckDiscEndpointAuthorizationEndpoint",
        Failure,
        &["OIDCD-3"],
        https_url(&s, "authorization_endpoint"),
    );
    ctx.log.check(
        "CheckDiscEndpointTokenEndpoint",
        Failure,
        &["OIDCD-3"],
        https_url(&s, "token_endpoint"),
    );
    if s.get("userinfo_endpoint").is_some() {
        ctx.log.check(
            "CheckDiscEndpointUserinfoEndpoint",
            Failure,
            &["OIDCD-3"],
            https_url(&s, "userinfo_endpoint"),
        );
    } else {
        ctx.log.check(
            "CheckDiscEndpointUserinfoEndpoint",
            Warning,
            &["OIDCD-3"],
            Err("userinfo_endpoint is absent (recommended)".into()),
        );
    }
    if s.get("registration_endpoint").is_some() {
        ctx.log.check(
            "CheckDiscEndpointRegistrationEndpoint",
            Failure,
            &["OIDCD-3"],
            https_url(&s, "registration_endpoint"),
        );
    }
    ctx.log.check(
        "CheckJwksUri",
        Failure,
        &["OIDCD-3"],
        https_url(&s, "jwks_uri"),
    );
    fetch_server_keys(ctx).await?;
    super::check_server_jwks(ctx);
    let flag = |name: &str, default: bool| -> Check {
        let v = s.get(name).map(|v| v.as_bool()).unwrap_or(Some(default));
        match v {
            Some(b) => Ok(format!("{name}: {b}")),
            None => Err(format!("{name} is not a boolean")),
        }
    };
    ctx.log.check(
        "CheckDiscEndpointRequestParameterSupported",
        Info,
        &[],
        flag("request_parameter_supported", false),
    );
    ctx.log.check(
        "CheckDiscEndpointRequestUriParameterSupported",
        Info,
        &[],
        flag("request_uri_parameter_supported", true),
    );
    if s.get("request_object_signing_alg_values_supported")
        .is_some()
    {
        ctx.log.check(
            "CheckDiscEndpointRequestObjectSigningAlgValuesSupportedIncludesRS256",
            Warning,
            &["OIDCD-3"],
            array_contains(
                &s,
                "request_object_signing_alg_values_supported",
                &["RS256"],
                1,
                "The server does not support RS256",
            ),
        );
    }
    ctx.log.check(
        "CheckDiscEndpointClaimsParameterSupported",
        Info,
        &["OIDCD-3"],
        flag("claims_parameter_supported", false),
    );
    ctx.log.check(
        "OIDCCCheckDiscEndpointClaimsSupported",
        Warning,
        &["OIDCD-3"],
        array_contains(&s, "claims_supported", &[], 0, ""),
    );
    let r = match s.get("grant_types_supported") {
        None => Ok("grant_types_supported not present (so will default to authorization_code and implicit).".into()),
        Some(v) => match v.as_array() {
            None => Err("grant_types_supported in discovery document, if present, must be an array.".into()),
            Some(a) if a.is_empty() => Err("grant_types_supported in discovery document must not be an empty array.".into()),
            Some(_) => Ok("grant_types_supported is a non-empty array.".into()),
        },
    };
    if dynamic {
        let r = match s.get("grant_types_supported") {
            None => Ok("server discovery document does not contain grant_types_supported, so by default authorization_code and implicit are supported".into()),
            Some(_) => array_contains(
                &s,
                "grant_types_supported",
                &["authorization_code", "implicit"],
                2,
                "Servers certifying for the 'dynamic' certification profile are required to support the grant types 'authorization_code' and 'implicit'.",
            ),
        };
        ctx.log.check(
            "OIDCCCheckDiscEndpointGrantTypesSupportedDynamic",
            Failure,
            &["OIDCD-3"],
            r,
        );
    } else {
        ctx.log.check(
            "OIDCCCheckDiscEndpointGrantTypesSupported",
            Failure,
            &["OIDCD-3"],
            r,
        );
    }
    if s.get("scopes_supported").is_some() {
        ctx.log.check(
            "CheckDiscEndpointScopesSupportedContainsOpenId",
            Failure,
            &["OIDCD-3"],
            array_contains(
                &s,
                "scopes_supported",
                &["openid"],
                1,
                "scopes_supported in the server's discovery document does not contain 'openid'.",
            ),
        );
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let bad: Vec<String> = json_array_strings(&s["scopes_supported"])
            .unwrap_or_default()
            .into_iter()
            .filter(|t| {
                t.is_empty()
                    || !t.bytes().all(|b| {
                        b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
                    })
            })
            .collect();
        let r = if bad.is_empty() {
            Ok("scopes are valid scope-tokens".into())
        } else {
            Err(format!("not scope-tokens: {bad:?}"))
        };
        ctx.log.check(
            "CheckDiscEndpointScopesSupportedSyntax",
            Failure,
            &["RFC6749-3.3"],
            r,
        );
    } else {
        ctx.log.check(
            "CheckDiscEndpointScopesSupportedContainsOpenId",
            Warning,
            &["OIDCD-3"],
            Err("scopes_supported is absent".into()),
        );
    }
    locale_checks(ctx, &s);
    let mut bad = Vec::new();
    if let Some(o) = s.as_object() {
        for (k, _) in o.iter().filter(|(k, _)| k.ends_with("_endpoint")) {
            if let Err(e) = https_url(&s, k) {
                bad.push(e);
            }
        }
    }
    let r = if bad.is_empty() {
        Ok("every *_endpoint is https".into())
    } else {
        Err(bad.join("; "))
    };
    ctx.log
        .check("CheckDiscEndpointAllEndpointsAreHttps", Failure, &[], r);
    let r = match s.get("code_challenge_methods_supported") {
        None => Ok("code_challenge_methods_supported absent".into()),
        Some(v) if v.is_array() => Ok("code_challenge_methods_supported is an array".into()),
        Some(_) => Err("code_challenge_methods_supported is not an array".into()),
    };
    ctx.log.check(
        "EnsureServerConfigurationCodeChallengeMethodsSupportedIsAnArray",
        Failure,
        &["RFC8414-2", "RFC7636-4.3"],
        r,
    );
    Ok(())
}

/// CheckDiscEndpointLocalesSyntax and CheckDiscEndpointLocalesCanonicalCasing (RFC 8414 §2).
pub(super) fn locale_checks(ctx: &mut Ctx<'_>, s: &Value) {
    for (cond, sev) in [
        ("CheckDiscEndpointLocalesSyntax", Failure),
        ("CheckDiscEndpointLocalesCanonicalCasing", Warning),
    ] {
        let mut bad = Vec::new();
        for name in ["ui_locales_supported", "claims_locales_supported"] {
            if let Some(v) = s.get(name) {
                match json_array_strings(v) {
                    None => bad.push(format!("{name} is not an array of strings")),
                    Some(l) => {
                        for tag in l {
                            let ok = if sev == Failure {
                                !tag.is_empty()
                                    && tag.split('-').all(|p| {
                                        !p.is_empty()
                                            && p.len() <= 8
                                            && p.chars().all(|c| c.is_ascii_alphanumeric())
                                    })
                            } else {
                                // BCP 47 canonical case: language lower, region upper.
                                let parts: Vec<&str> = tag.split('-').collect();
                                parts[0] == parts[0].to_ascii_lowercase()
                                    && parts
                                        .iter()
                                        .skip(1)
                                        .all(|p| p.len() != 2 || *p == p.to_ascii_uppercase())
                            };
                            if !ok {
                                bad.push(format!("{name}: {tag}"));
                            }
                        }
                    }
                }
            }
        }
        let r = if bad.is_empty() {
            Ok("locales are valid".into())
        } else {
            Err(format!("{bad:?}"))
        };
        ctx.log.check(cond, sev, &["RFC8414-2"], r);
    }
}
