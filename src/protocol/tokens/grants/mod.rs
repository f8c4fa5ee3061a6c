//! The token endpoint's grant types (RFC 6749 §4), one file each.

mod authorization_code;
mod ciba;
mod client_credentials;
mod device_code;
mod refresh_token;

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::tokens::{self, TokenResponse};
use crate::protocol::Ctx;
use crate::store::grants::{Grant, Redeemed, SingleUse};
use crate::tls::PeerCertificate;
use crate::types::{Client, ScopeSet};

pub use crate::protocol::tokens::Binding;
use std::collections::HashMap;

/// Runs the requested grant for an authenticated client.
/// `dpop_jkt` is the key thumbprint of a valid DPoP proof sent with the request, if any.
pub async fn token(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
    dpop_jkt: Option<String>,
    certificate: Option<&PeerCertificate>,
) -> OAuthResult<TokenResponse> {
    let grant_type = form
        .get("grant_type")
        .filter(|g| !g.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let supported = [
        "authorization_code",
        "refresh_token",
        "client_credentials",
        crate::protocol::device::GRANT_TYPE,
        crate::types::CIBA_GRANT,
    ];
    if !supported.contains(&grant_type.as_str()) {
        return Err(OAuthError::unsupported_grant_type(format!(
            "grant_type {grant_type} is not supported"
        )));
    }
    if !client.metadata.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "the client is not registered for the {grant_type} grant"
        )));
    }
    if client.metadata.dpop_bound_access_tokens && dpop_jkt.is_none() {
        return Err(OAuthError::invalid_request(
            "this client's tokens must be DPoP-bound: send a DPoP proof (RFC 9449 section 5.2)",
        ));
    }
    // RFC 8705 §3: certificate-bound access tokens for clients registered for them.
    let x5t = if client.metadata.tls_client_certificate_bound_access_tokens {
        let cert = certificate.ok_or_else(|| {
            OAuthError::invalid_request(
                "this client's tokens are certificate-bound: use mutual TLS (RFC 8705 section 3)",
            )
        })?;
        Some(cert.thumbprint())
    } else {
        None
    };
    let x5t = sender_constraint(cx, client, &dpop_jkt, x5t, certificate)?;
    let binding = Binding { dpop_jkt, x5t };
    match grant_type.as_str() {
        "authorization_code" => authorization_code::exchange(cx, client, form, binding).await,
        "refresh_token" => refresh_token::exchange(cx, client, form, binding).await,
        crate::protocol::device::GRANT_TYPE => {
            device_code::exchange(cx, client, form, binding).await
        }
        crate::types::CIBA_GRANT => ciba::exchange(cx, client, form, binding).await,
        _ => client_credentials::exchange(cx, client, form, binding).await,
    }
}

/// RFC 8707 §2: the `resource` the access token is for becomes its audience. It must be an
/// absolute URI without a fragment (`invalid_target` otherwise).
fn audience(form: &HashMap<String, String>) -> OAuthResult<Option<String>> {
    let Some(r) = form.get("resource").filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    match url::Url::parse(r) {
        Ok(u) if u.fragment().is_none() && !u.cannot_be_a_base() => Ok(Some(r.clone())),
        _ => Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            400,
            "resource must be an absolute URI without a fragment (RFC 8707 section 2)",
        )),
    }
}

/// The tokens for a grant the user approved away from the client (the device flow, CIBA):
/// an access token, an ID token with `openid`, a refresh token with `offline_access`.
async fn prepare_for_approved(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
    binding: Binding,
    grant: &Grant,
) -> OAuthResult<tokens::Prepared> {
    let scopes = ScopeSet::parse(&grant.scopes);
    let refresh =
        scopes.contains("offline_access") && client.metadata.allows_grant("refresh_token");
    tokens::prepare(
        cx,
        tokens::Issue {
            user: None,
            audience: audience(form)?,
            client,
            grant: Some(grant),
            id_token: scopes.contains("openid"),
            scopes,
            nonce: None,
            refresh,
            binding,
        },
    )
    .await
}

/// Consumes `what` and stores the tokens it buys in one transaction, so a crash leaves both or
/// neither. If someone used it first, that transaction revoked its grant: `replayed` answers.
/// If it lapsed since the checks read it, nothing was stored: `invalid` answers.
async fn redeem(
    cx: &Ctx<'_>,
    what: SingleUse,
    prepared: tokens::Prepared,
    now: i64,
    replayed: impl FnOnce(&str) -> OAuthError,
    invalid: impl FnOnce() -> OAuthError,
) -> OAuthResult<TokenResponse> {
    let tokens::Prepared { response, rows } = prepared;
    let redeemed = cx
        .store
        .write(move |tx| tx.grants().redeem(&what, &rows, now))
        .await?;
    match redeemed {
        Redeemed::Issued => Ok(tokens::issued(cx, response)),
        Redeemed::Replayed { grant_id } => Err(replayed(&grant_id)),
        Redeemed::Invalid => Err(invalid()),
    }
}

fn required<'a>(form: &'a HashMap<String, String>, name: &str) -> OAuthResult<&'a str> {
    form.get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("{name} is missing")))
}

/// FAPI 1 Advanced §5.2.2-5 requires certificate-bound tokens; FAPI 2 §5.3.2.1-5 requires
/// sender-constrained ones, by DPoP or, failing that, the client's certificate.
fn sender_constraint(
    cx: &Ctx<'_>,
    client: &Client,
    dpop_jkt: &Option<String>,
    x5t: Option<String>,
    certificate: Option<&PeerCertificate>,
) -> OAuthResult<Option<String>> {
    let from_cert = || certificate.map(PeerCertificate::thumbprint);
    match crate::protocol::fapi::profile_of(cx, client) {
        Some(crate::types::FapiProfile::Fapi1Advanced) => x5t.or_else(from_cert).map(Some).ok_or_else(|| {
            OAuthError::invalid_request("FAPI 1 Advanced tokens are certificate-bound: use mutual TLS (section 5.2.2-5)")
        }),
        Some(crate::types::FapiProfile::Fapi2) if dpop_jkt.is_none() => x5t.or_else(from_cert).map(Some).ok_or_else(|| {
            OAuthError::invalid_request("FAPI 2 tokens are sender-constrained: send a DPoP proof or use mutual TLS (section 5.3.2.1-5)")
        }),
        _ => Ok(x5t),
    }
}
