//! Client authentication at the token, PAR, device authorization, introspection and revocation
//! endpoints (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, `private_key_jwt`
//! (RFC 7523, OIDC Core §9), and `none` for public clients.

use super::{client_keys, fapi};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::secrets;
use crate::tls::{normalize_dn, PeerCertificate};
use crate::types::{AuthMethod, Client, Secret};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::HashMap;

/// What the request presented.
#[derive(Debug)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<Secret>,
    /// A signed client assertion (RFC 7523 §2.2).
    pub assertion: Option<String>,
    pub method: AuthMethod,
}

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Longest an assertion may be valid for. RFC 7523 §3 lets us refuse an `exp` "unreasonably
/// far in the future"; an hour is what stock clients send (Authlib's `PrivateKeyJWT` signs
/// `exp = iat + 3600`). Replay is stopped by the `jti` for the whole window: this bound only
/// limits how long a `jti` is remembered.
const ASSERTION_MAX_LIFETIME_SECS: i64 = 3600;

/// Reads credentials from the `Authorization: Basic` header or the form body; using both is
/// an error (RFC 6749 §2.3).
pub fn presented(
    authorization: Option<&str>,
    form: &HashMap<String, String>,
) -> OAuthResult<Presented> {
    let form_secret = form.get("client_secret").filter(|s| !s.is_empty());
    if let Some(kind) = form.get("client_assertion_type") {
        return presented_assertion(kind, authorization, form_secret.is_some(), form);
    }
    if let Some(h) = authorization {
        let Some(b64) = h
            .strip_prefix("Basic ")
            .or_else(|| h.strip_prefix("basic "))
        else {
            return Err(OAuthError::invalid_client(
                "unsupported Authorization scheme",
            ));
        };
        if form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "client credentials must be sent in one way only (RFC 6749 section 2.3)",
            ));
        }
        let decoded = STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        let id = url_decode(id)?;
        if let Some(form_id) = form.get("client_id") {
            if form_id != &id {
                return Err(OAuthError::invalid_request(
                    "client_id in the body does not match the Basic credentials",
                ));
            }
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(Secret::new(url_decode(secret)?)),
            assertion: None,
            method: AuthMethod::ClientSecretBasic,
        });
    }
    let client_id = form
        .get("client_id")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?
        .clone();
    Ok(match form_secret {
        Some(s) => Presented {
            client_id,
            secret: Some(Secret::new(s.clone())),
            assertion: None,
            method: AuthMethod::ClientSecretPost,
        },
        None => Presented {
            client_id,
            secret: None,
            assertion: None,
            method: AuthMethod::None,
        },
    })
}

fn presented_assertion(
    kind: &str,
    authorization: Option<&str>,
    has_secret: bool,
    form: &HashMap<String, String>,
) -> OAuthResult<Presented> {
    if kind != JWT_BEARER {
        return Err(OAuthError::invalid_client(format!(
            "client_assertion_type {kind} is not supported"
        )));
    }
    if authorization.is_some() || has_secret {
        return Err(OAuthError::invalid_request(
            "client credentials must be sent in one way only (RFC 6749 section 2.3)",
        ));
    }
    let assertion = form
        .get("client_assertion")
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OAuthError::invalid_client("client_assertion is missing"))?;
    // RFC 7523 §3: the client is the assertion's subject; client_id, when sent, must agree.
    let sub = unverified_claims(assertion)?
        .get("sub")
        .and_then(|s| s.as_str())
        .map(String::from)
        .ok_or_else(|| OAuthError::invalid_client("the client assertion has no sub"))?;
    if form.get("client_id").is_some_and(|id| id != &sub) {
        return Err(OAuthError::invalid_client(
            "client_id does not match the client assertion's sub",
        ));
    }
    Ok(Presented {
        client_id: sub,
        secret: None,
        assertion: Some(assertion.clone()),
        // An HMAC assertion is keyed with the client secret (OIDC Core §9).
        method: if crate::jose::peek_header(assertion)
            .is_ok_and(|h| h["alg"].as_str().is_some_and(|a| a.starts_with("HS")))
        {
            AuthMethod::ClientSecretJwt
        } else {
            AuthMethod::PrivateKeyJwt
        },
    })
}

/// The claims of a JWT before verification: only to learn which client's keys to verify with.
fn unverified_claims(jwt: &str) -> OAuthResult<serde_json::Value> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bad = || OAuthError::invalid_client("the client assertion is not a JWT");
    let payload = jwt.split('.').nth(1).ok_or_else(bad)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| bad())?;
    serde_json::from_slice(&bytes).map_err(|_| bad())
}

fn url_decode(s: &str) -> OAuthResult<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| OAuthError::invalid_client("malformed Basic credentials"))
}

/// Authenticates the client with the method it registered; any mismatch is `invalid_client`.
/// `endpoint` is the URL being called (an assertion may name it as its audience).
/// `certificate` is the TLS client certificate of the request, if any.
pub async fn authenticate(
    cx: &Ctx<'_>,
    presented: Presented,
    endpoint: &str,
    certificate: Option<&PeerCertificate>,
) -> OAuthResult<Client> {
    let client = super::client_cache::client(cx, &presented.client_id).await?;
    let fail = || OAuthError::invalid_client("client authentication failed");
    let Some(client) = client.map(|c| c.as_ref().clone()) else {
        // Spend the same digest work as a real check.
        let _ = presented
            .secret
            .as_ref()
            .map(|s| secrets::matches_digest(s.expose(), ""));
        return Err(fail());
    };
    // RFC 8705 §2: mutual-TLS methods send only client_id; the certificate authenticates.
    let registered = client.metadata.token_endpoint_auth_method;
    if fapi::profile_of(cx, &client).is_some() && !fapi::auth_method_allowed(registered) {
        return Err(fail().with_detail("FAPI clients must use private_key_jwt or mutual TLS"));
    }
    if presented.method == AuthMethod::None && registered.is_mtls() {
        let cert = certificate.ok_or_else(|| fail().with_detail("no client certificate"))?;
        let ok = if registered == AuthMethod::TlsClientAuth {
            pki_certificate_matches(cx, &client, cert)
        } else {
            self_signed_certificate_matches(&client, cert)
        };
        return if ok {
            Ok(client)
        } else {
            Err(fail().with_detail("client certificate does not match"))
        };
    }
    if !method_accepted(registered, presented.method) {
        return Err(fail().with_detail(format!(
            "client {} registered {} but used {}",
            client.id, client.metadata.token_endpoint_auth_method, presented.method
        )));
    }
    if let Some(assertion) = &presented.assertion {
        verify_assertion(cx, &client, assertion, endpoint).await?;
        return Ok(client);
    }
    match (&presented.secret, &client.secret_hash) {
        (None, _) if presented.method == AuthMethod::None => Ok(client),
        (Some(s), Some(hash)) if secrets::matches_digest(s.expose(), hash) => Ok(client),
        _ => Err(fail()),
    }
}

/// The presented method must be the registered one, except that `client_secret_basic` and
/// `client_secret_post` stand in for each other: both carry the same secret, only in another
/// place (RFC 6749 §2.3.1), so a client registered with either may use both (as certified
/// clients and the OpenID certification plans expect). Every other method stays strict.
fn method_accepted(registered: AuthMethod, presented: AuthMethod) -> bool {
    let secret_in_request = |m| {
        matches!(
            m,
            AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
        )
    };
    registered == presented || (secret_in_request(registered) && secret_in_request(presented))
}

/// RFC 7523 §3 and OIDC Core §9: signed by the client's key with an allowed algorithm,
/// `iss` = `sub` = client_id, `aud` naming us, a short `exp`, and a `jti` never seen before.
async fn verify_assertion(
    cx: &Ctx<'_>,
    client: &Client,
    assertion: &str,
    endpoint: &str,
) -> OAuthResult<()> {
    let error = |d: String| OAuthError::invalid_client(format!("client assertion: {d}"));
    let profile = fapi::profile_of(cx, client);
    let allowed = fapi::restrict_algs(
        profile,
        client_keys::allowed_algs(client.metadata.token_endpoint_auth_signing_alg.as_deref()),
    );
    let claims = if client.metadata.token_endpoint_auth_method == AuthMethod::ClientSecretJwt {
        let secret = client
            .secret_sealed
            .as_deref()
            .and_then(|s| cx.sealer.open(s))
            .ok_or_else(|| error("the client has no usable secret".into()))?;
        crate::jose::verify_hmac(assertion, secret.as_bytes()).map_err(|e| error(e.to_string()))?
    } else {
        client_keys::verify(cx, client, assertion, &allowed, error).await?
    };
    if claims["iss"].as_str() != Some(client.id.as_str())
        || claims["sub"].as_str() != Some(client.id.as_str())
    {
        return Err(error("iss and sub must both be the client_id".into()));
    }
    let e = cx.endpoints();
    if profile == Some(crate::types::FapiProfile::Fapi2) {
        // FAPI 2 §5.3.2.1-8: only the issuer identifier, and only as a string.
        if claims["aud"].as_str() != Some(cx.issuer.as_str()) {
            return Err(error(
                "aud must be the issuer identifier as a string (FAPI 2 section 5.3.2.1-8)".into(),
            ));
        }
    } else if !client_keys::audience_matches(&claims["aud"], &[&cx.issuer, &e.token, endpoint]) {
        return Err(error("aud must be the issuer or the endpoint".into()));
    }
    let now = cx.now;
    client_keys::check_times(&claims, now, true, ASSERTION_MAX_LIFETIME_SECS, error)?;
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| error("jti is required".into()))?;
    let (scope, jti) = (format!("client_assertion:{}", client.id), jti.to_string());
    let exp =
        client_keys::numeric_date(&claims["exp"]).unwrap_or(now) + client_keys::CLOCK_SKEW_SECS;
    let first = cx
        .store
        .write(move |tx| tx.replay().first_use(&scope, &jti, exp))
        .await?;
    if !first {
        return Err(error("this assertion was already used (jti replay)".into()));
    }
    Ok(())
}

/// RFC 8705 §2.1: chained to a configured trust anchor, and the registered subject or SAN.
fn pki_certificate_matches(cx: &Ctx<'_>, client: &Client, cert: &PeerCertificate) -> bool {
    let Some(roots) = &cx.mtls_roots else {
        return false;
    };
    if !cert.chains_to(roots) {
        return false;
    }
    let Some(names) = cert.names() else {
        return false;
    };
    let m = &client.metadata;
    let any = |want: &Option<String>, have: &[String]| {
        want.as_ref().is_some_and(|w| have.iter().any(|h| h == w))
    };
    m.tls_client_auth_subject_dn
        .as_ref()
        .is_some_and(|dn| normalize_dn(dn) == names.subject_dn)
        || any(&m.tls_client_auth_san_dns, &names.dns)
        || any(&m.tls_client_auth_san_uri, &names.uri)
        || any(&m.tls_client_auth_san_ip, &names.ip)
        || any(&m.tls_client_auth_san_email, &names.email)
}

/// RFC 8705 §2.2: the certificate is one the client registered in its JWKS (`x5c`).
fn self_signed_certificate_matches(client: &Client, cert: &PeerCertificate) -> bool {
    let x5c = cert.x5c();
    client
        .metadata
        .jwks
        .as_ref()
        .and_then(|j| j["keys"].as_array())
        .is_some_and(|keys| {
            keys.iter().any(|k| {
                k["x5c"]
                    .as_array()
                    .and_then(|c| c.first())
                    .and_then(|c| c.as_str())
                    == Some(x5c.as_str())
            })
        })
}
