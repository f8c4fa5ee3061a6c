//! Delivering the authorization response (or error) to the client: the response modes of
//! OAuth 2.0 Multiple Response Types and Form Post, and JWT-secured responses (JARM).

use crate::error::{OAuthError, OAuthResult};
use crate::jose::Alg;
use crate::protocol::Ctx;
use crate::types::Client;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum ResponseMode {
    #[default]
    Query,
    Fragment,
    FormPost,
    QueryJwt,
    FragmentJwt,
    FormPostJwt,
}

pub const SUPPORTED_MODES: &[&str] = &[
    "query",
    "fragment",
    "form_post",
    "query.jwt",
    "fragment.jwt",
    "form_post.jwt",
    "jwt",
];

/// How long a JARM response JWT is valid.
const JARM_LIFETIME_SECS: i64 = 600;

impl ResponseMode {
    /// Fragment whenever a token or ID token comes from the authorization endpoint, query
    /// otherwise (Multiple Response Types §5, RFC 6749 §4.2.2.1; JARM §2.3.4 for `jwt`).
    pub fn default_for(response_type: &str) -> ResponseMode {
        if response_type
            .split(' ')
            .any(|p| p == "token" || p == "id_token")
        {
            ResponseMode::Fragment
        } else {
            ResponseMode::Query
        }
    }

    pub fn parse(mode: Option<&str>, response_type: &str) -> OAuthResult<ResponseMode> {
        let default = Self::default_for(response_type);
        let m = match mode {
            None => return Ok(default),
            Some("query") => ResponseMode::Query,
            Some("fragment") => ResponseMode::Fragment,
            Some("form_post") => ResponseMode::FormPost,
            Some("query.jwt") => ResponseMode::QueryJwt,
            Some("fragment.jwt") => ResponseMode::FragmentJwt,
            Some("form_post.jwt") => ResponseMode::FormPostJwt,
            Some("jwt") if default == ResponseMode::Query => ResponseMode::QueryJwt,
            Some("jwt") => ResponseMode::FragmentJwt,
            Some(other) => {
                return Err(OAuthError::invalid_request(format!(
                    "response_mode {other} is not supported"
                )))
            }
        };
        // Tokens must never travel in a query string (Multiple Response Types §5; JARM §2.3.1
        // for query.jwt, since the JWT is not encrypted).
        if default == ResponseMode::Fragment
            && matches!(m, ResponseMode::Query | ResponseMode::QueryJwt)
        {
            return Err(OAuthError::invalid_request(format!(
                "response_mode {} cannot carry response_type {response_type}",
                mode.unwrap_or_default()
            )));
        }
        Ok(m)
    }

    fn is_jwt(self) -> bool {
        matches!(
            self,
            ResponseMode::QueryJwt | ResponseMode::FragmentJwt | ResponseMode::FormPostJwt
        )
    }
}

/// What the browser is sent back to the client with.
#[derive(Debug)]
pub enum Delivery {
    Redirect(String),
    /// An auto-submitting form to the redirect URI (OAuth 2.0 Form Post Response Mode).
    FormPost {
        action: String,
        fields: Vec<(String, String)>,
    },
    /// RFC 8628: the verification page's sign-in ended; the user goes back to the device.
    /// With the error it ended in, if it was refused.
    DeviceDone(Option<OAuthError>),
    /// Development mode (`plugins.dev`): a page with an institution script's error, from
    /// which the user continues to `then` (the client's answer, which never holds the detail).
    ScriptFailed {
        report: Box<crate::plugins::FailureReport>,
        then: Box<Delivery>,
    },
}

/// The algorithm for this client's JARM responses (RS256 unless it registered another).
/// The client's registered JARM algorithm; by default PS256 under a FAPI profile (FAPI 1
/// Advanced §8.6 allows only PS256 and ES256), RS256 otherwise.
fn jarm_alg(cx: &Ctx<'_>, client: &Client) -> Alg {
    let default = if crate::protocol::fapi::profile_of(cx, client).is_some() {
        Alg::PS256
    } else {
        Alg::RS256
    };
    client
        .metadata
        .authorization_signed_response_alg
        .as_deref()
        .and_then(Alg::parse)
        .unwrap_or(default)
}

/// Packs response parameters for `client` at `redirect_uri` in `mode`. Every response names
/// the issuer (RFC 9207): as `iss`, or inside the JARM JWT.
pub fn deliver(
    cx: &Ctx<'_>,
    client: &Client,
    redirect_uri: &str,
    mode: ResponseMode,
    mut params: Vec<(String, String)>,
) -> OAuthResult<Delivery> {
    if mode.is_jwt() {
        let now = cx.now;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(cx.issuer));
        claims.insert("aud".into(), json!(client.id));
        claims.insert("exp".into(), json!(now + JARM_LIFETIME_SECS));
        for (k, v) in params {
            claims.insert(k, Value::String(v));
        }
        let jwt = cx
            .keys()
            .sign(jarm_alg(cx, client), None, &Value::Object(claims))
            .map_err(OAuthError::server)?;
        params = vec![("response".into(), jwt)];
    } else {
        params.push(("iss".into(), cx.issuer.clone()));
    }
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    Ok(match mode {
        ResponseMode::Query | ResponseMode::QueryJwt => {
            Delivery::Redirect(append_query(redirect_uri, &pairs))
        }
        ResponseMode::Fragment | ResponseMode::FragmentJwt => {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            ser.extend_pairs(&pairs);
            Delivery::Redirect(format!("{redirect_uri}#{}", ser.finish()))
        }
        ResponseMode::FormPost | ResponseMode::FormPostJwt => Delivery::FormPost {
            action: redirect_uri.to_string(),
            fields: params,
        },
    })
}

/// Adds parameters to a redirect URI, keeping any query it already has (RFC 6749 §3.1.2).
pub fn append_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let q = ser.finish();
    if uri.contains('?') {
        format!("{uri}&{q}")
    } else {
        format!("{uri}?{q}")
    }
}
