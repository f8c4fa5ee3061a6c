//! Calling a script's journey hooks and reading what they ask the host to do next.

use super::plugin::Plugin;
use super::registry::Registry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Which journey a hook serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JourneyKind {
    Connect,
    Reauth,
    Refresh,
}

impl JourneyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JourneyKind::Connect => "connect",
            JourneyKind::Reauth => "reauth",
            JourneyKind::Refresh => "refresh",
        }
    }

    /// The hook that starts this journey: reauth and refresh fall back to `connect` when a
    /// script has no such hook.
    pub fn entry_hook(self, plugin: &Plugin) -> &'static str {
        match self {
            JourneyKind::Reauth if plugin.has_hook("reauth") => "reauth",
            JourneyKind::Refresh if plugin.has_hook("refresh") => "refresh",
            _ => "connect",
        }
    }
}

/// A form field the script asks the user to fill in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    pub name: String,
    pub label: String,
    /// `text`, `password` or `otp`.
    #[serde(rename = "type", default = "text_field")]
    pub kind: String,
    /// Pre-filled value (text fields only; the host keeps what the user typed on a retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

fn text_field() -> String {
    "text".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Form {
    pub title: String,
    #[serde(default)]
    pub intro: Option<String>,
    pub fields: Vec<Field>,
    /// Shown above the fields, e.g. after a wrong password.
    #[serde(default)]
    pub error: Option<String>,
}

impl Form {
    /// Asked again (a wrong password, say): the text fields keep what the user typed in
    /// `input`, never passwords or codes.
    pub fn keep_typed(&mut self, input: &serde_json::Map<String, Value>) {
        for f in self
            .fields
            .iter_mut()
            .filter(|f| f.kind == "text" && f.value.is_none())
        {
            f.value = input.get(&f.name).and_then(Value::as_str).map(String::from);
        }
    }
}

/// A message that ends the journey on a page the user reads (a lockout notice, say); its one
/// button returns to the client with `access_denied` and `text` as the description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    pub title: String,
    pub text: String,
}

/// Longest message text: it also travels in the client's redirect as `error_description`.
const MAX_MESSAGE_TEXT: usize = 1000;
const MAX_MESSAGE_TITLE: usize = 200;

/// How the host authenticates to an upstream token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamAuth {
    ClientSecretBasic,
    ClientSecretPost,
    /// RFC 7523 assertion signed with this provider's own key (published at its jwks_uri).
    PrivateKeyJwt,
    None,
}

/// An authorization at the institution's own OAuth 2 / OpenID Connect server, which the host
/// carries out as a client: discovery, PKCE, state, nonce, PAR, code exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthStart {
    /// The upstream issuer; its discovery document is read from it. Empty for a plain OAuth 2
    /// server (Slack, Google-style): then the two endpoints below are given instead.
    #[serde(default)]
    pub issuer: String,
    /// Without an issuer: where to send the user, and where to exchange the code.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    pub client_id: String,
    /// For the client_secret_* methods; best read with `setting("client_secret")`.
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default = "default_upstream_auth")]
    pub auth: UpstreamAuth,
    pub scope: String,
    /// Push the request (RFC 9126) even if the upstream does not require it.
    #[serde(default)]
    pub par: bool,
    /// Extra authorization parameters (e.g. `prompt`, `claims`, `acr_values`).
    #[serde(default)]
    pub params: std::collections::BTreeMap<String, String>,
}

fn default_upstream_auth() -> UpstreamAuth {
    UpstreamAuth::ClientSecretBasic
}

/// What a hook asks for next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send the user to the institution's authorization server; the result goes to
    /// `callback(ctx, result)`.
    OAuth { start: OAuthStart, state: Value },
    /// Refresh the connection's upstream tokens; the result goes to `callback(ctx, result)`.
    RefreshUpstream { state: Value },
    /// Show this form; its answers go to `submit(ctx, input)` with `state` in `ctx.state`.
    Form { form: Form, state: Value },
    /// The journey succeeded; keep `data` (sealed) with the connection.
    Done { data: Value },
    /// The journey failed; the message is shown to the client as the error description.
    Fail { message: String },
    /// Show the user this message; its button ends the journey as `access_denied`.
    Message { message: Message },
}

/// Why a hook call did not produce an action.
#[derive(Debug, Clone)]
pub struct HookFailure {
    /// The hook that failed (`connect`, `submit`, ...).
    pub hook: &'static str,
    /// `runtime`, `limit`, `deadline` or `result` (a malformed return value).
    pub kind: &'static str,
    pub message: String,
    /// The script line the error arose at, when Rhai knows it.
    pub line: Option<usize>,
}

impl HookFailure {
    /// The hook answered something the host cannot act on.
    pub fn result(hook: &'static str, message: impl Into<String>) -> HookFailure {
        failure(hook, "result", message.into())
    }
}

impl std::fmt::Display for HookFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "fn {}: {} failure: {}",
            self.hook, self.kind, self.message
        )
    }
}

/// A failed hook as development mode shows it in the browser, and as the log records it
/// under `error_id` in production (where the page shows only the id).
#[derive(Debug, Clone)]
pub struct FailureReport {
    pub error_id: String,
    pub institution: String,
    pub file: std::path::PathBuf,
    pub failure: HookFailure,
}

impl FailureReport {
    /// A report of `plugin`'s failed hook under a new random error id.
    pub fn new(plugin: &Plugin, failure: HookFailure) -> FailureReport {
        FailureReport {
            error_id: crate::secrets::hex(&crate::secrets::random_bytes::<5>()),
            institution: plugin.meta.id.clone(),
            file: plugin.file.clone(),
            failure,
        }
    }

    /// The log line: the error id the client heard, beside the hook, file:line and the
    /// script's error.
    pub fn log(&self, what: &str) {
        tracing::warn!(
            error_id = %self.error_id,
            institution = %self.institution,
            hook = self.failure.hook,
            at = %self.location(),
            failure = %self.failure,
            "{what}"
        );
    }

    /// What an error description adds in development mode: the script's error at file:line
    /// (nothing otherwise: production shows only the error id).
    pub fn dev_detail(&self, dev: bool) -> String {
        match dev {
            true => format!(": {} at {}", self.failure, self.location()),
            false => String::new(),
        }
    }

    /// `file:line` (just the file when the line is unknown).
    pub fn location(&self) -> String {
        match self.failure.line {
            Some(l) => format!("{}:{l}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }
}

const FIELD_KINDS: &[&str] = &["text", "password", "otp"];

impl Action {
    fn parse(v: Value) -> Result<Action, String> {
        let Value::Object(mut m) = v else {
            return Err(
                "a hook must return a map with one of form, message, oauth, refresh_upstream, done or fail"
                    .into(),
            );
        };
        let state = m.remove("state").unwrap_or(Value::Null);
        let keys: Vec<&str> = m.keys().map(String::as_str).collect();
        match keys.as_slice() {
            ["form"] => {
                let form: Form = serde_json::from_value(m.remove("form").unwrap_or_default())
                    .map_err(|e| format!("form: {e}"))?;
                if form.fields.is_empty() {
                    return Err("form: fields must not be empty".into());
                }
                if let Some(f) = form
                    .fields
                    .iter()
                    .find(|f| !FIELD_KINDS.contains(&f.kind.as_str()))
                {
                    return Err(format!(
                        "form field {}: type must be text, password or otp",
                        f.name
                    ));
                }
                Ok(Action::Form { form, state })
            }
            ["message"] => {
                let message: Message =
                    serde_json::from_value(m.remove("message").unwrap_or_default())
                        .map_err(|e| format!("message: {e}"))?;
                if message.title.trim().is_empty() || message.text.trim().is_empty() {
                    return Err("message: title and text must not be empty".into());
                }
                if message.title.len() > MAX_MESSAGE_TITLE || message.text.len() > MAX_MESSAGE_TEXT
                {
                    return Err(format!(
                        "message: title is at most {MAX_MESSAGE_TITLE} bytes, text at most {MAX_MESSAGE_TEXT}"
                    ));
                }
                Ok(Action::Message { message })
            }
            ["done"] => {
                let done = m.remove("done").unwrap_or_default();
                let data = match done {
                    Value::Object(mut d) => d.remove("data").unwrap_or(Value::Null),
                    _ => Value::Null,
                };
                Ok(Action::Done { data })
            }
            ["oauth"] => {
                let start: OAuthStart = serde_json::from_value(m.remove("oauth").unwrap_or_default())
                    .map_err(|e| format!("oauth: {e}"))?;
                Ok(Action::OAuth { start, state })
            }
            ["refresh_upstream"] => Ok(Action::RefreshUpstream { state }),
            ["fail"] => match m.remove("fail") {
                Some(Value::String(message)) => Ok(Action::Fail { message }),
                _ => Err("fail must be a string".into()),
            },
            _ => Err(format!(
                "a hook must return exactly one of form, message, oauth, refresh_upstream, done or fail (got {})",
                keys.join(", ")
            )),
        }
    }
}

impl Registry {
    /// Calls a journey `hook` and reads its answer as an [`Action`], with the
    /// `newTransactions` events it raised.
    pub async fn call(
        &self,
        plugin: Arc<Plugin>,
        hook: &'static str,
        args: Vec<Value>,
        services: super::call::Services,
    ) -> Result<(Action, Vec<Value>), HookFailure> {
        let (value, events) = self.call_value(plugin, hook, args, services).await?;
        Ok((read_action(hook, value)?, events))
    }

    /// Calls `hook` with JSON arguments on a blocking thread, under the deadline, and returns
    /// what it returned as JSON; a panic, an error or an exceeded limit ends as a
    /// `HookFailure`, never anything worse.
    pub async fn call_value(
        &self,
        plugin: Arc<Plugin>,
        hook: &'static str,
        args: Vec<Value>,
        services: super::call::Services,
    ) -> Result<(Value, Vec<Value>), HookFailure> {
        let context = super::call::CallContext {
            institution: plugin.meta.id.clone(),
            settings: self
                .settings
                .get(&plugin.meta.id)
                .cloned()
                .unwrap_or_default(),
            hosts: plugin.meta.hosts.clone(),
            operator_hosts: plugin.operator_hosts.clone(),
            services: Some(services),
            new_transactions: Vec::new(),
            http_stub: None,
        };
        run_hook(
            self.engine.clone(),
            self.limits,
            plugin,
            hook,
            args,
            context,
        )
        .await
    }
}

/// A hook's answer read as an [`Action`].
pub fn read_action(hook: &'static str, value: Value) -> Result<Action, HookFailure> {
    Action::parse(value).map_err(|m| failure(hook, "result", m))
}

/// Calls `hook` with JSON arguments and `context` visible to the host functions, on a blocking
/// thread under the deadline; returns what it returned as JSON and the `newTransactions`
/// events it raised. A panic, an error or an exceeded limit ends as a `HookFailure`.
pub async fn run_hook(
    engine: Arc<rhai::Engine>,
    limits: super::sandbox::Limits,
    plugin: Arc<Plugin>,
    hook: &'static str,
    args: Vec<Value>,
    context: super::call::CallContext,
) -> Result<(Value, Vec<Value>), HookFailure> {
    let task = tokio::task::spawn_blocking(move || {
        let span = tracing::info_span!("plugin", institution = %plugin.meta.id, hook);
        let _entered = span.enter();
        let args: Vec<rhai::Dynamic> = args
            .into_iter()
            .map(rhai::serde::to_dynamic)
            .collect::<Result<_, _>>()
            .map_err(|e| failure(hook, "runtime", e.to_string()))?;
        let (out, left) = super::call::with_context(context, || {
            super::call::with_deadline(limits.deadline, || {
                engine.call_fn_with_options::<rhai::Dynamic>(
                    rhai::CallFnOptions::new().eval_ast(false),
                    &mut rhai::Scope::new(),
                    &plugin.ast,
                    hook,
                    args,
                )
            })
        });
        let out = out.map_err(|e| classify(hook, &e, &limits))?;
        let value: Value =
            rhai::serde::from_dynamic(&out).map_err(|e| failure(hook, "result", e.to_string()))?;
        Ok((value, left.new_transactions))
    });
    match task.await {
        Ok(r) => r,
        Err(_) => Err(failure(hook, "runtime", "the hook panicked".into())),
    }
}

fn failure(hook: &'static str, kind: &'static str, message: String) -> HookFailure {
    HookFailure {
        hook,
        kind,
        message,
        line: None,
    }
}

/// Sorts a Rhai error into a failure kind, described in the script's terms (the limit it ran
/// past, not Rhai's bare "Script terminated") and located at the line of the innermost error
/// (an error inside a function the hook called is wrapped once per call).
fn classify(
    hook: &'static str,
    e: &rhai::EvalAltResult,
    limits: &super::sandbox::Limits,
) -> HookFailure {
    use rhai::EvalAltResult as E;
    let (cause, line) = super::lint::innermost(e);
    let what = super::lint::describe(cause, limits.deadline, limits.max_operations);
    let mut f = match cause {
        E::ErrorTerminated(..) => failure(hook, "deadline", format!("the hook {what}")),
        E::ErrorTooManyOperations(..) => failure(hook, "limit", format!("the hook {what}")),
        E::ErrorStackOverflow(..) | E::ErrorDataTooLarge(..) => failure(hook, "limit", what),
        _ => failure(hook, "runtime", what),
    };
    f.line = line;
    f
}
