//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, and `none` for public clients.

use super::secrets;
use crate::error::{OAuthError, OAuthResult};
use crate::provider::Provider;
use crate::store;
use crate::types::{Client, Secret};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use std::collections::HashMap;

/// What the request presented.
#[derive(Debug)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<Secret>,
    pub method: &'static str,
}

/// Reads credentials from the `Authorization: Basic` header or the form body; using both is
/// an error (RFC 6749 §2.3).
pub fn presented(
    authorization: Option<&str>,
    form: &HashMap<String, String>,
) -> OAuthResult<Presented> {
    let form_secret = form.get("client_secret").filter(|s| !s.is_empty());
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
                "client credentials must be sent in one way only (RFC 6749 §2.3)",
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
            method: "client_secret_basic",
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
            method: "client_secret_post",
        },
        None => Presented {
            client_id,
            secret: None,
            method: "none",
        },
    })
}

fn url_decode(s: &str) -> OAuthResult<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| OAuthError::invalid_client("malformed Basic credentials"))
}

/// Authenticates the client with the method it registered; any mismatch is `invalid_client`.
pub async fn authenticate(p: &Provider, presented: Presented) -> OAuthResult<Client> {
    let id = presented.client_id.clone();
    let client = p.store.read(move |c| store::clients::get(c, &id)).await?;
    let fail = || OAuthError::invalid_client("client authentication failed");
    let Some(client) = client else {
        // Spend the same digest work as a real check.
        let _ = presented
            .secret
            .as_ref()
            .map(|s| secrets::matches_digest(s.expose(), ""));
        return Err(fail());
    };
    if client.metadata.token_endpoint_auth_method != presented.method {
        return Err(fail().with_detail(format!(
            "client {} registered {} but used {}",
            client.id, client.metadata.token_endpoint_auth_method, presented.method
        )));
    }
    match (&presented.secret, &client.secret_hash) {
        (None, _) if presented.method == "none" => Ok(client),
        (Some(s), Some(hash)) if secrets::matches_digest(s.expose(), hash) => Ok(client),
        _ => Err(fail()),
    }
}
