//! The checks every authorization request gets, as two ordered lists of small named rules:
//! [`AS_SENT`] on the parameters as they arrived, then (once a request object is opened)
//! [`REQUEST`] on the request's own parameters. Plain, request-object and pushed requests all
//! go through [`run`] with both lists; a rule that applies to one channel only says so and
//! lets the others pass. The first rule that fails refuses the request, so the order of the
//! lists is the order in which clients hear about their mistakes.
//!
//! The rules take plain data (the parameters, the client, a few settings and `now`) and the
//! three look-ups in [`Lookups`], so each can be tried without a server.

use super::request::{AuthorizationRequest, IDENTIFYING};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::plugins::ConnectionType;
use crate::protocol::bank::request::{self as bank, BankRequest};
use crate::protocol::budget::Budget;
use crate::protocol::oidc::claims::ClaimsRequest;
use crate::protocol::oidc::response::ResponseMode;
use crate::protocol::oidc::scope_policy::{Flow, Policy};
use crate::protocol::params::{self, get};
use crate::protocol::{client_keys, fapi, oidc::response_types, oidc::scopes, pkce};
use crate::types::{Client, FapiProfile, ScopeSet};
use serde_json::Value;
use std::collections::HashMap;

/// How the request reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// Through the browser, at the authorization endpoint (plain, or with a request object
    /// by value or by reference).
    Front,
    /// Pushed by the authenticated client to the PAR endpoint (RFC 9126).
    Pushed,
    /// Sent by the authenticated client to the device authorization endpoint (RFC 8628 §3.1):
    /// no redirect_uri, response type or PKCE.
    Device,
}

/// What the checks may ask of the provider beyond plain data.
pub trait Lookups: Sync {
    /// The connection type of an institution that is available now.
    fn institution_kind(&self, id: &str) -> Option<ConnectionType>;
    /// The claims of an ID token this provider signed, when its signature is ours.
    fn own_id_token(&self, jwt: &str) -> Option<Value>;
    /// The local user behind a `sub` given by `client` (OIDC Core §8.1).
    fn user_of(&self, client: &Client, sub: &str) -> Option<String>;
}

/// What the checks see.
pub struct Input<'a> {
    pub client: &'a Client,
    /// The parameters: as sent (for [`AS_SENT`]), or the request's own once a request object
    /// has been opened (for [`REQUEST`]).
    pub params: &'a HashMap<String, String>,
    /// The names repeated in the request as sent.
    pub repeated: &'a [String],
    pub channel: Channel,
    /// The client's FAPI profile (its own, or the provider's default).
    pub profile: Option<FapiProfile>,
    /// The verified request object's claims, when one was used.
    pub object: Option<&'a Value>,
    /// The issuer identifier, as ID tokens name it.
    pub issuer: &'a str,
    /// The provider requires every request to be pushed (RFC 9126 §6).
    pub require_par: bool,
    pub scope_policy: &'a Policy,
    pub lookups: &'a dyn Lookups,
    pub now: i64,
}

impl<'a> Input<'a> {
    /// The same input, for other parameters (and request object).
    pub fn with<'b>(
        &self,
        params: &'b HashMap<String, String>,
        object: Option<&'b Value>,
    ) -> Input<'b>
    where
        'a: 'b,
    {
        Input {
            params,
            object,
            ..*self
        }
    }
    fn get(&self, name: &str) -> Option<&str> {
        get(self.params, name)
    }
    /// A request object passed by reference (a PAR request_uri never reaches the checks).
    fn by_reference(&self) -> bool {
        self.channel == Channel::Front && self.get("request_uri").is_some()
    }
}

/// The request as the checks build it. Each rule may rely on what the rules before it set.
#[derive(Debug, Default)]
pub struct Draft {
    /// The checked redirect_uri: once set, errors are sent there instead of an error page.
    pub redirect_uri: Option<String>,
    /// The response type in canonical form.
    pub response_type: String,
    pub response_mode: ResponseMode,
    /// The scopes granted (those the client cannot use dropped).
    pub scope: String,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub claims: Option<ClaimsRequest>,
    pub bank: Option<BankRequest>,
    /// The `sub` of a valid `id_token_hint`.
    pub hint_sub: Option<String>,
    pub pinned_user: Option<String>,
    pub budget: Option<Budget>,
    pub expires_in: Option<i64>,
}

impl Draft {
    /// The validated request, with the values no rule had to change taken from `params`.
    pub fn into_request(
        self,
        client: &Client,
        params: &HashMap<String, String>,
    ) -> AuthorizationRequest {
        let text = |k: &str| get(params, k).map(String::from);
        AuthorizationRequest {
            client_id: client.id.to_string(),
            redirect_uri: self.redirect_uri.unwrap_or_default(),
            response_type: self.response_type,
            scope: self.scope,
            state: text("state"),
            nonce: text("nonce"),
            code_challenge: text("code_challenge"),
            prompt: self.prompt,
            max_age: self.max_age,
            claims: self.claims,
            login_hint: text("login_hint"),
            pinned_user: self.pinned_user,
            acr_values: text("acr_values"),
            response_mode: self.response_mode,
            dpop_jkt: text("dpop_jkt"),
            pushed: None,
            bank: self.bank,
            device: None,
            budget: self.budget,
            expires_in: self.expires_in,
        }
    }
}

/// A named rule.
pub type Check = (&'static str, fn(&Input<'_>, &mut Draft) -> OAuthResult<()>);

/// On the parameters as sent, before any request object is opened.
pub const AS_SENT: &[Check] = &[
    ("redirect_uri for errors", errors_go_to_redirect_uri),
    ("no repeated parameter", no_repeated_parameter),
    ("client_id of the pushing client", pushed_client_id_matches),
    ("no pushed request_uri", no_pushed_request_uri),
    ("pushed when required", pushed_when_required),
    ("signed when required", signed_object_when_required),
    ("request or request_uri", not_both_request_and_request_uri),
    ("request_uri from PAR under FAPI", fapi_request_uri_from_par),
];

/// On the request's own parameters (a request object's, when one was sent).
pub const REQUEST: &[Check] = &[
    ("redirect_uri", redirect_uri_registered),
    ("response_type", response_type_allowed),
    ("FAPI profile", fapi_profile),
    ("registration", no_registration_parameter),
    ("response_mode", response_mode_supported),
    ("scope", scope_allowed),
    ("nonce", nonce_with_id_token),
    ("code_challenge", pkce_challenge),
    ("PKCE for public clients", public_clients_use_pkce),
    ("prompt", prompt_values),
    ("max_age", max_age_value),
    ("claims", claims_parameter),
    ("budget", budget_parameter),
    ("expires_in", expires_in_value),
    ("bank scopes", bank_scopes),
    ("scope policy", scope_policy),
    ("id_token_hint", id_token_hint),
    ("pinned user", pinned_user_known),
    ("PKCE for pushed requests", pushed_requests_use_pkce),
];

/// RFC 8628 §3.1: a device authorization request's scope, checked as the authorization
/// endpoint checks it (bank scopes, the claims parameter, a budget and the scope policy
/// included).
pub const DEVICE: &[Check] = &[
    ("no repeated parameter", no_repeated_parameter),
    ("scope", scope_allowed),
    ("claims", claims_parameter),
    ("budget", budget_parameter),
    ("bank scopes", bank_scopes),
    ("scope policy", scope_policy),
    ("pinned user", pinned_user_known),
];

/// Runs `checks` in order; the first failure refuses the request. `draft.redirect_uri` then
/// says whether the error may be sent to the client.
pub fn run(checks: &[Check], input: &Input<'_>, draft: &mut Draft) -> OAuthResult<()> {
    for (name, check) in checks {
        check(input, draft).inspect_err(|e| {
            tracing::debug!(
                check = name,
                error = e.code.as_str(),
                "authorization request refused"
            );
        })?;
    }
    Ok(())
}

/// RFC 6749 §3.1.2.3, RFC 9700 §4.1.3: the redirect_uri must exactly match one the client
/// registered (OIDC Core §3.1.2.1: and is required). Never redirected on failure.
pub(super) fn check_redirect_uri(client: &Client, uri: Option<&str>) -> OAuthResult<String> {
    let uri = uri.ok_or_else(|| {
        OAuthError::invalid_request("redirect_uri is missing (OIDC Core section 3.1.2.1)")
    })?;
    if client.metadata.registers_redirect_uri(uri) {
        Ok(uri.to_string())
    } else {
        Err(OAuthError::invalid_request(
            "redirect_uri does not exactly match a registered redirect URI",
        ))
    }
}

/// RFC 6749 §4.1.2.1: errors go to the redirect_uri only once it is checked. At the
/// authorization endpoint the one sent outside a request object is checked first; JAR
/// (RFC 9101 §5): when a request object may carry it instead, the check waits for the object
/// and errors until then go to an error page. Pushed requests' errors are never redirected.
fn errors_go_to_redirect_uri(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let outer = i.get("redirect_uri");
    let object_may_carry_it = i.params.contains_key("request") || i.by_reference();
    if i.channel == Channel::Pushed || (outer.is_none() && object_may_carry_it) {
        return Ok(());
    }
    d.redirect_uri = Some(check_redirect_uri(i.client, outer)?);
    Ok(())
}

/// RFC 6749 §3.1: parameters must not be included more than once (an identifying one, which
/// decides where errors go, is named first).
fn no_repeated_parameter(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    let named = i
        .repeated
        .iter()
        .find(|k| IDENTIFYING.contains(&k.as_str()))
        .or(i.repeated.first());
    match named {
        Some(k) => Err(params::repeated(k)),
        None => Ok(()),
    }
}

/// RFC 9126 §2.1: a pushed request's client_id, if sent, is the authenticated client's.
fn pushed_client_id_matches(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    if i.channel == Channel::Pushed && i.get("client_id").is_some_and(|id| id != i.client.id) {
        return Err(OAuthError::invalid_request(
            "client_id does not match the authenticated client",
        ));
    }
    Ok(())
}

/// RFC 9126 §2.1: request_uri must not be pushed.
fn no_pushed_request_uri(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    if i.channel == Channel::Pushed && i.params.contains_key("request_uri") {
        return Err(OAuthError::invalid_request(
            "request_uri must not be pushed (RFC 9126 section 2.1)",
        ));
    }
    Ok(())
}

/// RFC 9126 §6 (and FAPI 2 §5.3.2.2-1): a client that registered
/// `require_pushed_authorization_requests`, every client when the provider requires PAR, and
/// every FAPI 2 client sends its requests through the PAR endpoint.
fn pushed_when_required(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    let required = i.client.metadata.require_pushed_authorization_requests
        || i.require_par
        || i.profile == Some(FapiProfile::Fapi2);
    if i.channel == Channel::Front && required {
        return Err(OAuthError::invalid_request(
            "this client must push its authorization requests (RFC 9126 section 6)",
        ));
    }
    Ok(())
}

/// RFC 9101 §10.5: a client that registered `require_signed_request_object` sends its
/// parameters only in a request object (by value, or by reference).
fn signed_object_when_required(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    if i.client.metadata.require_signed_request_object
        && !i.by_reference()
        && !i.params.contains_key("request")
    {
        return Err(OAuthError::invalid_request(
            "this client must send its authorization request as a signed request object (RFC 9101 section 10.5)",
        ));
    }
    Ok(())
}

/// RFC 9101 §5: a request object comes by value or by reference, not both.
fn not_both_request_and_request_uri(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    if i.by_reference() && i.params.contains_key("request") {
        return Err(OAuthError::invalid_request(
            "request and request_uri must not both be sent (RFC 9101 section 5)",
        ));
    }
    Ok(())
}

/// FAPI clients send request_uri only as issued by our PAR endpoint: nothing of theirs is
/// fetched (FAPI 2 requires PAR; FAPI 1 Advanced requests by reference come from PAR).
fn fapi_request_uri_from_par(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    if i.by_reference() && i.profile.is_some() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequestUri,
            400,
            "under a FAPI profile request_uri must come from the pushed authorization request endpoint",
        ));
    }
    Ok(())
}

/// RFC 6749 §3.1.2.3, RFC 9700 §4.1.3, OIDC Core §3.1.2.1: the request's redirect_uri is
/// required and exactly one the client registered. Errors from here on go there.
fn redirect_uri_registered(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    d.redirect_uri = Some(check_redirect_uri(i.client, i.get("redirect_uri"))?);
    Ok(())
}

/// RFC 6749 §3.1.1, §4.1.2.1: a response type we serve and the client registered.
fn response_type_allowed(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    d.response_type = response_types::check_requested(i.client, i.profile, i.get("response_type"))?;
    Ok(())
}

/// FAPI 1 Advanced §5.2.2 and FAPI 2 §5.3.2.2: the profile's response types, PKCE with S256,
/// and (FAPI 1) a signed request object holding the request.
fn fapi_profile(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    match i.profile {
        Some(profile) => fapi::check_authorization(
            profile,
            i.params,
            i.object,
            i.channel == Channel::Pushed,
            i.now,
        ),
        None => Ok(()),
    }
}

/// OIDC Core §7.2.1: the `registration` parameter is not supported.
fn no_registration_parameter(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    if i.get("registration").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RegistrationNotSupported,
            400,
            "the registration parameter is not supported (OIDC Core section 7.2.1)",
        ));
    }
    Ok(())
}

/// OAuth 2.0 Multiple Response Types §2.1, Form Post, JARM §2.3: a mode we serve that can
/// carry the response type.
fn response_mode_supported(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    d.response_mode = ResponseMode::parse(i.get("response_mode"), &d.response_type)?;
    Ok(())
}

/// RFC 6749 §3.3: every scope must be known and allowed for the client. Scopes the client
/// cannot use (offline_access without the refresh_token grant) are dropped. Without `openid`
/// the request is plain OAuth 2.0: a response type that returns an ID token needs `openid`
/// (OIDC Core §3.3.2.11).
fn scope_allowed(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let client = i.client;
    let requested = ScopeSet::parse(i.get("scope").unwrap_or_default());
    if requested.is_empty() {
        // RFC 6749 §3.3: no default scope is defined, so the request fails.
        return Err(OAuthError::invalid_scope("scope is missing"));
    }
    let response_type = d.response_type.as_str();
    if !requested.contains("openid") && response_type != "code" && i.channel != Channel::Device {
        return Err(OAuthError::invalid_scope(format!(
            "the openid scope is required for response type {response_type} (OIDC Core section 3.3.2.11); without it only code is offered"
        )));
    }
    let mut granted = ScopeSet::default();
    for s in requested.iter() {
        // Bank scopes are checked against the institutions and the client's connection types.
        if scopes::is_bank_scope(s) {
            granted.insert(s);
            continue;
        }
        scopes::check_for_client(s, client)?;
        if s == "offline_access" && !client.metadata.allows_grant("refresh_token") {
            continue;
        }
        granted.insert(s);
    }
    d.scope = granted.to_string();
    Ok(())
}

/// OIDC Core §3.2.2.1, §3.3.2.11: nonce is required when an ID token comes from the
/// authorization endpoint.
fn nonce_with_id_token(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    if response_types::includes(&d.response_type, "id_token") && i.get("nonce").is_none() {
        return Err(OAuthError::invalid_request(
            "nonce is required when an ID token is returned from the authorization endpoint (OIDC Core sections 3.2.2.1, 3.3.2.11)",
        ));
    }
    Ok(())
}

/// RFC 7636 §4.2, §4.3: a well-formed S256 code_challenge (plain is refused, RFC 9700 §2.1.1).
fn pkce_challenge(i: &Input<'_>, _: &mut Draft) -> OAuthResult<()> {
    pkce::check_challenge(i.get("code_challenge"), i.get("code_challenge_method"))
}

/// RFC 9700 §2.1.1: public clients use PKCE for every code.
fn public_clients_use_pkce(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let issues_code = response_types::includes(&d.response_type, "code");
    if issues_code && i.client.metadata.is_public() && i.get("code_challenge").is_none() {
        return Err(OAuthError::invalid_request(
            "public clients must use PKCE (RFC 9700 section 2.1.1)",
        ));
    }
    Ok(())
}

/// OIDC Core §3.1.2.1: prompt values we know; `none` stands alone.
fn prompt_values(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let values: Vec<String> = i
        .get("prompt")
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
    d.prompt = values;
    Ok(())
}

/// OIDC Core §3.1.2.1: max_age is a non-negative number of seconds.
fn max_age_value(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    d.max_age = i
        .get("max_age")
        .map(|m| {
            m.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
                OAuthError::invalid_request("max_age must be a non-negative integer")
            })
        })
        .transpose()?;
    Ok(())
}

/// A budget for the grant (see `protocol::budget`): a JSON object, shown on the consent page.
fn budget_parameter(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    d.budget = i.get("budget").map(Budget::parse).transpose()?;
    Ok(())
}

/// Alby's `expires_in`: a shorter access-token lifetime for the grant, in whole seconds
/// (capped at the configured lifetime when tokens are issued; never longer).
fn expires_in_value(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    d.expires_in = i
        .get("expires_in")
        .map(|v| {
            v.parse::<i64>().ok().filter(|v| *v > 0).ok_or_else(|| {
                OAuthError::invalid_request("expires_in must be a positive integer of seconds")
            })
        })
        .transpose()?;
    Ok(())
}

/// OIDC Core §5.5: the claims parameter is a JSON object of members, and a pinned `sub` is
/// one string.
fn claims_parameter(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let claims = i.get("claims").map(ClaimsRequest::parse).transpose()?;
    if let Some(c) = &claims {
        c.requested_sub()?;
    }
    d.claims = claims;
    Ok(())
}

/// The contract's bank scopes (Scopes → Financial institutions, Connection lifecycle): one
/// `id:*`, an institution available to this client, reauth/refresh with their claims.
fn bank_scopes(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let scopes = ScopeSet::parse(&d.scope);
    let kind = |id: &str| i.lookups.institution_kind(id);
    d.bank = bank::classify(&kind, i.client, &scopes, d.claims.as_ref())?;
    Ok(())
}

/// The contract's scope rules (`scope_policy.toml`). Whether a pinned user is really the
/// client's own is checked when the request begins.
fn scope_policy(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let pins_user = d
        .claims
        .as_ref()
        .is_some_and(|c| matches!(c.requested_sub(), Ok(Some(_))));
    i.scope_policy
        .check(&ScopeSet::parse(&d.scope), Flow::Authorization, pins_user)
}

/// OIDC Core §3.1.2.1: id_token_hint is an ID token we issued to this client (an expired one
/// is fine as a hint).
fn id_token_hint(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let Some(hint) = i.get("id_token_hint") else {
        return Ok(());
    };
    let claims = i.lookups.own_id_token(hint).ok_or_else(|| {
        OAuthError::invalid_request("id_token_hint is not an ID token issued by this provider")
    })?;
    let aud_ok = client_keys::audience_matches(&claims["aud"], &[i.client.id.as_str()]);
    if claims["iss"].as_str() != Some(i.issuer) || !aud_ok {
        return Err(OAuthError::invalid_request(
            "id_token_hint was not issued to this client",
        ));
    }
    let sub = claims["sub"]
        .as_str()
        .ok_or_else(|| OAuthError::invalid_request("id_token_hint has no sub"))?;
    d.hint_sub = Some(sub.to_string());
    Ok(())
}

/// OIDC Core §8.1: a `sub` pinned by the claims parameter (or the id_token_hint) must be one
/// this client knows, and names the local user the request must end with.
fn pinned_user_known(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let sub = d
        .claims
        .as_ref()
        .and_then(|c| c.requested_sub().ok().flatten())
        .or_else(|| d.hint_sub.clone());
    d.pinned_user = sub
        .map(|sub| {
            i.lookups.user_of(i.client, &sub).ok_or_else(|| {
                OAuthError::invalid_request(
                    "the requested sub is not one this client knows (OIDC Core section 8.1)",
                )
            })
        })
        .transpose()?;
    Ok(())
}

/// RFC 9126 is used by the FAPI 2 profile, which requires PKCE for every pushed code request.
fn pushed_requests_use_pkce(i: &Input<'_>, d: &mut Draft) -> OAuthResult<()> {
    let code = response_types::includes(&d.response_type, "code");
    if i.channel == Channel::Pushed && code && i.get("code_challenge").is_none() {
        return Err(OAuthError::invalid_request(
            "pushed authorization requests must use PKCE (S256)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;
    const CB: &str = "https://rp.example/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    /// Institutions, our own ID tokens and users, as plain maps.
    #[derive(Default)]
    struct Fake {
        institutions: HashMap<String, ConnectionType>,
        id_tokens: HashMap<String, Value>,
        users: HashMap<String, String>,
    }

    impl Lookups for Fake {
        fn institution_kind(&self, id: &str) -> Option<ConnectionType> {
            self.institutions.get(id).copied()
        }
        fn own_id_token(&self, jwt: &str) -> Option<Value> {
            self.id_tokens.get(jwt).cloned()
        }
        fn user_of(&self, _: &Client, sub: &str) -> Option<String> {
            self.users.get(sub).cloned()
        }
    }

    fn client(metadata: Value) -> Client {
        let mut m = json!({"redirect_uris": [CB], "response_types": ["code", "code id_token"]});
        m.as_object_mut()
            .unwrap()
            .extend(metadata.as_object().unwrap().clone());
        Client {
            id: crate::types::ClientId::parse("rp").unwrap(),
            secret_hash: None,
            metadata: serde_json::from_value(m).expect("metadata"),
            secret_sealed: None,
            registration_hash: None,
            created_at: 0,
            disabled_at: None,
        }
    }

    fn params(list: &[(&str, &str)]) -> HashMap<String, String> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A valid plain request's parameters.
    fn valid() -> Vec<(&'static str, &'static str)> {
        vec![
            ("client_id", "rp"),
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "st"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
    }

    struct Case {
        client: Client,
        params: HashMap<String, String>,
        repeated: Vec<String>,
        channel: Channel,
        profile: Option<FapiProfile>,
        require_par: bool,
        policy: Policy,
        fake: Fake,
    }

    impl Case {
        fn new(list: &[(&str, &str)]) -> Case {
            Case {
                client: client(json!({})),
                params: params(list),
                repeated: Vec::new(),
                channel: Channel::Front,
                profile: None,
                require_par: false,
                policy: Policy::default(),
                fake: Fake::default(),
            }
        }
        fn with(mut self, k: &str, v: &str) -> Case {
            self.params.insert(k.into(), v.into());
            self
        }
        fn without(mut self, k: &str) -> Case {
            self.params.remove(k);
            self
        }
        fn input(&self) -> Input<'_> {
            Input {
                client: &self.client,
                params: &self.params,
                repeated: &self.repeated,
                channel: self.channel,
                profile: self.profile,
                object: None,
                issuer: "https://op.example",
                require_par: self.require_par,
                scope_policy: &self.policy,
                lookups: &self.fake,
                now: NOW,
            }
        }
        fn run(&self, checks: &[Check]) -> (OAuthResult<()>, Draft) {
            let mut draft = Draft::default();
            let r = run(checks, &self.input(), &mut draft);
            (r, draft)
        }
        /// The request the [`REQUEST`] rules build, or the error of the first that fails.
        fn request(&self) -> OAuthResult<AuthorizationRequest> {
            let (r, draft) = self.run(REQUEST);
            r.map(|()| draft.into_request(&self.client, &self.params))
        }
        fn refused(&self, checks: &[Check]) -> OAuthError {
            self.run(checks).0.expect_err("refused")
        }
    }

    fn says(e: &OAuthError, code: ErrorCode, text: &str) {
        assert_eq!(e.code, code, "{}", e.description());
        assert!(e.description().contains(text), "{}", e.description());
    }

    #[test]
    fn a_valid_plain_request_passes_every_check() {
        let case = Case::new(&valid());
        assert!(case.run(AS_SENT).0.is_ok());
        let req = case.request().expect("valid");
        assert_eq!(req.redirect_uri, CB);
        assert_eq!(req.scope, "openid profile");
        assert_eq!(req.state.as_deref(), Some("st"));
        assert_eq!(req.response_mode, ResponseMode::Query);
    }

    #[test]
    fn rfc6749_3_1_2_3_redirect_uri_must_match_a_registered_one_exactly() {
        for near in [
            "https://rp.example/cb/",
            "https://RP.example/cb",
            "https://rp.example/cb?x=1",
            "https://rp.example/c",
            "http://rp.example/cb",
        ] {
            let case = Case::new(&valid()).with("redirect_uri", near);
            let (r, draft) = case.run(REQUEST);
            says(
                &r.expect_err(near),
                ErrorCode::InvalidRequest,
                "redirect_uri does not exactly match a registered redirect URI",
            );
            assert!(draft.redirect_uri.is_none(), "never redirected to {near}");
        }
    }

    #[test]
    fn oidc_core_3_1_2_1_redirect_uri_is_required() {
        let e = Case::new(&valid()).without("redirect_uri").refused(REQUEST);
        says(&e, ErrorCode::InvalidRequest, "redirect_uri is missing");
        let e = Case::new(&valid())
            .with("redirect_uri", "")
            .refused(REQUEST);
        says(&e, ErrorCode::InvalidRequest, "redirect_uri is missing");
    }

    #[test]
    fn rfc9101_5_errors_wait_for_the_object_when_it_may_carry_the_redirect_uri() {
        // No outer redirect_uri but a request object: nothing checked, errors to a page.
        let case = Case::new(&[("client_id", "rp"), ("request", "eyJ...")]);
        let (r, draft) = case.run(AS_SENT);
        assert!(r.is_ok());
        assert!(draft.redirect_uri.is_none());
        // No object: the outer redirect_uri is required at once.
        let e = Case::new(&[("client_id", "rp")]).refused(AS_SENT);
        says(&e, ErrorCode::InvalidRequest, "redirect_uri is missing");
        // An outer one is checked, and errors go there from then on.
        let case = Case::new(&valid()).with("request", "eyJ...");
        let (_, draft) = case.run(AS_SENT);
        assert_eq!(draft.redirect_uri.as_deref(), Some(CB));
    }

    #[test]
    fn rfc9126_2_1_pushed_errors_are_never_redirected() {
        let mut case = Case::new(&valid()).with("redirect_uri", "https://evil.example/");
        case.channel = Channel::Pushed;
        let (r, draft) = case.run(AS_SENT);
        assert!(
            r.is_ok(),
            "the outer redirect_uri is not where pushed errors go"
        );
        assert!(draft.redirect_uri.is_none());
    }

    #[test]
    fn rfc6749_3_1_a_repeated_parameter_is_refused_identifying_ones_named_first() {
        let mut case = Case::new(&valid());
        case.repeated = vec!["state".into(), "redirect_uri".into()];
        let e = case.refused(AS_SENT);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "parameter redirect_uri is repeated (RFC 6749 section 3.1)",
        );
        case.repeated = vec!["state".into(), "scope".into()];
        says(
            &case.refused(AS_SENT),
            ErrorCode::InvalidRequest,
            "parameter state is repeated",
        );
    }

    #[test]
    fn rfc9126_2_1_a_pushed_client_id_is_the_authenticated_client() {
        let mut case = Case::new(&valid()).with("client_id", "someone-else");
        case.channel = Channel::Pushed;
        says(
            &case.refused(AS_SENT),
            ErrorCode::InvalidRequest,
            "client_id does not match the authenticated client",
        );
        // At the authorization endpoint the client_id identified the client already.
        case.channel = Channel::Front;
        assert!(case.run(AS_SENT).0.is_ok());
    }

    #[test]
    fn rfc9126_2_1_request_uri_is_not_pushed() {
        let mut case = Case::new(&valid()).with("request_uri", "https://rp.example/r");
        case.channel = Channel::Pushed;
        says(
            &case.refused(AS_SENT),
            ErrorCode::InvalidRequest,
            "request_uri must not be pushed (RFC 9126 section 2.1)",
        );
    }

    #[test]
    fn rfc9126_6_clients_that_must_push_are_refused_at_the_authorization_endpoint() {
        let text = "this client must push its authorization requests (RFC 9126 section 6)";
        let mut by_metadata = Case::new(&valid());
        by_metadata.client = client(json!({"require_pushed_authorization_requests": true}));
        says(
            &by_metadata.refused(AS_SENT),
            ErrorCode::InvalidRequest,
            text,
        );
        let mut by_config = Case::new(&valid());
        by_config.require_par = true;
        says(&by_config.refused(AS_SENT), ErrorCode::InvalidRequest, text);
        let mut fapi2 = Case::new(&valid());
        fapi2.profile = Some(FapiProfile::Fapi2);
        says(&fapi2.refused(AS_SENT), ErrorCode::InvalidRequest, text);
        // FAPI 1 Advanced does not require PAR; a pushed request is what they must send.
        let mut fapi1 = Case::new(&valid());
        fapi1.profile = Some(FapiProfile::Fapi1Advanced);
        assert!(fapi1.run(AS_SENT).0.is_ok());
        by_config.channel = Channel::Pushed;
        assert!(by_config.run(AS_SENT).0.is_ok());
    }

    #[test]
    fn rfc9101_10_5_a_client_requiring_signed_objects_sends_one() {
        let mut case = Case::new(&valid());
        case.client = client(json!({"require_signed_request_object": true}));
        says(
            &case.refused(AS_SENT),
            ErrorCode::InvalidRequest,
            "must send its authorization request as a signed request object (RFC 9101 section 10.5)",
        );
        let by_value = Case {
            client: case.client.clone(),
            ..Case::new(&valid())
        }
        .with("request", "eyJ...");
        assert!(by_value.run(AS_SENT).0.is_ok());
        let by_reference = Case {
            client: case.client.clone(),
            ..Case::new(&valid())
        }
        .with("request_uri", "https://rp.example/r");
        assert!(by_reference.run(AS_SENT).0.is_ok());
        // Pushed without an object: refused as well, the rule holds on every channel.
        let mut pushed = Case {
            client: case.client.clone(),
            ..Case::new(&valid())
        };
        pushed.channel = Channel::Pushed;
        says(
            &pushed.refused(AS_SENT),
            ErrorCode::InvalidRequest,
            "RFC 9101 section 10.5",
        );
    }

    #[test]
    fn rfc9101_5_request_and_request_uri_are_not_both_sent() {
        let case = Case::new(&valid())
            .with("request", "eyJ...")
            .with("request_uri", "https://rp.example/r");
        let (r, draft) = case.run(AS_SENT);
        says(
            &r.unwrap_err(),
            ErrorCode::InvalidRequest,
            "request and request_uri must not both be sent (RFC 9101 section 5)",
        );
        assert_eq!(
            draft.redirect_uri.as_deref(),
            Some(CB),
            "the error is redirected"
        );
    }

    #[test]
    fn fapi_a_request_uri_of_the_clients_own_is_not_fetched() {
        let mut case = Case::new(&valid()).with("request_uri", "https://rp.example/r");
        case.profile = Some(FapiProfile::Fapi1Advanced);
        says(
            &case.refused(AS_SENT),
            ErrorCode::InvalidRequestUri,
            "under a FAPI profile request_uri must come from the pushed authorization request endpoint",
        );
        case.profile = None;
        assert!(case.run(AS_SENT).0.is_ok());
    }

    #[test]
    fn rfc6749_4_1_2_1_response_type_must_be_served_and_registered() {
        let e = Case::new(&valid())
            .without("response_type")
            .refused(REQUEST);
        says(&e, ErrorCode::InvalidRequest, "response_type is missing");
        let e = Case::new(&valid())
            .with("response_type", "token")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::UnsupportedResponseType,
            "response_type token is not supported",
        );
        let e = Case::new(&valid())
            .with("response_type", "id_token")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::UnauthorizedClient,
            "not registered for response_type id_token",
        );
        // Sets in any order are the same response type.
        let req = Case::new(&valid())
            .with("response_type", "id_token code")
            .with("nonce", "n")
            .request()
            .expect("valid");
        assert_eq!(req.response_type, "code id_token");
    }

    #[test]
    fn fapi2_5_3_2_2_only_code_with_pkce() {
        let mut case = Case::new(&valid())
            .with("response_type", "code id_token")
            .with("nonce", "n");
        case.channel = Channel::Pushed;
        case.profile = Some(FapiProfile::Fapi2);
        says(
            &case.refused(REQUEST),
            ErrorCode::UnsupportedResponseType,
            "FAPI 2",
        );
        let mut case = Case::new(&valid()).without("code_challenge_method");
        case.channel = Channel::Pushed;
        case.profile = Some(FapiProfile::Fapi2);
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "PKCE with S256 is required",
        );
        let mut case = Case::new(&valid());
        case.channel = Channel::Pushed;
        case.profile = Some(FapiProfile::Fapi2);
        assert!(case.request().is_ok());
    }

    #[test]
    fn fapi1_advanced_5_2_2_1_needs_a_signed_request_object() {
        let mut case = Case::new(&valid())
            .with("response_type", "code id_token")
            .with("nonce", "n");
        case.profile = Some(FapiProfile::Fapi1Advanced);
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "FAPI 1 Advanced requires a signed request object (section 5.2.2-1)",
        );
    }

    #[test]
    fn oidc_core_7_2_1_the_registration_parameter_is_refused() {
        let e = Case::new(&valid())
            .with("registration", "{}")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::RegistrationNotSupported,
            "OIDC Core section 7.2.1",
        );
    }

    #[test]
    fn multiple_response_types_5_tokens_never_travel_in_the_query() {
        let e = Case::new(&valid())
            .with("response_type", "code id_token")
            .with("nonce", "n")
            .with("response_mode", "query")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "response_mode query cannot carry",
        );
        let e = Case::new(&valid())
            .with("response_mode", "smoke_signal")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "response_mode smoke_signal is not supported",
        );
        let req = Case::new(&valid())
            .with("response_mode", "jwt")
            .request()
            .unwrap();
        assert_eq!(req.response_mode, ResponseMode::QueryJwt, "JARM §2.3.4");
    }

    #[test]
    fn rfc6749_3_3_scope_is_required_known_and_allowed() {
        let e = Case::new(&valid()).without("scope").refused(REQUEST);
        says(&e, ErrorCode::InvalidScope, "scope is missing");
        let e = Case::new(&valid())
            .with("scope", "openid telepathy")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidScope,
            "scope telepathy is not supported",
        );
        let mut case = Case::new(&valid()).with("scope", "openid email");
        case.client = client(json!({"scope": "openid profile"}));
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidScope,
            "scope email is not allowed for this client",
        );
    }

    #[test]
    fn rfc6749_3_3_offline_access_is_dropped_without_the_refresh_token_grant() {
        let case = Case::new(&valid()).with("scope", "openid offline_access");
        assert_eq!(case.request().unwrap().scope, "openid");
        let mut case = case;
        case.client = client(json!({"grant_types": ["authorization_code", "refresh_token"]}));
        assert_eq!(case.request().unwrap().scope, "offline_access openid");
    }

    #[test]
    fn oidc_core_3_3_2_11_an_id_token_needs_the_openid_scope() {
        let e = Case::new(&valid())
            .with("response_type", "code id_token")
            .with("nonce", "n")
            .with("scope", "profile")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidScope,
            "the openid scope is required for response type code id_token",
        );
        // Plain OAuth 2.0 (RFC 6749): code without openid is fine.
        assert!(Case::new(&valid())
            .with("scope", "profile")
            .request()
            .is_ok());
    }

    #[test]
    fn oidc_core_3_3_2_11_nonce_is_required_with_an_id_token() {
        let case = Case::new(&valid()).with("response_type", "code id_token");
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "nonce is required when an ID token is returned from the authorization endpoint",
        );
        assert!(case.with("nonce", "n").request().is_ok());
        assert!(
            Case::new(&valid()).request().is_ok(),
            "code alone needs no nonce"
        );
    }

    #[test]
    fn rfc7636_4_3_pkce_is_s256_and_well_formed() {
        let e = Case::new(&valid())
            .with("code_challenge_method", "plain")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "code_challenge_method must be S256",
        );
        let e = Case::new(&valid())
            .with("code_challenge", "short")
            .refused(REQUEST);
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let e = Case::new(&valid())
            .without("code_challenge")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "code_challenge_method without code_challenge (RFC 7636 section 4.3)",
        );
    }

    #[test]
    fn rfc9700_2_1_1_public_clients_use_pkce() {
        let mut case = Case::new(&valid())
            .without("code_challenge")
            .without("code_challenge_method");
        assert!(
            case.request().is_ok(),
            "a confidential client may go without"
        );
        case.client = client(json!({"token_endpoint_auth_method": "none"}));
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "public clients must use PKCE (RFC 9700 section 2.1.1)",
        );
    }

    #[test]
    fn oidc_core_3_1_2_1_prompt_values_are_known_and_none_stands_alone() {
        let e = Case::new(&valid())
            .with("prompt", "login bogus")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "prompt value bogus is not supported",
        );
        let e = Case::new(&valid())
            .with("prompt", "none login")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "prompt=none must not be combined with other values",
        );
        let req = Case::new(&valid())
            .with("prompt", "login  consent")
            .request()
            .unwrap();
        assert_eq!(req.prompt, ["login", "consent"]);
    }

    #[test]
    fn oidc_core_3_1_2_1_max_age_is_a_non_negative_integer() {
        for bad in ["-1", "soon", "1.5"] {
            let e = Case::new(&valid()).with("max_age", bad).refused(REQUEST);
            says(
                &e,
                ErrorCode::InvalidRequest,
                "max_age must be a non-negative integer",
            );
        }
        let req = Case::new(&valid()).with("max_age", "0").request().unwrap();
        assert_eq!(req.max_age, Some(0));
    }

    #[test]
    fn oidc_core_5_5_the_claims_parameter_is_a_json_object() {
        let e = Case::new(&valid()).with("claims", "{").refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "claims is not valid JSON (OIDC Core section 5.5)",
        );
        let e = Case::new(&valid())
            .with("claims", r#"{"id_token":{"sub":{"value":1}}}"#)
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidRequest,
            "a requested sub value must be a string",
        );
    }

    #[test]
    fn contract_bank_scopes_name_one_institution_available_to_the_client() {
        let mut case = Case::new(&valid()).with("scope", "openid id:sandbox");
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidScope,
            "id:sandbox is not a connection available to this client",
        );
        case.fake
            .institutions
            .insert("sandbox".into(), ConnectionType::Test);
        let bank = case.request().unwrap().bank.expect("a bank request");
        assert_eq!(bank.institution.as_deref(), Some("sandbox"));
        let e = Case::new(&valid())
            .with("scope", "openid id:all id:test")
            .refused(REQUEST);
        says(
            &e,
            ErrorCode::InvalidScope,
            "the id:* scopes are mutually exclusive",
        );
    }

    #[test]
    fn contract_scope_policy_applies_at_the_authorization_endpoint() {
        let e = Case::new(&valid())
            .with("scope", "openid transactions:read:all transactions:read:in")
            .refused(REQUEST);
        says(&e, ErrorCode::InvalidScope, "mutually exclusive");
        let e = Case::new(&valid())
            .with("scope", "openid user:read")
            .refused(REQUEST);
        assert_eq!(e.code, ErrorCode::InvalidScope);
    }

    #[test]
    fn oidc_core_3_1_2_1_id_token_hint_is_ours_and_for_this_client() {
        let mut case = Case::new(&valid()).with("id_token_hint", "hint");
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "id_token_hint is not an ID token issued by this provider",
        );
        for claims in [
            json!({"iss": "https://op.example", "aud": "other", "sub": "u1"}),
            json!({"iss": "https://elsewhere.example", "aud": "rp", "sub": "u1"}),
        ] {
            case.fake.id_tokens.insert("hint".into(), claims);
            says(
                &case.refused(REQUEST),
                ErrorCode::InvalidRequest,
                "id_token_hint was not issued to this client",
            );
        }
        case.fake.id_tokens.insert(
            "hint".into(),
            json!({"iss": "https://op.example", "aud": ["x", "rp"]}),
        );
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "id_token_hint has no sub",
        );
        case.fake.id_tokens.insert(
            "hint".into(),
            json!({"iss": "https://op.example", "aud": ["x", "rp"], "sub": "s1"}),
        );
        case.fake.users.insert("s1".into(), "user-1".into());
        assert_eq!(
            case.request().unwrap().pinned_user.as_deref(),
            Some("user-1")
        );
    }

    #[test]
    fn oidc_core_8_1_a_pinned_sub_must_be_one_the_client_knows() {
        let mut case = Case::new(&valid()).with("claims", r#"{"id_token":{"sub":{"value":"s9"}}}"#);
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "the requested sub is not one this client knows (OIDC Core section 8.1)",
        );
        case.fake.users.insert("s9".into(), "user-9".into());
        assert_eq!(
            case.request().unwrap().pinned_user.as_deref(),
            Some("user-9")
        );
    }

    #[test]
    fn rfc9126_pushed_code_requests_use_pkce() {
        let mut case = Case::new(&valid())
            .without("code_challenge")
            .without("code_challenge_method");
        case.channel = Channel::Pushed;
        says(
            &case.refused(REQUEST),
            ErrorCode::InvalidRequest,
            "pushed authorization requests must use PKCE (S256)",
        );
        case.channel = Channel::Front;
        assert!(case.request().is_ok());
    }

    #[test]
    fn the_first_failing_rule_in_list_order_is_the_one_reported() {
        // A bad response type and a bad scope: response_type comes first in the list.
        let case = Case::new(&valid())
            .with("response_type", "token")
            .with("scope", "telepathy");
        assert_eq!(
            case.refused(REQUEST).code,
            ErrorCode::UnsupportedResponseType
        );
        // A bad redirect_uri wins over everything and is never redirected.
        let case = case.with("redirect_uri", "https://evil.example/");
        let (r, draft) = case.run(REQUEST);
        says(
            &r.unwrap_err(),
            ErrorCode::InvalidRequest,
            "redirect_uri does not exactly match",
        );
        assert!(draft.redirect_uri.is_none());
        // Once the redirect_uri is checked, later errors may go there.
        let case = Case::new(&valid()).with("scope", "telepathy");
        let (r, draft) = case.run(REQUEST);
        assert_eq!(r.unwrap_err().code, ErrorCode::InvalidScope);
        assert_eq!(draft.redirect_uri.as_deref(), Some(CB));
    }

    #[test]
    fn every_rule_has_a_distinct_name() {
        let mut names: Vec<&str> = AS_SENT.iter().chain(REQUEST).map(|(n, _)| *n).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
    }
}
