//! Client metadata rules (RFC 7591 §2, OIDC Registration §2): one check for dynamic
//! registration, RFC 7592 updates, the admin API and the CLI.

use crate::error::{OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::outbound::OutboundPolicy;
use crate::protocol::oidc::scopes;
use crate::types::uri_text::{check_uri_text, printable};
use crate::types::{AuthMethod, ClientMetadata, RedirectUri, ScopeSet, SubjectType};
use serde_json::Value;

const GRANTS: &[&str] = &[
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
];
/// Parses and checks metadata (RFC 7591 §2, OIDC Registration §2). URIs the server would
/// fetch are checked against the `outbound` policy.
pub fn parse_metadata(raw: Value, outbound: &OutboundPolicy) -> OAuthResult<ClientMetadata> {
    check_typed_members(&raw)?;
    let m: ClientMetadata = serde_json::from_value(raw).map_err(|e| {
        OAuthError::invalid_client_metadata(format!("malformed client metadata: {e}"))
    })?;
    for g in &m.grant_types {
        if !GRANTS.contains(&g.as_str()) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "grant_type {g} is not supported"
            )));
        }
    }
    crate::protocol::oidc::response_types::check_registered(&m)?;
    let code_flow = m.allows_grant("authorization_code");
    if m.allows_grant("refresh_token") && !code_flow {
        return Err(OAuthError::invalid_client_metadata(
            "refresh_token needs the authorization_code grant",
        ));
    }
    if m.is_public() && m.allows_grant("client_credentials") {
        return Err(OAuthError::invalid_client_metadata(
            "public clients cannot use client_credentials",
        ));
    }
    if (code_flow || m.allows_grant("implicit")) && m.redirect_uris.is_empty() {
        return Err(OAuthError::invalid_redirect_uri(
            "redirect_uris is required for the authorization_code and implicit grants",
        ));
    }
    if let Some(alg) = &m.id_token_signed_response_alg {
        if Alg::parse(alg).is_none() {
            return Err(OAuthError::invalid_client_metadata(format!(
                "id_token_signed_response_alg {alg} is not supported (RS256, PS256, ES256)"
            )));
        }
    }
    if let Some(s) = &m.scope {
        for scope in ScopeSet::parse(s).iter() {
            if !scopes::is_registrable(scope) {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "scope {scope} is not supported"
                )));
            }
        }
    }
    if m.jwks.is_some() && m.jwks_uri.is_some() {
        return Err(OAuthError::invalid_client_metadata(
            "jwks and jwks_uri must not both be set",
        ));
    }
    check_key_metadata(&m, outbound)?;
    check_encryption_metadata(&m)?;
    check_fetched_uris(&m, outbound)?;
    check_display_uris(&m, outbound)?;
    check_subject_type(&m)?;
    check_logout_uris(&m, outbound)?;
    if let Some(uri) = &m.webhook_url {
        check_webhook_url(uri)?;
    }
    if let Some(t) = m
        .connection_types
        .iter()
        .find(|t| !["api", "legacy", "test"].contains(&t.as_str()))
    {
        return Err(OAuthError::invalid_client_metadata(format!(
            "connection_types: {t} is not api, legacy or test"
        )));
    }
    if let Some(profile) = m.fapi_profile {
        crate::protocol::fapi::check_metadata(profile, &m)?;
    }
    Ok(m)
}

/// The members whose type checks them when parsed, checked first so each refusal keeps its
/// own error: each redirect URI (`invalid_redirect_uri`, RFC 7591 §3.2.2) and the subject
/// type. Values of the wrong JSON type are left to the parse ("malformed client metadata").
fn check_typed_members(raw: &Value) -> OAuthResult<()> {
    let uris = raw.get("redirect_uris").and_then(Value::as_array);
    for uri in uris.into_iter().flatten().filter_map(Value::as_str) {
        RedirectUri::parse(uri).map_err(OAuthError::invalid_redirect_uri)?;
    }
    // OpenID RP-Initiated Logout 1.0 §3.1: held to the rules of redirect_uris.
    let uris = raw
        .get("post_logout_redirect_uris")
        .and_then(Value::as_array);
    for uri in uris.into_iter().flatten().filter_map(Value::as_str) {
        RedirectUri::parse(uri).map_err(|why| {
            OAuthError::invalid_client_metadata(format!(
                "post_logout_{why} (OpenID RP-Initiated Logout 1.0 section 3.1)"
            ))
        })?;
    }
    if let Some(t) = raw.get("subject_type").and_then(Value::as_str) {
        SubjectType::parse(t)
            .ok_or_else(|| OAuthError::invalid_client_metadata(SubjectType::UNSUPPORTED))?;
    }
    Ok(())
}

/// Keys and key algorithms: a usable public JWKS, and only algorithms we allow.
fn check_key_metadata(m: &ClientMetadata, outbound: &OutboundPolicy) -> OAuthResult<()> {
    if let Some(uri) = &m.jwks_uri {
        check_fetched_uri("jwks_uri", uri, outbound)?;
    }
    if let Some(jwks) = &m.jwks {
        crate::jose::check_client_jwks(jwks)
            .map_err(|e| OAuthError::invalid_client_metadata(format!("jwks: {e}")))?;
    }
    if m.token_endpoint_auth_method == AuthMethod::TlsClientAuth {
        let named = [
            &m.tls_client_auth_subject_dn,
            &m.tls_client_auth_san_dns,
            &m.tls_client_auth_san_uri,
            &m.tls_client_auth_san_ip,
            &m.tls_client_auth_san_email,
        ];
        if named.iter().filter(|n| n.is_some()).count() != 1 {
            return Err(OAuthError::invalid_client_metadata(
                "tls_client_auth needs exactly one tls_client_auth_* subject or SAN (RFC 8705 section 2.1.2)",
            ));
        }
    }
    if m.token_endpoint_auth_method == AuthMethod::SelfSignedTlsClientAuth && m.jwks.is_none() {
        return Err(OAuthError::invalid_client_metadata(
            "self_signed_tls_client_auth needs jwks with the certificate in x5c (RFC 8705 section 2.2)",
        ));
    }
    if m.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt
        && m.jwks.is_none()
        && m.jwks_uri.is_none()
    {
        return Err(OAuthError::invalid_client_metadata(
            "private_key_jwt needs the client's jwks or jwks_uri",
        ));
    }
    for (name, alg) in [
        (
            "authorization_signed_response_alg",
            &m.authorization_signed_response_alg,
        ),
        ("request_object_signing_alg", &m.request_object_signing_alg),
        (
            "userinfo_signed_response_alg",
            &m.userinfo_signed_response_alg,
        ),
        (
            "token_endpoint_auth_signing_alg",
            &m.token_endpoint_auth_signing_alg,
        ),
    ] {
        if let Some(a) = alg {
            if Alg::parse(a).is_none() {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "{name} {a} is not supported (RS256, PS256, ES256)"
                )));
            }
        }
    }
    Ok(())
}

/// OIDC Registration §2: encryption algorithms we offer, `enc` only with `alg`, and a key to
/// encrypt to.
fn check_encryption_metadata(m: &ClientMetadata) -> OAuthResult<()> {
    use crate::jose::encrypt::{ALGS, ENCS};
    match (
        &m.id_token_encrypted_response_alg,
        &m.id_token_encrypted_response_enc,
    ) {
        (None, Some(_)) => Err(OAuthError::invalid_client_metadata(
            "id_token_encrypted_response_enc needs id_token_encrypted_response_alg",
        )),
        (Some(alg), enc) => {
            if !ALGS.contains(&alg.as_str()) {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "id_token_encrypted_response_alg {alg} is not supported"
                )));
            }
            if let Some(e) = enc.as_deref().filter(|e| !ENCS.contains(e)) {
                return Err(OAuthError::invalid_client_metadata(format!(
                    "id_token_encrypted_response_enc {e} is not supported"
                )));
            }
            if m.jwks.is_none() && m.jwks_uri.is_none() {
                return Err(OAuthError::invalid_client_metadata(
                    "ID token encryption needs the client's jwks or jwks_uri",
                ));
            }
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

/// A URI the server would fetch on the client's behalf: only where the outbound policy
/// allows (https, public addresses), so registration cannot aim the server at internal hosts.
fn check_fetched_uri(name: &str, uri: &str, outbound: &OutboundPolicy) -> OAuthResult<()> {
    check_uri_text(uri)
        .and_then(|()| outbound.check_uri(uri).map(drop))
        .map_err(|why| {
            OAuthError::invalid_client_metadata(format!(
                "{name} {}: {why} (RFC 7591 section 2)",
                printable(uri)
            ))
        })
}

/// OIDC Registration §2: `request_uris` and `sector_identifier_uri` are fetched by the
/// server, so they follow the outbound policy like `jwks_uri`.
fn check_fetched_uris(m: &ClientMetadata, outbound: &OutboundPolicy) -> OAuthResult<()> {
    if let Some(v) = m.extra.get("request_uris") {
        let list = v.as_array().ok_or_else(|| {
            OAuthError::invalid_client_metadata("request_uris must be an array of URIs")
        })?;
        for uri in list {
            let uri = uri.as_str().ok_or_else(|| {
                OAuthError::invalid_client_metadata("request_uris must be an array of URIs")
            })?;
            check_fetched_uri("request_uris", uri, outbound)?;
        }
    }
    if let Some(uri) = &m.sector_identifier_uri {
        check_fetched_uri("sector_identifier_uri", uri, outbound)?;
    }
    Ok(())
}

/// The URIs a consent page may show or link (RFC 7591 §2: `client_uri`, `logo_uri`,
/// `tos_uri`, `policy_uri`, and their `#language` variants, §2.2): well-formed https URLs, so
/// no `javascript:` or `data:` URL ever reaches a page. Plain http only for development.
fn check_display_uris(m: &ClientMetadata, outbound: &OutboundPolicy) -> OAuthResult<()> {
    const DISPLAY: &[&str] = &["client_uri", "logo_uri", "tos_uri", "policy_uri"];
    for (key, value) in &m.extra {
        let base = key.split('#').next().unwrap_or_default();
        if !DISPLAY.contains(&base) {
            continue;
        }
        let bad = |why: &str| {
            OAuthError::invalid_client_metadata(format!("{base}: {why} (RFC 7591 section 2)"))
        };
        let uri = value.as_str().ok_or_else(|| bad("must be a string"))?;
        check_uri_text(uri).map_err(|why| bad(&why))?;
        let url = url::Url::parse(uri).map_err(|_| bad("not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if outbound.allow_private => {}
            _ => return Err(bad("must be an https URL")),
        }
        if url.host().is_none() {
            return Err(bad("must name a host"));
        }
    }
    Ok(())
}

/// OIDC Registration §2: the subject types discovery offers. A pairwise client needs a
/// sector (OIDC Core §8.1): its `sector_identifier_uri`, or redirect_uris on one host.
fn check_subject_type(m: &ClientMetadata) -> OAuthResult<()> {
    if m.subject_type != Some(SubjectType::Pairwise) || m.sector_identifier_uri.is_some() {
        return Ok(());
    }
    let mut hosts: Vec<Option<String>> = m.redirect_uris.iter().map(RedirectUri::host).collect();
    hosts.dedup();
    match hosts.as_slice() {
        [Some(_)] => Ok(()),
        [] => Err(OAuthError::invalid_client_metadata(
            "a pairwise client needs redirect_uris or a sector_identifier_uri to name its sector (OIDC Core section 8.1)",
        )),
        list if list.contains(&None) => Err(OAuthError::invalid_client_metadata(
            "a redirect_uri without a host names no sector: register a sector_identifier_uri (OIDC Core section 8.1)",
        )),
        _ => Err(OAuthError::invalid_client_metadata(
            "the redirect_uris of a pairwise client span several hosts: register a sector_identifier_uri (OIDC Core section 8.1)",
        )),
    }
}

/// OpenID Back-Channel Logout 1.0 §2.2: the server POSTs logout tokens to
/// `backchannel_logout_uri`, so it follows the outbound policy like `jwks_uri`, without a
/// fragment. Front-Channel Logout 1.0 §2: the browser loads `frontchannel_logout_uri` in an
/// iframe: an absolute https URL (http only in development), without a fragment.
fn check_logout_uris(m: &ClientMetadata, outbound: &OutboundPolicy) -> OAuthResult<()> {
    if let Some(uri) = &m.backchannel_logout_uri {
        check_fetched_uri("backchannel_logout_uri", uri, outbound)?;
        if uri.contains('#') {
            return Err(OAuthError::invalid_client_metadata(
                "backchannel_logout_uri must not contain a fragment (Back-Channel Logout 1.0 section 2.2)",
            ));
        }
    }
    if let Some(uri) = &m.frontchannel_logout_uri {
        let bad = |why: &str| {
            OAuthError::invalid_client_metadata(format!(
                "frontchannel_logout_uri {}: {why} (Front-Channel Logout 1.0 section 2)",
                printable(uri)
            ))
        };
        check_uri_text(uri).map_err(|why| bad(&why))?;
        let url = url::Url::parse(uri).map_err(|_| bad("not an absolute URL"))?;
        if url.fragment().is_some() {
            return Err(bad("must not contain a fragment"));
        }
        match url.scheme() {
            "https" => {}
            "http" if outbound.allow_private => {}
            _ => return Err(bad("must be an https URL")),
        }
        if url.host().is_none() {
            return Err(bad("must name a host"));
        }
    }
    Ok(())
}

/// Longest `sector_identifier_uri` document read.
const MAX_SECTOR_DOCUMENT_BYTES: usize = 64 * 1024;

/// OIDC Core §8.1.1 / Registration §2: the `sector_identifier_uri` document is fetched (under
/// the outbound policy) and must be a JSON array of URIs holding every registered
/// redirect_uri, or registration fails. `stored` is the client as it was (on an update): an
/// unchanged sector URI and redirect_uris are not fetched again.
pub async fn check_sector_document(
    m: &ClientMetadata,
    stored: Option<&ClientMetadata>,
    outbound: &OutboundPolicy,
) -> OAuthResult<()> {
    let Some(uri) = &m.sector_identifier_uri else {
        return Ok(());
    };
    if stored.is_some_and(|s| {
        s.sector_identifier_uri.as_ref() == Some(uri) && s.redirect_uris == m.redirect_uris
    }) {
        return Ok(());
    }
    let bad = |why: String| {
        OAuthError::invalid_client_metadata(format!(
            "sector_identifier_uri {}: {why} (OIDC Core section 8.1.1)",
            printable(uri)
        ))
    };
    let url = outbound.check_uri(uri).map_err(&bad)?;
    let res = outbound
        .http_client(SECTOR_FETCH_TIMEOUT)
        .get(url)
        .send()
        .await
        .map_err(|e| bad(format!("could not be fetched ({e})")))?;
    if !res.status().is_success() {
        return Err(bad(format!("answered {}", res.status())));
    }
    let body = crate::outbound::read_capped(res, MAX_SECTOR_DOCUMENT_BYTES)
        .await
        .map_err(|e| bad(format!("could not be read ({e})")))?;
    let listed: Vec<String> = serde_json::from_slice(&body)
        .map_err(|_| bad("is not a JSON array of URI strings".into()))?;
    match m
        .redirect_uris
        .iter()
        .find(|r| !listed.iter().any(|l| r.matches_exactly(l)))
    {
        Some(missing) => Err(bad(format!(
            "does not list the redirect_uri {}",
            printable(missing.as_str())
        ))),
        None => Ok(()),
    }
}

const SECTOR_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Webhook deliveries go to https, or to http on a loopback address for development; no
/// fragment and no credentials in the URL.
fn check_webhook_url(uri: &str) -> OAuthResult<()> {
    let bad = |why: &str| OAuthError::invalid_client_metadata(format!("webhook_url {uri}: {why}"));
    let url = url::Url::parse(uri).map_err(|_| bad("not an absolute URL"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    match (url.scheme(), url.host_str()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some("localhost" | "127.0.0.1" | "[::1]")) => Ok(()),
        ("http", _) => Err(bad("http is only allowed for loopback addresses")),
        _ => Err(bad("must be https")),
    }
}
