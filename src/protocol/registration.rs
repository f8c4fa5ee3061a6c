//! Client registration (RFC 7591) and management (RFC 7592), shared by the HTTP endpoint and
//! the operator CLI: one set of metadata rules for both.

use super::scopes;
use crate::error::{OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::outbound::OutboundPolicy;
use crate::sealing::Sealer;
use crate::secrets;
use crate::types::{AuthMethod, Client, ClientMetadata, ScopeSet};
use serde_json::{json, Value};

const GRANTS: &[&str] = &[
    "authorization_code",
    "implicit",
    "refresh_token",
    "client_credentials",
];
/// A newly made client and the secrets that are shown once and then only kept as digests.
pub struct NewClient {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_token: Option<String>,
}

/// Who is registering: operators may fix `client_id` and `client_secret` (declarative
/// provisioning); dynamic registration always gets generated ones (RFC 7591 §3.2.1).
#[derive(Clone, Copy, PartialEq)]
pub enum Registrar {
    Operator,
    Dynamic,
}

/// Metadata only the operator sets (admin API, CLI): which institutions a client may use and
/// where its events go. Clients registering or updating themselves never set them.
pub const OPERATOR_OWNED: &[&str] = &["connection_types", "webhook_url"];

/// RFC 7592 §2.2 update by the client: what the operator granted stays as it was.
pub fn keep_operator_owned(updated: &mut ClientMetadata, stored: &ClientMetadata) {
    updated.connection_types = stored.connection_types.clone();
    updated.webhook_url = stored.webhook_url.clone();
}

/// Validates metadata and makes a client with fresh (or operator-fixed) credentials.
/// `sealer` keeps a recoverable copy of the secret for `client_secret_jwt` clients.
pub fn new_client(
    mut raw: Value,
    registrar: Registrar,
    now: i64,
    sealer: &Sealer,
    outbound: &OutboundPolicy,
) -> OAuthResult<NewClient> {
    let obj = raw.as_object_mut().ok_or_else(|| {
        OAuthError::invalid_client_metadata("client metadata must be a JSON object")
    })?;
    let fixed_id = take_string(obj, "client_id")?;
    let fixed_secret = take_string(obj, "client_secret")?;
    for server_owned in SERVER_OWNED {
        obj.remove(*server_owned);
    }
    if registrar == Registrar::Dynamic {
        if let Some(k) = OPERATOR_OWNED.iter().find(|k| obj.contains_key(**k)) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "{k} is set by the operator (admin API), not by registration"
            )));
        }
    }
    let metadata = parse_metadata(raw, outbound)?;
    let (id, secret) = match registrar {
        Registrar::Operator => (fixed_id, fixed_secret),
        Registrar::Dynamic => (None, None),
    };
    if let Some(s) = &secret {
        if s.len() < 32 {
            return Err(OAuthError::invalid_client_metadata(
                "client_secret must be at least 32 characters (it is stored as a SHA-256 digest)",
            ));
        }
    }
    // Clients that authenticate with a key (or not at all) get no secret.
    let secret = metadata
        .uses_secret()
        .then(|| secret.unwrap_or_else(secrets::random_token));
    let registration_token = secrets::random_token();
    Ok(NewClient {
        client: Client {
            id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            secret_hash: secret.as_deref().map(secrets::digest),
            secret_sealed: secret
                .as_deref()
                .filter(|_| metadata.token_endpoint_auth_method == AuthMethod::ClientSecretJwt)
                .map(|s| sealer.seal(s)),
            metadata,
            registration_hash: Some(secrets::digest(&registration_token)),
            created_at: now,
            disabled_at: None,
        },
        secret,
        registration_token: Some(registration_token),
    })
}

/// Members of a registration answer (RFC 7591 §3.2.1) the server sets: a request's are ignored.
pub const SERVER_OWNED: &[&str] = &[
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
];

/// RFC 7592 §2.2 update by the client: the body names the same `client_id` and replaces the
/// metadata; what the server or the operator set stays, a client stays public or
/// confidential, and a change to a secret method issues the secret it needs (returned once).
pub fn updated_client(
    client: &Client,
    mut raw: Value,
    sealer: &Sealer,
    outbound: &OutboundPolicy,
) -> OAuthResult<(Client, Option<String>)> {
    if raw.get("client_id").and_then(Value::as_str) != Some(client.id.as_str()) {
        return Err(OAuthError::invalid_request(
            "client_id in the body must match the client",
        ));
    }
    if let Some(obj) = raw.as_object_mut() {
        for k in SERVER_OWNED.iter().chain(&["client_id", "client_secret"]) {
            obj.remove(*k);
        }
    }
    let mut metadata = parse_metadata(raw, outbound)?;
    keep_operator_owned(&mut metadata, &client.metadata);
    if metadata.is_public() != client.metadata.is_public() {
        return Err(OAuthError::invalid_client_metadata(
            "a client cannot switch between public and confidential",
        ));
    }
    let (new_secret, secret_hash, secret_sealed) = secret_for_update(client, &metadata, sealer);
    let updated = Client {
        metadata,
        secret_hash,
        secret_sealed,
        ..client.clone()
    };
    Ok((updated, new_secret))
}

/// The secret columns after a metadata change (RFC 7592 §2.2 update, admin replace): none
/// for methods without a secret; the stored one when still usable; otherwise a new secret,
/// returned once, as registration issues one (a client switched to a secret method would
/// else have none and be locked out). Gives (new secret, digest, sealed copy).
pub fn secret_for_update(
    client: &Client,
    metadata: &ClientMetadata,
    sealer: &Sealer,
) -> (Option<String>, Option<String>, Option<String>) {
    let jwt = metadata.token_endpoint_auth_method == AuthMethod::ClientSecretJwt;
    let usable = client.secret_hash.is_some() && (!jwt || client.secret_sealed.is_some());
    match (metadata.uses_secret(), usable) {
        (false, _) => (None, None, None),
        (true, true) => (
            None,
            client.secret_hash.clone(),
            client.secret_sealed.clone().filter(|_| jwt),
        ),
        (true, false) => {
            let secret = secrets::random_token();
            let sealed = jwt.then(|| sealer.seal(&secret));
            let hash = secrets::digest(&secret);
            (Some(secret), Some(hash), sealed)
        }
    }
}

fn take_string(obj: &mut serde_json::Map<String, Value>, key: &str) -> OAuthResult<Option<String>> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(OAuthError::invalid_client_metadata(format!(
            "{key} must be a non-empty string"
        ))),
    }
}

/// Parses and checks metadata (RFC 7591 §2, OIDC Registration §2). URIs the server would
/// fetch are checked against the `outbound` policy.
pub fn parse_metadata(raw: Value, outbound: &OutboundPolicy) -> OAuthResult<ClientMetadata> {
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
    super::response_types::check_registered(&m)?;
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
    for uri in &m.redirect_uris {
        check_redirect_uri(uri)?;
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
        super::fapi::check_metadata(profile, &m)?;
    }
    Ok(m)
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
    match m.subject_type.as_deref() {
        None | Some("public") => return Ok(()),
        Some("pairwise") => {}
        Some(_) => {
            return Err(OAuthError::invalid_client_metadata(
                "subject_type must be public or pairwise (subject_types_supported; OIDC Registration section 2)",
            ))
        }
    }
    if m.sector_identifier_uri.is_some() {
        return Ok(());
    }
    let host = |u: &String| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    };
    let mut hosts: Vec<Option<String>> = m.redirect_uris.iter().map(host).collect();
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
    match m.redirect_uris.iter().find(|r| !listed.contains(r)) {
        Some(missing) => Err(bad(format!(
            "does not list the redirect_uri {}",
            printable(missing)
        ))),
        None => Ok(()),
    }
}

const SECTOR_FETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// RFC 3986 §2: a URI is ASCII, made of unreserved and reserved characters and
/// percent-encodings. A parser that "fixes" spaces, quotes or raw non-ASCII would store one
/// URI and compare or send another.
fn check_uri_text(uri: &str) -> Result<(), String> {
    const ALLOWED_PUNCTUATION: &str = "-._~:/?#[]@!$&'()*+,;=%";
    if let Some(c) = uri
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !ALLOWED_PUNCTUATION.contains(*c))
    {
        return Err(format!(
            "contains a character a URI cannot hold (U+{:04X}; RFC 3986 section 2)",
            c as u32
        ));
    }
    let bytes = uri.as_bytes();
    for (i, _) in uri.match_indices('%') {
        let hex = bytes.get(i + 1..i + 3).unwrap_or_default();
        if hex.len() != 2 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err("has a % that does not start a percent-encoding".into());
        }
    }
    Ok(())
}

/// A value for an error message: only printable ASCII, the rest replaced.
fn printable(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '?',
        })
        .collect()
}

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

/// https anywhere; http only on loopback, and private-use schemes for native apps (RFC 8252);
/// never a fragment (RFC 6749 §3.1.2).
fn check_redirect_uri(uri: &str) -> OAuthResult<()> {
    let bad = |why: &str| {
        OAuthError::invalid_redirect_uri(format!("redirect_uri {}: {why}", printable(uri)))
    };
    check_uri_text(uri).map_err(|why| bad(&why))?;
    let url = url::Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("must not contain a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(bad("http is only allowed for loopback addresses")),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            Err(bad("scheme not allowed"))
        }
        s if s.contains('.') => Ok(()),
        _ => Err(bad(
            "private-use schemes must be reverse domain names (RFC 8252 section 7.1)",
        )),
    }
}

/// The RFC 7591 §3.2.1 / RFC 7592 §3 response.
pub fn response(
    client: &Client,
    secret: Option<&str>,
    registration_token: Option<&str>,
    registration_uri: &str,
) -> Value {
    let mut out = serde_json::to_value(&client.metadata).unwrap_or_else(|_| json!({}));
    out["client_id"] = json!(client.id);
    out["client_id_issued_at"] = json!(client.created_at);
    if let Some(s) = secret {
        out["client_secret"] = json!(s);
        out["client_secret_expires_at"] = json!(0);
    }
    if let Some(t) = registration_token {
        out["registration_access_token"] = json!(t);
    }
    out["registration_client_uri"] = json!(format!("{registration_uri}/{}", client.id));
    out
}
