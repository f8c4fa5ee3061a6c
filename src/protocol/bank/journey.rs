//! The bank side of an interaction: who the connection is for, the chooser, and running the
//! institution's journey hooks until they finish in a connection (or an error for the client).

use super::connection::{new_connection_id, owned_connection};
use super::progress::{ConnectionSecrets, Progress};
use super::request::BankRequest;
use super::upstream::{self, UpstreamTokens};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::plugins::{Action, FailureReport, HookFailure, JourneyKind, Plugin};
use crate::protocol::authorize::decision::{decide, Authentication, Next, SignedIn};
use crate::protocol::authorize::issue::{self, Completion};
use crate::protocol::authorize::refusal::ReplyTo;
use crate::protocol::authorize::request::AuthorizationRequest;
use crate::protocol::interaction::live::{Live, Outcome, Step};
use crate::protocol::oidc::response::Delivery;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::connections::{self, BankConnection, JourneyWrite};
use crate::store::{self, sessions::Session};
use crate::types::Client;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Longest value accepted for one form field.
const MAX_FIELD_LEN: usize = 4096;

/// Decides who a bank request is for (contract: Flow for use case 2; issue rules for a flow with
/// no identified user), and checks a reauth/refresh connection belongs to them. The user is
/// known when the client pins one of its own users, or when the browser's session is usable
/// for the request (the one [`decide`] rule; consent is always asked in a bank journey, so
/// none is remembered). Nobody known: a pinned user who is not the client's own, or
/// `prompt=login`, must log in here first (`login_required`); otherwise the finished journey
/// creates a new user for the connection.
pub async fn identify(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    session: Option<&Session>,
) -> OAuthResult<(Option<Authentication>, Progress)> {
    let bank = req
        .bank
        .as_ref()
        .ok_or_else(|| OAuthError::server("not a bank request"))?;
    let now = cx.now;
    let signed_in = match session {
        Some(s) => SignedIn::Session(s),
        None => SignedIn::Nobody,
    };
    let usable = match decide(req, signed_in, None, now) {
        Next::Consent(a) | Next::Issue(a) => Some(a),
        Next::Login | Next::Fail(_) => None,
    };
    let (user, login_required) = match req.required_sub() {
        Some(sub) => {
            let id = sub.clone();
            let user = cx
                .store
                .read(move |tx| tx.users().get(&id))
                .await?
                .ok_or_else(|| {
                    OAuthError::invalid_request("the requested sub is not a known user")
                })?;
            if user.managed_by_client.as_deref() == Some(client.id.as_str()) {
                let own = Authentication {
                    user_id: user.id,
                    auth_time: now,
                    amr: String::new(),
                    sid: uuid::Uuid::new_v4().to_string(),
                };
                (Some(own), false)
            } else {
                let login_required = usable.is_none();
                (usable, login_required)
            }
        }
        None => {
            let login_required = usable.is_none() && req.has_prompt("login");
            (usable, login_required)
        }
    };
    let institution = match (&bank.connection_id, req.required_sub()) {
        (Some(cid), Some(sub)) => Some(
            owned_connection(cx, client, &sub, cid)
                .await?
                .institution_id,
        ),
        _ => bank.institution.clone(),
    };
    if let Some(id) = &institution {
        plugin(cx, id)?;
    }
    let progress = Progress {
        institution,
        login_required,
        ..Default::default()
    };
    Ok((user, progress))
}

/// The bank side of a live interaction; a form post to a sign-in without one is a bad request.
fn bank_of(live: &Live) -> OAuthResult<&BankRequest> {
    live.request
        .bank
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("this sign-in request is not about a bank"))
}

/// What to show next in a bank interaction.
pub fn current_step(cx: &Ctx<'_>, live: &Live) -> OAuthResult<Step> {
    let progress = &live.progress;
    if progress.login_required && live.interaction.user_id.is_none() {
        return Ok(Step::Login);
    }
    let bank = bank_of(live)?;
    let Some(id) = &progress.institution else {
        let institutions = cx
            .plugins
            .catalog()
            .of_type(bank.chooser_type())
            .into_iter()
            .filter(|i| {
                live.client
                    .metadata
                    .allows_connection_type(i.meta.kind.as_str())
            })
            .collect();
        return Ok(Step::Chooser(institutions));
    };
    let plugin = plugin(cx, id)?;
    if !progress.consented {
        return Ok(Step::Consent);
    }
    if let Some(message) = &progress.message {
        return Ok(Step::BankMessage {
            institution: plugin.meta.name.clone(),
            message: message.clone(),
        });
    }
    match &progress.form {
        Some(form) => Ok(Step::BankForm {
            institution: plugin.meta.name.clone(),
            form: form.clone(),
        }),
        // Consent given but no form pending: the journey is in flight elsewhere.
        None => Err(OAuthError::invalid_request(
            "this connection journey is already under way",
        )),
    }
}

fn plugin(cx: &Ctx<'_>, id: &str) -> OAuthResult<Arc<Plugin>> {
    cx.plugins.get(id).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            503,
            format!("the institution {id} is not available right now"),
        )
    })
}

/// The user picked an institution in the chooser.
pub async fn choose(cx: &Ctx<'_>, live: &Live, institution: &str) -> OAuthResult<()> {
    let bank = bank_of(live)?;
    if live.progress.institution.is_some() {
        return Err(OAuthError::invalid_request(
            "an institution was already chosen",
        ));
    }
    let offered = cx.plugins.get(institution).is_some_and(|i| {
        bank.chooser_type().is_none_or(|t| i.meta.kind == t)
            && live
                .client
                .metadata
                .allows_connection_type(i.meta.kind.as_str())
    });
    if !offered {
        return Err(OAuthError::invalid_request(
            "that institution is not one offered here",
        ));
    }
    let mut progress = live.progress.clone();
    progress.institution = Some(institution.to_string());
    save(cx, live, &progress).await
}

async fn save(cx: &Ctx<'_>, live: &Live, progress: &Progress) -> OAuthResult<()> {
    let (id, json) = (live.interaction.id.clone(), progress.to_json());
    cx.store
        .write(move |tx| tx.interactions().set_journey(&id, &json))
        .await?;
    Ok(())
}

/// Consent given: start the institution's journey.
pub async fn start(cx: &Ctx<'_>, live: &Live) -> OAuthResult<Outcome> {
    let bank = bank_of(live)?;
    let id = live
        .progress
        .institution
        .clone()
        .ok_or_else(|| OAuthError::invalid_request("choose an institution first"))?;
    let plugin = plugin(cx, &id)?;
    let mut progress = live.progress.clone();
    progress.consented = true;
    let hook = bank.journey.entry_hook(&plugin);
    let ctx = context(cx, live, &progress).await?;
    let action = call(cx, &plugin, &mut progress, hook, vec![ctx]).await;
    apply(cx, live, &plugin, progress, action).await
}

/// The user answered the script's form, or pressed the button under its message.
pub async fn submit(
    cx: &Ctx<'_>,
    live: &Live,
    posted: &std::collections::HashMap<String, String>,
) -> OAuthResult<Outcome> {
    bank_of(live)?;
    if let Some(message) = &live.progress.message {
        return end_on_message(cx, live, message)
            .await
            .map(Outcome::Deliver);
    }
    let id = live
        .progress
        .institution
        .clone()
        .ok_or_else(|| OAuthError::invalid_request("choose an institution first"))?;
    let form = live
        .progress
        .form
        .clone()
        .ok_or_else(|| OAuthError::invalid_request("no form is waiting for an answer"))?;
    let plugin = plugin(cx, &id)?;
    let mut input = Map::new();
    for f in &form.fields {
        let v = posted.get(&f.name).cloned().unwrap_or_default();
        if v.len() > MAX_FIELD_LEN {
            return Err(OAuthError::invalid_request(format!(
                "{} is too long",
                f.label
            )));
        }
        input.insert(f.name.clone(), Value::String(v));
    }
    let ctx = context(cx, live, &live.progress).await?;
    let mut progress = live.progress.clone();
    let mut action = if plugin.has_hook("submit") {
        let args = vec![ctx, Value::Object(input.clone())];
        call(cx, &plugin, &mut progress, "submit", args).await
    } else {
        Err(HookFailure::result(
            "submit",
            "the script showed a form but has no fn submit(ctx, input)",
        ))
    };
    // Asked again (a wrong password, say): keep what the user typed in the text fields.
    if let Ok(Action::Form { form, .. }) = &mut action {
        form.keep_typed(&input);
    }
    apply(cx, live, &plugin, progress, action).await
}

/// Runs a hook with the provider's HTTP client and keys at hand; `newTransactions` events it
/// raises are kept in `progress` until the journey completes.
async fn call(
    cx: &Ctx<'_>,
    plugin: &Arc<Plugin>,
    progress: &mut Progress,
    hook: &'static str,
    args: Vec<Value>,
) -> Result<Action, HookFailure> {
    let services = crate::plugins::call::Services {
        http: cx.upstream_http.clone(),
        runtime: tokio::runtime::Handle::current(),
        keys: cx.keys(),
        store: cx.store.clone(),
    };
    let (action, events) = cx
        .plugins
        .call(plugin.clone(), hook, args, services)
        .await?;
    progress.new_transactions.extend(events);
    Ok(action)
}

/// What the script sees of the journey: which one, its own state, and for reauth/refresh the
/// connection with the data it kept.
async fn context(cx: &Ctx<'_>, live: &Live, progress: &Progress) -> OAuthResult<Value> {
    let bank = bank_of(live)?;
    let mut ctx = json!({
        "journey": bank.journey.as_str(),
        "institution": progress.institution,
        "state": progress.state,
    });
    if let Some(cid) = &bank.connection_id {
        let id = cid.clone();
        let c = cx
            .store
            .read(move |tx| tx.connections().get(&id))
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the connection no longer exists"))?;
        ctx["connection"] = json!({
            "id": c.id,
            "status": c.status,
            "data": open_data(cx, &c),
        });
    }
    Ok(ctx)
}

fn open_data(cx: &Ctx<'_>, c: &BankConnection) -> Value {
    ConnectionSecrets::open(cx, c.data_sealed.as_deref()).data
}

/// How many upstream refreshes one step may chain before the script must answer otherwise.
const MAX_CHAINED_REFRESHES: usize = 3;

/// Carries out what a hook asked for. Upstream refreshes feed their result straight back to
/// the script's `callback`, a bounded number of times.
async fn apply(
    cx: &Ctx<'_>,
    live: &Live,
    plugin: &Arc<Plugin>,
    mut progress: Progress,
    mut action: Result<Action, HookFailure>,
) -> OAuthResult<Outcome> {
    for _ in 0..MAX_CHAINED_REFRESHES {
        let Ok(Action::RefreshUpstream { state }) = action else {
            return apply_once(cx, live, plugin, progress, action).await;
        };
        progress.state = state;
        let stored = stored_upstream(cx, live).await?;
        let cid = bank_of(live)?.connection_id.clone();
        let outcome = match &stored {
            // Nothing to ask the institution with: the connection needs reauth, said plainly.
            Some(t) if t.refresh_token.is_none() => {
                let e = OAuthError::invalid_request(upstream::NO_REFRESH_TOKEN);
                return end_needing_reauth(cx, live, e, cid)
                    .await
                    .map(Outcome::Deliver);
            }
            Some(t) => upstream::refresh(cx, plugin, t).await,
            None => Err(OAuthError::invalid_request(
                "the connection holds no institution tokens to refresh",
            )),
        };
        if let (Ok(o), Some(id)) = (&outcome, cid) {
            // The institution's grant is gone whatever the script makes of it: a `done` from
            // the script renews the connection (active again), anything else leaves it so.
            if upstream::grant_refused(o) {
                let now = cx.now;
                cx.store
                    .write(move |tx| tx.connections().require_reauth(&id, now))
                    .await?;
                cx.webhook_wake.notify_one();
            }
        }
        action = match outcome {
            Ok(o) => after_upstream(cx, live, plugin, &mut progress, o).await?,
            Err(e) => return end_with(cx, live, e).await.map(Outcome::Deliver),
        };
    }
    let failure = HookFailure::result("callback", "refresh_upstream asked for again and again");
    apply_once(cx, live, plugin, progress, Err(failure)).await
}

/// The institution tokens kept with the connection a reauth/refresh journey renews.
async fn stored_upstream(cx: &Ctx<'_>, live: &Live) -> OAuthResult<Option<UpstreamTokens>> {
    let Some(id) = bank_of(live)?.connection_id.clone() else {
        return Ok(None);
    };
    let c = cx.store.read(move |tx| tx.connections().get(&id)).await?;
    Ok(c.and_then(|c| ConnectionSecrets::open(cx, c.data_sealed.as_deref()).upstream))
}

/// Keeps what the institution issued and tells the script how it went.
async fn after_upstream(
    cx: &Ctx<'_>,
    live: &Live,
    plugin: &Arc<Plugin>,
    progress: &mut Progress,
    outcome: upstream::Outcome,
) -> OAuthResult<Result<Action, HookFailure>> {
    if let Some(t) = &outcome.tokens {
        progress.upstream_tokens_sealed = Some(
            cx.sealer
                .seal(&serde_json::to_string(t).map_err(OAuthError::server)?),
        );
    }
    save(cx, live, progress).await?;
    if !plugin.has_hook("callback") {
        return Ok(Err(HookFailure::result(
            "callback",
            "the script used its institution's server but has no fn callback(ctx, result)",
        )));
    }
    let ctx = context(cx, live, progress).await?;
    Ok(call(cx, plugin, progress, "callback", vec![ctx, outcome.result]).await)
}

/// The browser came back from the institution's authorization server.
pub async fn upstream_return(
    cx: &Ctx<'_>,
    live: &Live,
    params: &std::collections::HashMap<String, String>,
) -> OAuthResult<Outcome> {
    let mut progress = live.progress.clone();
    let pending = progress
        .upstream
        .take()
        .ok_or_else(|| OAuthError::invalid_request("no sign-in at an institution is pending"))?;
    let id = progress
        .institution
        .clone()
        .ok_or_else(|| OAuthError::server("upstream sign-in without an institution"))?;
    let plugin = plugin(cx, &id)?;
    let outcome = match upstream::finish(cx, &plugin, &pending, params).await {
        Ok(o) => o,
        // A forged or stale answer changes nothing: the user may still come back properly.
        Err(e) if e.code == ErrorCode::InvalidRequest => return Err(e),
        Err(e) => return end_with(cx, live, e).await.map(Outcome::Deliver),
    };
    let action = after_upstream(cx, live, &plugin, &mut progress, outcome).await?;
    apply(cx, live, &plugin, progress, action).await
}

async fn apply_once(
    cx: &Ctx<'_>,
    live: &Live,
    plugin: &Arc<Plugin>,
    mut progress: Progress,
    action: Result<Action, HookFailure>,
) -> OAuthResult<Outcome> {
    match action {
        Ok(Action::OAuth { start, state }) => {
            progress.state = state;
            progress.form = None;
            match upstream::begin(cx, plugin, &start, &live.interaction.id).await {
                Ok((url, pending)) => {
                    progress.upstream = Some(pending);
                    save(cx, live, &progress).await?;
                    Ok(Outcome::Leave(url))
                }
                Err(e) => end_with(cx, live, e).await.map(Outcome::Deliver),
            }
        }
        Ok(Action::RefreshUpstream { .. }) => Err(OAuthError::server("refresh handled in apply")),
        Ok(Action::Form { form, state }) => {
            progress.form = Some(form);
            progress.state = state;
            save(cx, live, &progress).await?;
            Ok(Outcome::Interaction(live.interaction.id.clone()))
        }
        Ok(Action::Done { data }) => finish(cx, live, plugin, &progress, data)
            .await
            .map(Outcome::Deliver),
        Ok(Action::Fail { message }) => end_with(cx, live, OAuthError::access_denied(message))
            .await
            .map(Outcome::Deliver),
        // The journey ends once the user has read the message (`end_on_message`).
        Ok(Action::Message { message }) => {
            progress.message = Some(message);
            progress.form = None;
            save(cx, live, &progress).await?;
            Ok(Outcome::Interaction(live.interaction.id.clone()))
        }
        Err(failure) => hook_failed(cx, live, plugin, failure).await,
    }
}

/// A hook failed: the client hears `server_error` (RFC 6749 §4.1.2.1) with only a random
/// error id, which the log line repeats beside the script's error. In development mode
/// (`plugins.dev`) the browser first sees a page with the script's error at file:line; the
/// client's answer is the same either way.
async fn hook_failed(
    cx: &Ctx<'_>,
    live: &Live,
    plugin: &Arc<Plugin>,
    failure: HookFailure,
) -> OAuthResult<Outcome> {
    cx.metrics.plugin_error(&plugin.meta.id, failure.kind);
    let report = FailureReport::new(plugin, failure);
    report.log("institution journey failed");
    let e = OAuthError::new(
        ErrorCode::ServerError,
        500,
        format!(
            "the journey at {} failed; try again later (error id {})",
            plugin.meta.name, report.error_id
        ),
    );
    let delivery = end_with(cx, live, e).await?;
    Ok(Outcome::Deliver(if cx.config.plugins.dev {
        Delivery::ScriptFailed {
            report: Box::new(report),
            then: Box::new(delivery),
        }
    } else {
        delivery
    }))
}

/// The user read the script's message: the client hears `access_denied` with its text
/// (RFC 6749 §4.1.2.1).
async fn end_on_message(
    cx: &Ctx<'_>,
    live: &Live,
    message: &crate::plugins::Message,
) -> OAuthResult<Delivery> {
    end_with(cx, live, OAuthError::access_denied(message.text.clone())).await
}

/// Ends the interaction with an error sent back to the client, once: of two requests ending
/// it at the same time, the second is refused.
async fn end_with(cx: &Ctx<'_>, live: &Live, e: OAuthError) -> OAuthResult<Delivery> {
    end_needing_reauth(cx, live, e, None).await
}

/// Ends the interaction with an error, marking `reauth` (a connection) as needing reauth in
/// the same transaction.
async fn end_needing_reauth(
    cx: &Ctx<'_>,
    live: &Live,
    e: OAuthError,
    reauth: Option<String>,
) -> OAuthResult<Delivery> {
    if let Some(detail) = &e.detail {
        tracing::warn!(error = e.code.as_str(), %detail, "bank journey ended");
    }
    let (iid, now) = (live.interaction.id.clone(), cx.now);
    let device = live.request.device_id();
    let marks = reauth.is_some();
    let ended = cx
        .store
        .write(move |tx| {
            if !tx.interactions().complete(&iid, now)? {
                return Ok(false);
            }
            // RFC 8628 §3.5: a device waiting on this journey hears access_denied.
            if let Some(d) = &device {
                tx.device_authorizations().deny(d)?;
            }
            if let Some(id) = &reauth {
                tx.connections().require_reauth(id, now)?;
            }
            Ok(true)
        })
        .await?;
    if !ended {
        return Err(OAuthError::invalid_request(
            "this sign-in request was already completed",
        ));
    }
    if marks {
        cx.webhook_wake.notify_one();
    }
    ReplyTo::of(&live.request).deliver(cx, &live.client, &e)
}

/// The journey succeeded: create or renew the connection with the grant and code.
async fn finish(
    cx: &Ctx<'_>,
    live: &Live,
    plugin: &Arc<Plugin>,
    progress: &Progress,
    data: Value,
) -> OAuthResult<Delivery> {
    let bank = bank_of(live)?;
    let now = cx.now;
    // New institution tokens from this journey, or (on renewal) the ones already kept.
    let fresh: Option<UpstreamTokens> = progress
        .upstream_tokens_sealed
        .as_deref()
        .and_then(|s| cx.sealer.open(s))
        .and_then(|s| serde_json::from_str(&s).ok());
    let upstream = match fresh {
        Some(t) => Some(t),
        None => stored_upstream(cx, live).await?,
    };
    let data_sealed = ConnectionSecrets { data, upstream }.seal(cx);
    let consent_expires_at = plugin
        .meta
        .consent_days
        .map(|d| now + i64::from(d) * 24 * 3600);
    let (auth, write) = match (&bank.connection_id, bank.journey) {
        (Some(id), JourneyKind::Reauth | JourneyKind::Refresh) => {
            let auth = live
                .authentication()
                .ok_or_else(|| OAuthError::server("renewal without a user"))?;
            // Contract (Webhooks): newTransactions is not sent on connecting or reauthorising.
            let new_transactions = match bank.journey {
                JourneyKind::Refresh => progress.new_transactions.clone(),
                _ => Vec::new(),
            };
            let w = JourneyWrite::Renew {
                id: id.clone(),
                data_sealed,
                consent_expires_at,
                new_transactions,
            };
            (auth, w)
        }
        _ => {
            let (auth, new_user) = match live.authentication() {
                Some(a) => (a, None),
                None => {
                    let (auth, user) = new_user(&live.client, now);
                    (auth, Some(Box::new(user)))
                }
            };
            let connection = BankConnection {
                id: new_connection_id(&plugin.meta.id),
                user_id: auth.user_id.clone(),
                client_id: live.client.id.to_string(),
                institution_id: plugin.meta.id.clone(),
                status: connections::ACTIVE.into(),
                data_sealed,
                consent_expires_at,
                created_at: now,
                updated_at: now,
            };
            (
                auth,
                JourneyWrite::Create {
                    new_user,
                    connection: Box::new(connection),
                },
            )
        }
    };
    let along = Completion {
        interaction_id: Some(live.interaction.id.clone()),
        remember_consent: false,
        connection: Some(write),
    };
    let delivery = issue::finish(cx, &live.request, &live.client, &auth, along).await?;
    // The connection's webhook event is in the outbox now (a refusal wrote none; waking the
    // sender then costs one empty look).
    cx.webhook_wake.notify_one();
    Ok(delivery)
}

/// A user profile for a connection made with nobody identified, managed by the client.
fn new_user(client: &Client, now: i64) -> (Authentication, store::users::User) {
    let user = store::users::User {
        id: secrets::random_user_id(),
        username: None,
        password_hash: None,
        claims: Map::new(),
        managed_by_client: Some(client.id.to_string()),
        client_user_id: None,
        created_at: now,
    };
    let auth = Authentication {
        user_id: user.id.clone(),
        auth_time: now,
        amr: String::new(),
        sid: uuid::Uuid::new_v4().to_string(),
    };
    (auth, user)
}

/// The user left the institution's journey: the client hears `access_denied` (with the
/// script's message when the journey had ended on one).
pub async fn cancel(cx: &Ctx<'_>, live: &Live) -> OAuthResult<Delivery> {
    if let Some(message) = &live.progress.message {
        return end_on_message(cx, live, message).await;
    }
    end_with(
        cx,
        live,
        OAuthError::access_denied("the user cancelled the connection"),
    )
    .await
}
