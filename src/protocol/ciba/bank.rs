//! The user's institution answering a CIBA request: told of it by its `decoupled_request` hook,
//! it approves or denies at once, or leaves the request pending under its own `reference`
//! (the push it sent its customer) and its backend later posts the customer's answer to
//! `/institutions/{id}/decoupled`. The
//! institution's `decoupled_callback` hook authenticates that call (the script decides, e.g.
//! by an HMAC) and names the reference and the answer; the host records it as the approval page
//! would, once.

use super::approval::decide;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::plugins::{FailureReport, HookFailure, Plugin};
use crate::protocol::authorize::decision::Authentication;
use crate::protocol::Ctx;
use crate::store::ciba::{CibaRequest, PENDING};
use crate::types::{Client, ScopeSet};
use serde_json::Value;

/// The hook that authenticates a bank's callback and reads its answer.
pub const CALLBACK_HOOK: &str = "decoupled_callback";

/// The longest reference a bank may use.
const MAX_REFERENCE_CHARS: usize = 200;

/// The hook an institution's script may define to hear of a request for one of its customers.
pub const HOOK: &str = "decoupled_request";

/// What the user's institution answered a new request.
pub enum Verdict {
    /// No institution decided: the request is left to the approval page.
    Undecided,
    /// The institution approved or denied at once.
    Decided { institution: String, approve: bool },
    /// The institution's backend will answer later under its `reference`.
    Pending {
        institution: String,
        reference: Value,
    },
}

/// Asks the institutions the user banks with (those of their connections whose script
/// defines `decoupled_request`) about a new request, before it is stored, so the bank's app
/// can ask the customer. The script answers `#{ approve: true }`, `#{ deny: true }`,
/// `#{ pending: true, reference }` when its backend will answer later (`answer`), or anything
/// else to leave the request to the approval page. A script that fails fails the request as
/// any hook failure fails its journey: `server_error` with an error id, repeated in the log.
pub async fn ask(cx: &Ctx<'_>, client: &Client, request: &CibaRequest) -> OAuthResult<Verdict> {
    let uid = request.user_id.clone();
    let connections = cx
        .store
        .read(move |tx| tx.connections().for_user(&uid))
        .await?;
    let mut told = std::collections::HashSet::new();
    for c in connections {
        let Some(plugin) = cx.plugins.get(&c.institution_id) else {
            continue;
        };
        if !plugin.has_hook(HOOK) || !told.insert(c.institution_id.clone()) {
            continue;
        }
        let budget = super::approval::budget_of(request);
        let arg = serde_json::json!({
            "id": request.id,
            "user": request.user_id,
            "connection": c.id,
            "client": client.metadata.client_name.clone().unwrap_or_else(|| client.id.to_string()),
            "scopes": ScopeSet::parse(&request.scopes).iter().collect::<Vec<_>>(),
            "binding_message": request.binding_message,
            // The spending limit the grant will carry, for the bank's own consent screen: as
            // the client sent it, and in the words the approval page uses.
            "budget": budget,
            "budget_text": budget.as_ref().map(|b| b.describe()),
            "expires_at": request.expires_at,
        });
        let answer = cx
            .plugins
            .call_value(plugin.clone(), HOOK, vec![arg], services(cx))
            .await;
        let institution = c.institution_id.clone();
        return Ok(match answer {
            Ok((v, _)) if v["approve"] == true => Verdict::Decided {
                institution,
                approve: true,
            },
            Ok((v, _)) if v["deny"] == true => Verdict::Decided {
                institution,
                approve: false,
            },
            Ok((v, _)) if v["pending"] == true => Verdict::Pending {
                institution,
                reference: v["reference"].clone(),
            },
            Ok(_) => continue,
            Err(failure) => {
                let report = failed(cx, &plugin, failure);
                return Err(OAuthError::new(
                    ErrorCode::ServerError,
                    500,
                    format!(
                        "the institution {} could not take the request; try again later (error id {}){}",
                        plugin.meta.name,
                        report.error_id,
                        report.dev_detail(cx.config.plugins.dev)
                    ),
                ));
            }
        });
    }
    Ok(Verdict::Undecided)
}

/// Acts on the institution's answer to the stored `request`.
pub async fn settle(cx: &Ctx<'_>, request: &CibaRequest, verdict: Verdict) {
    match verdict {
        Verdict::Undecided => {}
        Verdict::Pending {
            institution,
            reference,
        } => await_answer(cx, &institution, request, &reference).await,
        Verdict::Decided {
            institution,
            approve,
        } => {
            let auth = bank_authentication(cx, request);
            if let Err(e) = decide(cx, &auth, &request.id, approve).await {
                tracing::info!(%institution, error = %e, "the institution's answer came too late");
            }
        }
    }
}

/// A CIBA hook failed: counted, and logged under a new error id (what the caller hears).
fn failed(cx: &Ctx<'_>, plugin: &Plugin, failure: HookFailure) -> FailureReport {
    cx.metrics.plugin_error(&plugin.meta.id, failure.kind);
    let report = FailureReport::new(plugin, failure);
    report.log("institution CIBA hook failed");
    report
}

/// The institution authenticated its customer itself: no login here, so no amr (and the
/// bank's acr).
fn bank_authentication(cx: &Ctx<'_>, request: &CibaRequest) -> Authentication {
    Authentication {
        user_id: request.user_id.clone(),
        auth_time: cx.now,
        amr: String::new(),
        sid: uuid::Uuid::new_v4().to_string(),
    }
}

/// What a hook call may use: the institutions' HTTP client and the provider's keys.
fn services(cx: &Ctx<'_>) -> crate::plugins::call::Services {
    crate::plugins::call::Services {
        http: cx.upstream_http.clone(),
        runtime: tokio::runtime::Handle::current(),
        keys: cx.keys(),
        store: cx.store.clone(),
    }
}

/// Records that `institution` will answer `request` later under `reference`; a reference that
/// is missing, too long or used before leaves the request to the approval page.
async fn await_answer(cx: &Ctx<'_>, institution: &str, request: &CibaRequest, reference: &Value) {
    let Some(reference) = reference
        .as_str()
        .filter(|r| !r.is_empty() && r.chars().count() <= MAX_REFERENCE_CHARS)
        .map(String::from)
    else {
        return tracing::warn!(
            institution,
            "decoupled_request answered pending without a usable reference"
        );
    };
    let (id, inst, now) = (request.id.clone(), institution.to_string(), cx.now);
    match cx
        .store
        .write(move |tx| tx.ciba().await_bank(&id, &inst, &reference, now))
        .await
    {
        Ok(true) => {}
        Ok(false) => tracing::info!(institution, "the request was answered before the bank"),
        Err(e) => {
            tracing::warn!(institution, error = %e, "the bank's reference was not recorded (used before?)")
        }
    }
}

/// What a callback did.
pub struct Answered {
    pub approved: bool,
}

/// Handles one callback of `institution`'s backend: `call` is `#{ method, headers, body }`
/// (header names in lower case, the body as received). Refused, changing nothing, when the
/// institution has no such hook, its script does not accept the call, or the reference is
/// unknown to this institution, already answered or expired.
pub async fn answer(cx: &Ctx<'_>, institution: &str, call: Value) -> OAuthResult<Answered> {
    let plugin = cx
        .plugins
        .get(institution)
        .filter(|p| p.has_hook(CALLBACK_HOOK))
        .ok_or_else(|| {
            OAuthError::not_found("no institution by this id takes decoupled callbacks")
        })?;
    let (answer, _) = cx
        .plugins
        .call_value(plugin.clone(), CALLBACK_HOOK, vec![call], services(cx))
        .await
        .map_err(|f| {
            let kind = f.kind;
            let report = failed(cx, &plugin, f);
            let (id, detail) = (&report.error_id, report.dev_detail(cx.config.plugins.dev));
            match kind {
                // A throw (the documented refusal), or an answer of another shape.
                "runtime" | "result" => refused(&format!(
                    "the institution's script did not accept this callback (error id {id}){detail}"
                )),
                // A limit hit is the script's fault, not a refusal.
                _ => OAuthError::new(
                    ErrorCode::ServerError,
                    500,
                    format!(
                        "the institution's script failed; try again later (error id {id}){detail}"
                    ),
                ),
            }
        })?;
    let (Some(reference), Some(approved)) =
        (answer["reference"].as_str(), answer["approved"].as_bool())
    else {
        return Err(refused(
            "the institution's script did not answer #{ reference, approved }",
        ));
    };
    let (inst, rf) = (institution.to_string(), reference.to_string());
    let request = cx
        .store
        .read(move |tx| tx.ciba().by_bank_reference(&inst, &rf))
        .await?
        .ok_or_else(|| {
            OAuthError::not_found("this institution awaits no answer under this reference")
        })?;
    if request.status != PENDING {
        return Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            409,
            "the request was already answered: an answer counts once (CIBA Core section 5)",
        ));
    }
    if request.expires_at <= cx.now {
        return Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            400,
            "the request has expired (CIBA Core section 7.3 expires_in)",
        ));
    }
    decide(
        cx,
        &bank_authentication(cx, &request),
        &request.id,
        approved,
    )
    .await?;
    Ok(Answered { approved })
}

/// The bank's call was not authenticated by its script.
fn refused(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::AccessDenied, 401, description)
}
