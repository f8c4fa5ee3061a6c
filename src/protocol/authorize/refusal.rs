//! Where a refused authorization request's error goes: an error page when the client or its
//! redirect_uri cannot be trusted (RFC 6749 §4.1.2.1), else the client's redirect_uri in the
//! request's response mode.

use super::request::AuthorizationRequest;
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::oidc::response::{self, Delivery, ResponseMode};
use crate::protocol::params::get;
use crate::protocol::Ctx;
use crate::types::Client;
use std::collections::HashMap;

/// What the authorization endpoint answers a refused request with.
#[derive(Debug)]
pub enum Refusal {
    /// An error page: the client or redirect_uri cannot be trusted (RFC 6749 §4.1.2.1).
    Page(OAuthError),
    /// The error, sent back to the client's redirect_uri in the request's response mode.
    Redirect(Delivery),
}

/// Where an error for the client goes: a checked redirect_uri, with the request's state, in
/// its response mode.
#[derive(Debug, Clone)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub mode: ResponseMode,
    /// A device sign-in (RFC 8628): the error is shown to the user, and the device hears it
    /// when it polls.
    pub device: bool,
}

impl ReplyTo {
    /// Where errors about a validated request go.
    pub fn of(req: &AuthorizationRequest) -> ReplyTo {
        ReplyTo {
            redirect_uri: req.redirect_uri.clone(),
            state: req.state.clone(),
            mode: req.response_mode,
            device: req.device.is_some(),
        }
    }

    /// The checked `redirect_uri`, with the state and response mode the parameters ask for
    /// (a mode that is itself invalid falls back to the default).
    pub fn for_params(redirect_uri: &str, params: &HashMap<String, String>) -> ReplyTo {
        ReplyTo {
            redirect_uri: redirect_uri.to_string(),
            state: get(params, "state").map(String::from),
            mode: error_mode(params),
            device: false,
        }
    }

    /// The response carrying `error`, `error_description`, `state` and the issuer (RFC 9207),
    /// in the request's response mode.
    pub fn deliver(
        &self,
        cx: &Ctx<'_>,
        client: &Client,
        error: &OAuthError,
    ) -> OAuthResult<Delivery> {
        if self.device {
            return Ok(Delivery::DeviceDone(Some(error.clone())));
        }
        let mut params = vec![
            ("error".to_string(), error.code.to_string()),
            (
                "error_description".to_string(),
                error.description().to_string(),
            ),
        ];
        if let Some(s) = &self.state {
            params.push(("state".into(), s.clone()));
        }
        response::deliver(cx, client, &self.redirect_uri, self.mode, params)
    }

    /// As a refusal: the redirect, or an error page when it cannot be built.
    pub fn refusal(&self, cx: &Ctx<'_>, client: &Client, error: OAuthError) -> Refusal {
        match self.deliver(cx, client, &error) {
            Ok(d) => Refusal::Redirect(d),
            Err(e) => Refusal::Page(e),
        }
    }
}

/// Sends a refusal (4xx) to the client's redirect_uri; server errors stay errors.
pub fn redirect_refusal(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    e: OAuthError,
) -> OAuthResult<Delivery> {
    if e.status >= 500 {
        return Err(e);
    }
    ReplyTo::of(req).deliver(cx, client, &e)
}

/// The response mode an error should use, even when the request's own is invalid.
fn error_mode(params: &HashMap<String, String>) -> ResponseMode {
    let rt = get(params, "response_type").unwrap_or("code");
    ResponseMode::parse(get(params, "response_mode"), rt)
        .unwrap_or_else(|_| ResponseMode::default_for(rt))
}
