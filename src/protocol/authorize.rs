//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2): request validation as small
//! named steps, the login/consent decision, and code issuance.

use super::claims::ClaimsRequest;
use super::response::{self, Delivery, ResponseMode};
use super::{fapi, pkce, response_types, scopes, tokens};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::{self, grants, sessions::Session};
use crate::types::{Client, ScopeSet};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A validated authorization request, kept with the interaction while the user logs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_type: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub claims: Option<ClaimsRequest>,
    pub login_hint: Option<String>,
    /// The local user this request must end with: the `sub` pinned by the claims parameter
    /// or by a valid `id_token_hint`, mapped from the client's subject (OIDC Core §8.1).
    #[serde(default)]
    pub pinned_user: Option<String>,
    pub acr_values: Option<String>,
    #[serde(default)]
    pub response_mode: ResponseMode,
    /// RFC 9449 §10: the DPoP key thumbprint the code is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// Digest of the PAR request_uri this request came from; used up when it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<String>,
    /// The bank connection this request asks for (`id:*`, `reauth`, `refresh`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<super::bank::BankRequest>,
}

impl AuthorizationRequest {
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope)
    }
    /// Whether the response type returns `part` (`code`, `id_token`, `token`).
    pub fn returns(&self, part: &str) -> bool {
        response_types::includes(&self.response_type, part)
    }
    pub fn has_prompt(&self, p: &str) -> bool {
        self.prompt.iter().any(|x| x == p)
    }
    /// The (local) user this request must end with, from the claims parameter or the
    /// id_token_hint.
    pub fn required_sub(&self) -> Option<String> {
        self.pinned_user.clone()
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
    ErrorRedirect::new(req, e).deliver(cx, client)
}

/// Why a request was refused, and where the answer goes.
#[derive(Debug)]
pub enum Rejection {
    /// The client or redirect_uri cannot be trusted: show an error page, never redirect
    /// (RFC 6749 §4.1.2.1).
    Page(OAuthError),
    /// Send the error back to the client's redirect_uri.
    Redirect(Box<ErrorRedirect>),
}

/// An error for the client, with where and how it is to be delivered.
#[derive(Debug)]
pub struct ErrorRedirect {
    pub error: OAuthError,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub mode: ResponseMode,
}

impl ErrorRedirect {
    pub fn new(req: &AuthorizationRequest, error: OAuthError) -> ErrorRedirect {
        ErrorRedirect {
            error,
            redirect_uri: req.redirect_uri.clone(),
            state: req.state.clone(),
            mode: req.response_mode,
        }
    }

    /// The response carrying `error`, `error_description`, `state` and the issuer (RFC 9207),
    /// in the request's response mode.
    pub fn deliver(&self, cx: &Ctx<'_>, client: &Client) -> OAuthResult<Delivery> {
        let mut params = vec![
            ("error".to_string(), self.error.code.to_string()),
            (
                "error_description".to_string(),
                self.error.description().to_string(),
            ),
        ];
        if let Some(s) = &self.state {
            params.push(("state".into(), s.clone()));
        }
        response::deliver(cx, client, &self.redirect_uri, self.mode, params)
    }
}

/// The response mode an error should use, even when the request's own is invalid.
fn error_mode(params: &HashMap<String, String>) -> ResponseMode {
    let rt = get(params, "response_type").unwrap_or("code");
    ResponseMode::parse(get(params, "response_mode"), rt)
        .unwrap_or_else(|_| ResponseMode::default_for(rt))
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

/// The prefix of request_uri values we issue at the PAR endpoint (RFC 9126 §2.2).
pub const PAR_URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// The parameters that say who the client is and where its errors go.
const IDENTIFYING: [&str; 2] = ["client_id", "redirect_uri"];

/// Parameters as a map; a repeated one is reported by name (RFC 6749 §3.1), an identifying
/// one first.
fn unique(raw: &[(String, String)]) -> (HashMap<String, String>, Option<String>) {
    let mut params = HashMap::new();
    let mut repeated = Vec::new();
    for (k, v) in raw {
        if params.insert(k.clone(), v.clone()).is_some() {
            repeated.push(k);
        }
    }
    let reported = repeated
        .iter()
        .find(|k| IDENTIFYING.contains(&k.as_str()))
        .or(repeated.first())
        .map(|k| k.to_string());
    (params, reported)
}

fn get<'a>(params: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    params.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// What the authorization endpoint answers a refused request with.
pub enum Refusal {
    /// An error page: the client or redirect_uri cannot be trusted (RFC 6749 §4.1.2.1).
    Page(OAuthError),
    /// The error, sent back to the client's redirect_uri in the request's response mode.
    Redirect(Delivery),
}

/// Validates the raw parameters at the authorization endpoint (query or form, in order) into
/// a request for a known client: a pushed request by its `request_uri`, a signed request
/// object, or plain parameters.
pub async fn validate(
    cx: &Ctx<'_>,
    raw: &[(String, String)],
) -> Result<(AuthorizationRequest, Client), Refusal> {
    // RFC 6749 §3.1: parameters must not repeat. Checked before anything is trusted, so a
    // repeated client_id or redirect_uri cannot confuse which one is used.
    let (params, repeated) = unique(raw);
    // Which client, and which of its redirect URIs, cannot be told: never redirect
    // (RFC 6749 §4.1.2.1).
    if let Some(k) = repeated.as_deref().filter(|k| IDENTIFYING.contains(k)) {
        return Err(Refusal::Page(OAuthError::invalid_request(format!(
            "parameter {k} is repeated (RFC 6749 section 3.1)"
        ))));
    }
    let client = identify_client(cx, get(&params, "client_id"))
        .await
        .map_err(Refusal::Page)?;
    match check_request(cx, &client, params, repeated).await {
        Ok(request) => Ok((request, client)),
        Err(Rejection::Page(e)) => Err(Refusal::Page(e)),
        Err(Rejection::Redirect(r)) => Err(match r.deliver(cx, &client) {
            Ok(d) => Refusal::Redirect(d),
            Err(e) => Refusal::Page(e),
        }),
    }
}

/// `validate` for an identified client.
async fn check_request(
    cx: &Ctx<'_>,
    client: &Client,
    mut params: HashMap<String, String>,
    repeated: Option<String>,
) -> Result<AuthorizationRequest, Rejection> {
    let by_reference = match get(&params, "request_uri") {
        Some(uri) if uri.starts_with(PAR_URN_PREFIX) => {
            return pushed_request(cx, client, uri).await
        }
        Some(uri) => Some(uri.to_string()),
        None => None,
    };
    // JAR (RFC 9101 §5): a request object may carry every parameter but client_id. Until it
    // is verified, errors go to a redirect_uri given outside it, or to an error page.
    let outer_uri = get(&params, "redirect_uri");
    let redirect_uri = match outer_uri {
        None if params.contains_key("request") || by_reference.is_some() => None,
        _ => Some(check_redirect_uri(client, outer_uri)?),
    };
    let state = get(&params, "state").map(String::from);
    let mode = error_mode(&params);
    let redirect_err = |error: OAuthError| match &redirect_uri {
        Some(uri) => Rejection::Redirect(Box::new(ErrorRedirect {
            error,
            redirect_uri: uri.clone(),
            state: state.clone(),
            mode,
        })),
        None => Rejection::Page(error),
    };
    if let Some(k) = repeated {
        return Err(redirect_err(OAuthError::invalid_request(format!(
            "parameter {k} is repeated (RFC 6749 section 3.1)"
        ))));
    }
    let profile = fapi::profile_of(cx, client);
    if client.metadata.require_pushed_authorization_requests
        || cx.config.require_par
        || profile == Some(crate::types::FapiProfile::Fapi2)
    {
        return Err(redirect_err(OAuthError::invalid_request(
            "this client must push its authorization requests (RFC 9126 section 6)",
        )));
    }
    require_signed_object(client, &params, by_reference.is_some()).map_err(redirect_err)?;
    if let Some(uri) = by_reference {
        let object = request_by_reference(cx, client, profile, &params, &uri)
            .await
            .map_err(redirect_err)?;
        params.remove("request_uri");
        params.insert("request".into(), object);
    }
    let sent_object = params.get("request").cloned();
    let (params, object) = match with_request_object(cx, client, profile, params).await {
        Ok(v) => v,
        // FAPI 1 Adv. §5.2.2-10: only the object's parameters are used, for errors too.
        Err(e) if profile == Some(crate::types::FapiProfile::Fapi1Advanced) => {
            return Err(fapi1_object_error(cx, client, sent_object.as_deref(), e).await)
        }
        Err(e) => return Err(redirect_err(e)),
    };
    // The object may name its own redirect_uri and state; errors from here on go there.
    let redirect_uri = check_redirect_uri(client, get(&params, "redirect_uri"))?;
    let state = get(&params, "state").map(String::from);
    let mode = error_mode(&params);
    let redirect_err = |error: OAuthError| {
        Rejection::Redirect(Box::new(ErrorRedirect {
            error,
            redirect_uri: redirect_uri.clone(),
            state: state.clone(),
            mode,
        }))
    };
    let response_type =
        response_types::check_requested(client, profile, get(&params, "response_type"))
            .map_err(redirect_err)?;
    if let Some(profile) = profile {
        fapi::check_authorization(profile, &params, object.as_ref(), false, cx.now)
            .map_err(redirect_err)?;
    }
    check_params(cx, client, &params, redirect_uri.clone(), response_type).map_err(redirect_err)
}

/// Where an error about a FAPI 1 Advanced request object goes. The profile uses only the
/// object's parameters (§5.2.2-10): when its signature is the client's, the error goes to its
/// redirect_uri with its state, in its response mode (JARM included); an object that cannot
/// be verified leaves nothing to trust, so the user gets an error page (RFC 6749 §4.1.2.1).
async fn fapi1_object_error(
    cx: &Ctx<'_>,
    client: &Client,
    object: Option<&str>,
    error: OAuthError,
) -> Rejection {
    let profile = Some(crate::types::FapiProfile::Fapi1Advanced);
    let claims = match object {
        Some(o) => super::request_object::authentic_claims(cx, client, profile, o).await,
        None => None,
    };
    let Some(claims) = claims.as_ref().and_then(serde_json::Value::as_object) else {
        return Rejection::Page(error);
    };
    let inner: HashMap<String, String> =
        ["redirect_uri", "state", "response_type", "response_mode"]
            .into_iter()
            .filter_map(|k| Some((k.to_string(), claims.get(k)?.as_str()?.to_string())))
            .collect();
    let redirect_uri = match check_redirect_uri(client, get(&inner, "redirect_uri")) {
        Ok(uri) => uri,
        Err(page) => return page,
    };
    Rejection::Redirect(Box::new(ErrorRedirect {
        error,
        redirect_uri,
        state: get(&inner, "state").map(String::from),
        mode: error_mode(&inner),
    }))
}

/// Validates a pushed authorization request (RFC 9126 §2.1) for an authenticated client.
/// Errors are answered as JSON by the PAR endpoint, never redirected.
pub async fn validate_pushed(
    cx: &Ctx<'_>,
    client: &Client,
    raw: &[(String, String)],
) -> OAuthResult<AuthorizationRequest> {
    let (params, repeated) = unique(raw);
    if let Some(k) = repeated {
        return Err(OAuthError::invalid_request(format!(
            "parameter {k} is repeated (RFC 6749 section 3.1)"
        )));
    }
    if get(&params, "client_id").is_some_and(|id| id != client.id) {
        return Err(OAuthError::invalid_request(
            "client_id does not match the authenticated client",
        ));
    }
    if params.contains_key("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri must not be pushed (RFC 9126 section 2.1)",
        ));
    }
    require_signed_object(client, &params, false)?;
    let profile = fapi::profile_of(cx, client);
    let (params, object) = with_request_object(cx, client, profile, params).await?;
    let redirect_uri = match check_redirect_uri(client, get(&params, "redirect_uri")) {
        Ok(r) => r,
        Err(Rejection::Page(e)) => return Err(e),
        Err(Rejection::Redirect(r)) => return Err(r.error),
    };
    let response_type =
        response_types::check_requested(client, profile, get(&params, "response_type"))?;
    if let Some(profile) = profile {
        fapi::check_authorization(profile, &params, object.as_ref(), true, cx.now)?;
    }
    let request = check_params(cx, client, &params, redirect_uri, response_type)?;
    // RFC 9126 is used by the FAPI 2 profile, which requires PKCE for every pushed code request.
    if request.returns("code") && request.code_challenge.is_none() {
        return Err(OAuthError::invalid_request(
            "pushed authorization requests must use PKCE (S256)",
        ));
    }
    Ok(request)
}

/// RFC 9101 §10.5: a client that registered `require_signed_request_object` sends its
/// parameters only in a request object (by value, or by reference).
fn require_signed_object(
    client: &Client,
    params: &HashMap<String, String>,
    by_reference: bool,
) -> OAuthResult<()> {
    if client.metadata.require_signed_request_object
        && !by_reference
        && !params.contains_key("request")
    {
        return Err(OAuthError::invalid_request(
            "this client must send its authorization request as a signed request object (RFC 9101 section 10.5)",
        ));
    }
    Ok(())
}

/// Outer parameters still read next to a request object, and only when the object lacks them:
/// OIDC Core §6.1 has client_id, response_type and scope sent outside too, and redirect_uri
/// is kept for OIDC clients that send it only there.
const OUTER_FALLBACK: [&str; 4] = ["client_id", "response_type", "scope", "redirect_uri"];

/// Replaces the parameters with those of a signed request object when one is sent: only the
/// object's parameters are used (RFC 9101 §6.3), so an outer `state`, `prompt`, `max_age`,
/// `claims`, hint or anything else is ignored. Under FAPI 1 Advanced not even the OIDC
/// fallbacks are read (§5.2.2-10): only client_id comes from outside.
async fn with_request_object(
    cx: &Ctx<'_>,
    client: &Client,
    profile: Option<crate::types::FapiProfile>,
    mut params: HashMap<String, String>,
) -> OAuthResult<(HashMap<String, String>, Option<serde_json::Value>)> {
    let Some(object) = params.remove("request").filter(|o| !o.is_empty()) else {
        return Ok((params, None));
    };
    let (mut inner, claims) =
        super::request_object::parameters(cx, client, profile, &object).await?;
    let fallback: &[&str] = match profile {
        Some(crate::types::FapiProfile::Fapi1Advanced) => &OUTER_FALLBACK[..1],
        _ => &OUTER_FALLBACK,
    };
    for k in fallback {
        if let Some(v) = params.remove(*k) {
            inner.entry(k.to_string()).or_insert(v);
        }
    }
    Ok((inner, Some(claims)))
}

/// The request object a client passes by reference (OIDC Core §6.2, RFC 9101 §5.2), fetched
/// from one of its registered `request_uris`; it is then checked as one passed by value.
async fn request_by_reference(
    cx: &Ctx<'_>,
    client: &Client,
    profile: Option<crate::types::FapiProfile>,
    params: &HashMap<String, String>,
    uri: &str,
) -> OAuthResult<String> {
    if params.contains_key("request") {
        return Err(OAuthError::invalid_request(
            "request and request_uri must not both be sent (RFC 9101 section 5)",
        ));
    }
    // FAPI clients send request_uri only as issued by our PAR endpoint: nothing of theirs is
    // fetched (FAPI 2 requires PAR; FAPI 1 Advanced requests by reference come from PAR).
    if profile.is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequestUri,
            400,
            "under a FAPI profile request_uri must come from the pushed authorization request endpoint",
        ));
    }
    super::request_uri::fetch(cx, client, uri).await
}

/// The stored request behind a PAR `request_uri`, for the client it was pushed by.
async fn pushed_request(
    cx: &Ctx<'_>,
    client: &Client,
    uri: &str,
) -> Result<AuthorizationRequest, Rejection> {
    let invalid = |d: &str| Rejection::Page(OAuthError::new(ErrorCode::InvalidRequestUri, 400, d));
    let (hash, cid, now) = (secrets::digest(uri), client.id.clone(), cx.now);
    let stored = cx
        .store
        .read(move |tx| tx.pushed().get(&hash, &cid, now))
        .await
        .map_err(|e| Rejection::Page(OAuthError::server(e)))?
        .ok_or_else(|| {
            invalid("request_uri is unknown, expired, used, or was pushed by another client")
        })?;
    let mut req: AuthorizationRequest =
        serde_json::from_str(&stored).map_err(|e| Rejection::Page(OAuthError::server(e)))?;
    req.pushed = Some(secrets::digest(uri));
    Ok(req)
}

/// The checks every authorization request gets, whichever way it arrived, once its response
/// type is known to be one the client may use.
fn check_params(
    cx: &Ctx<'_>,
    client: &Client,
    params: &HashMap<String, String>,
    redirect_uri: String,
    response_type: String,
) -> OAuthResult<AuthorizationRequest> {
    if get(params, "registration").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RegistrationNotSupported,
            400,
            "the registration parameter is not supported (OIDC Core section 7.2.1)",
        ));
    }
    let response_mode = ResponseMode::parse(get(params, "response_mode"), &response_type)?;
    let scope = check_scope(client, get(params, "scope"), &response_type)?;
    if response_types::includes(&response_type, "id_token") && get(params, "nonce").is_none() {
        return Err(OAuthError::invalid_request(
            "nonce is required when an ID token is returned from the authorization endpoint (OIDC Core sections 3.2.2.1, 3.3.2.11)",
        ));
    }
    pkce::check_challenge(
        get(params, "code_challenge"),
        get(params, "code_challenge_method"),
    )?;
    let issues_code = response_types::includes(&response_type, "code");
    if issues_code && client.metadata.is_public() && get(params, "code_challenge").is_none() {
        return Err(OAuthError::invalid_request(
            "public clients must use PKCE (RFC 9700 section 2.1.1)",
        ));
    }
    let prompt = check_prompt(get(params, "prompt"))?;
    let max_age = check_max_age(get(params, "max_age"))?;
    let claims = get(params, "claims")
        .map(ClaimsRequest::parse)
        .transpose()?;
    if let Some(c) = &claims {
        c.requested_sub()?;
    }
    let scopes = ScopeSet::parse(&scope);
    let bank = super::bank::classify(cx, client, &scopes, claims.as_ref())?;
    // Whether a pinned user is really the client's own is checked when the request begins.
    let pins_user = claims
        .as_ref()
        .is_some_and(|c| matches!(c.requested_sub(), Ok(Some(_))));
    cx.scope_policy
        .check(&scopes, super::scope_policy::Flow::Authorization, pins_user)?;
    let hint_sub = get(params, "id_token_hint")
        .map(|h| check_id_token_hint(cx, client, h))
        .transpose()?;
    let pinned_user = claims
        .as_ref()
        .and_then(|c| c.requested_sub().ok().flatten())
        .or(hint_sub)
        .map(|sub| {
            super::subject::user_of(cx, client, &sub).ok_or_else(|| {
                OAuthError::invalid_request(
                    "the requested sub is not one this client knows (OIDC Core section 8.1)",
                )
            })
        })
        .transpose()?;
    Ok(AuthorizationRequest {
        client_id: client.id.to_string(),
        redirect_uri,
        response_type,
        scope,
        state: get(params, "state").map(String::from),
        nonce: get(params, "nonce").map(String::from),
        code_challenge: get(params, "code_challenge").map(String::from),
        prompt,
        max_age,
        claims,
        login_hint: get(params, "login_hint").map(String::from),
        pinned_user,
        acr_values: get(params, "acr_values").map(String::from),
        response_mode,
        dpop_jkt: get(params, "dpop_jkt").map(String::from),
        pushed: None,
        bank,
    })
}

async fn identify_client(cx: &Ctx<'_>, client_id: Option<&str>) -> OAuthResult<Client> {
    let id = client_id.ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
    super::client_cache::client(cx, id)
        .await?
        .map(|c| (*c).clone())
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, 400, "unknown client_id"))
}

/// Exact string match against the registered list (RFC 9700 §4.1.3); OIDC requires it.
fn check_redirect_uri(client: &Client, uri: Option<&str>) -> Result<String, Rejection> {
    let uri = uri.ok_or_else(|| {
        Rejection::Page(OAuthError::invalid_request(
            "redirect_uri is missing (OIDC Core section 3.1.2.1)",
        ))
    })?;
    if client.metadata.registers_redirect_uri(uri) {
        Ok(uri.to_string())
    } else {
        Err(Rejection::Page(OAuthError::invalid_request(
            "redirect_uri does not exactly match a registered redirect URI",
        )))
    }
}

/// Every scope must be known and allowed for the client. Scopes the client cannot use
/// (offline_access without the refresh_token grant) are dropped. Without `openid` the request
/// is plain OAuth 2.0 (RFC 6749): it gets a code and tokens but no ID token, so a response
/// type that returns one needs `openid` (OIDC Core §3.3.2.11).
fn check_scope(client: &Client, scope: Option<&str>, response_type: &str) -> OAuthResult<String> {
    let requested = ScopeSet::parse(scope.unwrap_or_default());
    if requested.is_empty() {
        // RFC 6749 §3.3: no default scope is defined, so the request fails.
        return Err(OAuthError::invalid_scope("scope is missing"));
    }
    if !requested.contains("openid") && response_type != "code" {
        return Err(OAuthError::invalid_scope(format!(
            "the openid scope is required for response type {response_type} (OIDC Core section 3.3.2.11); without it only code is offered"
        )));
    }
    let mut granted = ScopeSet::default();
    for s in requested.iter() {
        // Bank scopes are checked against the institutions and the client's connection types.
        if super::bank::is_bank_scope(s) {
            granted.insert(s);
            continue;
        }
        if !scopes::is_supported(s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s} is not supported"
            )));
        }
        if !client.metadata.allows_scope(s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope {s} is not allowed for this client"
            )));
        }
        if s == "offline_access" && !client.metadata.allows_grant("refresh_token") {
            continue;
        }
        granted.insert(s);
    }
    Ok(granted.to_string())
}

fn check_prompt(prompt: Option<&str>) -> OAuthResult<Vec<String>> {
    let values: Vec<String> = prompt
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    for v in &values {
        if !matches!(v.as_str(), "none" | "login" | "consent" | "select_account") {
            return Err(OAuthError::invalid_request(format!(
                "prompt value {v} is not supported"
            )));
        }
    }
    if values.iter().any(|v| v == "none") && values.len() > 1 {
        return Err(OAuthError::invalid_request(
            "prompt=none must not be combined with other values (OIDC Core section 3.1.2.1)",
        ));
    }
    Ok(values)
}

fn check_max_age(max_age: Option<&str>) -> OAuthResult<Option<i64>> {
    max_age
        .map(|m| {
            m.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                OAuthError::invalid_request("max_age must be a non-negative integer")
            })
        })
        .transpose()
}

/// An ID token we issued to this client (expired ones are fine as hints, OIDC Core §3.1.2.1).
fn check_id_token_hint(cx: &Ctx<'_>, client: &Client, hint: &str) -> OAuthResult<String> {
    let (claims, _) = cx.keys().verify_own(hint).map_err(|_| {
        OAuthError::invalid_request("id_token_hint is not an ID token issued by this provider")
    })?;
    let aud_ok = match &claims["aud"] {
        serde_json::Value::String(a) => a == &client.id,
        serde_json::Value::Array(a) => a.iter().any(|x| x.as_str() == Some(&client.id)),
        _ => false,
    };
    if claims["iss"].as_str() != Some(cx.issuer.as_str()) || !aud_ok {
        return Err(OAuthError::invalid_request(
            "id_token_hint was not issued to this client",
        ));
    }
    claims["sub"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| OAuthError::invalid_request("id_token_hint has no sub"))
}

/// What the request needs next, given the browser's session and remembered consent.
#[derive(Debug)]
pub enum Next {
    Login,
    Consent,
    Issue,
    Fail(OAuthError),
}

/// OIDC Core §3.1.2.3: authenticate when there is no usable session, `prompt=login`, or
/// `max_age` has passed; ask consent unless remembered for every scope; `prompt=none` turns
/// either need into an error.
pub fn decide(
    req: &AuthorizationRequest,
    session: Option<&Session>,
    remembered: Option<&ScopeSet>,
    now: i64,
) -> Next {
    let none = req.has_prompt("none");
    let usable = session.filter(|s| {
        // Strictly less: auth_time is whole seconds, so a login in this very second may be
        // almost a second old, and max_age=0 always asks again, as prompt=login does (OIDC
        // Core §3.1.2.1). A login stamped ahead of this node's clock counts as just now.
        let elapsed = now.saturating_sub(s.auth_time).max(0);
        let fresh = req.max_age.is_none_or(|m| elapsed < m);
        let right_user = req.required_sub().is_none_or(|sub| sub == s.user_id);
        fresh && right_user
    });
    if usable.is_none() || req.has_prompt("login") {
        return if none {
            Next::Fail(OAuthError::login_required("the user must log in"))
        } else {
            Next::Login
        };
    }
    let covered = remembered.is_some_and(|r| req.scopes().is_subset(r));
    if !covered || req.has_prompt("consent") {
        return if none {
            Next::Fail(OAuthError::consent_required("the user must consent"))
        } else {
            Next::Consent
        };
    }
    Next::Issue
}

/// Who authenticated, and how, for the grant and ID token.
#[derive(Debug, Clone)]
pub struct Authentication {
    pub user_id: String,
    pub auth_time: i64,
    pub amr: String,
    pub sid: String,
}

/// What else an authorization writes, in the one transaction that creates its grant and code,
/// so a refusal leaves none of it behind.
#[derive(Default)]
pub struct Completion {
    /// The interaction this authorization ends; it ends exactly once.
    pub interaction_id: Option<String>,
    /// Remember the user's approval of the request's scopes for this client.
    pub remember_consent: bool,
    /// A finished bank journey's connection.
    pub connection: Option<store::connections::JourneyWrite>,
}

/// Why `respond` issued nothing.
#[derive(Debug)]
pub enum NotIssued {
    /// The interaction had already ended (its form was posted twice); nothing was written.
    AlreadyEnded,
    /// Refused, for the client to hear; the interaction (if any) has ended without a grant.
    Refused(OAuthError),
}

/// Completes the authorization: creates the grant and a single-use code and/or signs the ID
/// token the response type asks for, and packs the success response in the request's mode.
pub async fn respond(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    auth: &Authentication,
    along: Completion,
) -> Result<Delivery, NotIssued> {
    let Completion {
        interaction_id,
        remember_consent,
        connection,
    } = along;
    if let Some(sub) = req.required_sub() {
        if sub != auth.user_id {
            let e = OAuthError::access_denied(
                "the authenticated user is not the user the request asked for (OIDC Core section 5.5.1)",
            );
            return Err(end_refused(cx, interaction_id, e).await);
        }
    }
    let now = cx.now;
    let life = &cx.config.lifetimes;
    let offline = req.scopes().contains("offline_access");
    let grant = grants::Grant {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: req.client_id.clone(),
        user_id: Some(auth.user_id.clone()),
        scopes: req.scope.clone(),
        claims: req
            .claims
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok()),
        auth_time: Some(auth.auth_time),
        amr: Some(auth.amr.clone()),
        acr: None,
        sid: Some(auth.sid.clone()),
        created_at: now,
        expires_at: now
            + if offline {
                life.refresh_token_secs
            } else {
                life.access_token_secs.max(life.authorization_code_secs)
            },
        revoked_at: None,
        connection_id: connection.as_ref().map(|c| c.connection_id().to_string()),
    };
    let code = req.returns("code").then(secrets::random_token);
    // An access token from the authorization endpoint (OIDC Core §3.2.2.5, §3.3.2.5): signed
    // now, valid once its row commits with the grant. Never a refresh token (RFC 6749 §4.2.2).
    let front_token = if req.returns("token") {
        match front_channel_token(cx, client, &grant).await {
            Ok(t) => Some(t),
            Err(e) => return Err(end_refused(cx, interaction_id, e).await),
        }
    } else {
        None
    };
    let access_row = front_token.as_ref().map(|t| t.rows.access.clone());
    let row = code.as_ref().map(|code| grants::AuthorizationCode {
        code_hash: secrets::digest(code),
        grant_id: grant.id.clone(),
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: req.code_challenge.clone(),
        nonce: req.nonce.clone(),
        dpop_jkt: req.dpop_jkt.clone(),
        expires_at: now + life.authorization_code_secs,
    });
    let (pushed, stored_grant, ending) =
        (req.pushed.clone(), grant.clone(), interaction_id.clone());
    let remember =
        remember_consent.then(|| (auth.user_id.clone(), client.id.clone(), req.scope.clone()));
    let stored = cx
        .store
        .write(move |tx| {
            if let Some(id) = &ending {
                if !tx.interactions().complete(id, now)? {
                    return Ok(false);
                }
            }
            if let Some((user_id, client_id, scope)) = &remember {
                tx.consents().remember(user_id, client_id, scope, now)?;
            }
            // RFC 9126 §4: a pushed request is good for one authorization.
            if let Some(h) = &pushed {
                if !tx.pushed().mark_used(h, now)? {
                    return Err(store::StoreError::Refused(
                        store::Refusal::PushedRequestUsed,
                    ));
                }
            }
            if let Some(w) = &connection {
                w.apply(tx, now)?;
            }
            // A bank journey's grant is kept even without a code: its ID token names it.
            if row.is_some() || access_row.is_some() || connection.is_some() {
                tx.grants().insert_grant(&stored_grant)?;
            }
            if let Some(row) = &row {
                tx.grants().insert_code(row)?;
            }
            if let Some(access) = &access_row {
                tx.grants().insert_access_token(access)?;
            }
            Ok(true)
        })
        .await;
    let refusal = match stored {
        Ok(true) => None,
        Ok(false) => return Err(NotIssued::AlreadyEnded),
        Err(store::StoreError::Refused(why)) => Some(OAuthError::invalid_request(format!(
            "the authorization cannot complete: {why}"
        ))),
        Err(e) => Some(e.into()),
    };
    if let Some(e) = refusal {
        return Err(end_refused(cx, interaction_id, e).await);
    }
    let mut params = Vec::new();
    if let Some(code) = &code {
        params.push(("code".to_string(), code.clone()));
    }
    let access_token = front_token.map(|t| tokens::issued(cx, t.response));
    if let Some(t) = &access_token {
        params.extend([
            ("access_token".to_string(), t.access_token.clone()),
            ("token_type".to_string(), t.token_type.to_string()),
            ("expires_in".to_string(), t.expires_in.to_string()),
            // RFC 6749 §4.2.2: required when it differs from the request's (dropped scopes).
            ("scope".to_string(), t.scope.clone()),
        ]);
    }
    if req.returns("id_token") {
        // An ID token with a code or access token binds them (c_hash, at_hash; s_hash for
        // state) and carries no profile claims, which the token endpoint or UserInfo give;
        // an ID token alone carries the claims its scopes release (OIDC Core §5.4).
        let extras = tokens::IdTokenExtras {
            access_token: access_token.as_ref().map(|t| t.access_token.as_str()),
            code: code.as_deref(),
            state: req.state.as_deref(),
            scope_claims: code.is_none() && access_token.is_none(),
        };
        let id_token = tokens::id_token(cx, client, &grant, req.nonce.as_deref(), extras, now)
            .await
            .map_err(NotIssued::Refused)?;
        params.push(("id_token".to_string(), id_token));
    }
    if let Some(s) = &req.state {
        params.push(("state".to_string(), s.clone()));
    }
    response::deliver(cx, client, &req.redirect_uri, req.response_mode, params)
        .map_err(NotIssued::Refused)
}

/// A bearer access token for the user's grant, issued at the authorization endpoint: it is
/// for UserInfo and the grant's scopes, with no refresh token and no ID token of its own.
async fn front_channel_token(
    cx: &Ctx<'_>,
    client: &Client,
    grant: &grants::Grant,
) -> OAuthResult<tokens::Prepared> {
    tokens::prepare(
        cx,
        tokens::Issue {
            client,
            grant: Some(grant),
            user: None,
            audience: None,
            scopes: ScopeSet::parse(&grant.scopes),
            nonce: None,
            refresh: false,
            id_token: false,
            binding: tokens::Binding::default(),
        },
    )
    .await
}

/// A refusal ends the interaction too, so the client hears one answer per interaction; if it
/// had already ended, that other answer stands.
async fn end_refused(cx: &Ctx<'_>, interaction_id: Option<String>, e: OAuthError) -> NotIssued {
    let Some(id) = interaction_id else {
        return NotIssued::Refused(e);
    };
    let now = cx.now;
    match cx
        .store
        .write(move |tx| tx.interactions().complete(&id, now))
        .await
    {
        Ok(false) => NotIssued::AlreadyEnded,
        _ => NotIssued::Refused(e),
    }
}

/// Scopes only for users the client manages need the request to pin such a user (contract:
/// Scopes → Data access, `*:write:all`).
pub async fn check_managed_user(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
) -> OAuthResult<()> {
    if !cx.scope_policy.needs_managed_user(&req.scopes()) {
        return Ok(());
    }
    let refused = || {
        OAuthError::invalid_scope(
            "a *:write:all scope needs claims pinning a user this client manages",
        )
    };
    let sub = req.required_sub().ok_or_else(refused)?;
    let user = cx.store.read(move |tx| tx.users().get(&sub)).await?;
    match user {
        Some(u) if u.managed_by_client.as_deref() == Some(client.id.as_str()) => Ok(()),
        _ => Err(refused()),
    }
}
