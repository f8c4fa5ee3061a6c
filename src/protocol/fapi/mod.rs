//! The FAPI security profiles, per client or as the provider's default: FAPI 1.0 Advanced and
//! FAPI 2.0 Security Profile. Each rule names the clause it enforces. The folder holds the
//! building blocks the profiles require: pushed requests (`par`, RFC 9126), request objects
//! (`request_object`, `request_uri`, RFC 9101) and DPoP (`dpop`, RFC 9449).

pub mod dpop;
pub mod par;
pub mod request_object;
pub mod request_uri;

use super::client_keys::numeric_date;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::protocol::Ctx;
use crate::types::{AuthMethod, Client, FapiProfile};
use serde_json::Value;

/// FAPI 1 Advanced §8.6 / FAPI 2 §5.4: PS256 and ES256 only.
pub const ALGS: [Alg; 2] = [Alg::PS256, Alg::ES256];

/// Client authentication methods the profiles allow (FAPI 1 Adv. §5.2.2-14, FAPI 2 §5.3.2.1).
pub fn auth_method_allowed(m: AuthMethod) -> bool {
    m == AuthMethod::PrivateKeyJwt || m.is_mtls()
}

/// Longest a FAPI 1 request object may be valid, and oldest its nbf (FAPI 1 Adv. §5.2.2-13/17).
const FAPI1_OBJECT_MAX_SECS: i64 = 3600;

/// The profile a client runs under: its own, or the provider's default.
pub fn profile_of(cx: &Ctx<'_>, client: &Client) -> Option<FapiProfile> {
    client.metadata.fapi_profile.or(cx.config.fapi_profile)
}

/// Narrows an algorithm allow-list to the profile's.
pub fn restrict_algs(profile: Option<FapiProfile>, algs: Vec<Alg>) -> Vec<Alg> {
    match profile {
        Some(_) => algs.into_iter().filter(|a| ALGS.contains(a)).collect(),
        None => algs,
    }
}

/// Checks at the authorization endpoint, on the request's final parameters.
/// `object` holds the verified request object's claims when one was used; `pushed` says the
/// request came through the PAR endpoint.
pub fn check_authorization(
    profile: FapiProfile,
    params: &std::collections::HashMap<String, String>,
    object: Option<&Value>,
    pushed: bool,
    now: i64,
) -> OAuthResult<()> {
    let has = |k: &str| params.get(k).is_some_and(|v| !v.is_empty());
    // FAPI 2 always uses PKCE (§5.3.2.2-5); FAPI 1 Advanced asks it only of pushed requests
    // (§5.2.2-18): a request object passed by value may come without it.
    let pkce_required = profile == FapiProfile::Fapi2 || pushed;
    let pkce_s256 = params.get("code_challenge_method").map(String::as_str) == Some("S256")
        && has("code_challenge");
    if pkce_required && !pkce_s256 {
        return Err(OAuthError::invalid_request(
            "PKCE with S256 is required (FAPI 1 Adv. section 5.2.2-18, FAPI 2 section 5.3.2.2-5)",
        ));
    }
    let rt = params
        .get("response_type")
        .map(|r| super::oidc::response_types::normalize(r))
        .unwrap_or_default();
    match profile {
        FapiProfile::Fapi2 => {
            if rt != "code" {
                return Err(OAuthError::unsupported_response_type(
                    "FAPI 2 allows only response_type code (section 5.3.2.2-2)",
                ));
            }
        }
        FapiProfile::Fapi1Advanced => {
            let jarm = params
                .get("response_mode")
                .is_some_and(|m| m.ends_with("jwt"));
            if !(rt == "code id_token" || (rt == "code" && jarm)) {
                return Err(OAuthError::invalid_request(
                    "FAPI 1 Advanced needs response_type code id_token, or code with JARM (section 5.2.2-2)",
                ));
            }
            let object = object.ok_or_else(|| {
                OAuthError::invalid_request(
                    "FAPI 1 Advanced requires a signed request object (section 5.2.2-1)",
                )
            })?;
            check_fapi1_object(object, now)?;
        }
    }
    Ok(())
}

fn invalid_object(d: &str) -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidRequestObject,
        400,
        format!("request object: {d}"),
    )
}

/// exp and nbf present, at most 60 minutes apart, and nbf no older than 60 minutes (FAPI 1
/// Adv. §5.2.2-13/17; FAPI 2 Message Signing §5.3.1, clauses named in `clauses`).
fn check_object_window(object: &Value, now: i64, clauses: [&str; 2]) -> OAuthResult<()> {
    let [exp_clause, nbf_clause] = clauses;
    let exp = numeric_date(&object["exp"])
        .ok_or_else(|| invalid_object(&format!("exp is required ({exp_clause})")))?;
    let nbf = numeric_date(&object["nbf"])
        .ok_or_else(|| invalid_object(&format!("nbf is required ({nbf_clause})")))?;
    if exp - nbf > FAPI1_OBJECT_MAX_SECS {
        return Err(invalid_object(&format!(
            "exp is more than 60 minutes after nbf ({exp_clause})"
        )));
    }
    if nbf < now - FAPI1_OBJECT_MAX_SECS {
        return Err(invalid_object(&format!(
            "nbf is more than 60 minutes old ({nbf_clause})"
        )));
    }
    Ok(())
}

/// FAPI 2 Message Signing §5.3.1: a request object carries nbf no older than 60 minutes and
/// exp no more than 60 minutes after it.
pub fn check_fapi2_object(object: &Value, now: i64) -> OAuthResult<()> {
    check_object_window(
        object,
        now,
        [
            "FAPI 2 Message Signing section 5.3.1-4",
            "FAPI 2 Message Signing section 5.3.1-3",
        ],
    )
}

/// FAPI 1 Advanced §5.2.2-13/15/17 and §5.2.3-8: exp and nbf, at most 60 minutes apart and
/// nbf no older than 60 minutes; scope, nonce and redirect_uri inside the object.
fn check_fapi1_object(object: &Value, now: i64) -> OAuthResult<()> {
    check_object_window(
        object,
        now,
        [
            "FAPI 1 Adv. section 5.2.2-13",
            "FAPI 1 Adv. section 5.2.2-17",
        ],
    )?;
    for claim in ["scope", "nonce", "redirect_uri"] {
        if object[claim].as_str().is_none_or(str::is_empty) {
            return Err(invalid_object(&format!(
                "{claim} is required inside the object (FAPI 1 Adv. section 5.2.2-15)"
            )));
        }
    }
    Ok(())
}

/// The `x-fapi-interaction-id` a resource answers with (FAPI 1 Part 1 §6.2.1-11): the
/// client's own value when it sent one, else a new RFC 4122 UUID. The client's value must be
/// a UUID too (§6.2.2-4); anything else is replaced by a new one, so the answer is always a
/// UUID a client (or the certification suite) can parse and never a reflected arbitrary string.
pub fn interaction_id(sent: Option<&str>) -> String {
    sent.filter(|v| v.len() == 36)
        .and_then(|v| uuid::Uuid::try_parse(v).ok())
        .unwrap_or_else(uuid::Uuid::new_v4)
        .hyphenated()
        .to_string()
}

/// Registration-time rules for a client under a profile.
pub fn check_metadata(profile: FapiProfile, m: &crate::types::ClientMetadata) -> OAuthResult<()> {
    if !auth_method_allowed(m.token_endpoint_auth_method) {
        return Err(OAuthError::invalid_client_metadata(
            "FAPI clients authenticate with private_key_jwt or mutual TLS (FAPI 1 Adv. section 5.2.2-14, FAPI 2 section 5.3.2.1)",
        ));
    }
    for alg in [
        &m.id_token_signed_response_alg,
        &m.request_object_signing_alg,
        &m.backchannel_authentication_request_signing_alg,
        &m.token_endpoint_auth_signing_alg,
        &m.authorization_signed_response_alg,
    ]
    .into_iter()
    .flatten()
    {
        if !ALGS.iter().any(|a| a.name() == alg) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "{alg} is not allowed under FAPI (PS256, ES256)"
            )));
        }
    }
    if profile == FapiProfile::Fapi2 && m.response_types.iter().any(|r| r != "code") {
        return Err(OAuthError::invalid_client_metadata(
            "FAPI 2 clients use response_type code only",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_interaction_id_echoes_a_uuid_and_replaces_anything_else() {
        let sent = "c770aef3-6784-41f7-8e0e-ff5f97bddb3a";
        assert_eq!(interaction_id(Some(sent)), sent);
        let upper = sent.to_uppercase();
        assert_eq!(interaction_id(Some(&upper)), sent, "one UUID, lowercase");
        let fresh = |v: Option<&str>| {
            let id = interaction_id(v);
            assert!(uuid::Uuid::try_parse(&id).is_ok_and(|u| u.get_version_num() == 4));
            assert_eq!(id.len(), 36, "{id}");
            id
        };
        fresh(None);
        for junk in [
            "",
            "abc",
            &"x".repeat(8000),
            "{c770aef3-6784-41f7-8e0e-ff5f97bddb3a}",
        ] {
            assert_ne!(fresh(Some(junk)), junk);
        }
        assert_ne!(fresh(None), fresh(None), "new ones differ");
    }

    #[test]
    fn fapi1_object_dates_of_any_size_are_refused_without_overflow() {
        // FAPI 1 Adv. §5.2.2-13/17: an nbf at the far end of the number line is far too old
        // (and too far from exp); the check must say so, not overflow.
        let now = 1_733_400_000;
        let object = |nbf: Value| {
            json!({"exp": now + 60, "nbf": nbf, "scope": "openid", "nonce": "n",
                   "redirect_uri": "https://rp.example/cb"})
        };
        assert!(check_fapi1_object(&object(json!(now)), now).is_ok());
        for nbf in [json!(i64::MIN), json!(-1e300), json!(now - 3601)] {
            let e = check_fapi1_object(&object(nbf.clone()), now).expect_err(&nbf.to_string());
            assert_eq!(e.code, ErrorCode::InvalidRequestObject, "{nbf}");
        }
    }
}
