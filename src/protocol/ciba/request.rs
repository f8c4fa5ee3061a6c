//! The backchannel authentication endpoint (CIBA Core §7): a confidential client, already
//! authenticated as at the token endpoint, names a user by exactly one hint and asks for
//! scopes; the answer is an `auth_req_id` stored only as its digest.

use super::{error, PingSecrets, DEFAULT_EXPIRY_SECS, MAX_BINDING_MESSAGE_CHARS};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::budget::Budget;
use crate::protocol::client_keys::{self, numeric_date, CLOCK_SKEW_SECS};
use crate::protocol::oidc::{scope_policy, scopes, subject};
use crate::protocol::{fapi, Ctx};
use crate::secrets;
use crate::store::ciba::{CibaRequest, PENDING};
use crate::types::{Client, ScopeSet, CIBA_GRANT};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// CIBA Core §7.3: the successful answer.
#[derive(Debug, Serialize)]
pub struct Acknowledgement {
    pub auth_req_id: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// FAPI-CIBA §5.2.2-4: a signed request lives at most 60 minutes (`exp` − `nbf`), and its
/// `nbf` is no older than that.
const SIGNED_REQUEST_MAX_SECS: i64 = 3600;

/// The form members that authenticate the client; everything else is the request.
pub const CREDENTIALS: &[&str] = &[
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
];

/// Handles one authentication request of an authenticated `client`; `form` holds the
/// request's members without the client's credentials.
pub async fn authenticate(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
) -> OAuthResult<Acknowledgement> {
    if !client.metadata.allows_grant(CIBA_GRANT) || client.metadata.is_public() {
        return Err(OAuthError::unauthorized_client(
            "the client is not registered for the CIBA grant (CIBA Core section 7.1)",
        ));
    }
    let params = parameters(cx, client, form).await?;
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());

    let requested = ScopeSet::parse(get("scope").unwrap_or_default());
    if !requested.contains("openid") {
        return Err(error(
            ErrorCode::InvalidScope,
            "scope must include openid (CIBA Core section 7.1)",
        ));
    }
    for s in requested.iter() {
        scopes::check_for_client(s, client)?;
    }
    let user_id = user_of_hints(
        cx,
        client,
        get("login_hint"),
        get("id_token_hint"),
        get("login_hint_token"),
    )
    .await?;
    let uid = user_id.clone();
    let user = cx
        .store
        .read(move |tx| tx.users().get(&uid))
        .await?
        .ok_or_else(unknown_user)?;
    let managed = user.managed_by_client.as_deref() == Some(client.id.as_str());
    cx.scope_policy
        .check(&requested, scope_policy::Flow::Authorization, managed)?;

    let binding_message = get("binding_message")
        .map(check_binding_message)
        .transpose()?;
    if get("user_code").is_some() {
        return Err(OAuthError::invalid_request(
            "user_code is not supported: backchannel_user_code_parameter_supported is false (CIBA Core section 7.1)",
        ));
    }
    let expires_in = requested_expiry(params.get("requested_expiry"))?;
    // The grant's budget, as the authorization endpoint takes it (`protocol::budget`): shown
    // on the approval page, set on the grant the approval creates.
    let budget = get("budget").map(Budget::parse).transpose()?;
    let budget = budget
        .map(|b| serde_json::to_string(&b))
        .transpose()
        .map_err(OAuthError::server)?;
    let mode = client
        .metadata
        .backchannel_token_delivery_mode
        .clone()
        .unwrap_or_else(|| "poll".into());
    let auth_req_id = secrets::random_token();
    let ping_sealed = if mode == "ping" {
        let token = get("client_notification_token").ok_or_else(|| {
            OAuthError::invalid_request(
                "client_notification_token is required in ping mode (CIBA Core section 7.1)",
            )
        })?;
        if token.len() > 1024 {
            return Err(OAuthError::invalid_request(
                "client_notification_token must be at most 1024 characters (CIBA Core section 7.1)",
            ));
        }
        let secrets = PingSecrets {
            auth_req_id: auth_req_id.clone(),
            client_notification_token: token.to_string(),
        };
        let json = serde_json::to_string(&secrets).map_err(OAuthError::server)?;
        Some(cx.sealer.seal(&json))
    } else {
        None
    };
    let now = cx.now;
    let row = CibaRequest {
        id: uuid::Uuid::new_v4().to_string(),
        auth_req_hash: secrets::digest(&auth_req_id),
        client_id: client.id.to_string(),
        user_id,
        scopes: requested.to_string(),
        acr_values: get("acr_values").map(String::from),
        binding_message,
        delivery_mode: mode,
        ping_sealed,
        status: PENDING.into(),
        grant_id: None,
        interval_secs: cx.config.lifetimes.poll_interval_secs,
        last_polled_at: None,
        created_at: now,
        expires_at: now + expires_in,
        consumed_at: None,
        budget,
    };
    // The institution is asked first: a script that fails leaves nothing stored.
    let verdict = super::bank::ask(cx, client, &row).await?;
    let stored = row.clone();
    cx.store.write(move |tx| tx.ciba().insert(&stored)).await?;
    super::bank::settle(cx, &row, verdict).await;
    Ok(Acknowledgement {
        auth_req_id,
        expires_in,
        interval: cx.config.lifetimes.poll_interval_secs,
    })
}

/// The request's parameters: from its signed request object (CIBA Core §7.1.1), required of
/// FAPI clients and of clients that registered a signing algorithm; else the form itself.
async fn parameters(
    cx: &Ctx<'_>,
    client: &Client,
    form: &HashMap<String, String>,
) -> OAuthResult<HashMap<String, String>> {
    let profile = fapi::profile_of(cx, client);
    let must_sign = profile.is_some()
        || client
            .metadata
            .backchannel_authentication_request_signing_alg
            .is_some();
    let Some(object) = form.get("request").filter(|r| !r.is_empty()) else {
        if must_sign {
            return Err(OAuthError::invalid_request(
                "this client's authentication requests must be signed: send them as request (CIBA Core section 7.1.1, FAPI-CIBA section 5.2.2-1)",
            ));
        }
        return Ok(form.clone());
    };
    if let Some(other) = form.keys().find(|k| k.as_str() != "request") {
        return Err(OAuthError::invalid_request(format!(
            "{other} must be inside the signed request, not beside it (CIBA Core section 7.1.1)"
        )));
    }
    let allowed = fapi::restrict_algs(
        profile,
        client_keys::allowed_algs(
            client
                .metadata
                .backchannel_authentication_request_signing_alg
                .as_deref(),
        ),
    );
    let claims = client_keys::verify(cx, client, object, &allowed, invalid_signed).await?;
    check_signed_claims(cx, client, &claims).await?;
    Ok(claims
        .as_object()
        .map(crate::protocol::fapi::request_object::parameters_of)
        .unwrap_or_default())
}

fn invalid_signed(d: String) -> OAuthError {
    OAuthError::invalid_request(format!("signed authentication request: {d}"))
}

/// CIBA Core §7.1.1: `aud` the issuer, `iss` the client, `exp`, `iat`, `nbf` and `jti`, all
/// present; FAPI-CIBA §5.2.2-4: `exp` at most 60 minutes after `nbf`, `nbf` no older than 60
/// minutes; the `jti` is used once.
async fn check_signed_claims(cx: &Ctx<'_>, client: &Client, claims: &Value) -> OAuthResult<()> {
    let rule = "(CIBA Core section 7.1.1)";
    for name in ["aud", "iss", "exp", "iat", "nbf", "jti"] {
        if claims.get(name).is_none_or(Value::is_null) {
            return Err(invalid_signed(format!("{name} is required {rule}")));
        }
    }
    if !client_keys::audience_matches(&claims["aud"], &[&cx.issuer]) {
        return Err(invalid_signed(format!("aud must be the issuer {rule}")));
    }
    if claims["iss"].as_str() != Some(client.id.as_str()) {
        return Err(invalid_signed(format!("iss must be the client_id {rule}")));
    }
    if claims
        .get("client_id")
        .is_some_and(|c| c.as_str() != Some(client.id.as_str()))
    {
        return Err(invalid_signed(format!(
            "client_id must be the authenticated client {rule}"
        )));
    }
    let now = cx.now;
    client_keys::check_times(claims, now, true, SIGNED_REQUEST_MAX_SECS, invalid_signed)?;
    let (Some(exp), Some(nbf)) = (numeric_date(&claims["exp"]), numeric_date(&claims["nbf"]))
    else {
        return Err(invalid_signed(format!(
            "exp and nbf must be numbers {rule}"
        )));
    };
    if exp - nbf > SIGNED_REQUEST_MAX_SECS {
        return Err(invalid_signed(
            "exp is more than 60 minutes after nbf (FAPI-CIBA section 5.2.2-4)".into(),
        ));
    }
    if nbf < now - SIGNED_REQUEST_MAX_SECS {
        return Err(invalid_signed(
            "nbf is more than 60 minutes old (FAPI-CIBA section 5.2.2-4)".into(),
        ));
    }
    let jti = claims["jti"]
        .as_str()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| invalid_signed(format!("jti must be a string {rule}")))?
        .to_string();
    let scope = format!("ciba_request:{}", client.id);
    let until = exp + CLOCK_SKEW_SECS;
    if !cx
        .store
        .write(move |tx| tx.replay().first_use(&scope, &jti, until))
        .await?
    {
        return Err(invalid_signed(
            "this signed request was already used (jti replay)".into(),
        ));
    }
    Ok(())
}

fn unknown_user() -> OAuthError {
    error(
        ErrorCode::UnknownUserId,
        "the hint names no user known here (CIBA Core section 13)",
    )
}

/// CIBA Core §7.1: exactly one hint names the user. `login_hint` is a username (or the `sub`
/// this client knows the user by); `id_token_hint` an ID token this provider issued to this
/// client (expired ones too); `login_hint_token` is not supported.
async fn user_of_hints(
    cx: &Ctx<'_>,
    client: &Client,
    login_hint: Option<&str>,
    id_token_hint: Option<&str>,
    login_hint_token: Option<&str>,
) -> OAuthResult<String> {
    let given = [login_hint, id_token_hint, login_hint_token]
        .iter()
        .filter(|h| h.is_some())
        .count();
    if given != 1 {
        return Err(OAuthError::invalid_request(
            "exactly one of login_hint, id_token_hint and login_hint_token is required (CIBA Core section 7.1)",
        ));
    }
    if login_hint_token.is_some() {
        return Err(OAuthError::invalid_request(
            "login_hint_token is not supported: name the user with login_hint (a username) or id_token_hint (CIBA Core section 7.1)",
        ));
    }
    if let Some(hint) = login_hint {
        let name = hint.to_string();
        if let Some(u) = cx
            .store
            .read(move |tx| tx.users().by_username(&name))
            .await?
        {
            return Ok(u.id);
        }
        return subject::user_of(cx, client, hint).ok_or_else(unknown_user);
    }
    let token = id_token_hint.unwrap_or_default();
    let bad = || {
        OAuthError::invalid_request(
            "id_token_hint is not an ID token this provider issued to this client (CIBA Core section 7.1)",
        )
    };
    let (claims, _) = cx.keys().verify_own(token).map_err(|_| bad())?;
    if claims["iss"].as_str() != Some(cx.issuer.as_str())
        || !client_keys::audience_matches(&claims["aud"], &[client.id.as_str()])
    {
        return Err(bad());
    }
    let sub = claims["sub"].as_str().ok_or_else(bad)?;
    subject::user_of(cx, client, sub).ok_or_else(unknown_user)
}

/// CIBA Core §7.1: a short message shown on both devices. At most
/// `MAX_BINDING_MESSAGE_CHARS` characters, no control characters (`invalid_binding_message`).
fn check_binding_message(message: &str) -> OAuthResult<String> {
    let bad = |why: &str| {
        error(
            ErrorCode::InvalidBindingMessage,
            format!("binding_message {why} (CIBA Core section 7.1)"),
        )
    };
    if message.chars().count() > MAX_BINDING_MESSAGE_CHARS {
        return Err(bad(&format!(
            "must be at most {MAX_BINDING_MESSAGE_CHARS} characters"
        )));
    }
    if message.chars().any(char::is_control) {
        return Err(bad("must be plain text without control characters"));
    }
    Ok(message.to_string())
}

/// CIBA Core §7.1: `requested_expiry`, a positive integer of seconds (sent as a number or a
/// string); asks beyond the longest lifetime get that lifetime.
fn requested_expiry(value: Option<&String>) -> OAuthResult<i64> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(DEFAULT_EXPIRY_SECS);
    };
    let secs: i64 = v.trim_matches('"').parse().map_err(|_| {
        OAuthError::invalid_request(
            "requested_expiry must be a positive integer (CIBA Core section 7.1)",
        )
    })?;
    if secs <= 0 {
        return Err(OAuthError::invalid_request(
            "requested_expiry must be a positive integer (CIBA Core section 7.1)",
        ));
    }
    Ok(secs.min(super::MAX_EXPIRY_SECS))
}
