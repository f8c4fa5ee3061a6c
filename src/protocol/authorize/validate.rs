//! How an authorization request arrives and is read: at the authorization endpoint (plain,
//! a request object by value or by reference, or a PAR `request_uri`) or pushed to the PAR
//! endpoint. Every way goes through [`check`]: the [`checks::AS_SENT`] rules, the request
//! object opened, then the [`checks::REQUEST`] rules.

use super::checks::{self, Channel, Draft, Input, Lookups};
use super::refusal::{Refusal, ReplyTo};
use super::request::{AuthorizationRequest, IDENTIFYING, PAR_URN_PREFIX};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::plugins::ConnectionType;
use crate::protocol::params::{self, get};
use crate::protocol::{
    client_cache, fapi, fapi::request_object, fapi::request_uri, oidc::subject, Ctx,
};
use crate::secrets;
use crate::types::{Client, FapiProfile};
use serde_json::Value;
use std::collections::HashMap;

/// A refused request: the error, and where it may be sent at the authorization endpoint
/// (`None`: an error page, RFC 6749 §4.1.2.1).
type Refused = (OAuthError, Option<ReplyTo>);

impl Lookups for Ctx<'_> {
    fn institution_kind(&self, id: &str) -> Option<ConnectionType> {
        self.plugins.get(id).map(|p| p.meta.kind)
    }
    fn own_id_token(&self, jwt: &str) -> Option<Value> {
        self.keys().verify_own(jwt).ok().map(|(claims, _)| claims)
    }
    fn user_of(&self, client: &Client, sub: &str) -> Option<String> {
        subject::user_of(self, client, sub)
    }
}

/// Validates the raw parameters at the authorization endpoint (query or form, in order) into
/// a request for a known client: a pushed request by its `request_uri`, a signed request
/// object, or plain parameters.
pub async fn validate(
    cx: &Ctx<'_>,
    raw: &[(String, String)],
) -> Result<(AuthorizationRequest, Client), Refusal> {
    // RFC 6749 §3.1: parameters must not repeat. Checked before anything is trusted, so a
    // repeated client_id or redirect_uri cannot confuse which one is used: which client, and
    // which of its redirect URIs, cannot be told, so never redirect (RFC 6749 §4.1.2.1).
    let (params, repeated) = params::collect(raw.to_vec());
    if let Some(k) = repeated.iter().find(|k| IDENTIFYING.contains(&k.as_str())) {
        return Err(Refusal::Page(params::repeated(k)));
    }
    let client = identify_client(cx, get(&params, "client_id"))
        .await
        .map_err(Refusal::Page)?;
    if let Some(uri) = get(&params, "request_uri").filter(|u| u.starts_with(PAR_URN_PREFIX)) {
        return match pushed_request(cx, &client, uri).await {
            Ok(request) => Ok((request, client)),
            Err(e) => Err(Refusal::Page(e)),
        };
    }
    match check(cx, &client, params, &repeated, Channel::Front).await {
        Ok(request) => Ok((request, client)),
        Err((e, None)) => Err(Refusal::Page(e)),
        Err((e, Some(to))) => Err(to.refusal(cx, &client, e)),
    }
}

/// Validates a pushed authorization request (RFC 9126 §2.1) for an authenticated client.
/// Errors are answered as JSON by the PAR endpoint, never redirected.
pub async fn validate_pushed(
    cx: &Ctx<'_>,
    client: &Client,
    raw: &[(String, String)],
) -> OAuthResult<AuthorizationRequest> {
    let (params, repeated) = params::collect(raw.to_vec());
    check(cx, client, params, &repeated, Channel::Pushed)
        .await
        .map_err(|(e, _)| e)
}

/// Validates a device authorization request (RFC 8628 §3.1) for an authenticated client: its
/// scope (and claims) as the authorization endpoint would check them. The request has no
/// redirect_uri, state, nonce or PKCE, and the user always confirms on the consent page, even
/// when consent is remembered (RFC 8628 §5.4: the user must see which device they approve).
pub fn validate_device(
    cx: &Ctx<'_>,
    client: &Client,
    raw: &[(String, String)],
) -> OAuthResult<AuthorizationRequest> {
    let (params, repeated) = params::collect(raw.to_vec());
    let input = Input {
        client,
        params: &params,
        repeated: &repeated,
        channel: Channel::Device,
        profile: fapi::profile_of(cx, client),
        object: None,
        issuer: &cx.issuer,
        require_par: false,
        scope_policy: &cx.scope_policy,
        lookups: cx,
        now: cx.now,
    };
    let mut draft = Draft::default();
    checks::run(checks::DEVICE, &input, &mut draft)?;
    let mut req = draft.into_request(client, &params);
    req.response_type = String::new();
    (req.state, req.nonce, req.code_challenge, req.dpop_jkt) = (None, None, None, None);
    req.prompt = vec!["consent".into()];
    Ok(req)
}

/// The one way through the checks, for every channel: the rules on the parameters as sent,
/// the request object (fetched when passed by reference) in their place, then the rules on
/// the request's own parameters.
async fn check(
    cx: &Ctx<'_>,
    client: &Client,
    mut params: HashMap<String, String>,
    repeated: &[String],
    channel: Channel,
) -> Result<AuthorizationRequest, Refused> {
    let profile = fapi::profile_of(cx, client);
    let base = Input {
        client,
        params: &HashMap::new(),
        repeated,
        channel,
        profile,
        object: None,
        issuer: &cx.issuer,
        require_par: cx.config.require_par,
        scope_policy: &cx.scope_policy,
        lookups: cx,
        now: cx.now,
    };
    let reply_to = |draft: &Draft, params: &HashMap<String, String>| {
        draft
            .redirect_uri
            .as_deref()
            .map(|uri| ReplyTo::for_params(uri, params))
    };
    let mut sent = Draft::default();
    checks::run(checks::AS_SENT, &base.with(&params, None), &mut sent)
        .map_err(|e| (e, reply_to(&sent, &params)))?;
    // Until the request object is verified, errors go to a redirect_uri given outside it.
    let outer = reply_to(&sent, &params);
    if channel == Channel::Front {
        if let Some(uri) = get(&params, "request_uri").map(String::from) {
            // OIDC Core §6.2, RFC 9101 §5.2: fetched from one of the client's registered
            // `request_uris`, then checked as one passed by value.
            let object = request_uri::fetch(cx, client, &uri)
                .await
                .map_err(|e| (e, outer.clone()))?;
            params.remove("request_uri");
            params.insert("request".into(), object);
        }
    }
    let sent_object = params.get("request").cloned();
    let (params, object) = match with_request_object(cx, client, profile, params).await {
        Ok(v) => v,
        // FAPI 1 Adv. §5.2.2-10: only the object's parameters are used, for errors too.
        Err(e) if channel == Channel::Front && profile == Some(FapiProfile::Fapi1Advanced) => {
            return Err(fapi1_object_refused(cx, client, sent_object.as_deref(), e).await);
        }
        Err(e) => return Err((e, outer)),
    };
    let mut draft = Draft::default();
    checks::run(
        checks::REQUEST,
        &base.with(&params, object.as_ref()),
        &mut draft,
    )
    .map_err(|e| (e, reply_to(&draft, &params)))?;
    Ok(draft.into_request(client, &params))
}

/// Where an error about a FAPI 1 Advanced request object goes. The profile uses only the
/// object's parameters (§5.2.2-10): when its signature is the client's, the error goes to its
/// redirect_uri with its state, in its response mode (JARM included); an object that cannot
/// be verified leaves nothing to trust, so the user gets an error page (RFC 6749 §4.1.2.1),
/// as does an object naming no registered redirect_uri (with that error).
async fn fapi1_object_refused(
    cx: &Ctx<'_>,
    client: &Client,
    object: Option<&str>,
    error: OAuthError,
) -> Refused {
    let profile = Some(FapiProfile::Fapi1Advanced);
    let claims = match object {
        Some(o) => request_object::authentic_claims(cx, client, profile, o).await,
        None => None,
    };
    let Some(claims) = claims.as_ref().and_then(Value::as_object) else {
        return (error, None);
    };
    let inner: HashMap<String, String> =
        ["redirect_uri", "state", "response_type", "response_mode"]
            .into_iter()
            .filter_map(|k| Some((k.to_string(), claims.get(k)?.as_str()?.to_string())))
            .collect();
    match checks::check_redirect_uri(client, get(&inner, "redirect_uri")) {
        Ok(uri) => (error, Some(ReplyTo::for_params(&uri, &inner))),
        Err(page) => (page, None),
    }
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
    profile: Option<FapiProfile>,
    mut params: HashMap<String, String>,
) -> OAuthResult<(HashMap<String, String>, Option<Value>)> {
    let Some(object) = params.remove("request").filter(|o| !o.is_empty()) else {
        return Ok((params, None));
    };
    let (mut inner, claims) = request_object::parameters(cx, client, profile, &object).await?;
    let fallback: &[&str] = match profile {
        Some(FapiProfile::Fapi1Advanced) => &OUTER_FALLBACK[..1],
        _ => &OUTER_FALLBACK,
    };
    for k in fallback {
        if let Some(v) = params.remove(*k) {
            inner.entry(k.to_string()).or_insert(v);
        }
    }
    Ok((inner, Some(claims)))
}

/// The stored request behind a PAR `request_uri`, for the client it was pushed by.
async fn pushed_request(
    cx: &Ctx<'_>,
    client: &Client,
    uri: &str,
) -> OAuthResult<AuthorizationRequest> {
    let (hash, cid, now) = (secrets::digest(uri), client.id.clone(), cx.now);
    let stored = cx
        .store
        .read(move |tx| tx.pushed().get(&hash, &cid, now))
        .await
        .map_err(OAuthError::server)?
        .ok_or_else(|| {
            OAuthError::new(
                ErrorCode::InvalidRequestUri,
                400,
                "request_uri is unknown, expired, used, or was pushed by another client",
            )
        })?;
    let mut req: AuthorizationRequest =
        serde_json::from_str(&stored).map_err(OAuthError::server)?;
    req.pushed = Some(secrets::digest(uri));
    Ok(req)
}

async fn identify_client(cx: &Ctx<'_>, client_id: Option<&str>) -> OAuthResult<Client> {
    let id = client_id.ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
    client_cache::client(cx, id)
        .await?
        .map(|c| (*c).clone())
        .ok_or_else(|| OAuthError::new(ErrorCode::InvalidClient, 400, "unknown client_id"))
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
