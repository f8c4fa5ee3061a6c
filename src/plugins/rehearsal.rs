//! Rehearsing an institution script's journey without a server (`consentry plugins test`).
//! A case file plays the host's part — the operator's settings, the user's answers to each
//! form, the institution server's `result` after `oauth` / `refresh_upstream`, canned answers
//! for `http_*` — and says what the script should answer at each step. The hooks run as in a
//! journey (the same engine, limits and host functions), with signing keys made for the run.

use super::call::{CallContext, Services};
use super::http_stub::{Canned, HttpStub};
use super::journey::{read_action, run_hook, Action, Form, HookFailure, JourneyKind};
use super::plugin::{self, Plugin};
use super::sandbox::{self, Limits};
use crate::jose::{stored_keys, KeySet};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// A case file (TOML). Every key is described in plugins/README.md, "Testing a script".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    #[serde(default)]
    pub description: String,
    #[serde(default = "connect")]
    pub journey: JourneyKind,
    /// The institution the case is written for, checked against the script's id.
    #[serde(default)]
    pub institution: Option<String>,
    /// The operator's settings, as `[plugins.settings.<id>]` gives them.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// `ctx.connection` of a reauth or refresh journey.
    #[serde(default)]
    pub connection: Option<Connection>,
    #[serde(default, rename = "step")]
    pub steps: Vec<Step>,
    #[serde(default)]
    pub http: Vec<HttpAnswer>,
    #[serde(default)]
    pub expect: Expect,
}

fn connect() -> JourneyKind {
    JourneyKind::Connect
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    #[serde(default = "connection_id")]
    pub id: String,
    #[serde(default = "active")]
    pub status: String,
    #[serde(default = "empty_map")]
    pub data: Value,
}

fn connection_id() -> String {
    "rehearsal-connection".into()
}
fn active() -> String {
    "active".into()
}
fn empty_map() -> Value {
    Value::Object(Map::new())
}

/// One answer of the script that is not the last, and the host's reply to it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    #[serde(default)]
    pub expect: StepExpect,
    /// The user's answers to the form (field name → text); `submit(ctx, input)` gets them.
    pub input: Option<BTreeMap<String, String>>,
    /// What `callback(ctx, result)` gets after `oauth` or `refresh_upstream`.
    pub result: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepExpect {
    /// `form`, `oauth` or `refresh_upstream`.
    pub action: Option<String>,
    /// The form's title, exactly.
    pub title: Option<String>,
    /// The form's field names, in order.
    pub fields: Option<Vec<String>>,
    /// Text the form's error contains; `""` means the form shows no error.
    pub error: Option<String>,
    /// Keys the `oauth` map must have, with these values.
    pub oauth: Option<Value>,
}

/// A canned answer for `http_get` / `http_post_form` / `http_post_json`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAnswer {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    #[serde(default = "ok")]
    pub status: u16,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    /// A JSON body (instead of `body`), sent with `content-type: application/json`.
    pub json: Option<Value>,
}

fn get() -> String {
    "GET".into()
}
fn ok() -> u16 {
    200
}

/// How the journey should end.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// `done`, `fail`, `error` (the script failed), or `form`, `oauth`, `refresh_upstream`
    /// (the journey waits for an answer the case does not give).
    pub outcome: Option<String>,
    /// Keys `done.data` must have, with these values (nested maps likewise).
    pub data: Option<Value>,
    /// Text the `fail` message contains.
    pub fail: Option<String>,
    /// Text the script's error contains.
    pub error: Option<String>,
    /// Text the `message` page's text contains.
    pub message: Option<String>,
}

const OUTCOMES: &[&str] = &[
    "done",
    "fail",
    "message",
    "error",
    "form",
    "oauth",
    "refresh_upstream",
];
const WAITING: &[&str] = &["form", "oauth", "refresh_upstream"];

impl Case {
    /// Reads and checks a case file's text.
    pub fn parse(text: &str) -> Result<Case, String> {
        let case: Case = toml::from_str(text).map_err(|e| e.to_string())?;
        case.check()?;
        Ok(case)
    }

    /// Without a case: connect with no input, to see the first step.
    pub fn smoke() -> Case {
        Case::parse("").expect("an empty case is valid")
    }

    fn check(&self) -> Result<(), String> {
        if self.connection.is_some() && self.journey == JourneyKind::Connect {
            return Err("connection is for reauth and refresh journeys".into());
        }
        for (i, step) in self.steps.iter().enumerate() {
            let n = i + 1;
            if step.input.is_some() && step.result.is_some() {
                return Err(format!("step {n}: give input (to a form) or result (to oauth / refresh_upstream), not both"));
            }
            if step.input.is_none() && step.result.is_none() && n < self.steps.len() {
                return Err(format!("step {n}: only the last step may leave the script's answer unanswered (give input or result)"));
            }
            if step.expected().is_empty() {
                return Err(format!("step {n}: expect.action, input and result disagree about what the script answers"));
            }
        }
        if let Some(o) = &self.expect.outcome {
            if !OUTCOMES.contains(&o.as_str()) {
                return Err(format!(
                    "expect.outcome {o:?} is not one of {}",
                    OUTCOMES.join(", ")
                ));
            }
        }
        for h in &self.http {
            if !["GET", "POST"].contains(&h.method.as_str()) {
                return Err(format!("http {}: method must be GET or POST", h.url));
            }
            url::Url::parse(&h.url).map_err(|e| format!("http {}: {e}", h.url))?;
            if h.body.is_some() && h.json.is_some() {
                return Err(format!("http {}: give body or json, not both", h.url));
            }
        }
        Ok(())
    }

    fn canned(&self) -> Vec<Canned> {
        self.http
            .iter()
            .filter_map(|h| {
                let mut headers: Vec<(String, String)> = h
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_lowercase(), v.clone()))
                    .collect();
                let body = match &h.json {
                    Some(j) => {
                        if !headers.iter().any(|(k, _)| k == "content-type") {
                            headers.push(("content-type".into(), "application/json".into()));
                        }
                        j.to_string()
                    }
                    None => h.body.clone().unwrap_or_default(),
                };
                Some(Canned {
                    method: h.method.clone(),
                    url: url::Url::parse(&h.url).ok()?,
                    status: h.status,
                    headers,
                    body,
                })
            })
            .collect()
    }
}

impl Step {
    /// The answers of the script this step allows (all of them when it says nothing).
    fn expected(&self) -> Vec<&'static str> {
        let mut allowed: Vec<&'static str> = WAITING.to_vec();
        let e = &self.expect;
        if let Some(a) = &e.action {
            allowed.retain(|w| w == a);
        }
        if self.input.is_some() || e.title.is_some() || e.fields.is_some() || e.error.is_some() {
            allowed.retain(|w| *w == "form");
        }
        if self.result.is_some() {
            allowed.retain(|w| *w != "form");
        }
        if e.oauth.is_some() {
            allowed.retain(|w| *w == "oauth");
        }
        allowed
    }
}

/// What a rehearsal printed, and the first way it differed from the case (if it did).
pub struct Rehearsal {
    pub transcript: Vec<String>,
    pub mismatch: Option<String>,
}

/// One compiled script, ready to play cases.
pub struct Rehearser {
    plugin: Arc<Plugin>,
    engine: Arc<rhai::Engine>,
    limits: Limits,
    keys: Arc<KeySet>,
    http: reqwest::Client,
    /// Storage for `storage_*`: a database of the run's own, in a scratch folder removed
    /// with the rehearser. Cases run in order and see what earlier ones stored.
    store: crate::store::Store,
    scratch: std::path::PathBuf,
}

impl Drop for Rehearser {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

impl Rehearser {
    /// Compiles the script (problems as `file:line: reason`) and makes signing keys for
    /// `jwt_sign`.
    pub fn new(script: &Path) -> Result<Rehearser, String> {
        let limits = Limits::default();
        let engine = sandbox::engine(&limits);
        let icon_dir = script.parent().unwrap_or(Path::new("."));
        let plugin =
            plugin::compile(&engine, &limits, script, icon_dir).map_err(|e| e.to_string())?;
        let now = crate::clock::Clock::default().now();
        let keys = stored_keys::generate(now)
            .and_then(|k| KeySet::from_stored(&k))
            .map_err(|e| format!("signing keys for the rehearsal: {e}"))?;
        let scratch =
            std::env::temp_dir().join(format!("consentry-rehearsal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&scratch)
            .map_err(|e| format!("a scratch folder for the rehearsal's storage: {e}"))?;
        let store = crate::store::Store::open(&scratch.join("storage.db"))
            .map_err(|e| format!("the rehearsal's storage: {e}"))?;
        Ok(Rehearser {
            store,
            scratch,
            plugin: Arc::new(plugin),
            engine: Arc::new(engine),
            limits,
            keys: Arc::new(keys),
            http: reqwest::Client::new(),
        })
    }

    pub fn institution(&self) -> &str {
        &self.plugin.meta.id
    }

    /// Plays the case to its end or to its first mismatch.
    pub async fn run(&self, case: &Case) -> Rehearsal {
        let mut transcript = Vec::new();
        let mismatch = self.play(case, &mut transcript).await.err();
        Rehearsal {
            transcript,
            mismatch,
        }
    }

    async fn play(&self, case: &Case, out: &mut Vec<String>) -> Result<(), String> {
        if let Some(id) = case
            .institution
            .as_ref()
            .filter(|id| **id != self.plugin.meta.id)
        {
            return Err(format!(
                "the case is for institution {id}, the script is {}",
                self.plugin.meta.id
            ));
        }
        let stub = Arc::new(HttpStub::new(case.canned()));
        let mut hook = case.journey.entry_hook(&self.plugin);
        let mut state = Value::Null;
        let mut reply: Option<Value> = None;
        for n in 1.. {
            let given = reply.take();
            let mut args = vec![self.ctx(case, &state)];
            args.extend(given.clone());
            let answer = self.call(case, &stub, hook, args).await;
            let called = match hook {
                "submit" => "submit(ctx, input)".to_string(),
                "callback" => "callback(ctx, result)".to_string(),
                h => format!("{h}(ctx)"),
            };
            // What the hook did on the way (HTTP calls, events) is printed under its answer.
            let mut notes: Vec<String> = stub
                .take_calls()
                .iter()
                .map(|c| format!("http {c}"))
                .collect();
            let answer = answer.map(|(action, events)| {
                notes.extend(events.iter().map(|e| format!("new_transactions {e}")));
                action
            });
            let step = case.steps.get(n - 1);
            let mut say = |answer: String, details: Vec<String>| {
                out.push(format!("step {n}  {called} -> {answer}"));
                out.extend(
                    notes
                        .drain(..)
                        .chain(details)
                        .map(|d| format!("          {d}")),
                );
            };
            let action = match answer {
                Ok(a) => a,
                Err(f) => {
                    let message = self.located(hook, &f);
                    say(format!("error: {message}"), Vec::new());
                    return finish(n, case, step, Ended::Error(message));
                }
            };
            let next = match action {
                Action::Done { data } => {
                    say("done".into(), vec![format!("data {data}")]);
                    return finish(n, case, step, Ended::Done(data));
                }
                Action::Fail { message } => {
                    say(format!("fail {message:?}"), Vec::new());
                    return finish(n, case, step, Ended::Fail(message));
                }
                Action::Message { message } => {
                    say(
                        format!("message {:?}", message.title),
                        vec![format!("text {:?}", message.text)],
                    );
                    return finish(n, case, step, Ended::Message(message.title, message.text));
                }
                Action::Form { mut form, state } => {
                    // Asked again: text fields keep what was typed, as the host does.
                    if let (Some(Value::Object(input)), "submit") = (&given, hook) {
                        form.keep_typed(input);
                    }
                    say(format!("form {:?}", form.title), describe_form(&form));
                    (Waiting::Form(form), state)
                }
                Action::OAuth { start, state } => {
                    let start = serde_json::to_value(&start).unwrap_or_default();
                    let mut shown = start.clone();
                    if shown["client_secret"].is_string() {
                        shown["client_secret"] = "(hidden)".into();
                    }
                    say(format!("oauth {shown}"), Vec::new());
                    (Waiting::OAuth(start), state)
                }
                Action::RefreshUpstream { state } => {
                    say("refresh_upstream".into(), Vec::new());
                    (Waiting::Refresh, state)
                }
            };
            let (waiting, new_state) = next;
            state = new_state;
            let Some(step) = step else {
                return finish(n, case, None, Ended::Waiting(waiting.name()));
            };
            check_step(n, step, &waiting)?;
            match (&waiting, &step.input, &step.result) {
                (Waiting::Form(form), Some(input), _) => {
                    let posted = answers(n, form, input)?;
                    out.push(format!("          input {}", shown_input(form, &posted)));
                    reply = Some(Value::Object(posted));
                    hook = "submit";
                }
                (Waiting::OAuth(_) | Waiting::Refresh, _, Some(result)) => {
                    out.push(format!("          result {result}"));
                    reply = Some(result.clone());
                    hook = "callback";
                }
                _ => return finish(n, case, None, Ended::Waiting(waiting.name())),
            }
        }
        Ok(())
    }

    /// Runs one hook as the host would; a missing `submit` or `callback` fails as it does in
    /// a journey.
    async fn call(
        &self,
        case: &Case,
        stub: &Arc<HttpStub>,
        hook: &'static str,
        args: Vec<Value>,
    ) -> Result<(Action, Vec<Value>), HookFailure> {
        if !self.plugin.has_hook(hook) {
            let message = match hook {
                "submit" => "the script showed a form but has no fn submit(ctx, input)",
                _ => "the script used its institution's server but has no fn callback(ctx, result)",
            };
            return Err(HookFailure {
                hook,
                kind: "result",
                message: message.into(),
                line: None,
            });
        }
        let context = self.call_context(case, stub.clone());
        let (value, events) = run_hook(
            self.engine.clone(),
            self.limits,
            self.plugin.clone(),
            hook,
            args,
            context,
        )
        .await?;
        Ok((read_action(hook, value)?, events))
    }

    /// What the host functions may reach during a rehearsal, built in this one place: the
    /// case's settings, the script's and the operator's hosts, the run's keys, and the canned
    /// HTTP answers in place of the network.
    fn call_context(&self, case: &Case, stub: Arc<HttpStub>) -> CallContext {
        CallContext {
            institution: self.plugin.meta.id.clone(),
            settings: case.settings.clone(),
            hosts: self.plugin.meta.hosts.clone(),
            operator_hosts: (case.settings.get("hosts"))
                .map(|h| super::hosts::split_setting(h))
                .unwrap_or_default(),
            services: Some(Services {
                http: self.http.clone(),
                runtime: tokio::runtime::Handle::current(),
                keys: self.keys.clone(),
                store: self.store.clone(),
            }),
            http_stub: Some(stub),
            ..Default::default()
        }
    }

    /// `ctx` as the host builds it (see `protocol/bank/journey.rs`).
    fn ctx(&self, case: &Case, state: &Value) -> Value {
        let mut ctx = json!({
            "journey": case.journey.as_str(),
            "institution": self.plugin.meta.id,
            "state": state,
        });
        if case.journey != JourneyKind::Connect {
            let c = case.connection.as_ref();
            ctx["connection"] = json!({
                "id": c.map_or_else(connection_id, |c| c.id.clone()),
                "status": c.map_or_else(active, |c| c.status.clone()),
                "data": c.map_or_else(empty_map, |c| c.data.clone()),
            });
        }
        ctx
    }

    /// A hook's failure with the script's file and line, where the error names one.
    fn located(&self, hook: &str, f: &HookFailure) -> String {
        let file = self.plugin.file.display();
        let (kind, message) = (f.kind, &f.message);
        match f.line {
            Some(line) => format!("{file}:{line}: {hook}: {kind} failure: {message}"),
            None => format!("{file}: {hook}: {kind} failure: {message}"),
        }
    }
}

enum Waiting {
    Form(Form),
    OAuth(Value),
    Refresh,
}

impl Waiting {
    fn name(&self) -> &'static str {
        match self {
            Waiting::Form(_) => "form",
            Waiting::OAuth(_) => "oauth",
            Waiting::Refresh => "refresh_upstream",
        }
    }
}

enum Ended {
    Done(Value),
    Fail(String),
    /// The journey ended on a message page (title, text).
    Message(String, String),
    Error(String),
    Waiting(&'static str),
}

impl Ended {
    fn name(&self) -> &'static str {
        match self {
            Ended::Done(_) => "done",
            Ended::Fail(_) => "fail",
            Ended::Message(..) => "message",
            Ended::Error(_) => "error",
            Ended::Waiting(w) => w,
        }
    }

    fn describe(&self) -> String {
        match self {
            Ended::Done(data) => format!("done with data {data}"),
            Ended::Fail(m) => format!("fail {m:?}"),
            Ended::Message(title, text) => format!("message {title:?}: {text:?}"),
            Ended::Error(m) => format!("error: {m}"),
            Ended::Waiting(w) => format!("{w} (the case gives no answer to it)"),
        }
    }
}

/// Checks what the script answered at step `n` against the step's expectations.
fn check_step(n: usize, step: &Step, waiting: &Waiting) -> Result<(), String> {
    let allowed = step.expected();
    let got = match waiting {
        Waiting::Form(form) => format!("form {:?}", form.title),
        other => other.name().to_string(),
    };
    if !allowed.contains(&waiting.name()) {
        return Err(format!(
            "step {n}: expected {}, got {got}",
            allowed.join(" or ")
        ));
    }
    let e = &step.expect;
    if let Waiting::Form(form) = waiting {
        if let Some(title) = e.title.as_ref().filter(|t| **t != form.title) {
            return Err(format!(
                "step {n}: expected form title {title:?}, got {:?}",
                form.title
            ));
        }
        let names: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
        if let Some(fields) = e.fields.as_ref().filter(|f| **f != names) {
            return Err(format!(
                "step {n}: expected fields {fields:?}, got {names:?}"
            ));
        }
        let shown = form.error.as_deref().unwrap_or_default();
        match e.error.as_deref() {
            Some("") if !shown.is_empty() => {
                return Err(format!(
                    "step {n}: expected a form with no error, got error {shown:?}"
                ))
            }
            Some(text) if !shown.contains(text) => {
                return Err(format!(
                    "step {n}: expected a form error containing {text:?}, got {shown:?}"
                ))
            }
            _ => {}
        }
    }
    if let (Waiting::OAuth(start), Some(want)) = (waiting, &e.oauth) {
        if !contains(start, want) {
            return Err(format!("step {n}: expected oauth with {want}, got {start}"));
        }
    }
    Ok(())
}

/// The journey ended (or stopped waiting) at step `n`: checks `[expect]`, and that the case
/// has no step left for the script to answer.
fn finish(n: usize, case: &Case, step: Option<&Step>, ended: Ended) -> Result<(), String> {
    if let Some(step) = step {
        return Err(format!(
            "step {n}: expected {}, got {}",
            step.expected().join(" or "),
            ended.describe()
        ));
    }
    let e = &case.expect;
    let got = ended.name();
    match &e.outcome {
        Some(want) if want != got => {
            return Err(format!(
                "step {n}: expected outcome {want}, got {}",
                ended.describe()
            ))
        }
        None if got == "error" && e.error.is_none() => {
            return Err(format!("step {n}: the script failed: {}", ended.describe()))
        }
        _ => {}
    }
    if let Some(want) = &e.data {
        match &ended {
            Ended::Done(data) if contains(data, want) => {}
            _ => {
                return Err(format!(
                    "step {n}: expected done with data {want}, got {}",
                    ended.describe()
                ))
            }
        }
    }
    if let Some(want) = &e.fail {
        match &ended {
            Ended::Fail(m) if m.contains(want.as_str()) => {}
            _ => {
                return Err(format!(
                    "step {n}: expected fail containing {want:?}, got {}",
                    ended.describe()
                ))
            }
        }
    }
    if let Some(want) = &e.message {
        match &ended {
            Ended::Message(_, text) if text.contains(want.as_str()) => {}
            _ => {
                return Err(format!(
                    "step {n}: expected a message containing {want:?}, got {}",
                    ended.describe()
                ))
            }
        }
    }
    if let Some(want) = &e.error {
        match &ended {
            Ended::Error(m) if m.contains(want.as_str()) => {}
            _ => {
                return Err(format!(
                    "step {n}: expected an error containing {want:?}, got {}",
                    ended.describe()
                ))
            }
        }
    }
    Ok(())
}

/// The form's answers as the host hands them to `submit`: every field, as a browser posts
/// it (a field the case leaves out keeps its pre-filled value, or is empty). A name the form
/// does not have is a mistake in the case.
fn answers(
    n: usize,
    form: &Form,
    input: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, String> {
    let names: Vec<&str> = form.fields.iter().map(|f| f.name.as_str()).collect();
    if let Some(extra) = input.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(format!(
            "step {n}: the case answers field {extra:?}, which the form does not have (fields: {})",
            names.join(", ")
        ));
    }
    Ok(form
        .fields
        .iter()
        .map(|f| {
            (
                f.name.clone(),
                Value::String(
                    (input.get(&f.name).or(f.value.as_ref()))
                        .cloned()
                        .unwrap_or_default(),
                ),
            )
        })
        .collect())
}

fn describe_form(form: &Form) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(intro) = &form.intro {
        lines.push(format!("intro {intro:?}"));
    }
    if let Some(error) = &form.error {
        lines.push(format!("error {error:?}"));
    }
    for f in &form.fields {
        let value = (f.value.as_ref())
            .map(|v| format!(" = {v:?}"))
            .unwrap_or_default();
        lines.push(format!(
            "field {} ({}) {:?}{value}",
            f.name, f.kind, f.label
        ));
    }
    lines
}

/// The answers as printed: passwords hidden.
fn shown_input(form: &Form, input: &Map<String, Value>) -> String {
    let hidden = |name: &str| {
        form.fields
            .iter()
            .any(|f| f.name == name && f.kind == "password")
    };
    input
        .iter()
        .map(|(k, v)| match hidden(k) {
            true => format!("{k}=(hidden)"),
            false => format!("{k}={v}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `actual` has everything `expected` has: maps by key (extra keys allowed), arrays
/// element by element, numbers by value.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| contains(x, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| contains(x, y))
        }
        (Value::Number(a), Value::Number(e)) => a.as_f64() == e.as_f64(),
        _ => actual == expected,
    }
}
