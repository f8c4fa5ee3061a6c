//! The plans, as the suite's `*TestPlan` classes list them, with the variants we run, and the
//! scheduler that runs their modules.

use crate::config::Config;
use crate::log::Flow;
use crate::modules::{
    ciba, discovery, dynamic, fapi1, fapi2, logout, oidcc, request_uri, ClientAuth, Ctx,
};
use crate::report::{ModuleReport, PlanReport};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct Entry {
    pub module: &'static str,
    pub auth: ClientAuth,
    /// The response_type variant: `code`, `code id_token`, `code token`, ...
    pub response_type: &'static str,
    /// The response_mode variant: `default` or `form_post`.
    pub response_mode: &'static str,
    /// The configured client the module runs as; none: the OIDCC plans' role for `auth` and
    /// `response_type`.
    pub client_role: Option<&'static str>,
    /// The plan's variant values (shown in the report; modules read them from `Ctx::variant`).
    pub variant: Vec<(&'static str, &'static str)>,
}

impl Entry {
    /// A module of the OIDCC plans (static client, variant by response type and mode).
    pub fn oidcc(
        module: &'static str,
        auth: ClientAuth,
        response_type: &'static str,
        response_mode: &'static str,
    ) -> Entry {
        Entry {
            module,
            auth,
            response_type,
            response_mode,
            client_role: None,
            variant: Vec::new(),
        }
    }

    /// The configured client role the module runs as.
    pub fn role(&self) -> String {
        match self.client_role {
            Some(r) => r.to_string(),
            // Clients registered for the response types that return tokens from the
            // authorization endpoint have their own role.
            None if self.response_type == "code" => self.auth.name().to_string(),
            None => format!("{}_front_channel_tokens", self.auth.name()),
        }
    }
}

pub struct Plan {
    pub name: &'static str,
    pub entries: Vec<Entry>,
}

fn basic(modules: &[&'static str], auth: ClientAuth) -> Vec<Entry> {
    with_response_type(modules, auth, "code")
}

fn with_response_type(
    modules: &[&'static str],
    auth: ClientAuth,
    response_type: &'static str,
) -> Vec<Entry> {
    modules
        .iter()
        .map(|m| Entry::oidcc(m, auth, response_type, "default"))
        .collect()
}

/// AbstractFormPostTestPlan.changeResponseTypeToFormPost: the same modules with
/// response_mode=form_post.
fn form_post(entries: Vec<Entry>) -> Vec<Entry> {
    entries
        .into_iter()
        .map(|e| Entry {
            response_mode: "form_post",
            ..e
        })
        .collect()
}

/// The plan's modules with client_registration=dynamic_client: each registers its own clients
/// (modules/dynamic_client.rs) from the `dynamic_client` templates; the other variant values
/// stay the static entry's (the OIDCC plans leave ClientRegistration to the tester's menu).
fn dynamic_client(entries: &[Entry]) -> Vec<Entry> {
    entries
        .iter()
        .map(|e| Entry {
            client_role: Some(crate::modules::dynamic_client::TEMPLATE_ROLE),
            variant: vec![
                ("server_metadata", "discovery"),
                ("client_registration", "dynamic_client"),
                ("response_type", e.response_type),
                ("response_mode", e.response_mode),
                ("client_auth_type", e.auth.name()),
            ],
            ..e.clone()
        })
        .collect()
}

/// The modules the suite marks `@VariantNotApplicable(ClientRegistration = static_client)`.
const DYNAMIC_CLIENT_ONLY: [&str; 3] = [
    "oidcc-idtoken-signature",
    "oidcc-idtoken-unsigned",
    "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
];

/// Both client registration variants of a plan: the static clients' entries (less the
/// dynamic-only modules), then every module registering its clients.
fn static_and_dynamic(entries: Vec<Entry>) -> Vec<Entry> {
    let dynamic = dynamic_client(&entries);
    entries
        .into_iter()
        .filter(|e| !DYNAMIC_CLIENT_ONLY.contains(&e.module))
        .chain(dynamic)
        .collect()
}

/// The implicit plan (`OIDCCImplicitTestPlan`): one table for `id_token` and for
/// `id_token token`, then the UserInfo modules and OP-Response-Missing with `id_token token`.
fn implicit_entries() -> Vec<Entry> {
    let table: &[&'static str] = &[
        "oidcc-server",
        "oidcc-idtoken-signature",
        "oidcc-ensure-request-without-nonce-fails",
        "oidcc-scope-profile",
        "oidcc-scope-email",
        "oidcc-scope-address",
        "oidcc-scope-phone",
        "oidcc-scope-all",
        "oidcc-display-page",
        "oidcc-display-popup",
        "oidcc-prompt-login",
        "oidcc-prompt-none-not-logged-in",
        "oidcc-prompt-none-logged-in",
        "oidcc-max-age-1",
        "oidcc-max-age-10000",
        "oidcc-ensure-request-with-unknown-parameter-succeeds",
        "oidcc-id-token-hint",
        "oidcc-login-hint",
        "oidcc-ui-locales",
        "oidcc-claims-locales",
        "oidcc-ensure-request-with-acr-values-succeeds",
        "oidcc-ensure-registered-redirect-uri",
        "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
        "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
        "oidcc-ensure-request-object-with-redirect-uri",
        "oidcc-claims-essential",
    ];
    let mut out = with_response_type(table, ClientAuth::ClientSecretBasic, "id_token");
    out.extend(with_response_type(
        table,
        ClientAuth::ClientSecretBasic,
        "id_token token",
    ));
    out.extend(with_response_type(
        &[
            "oidcc-userinfo-get",
            "oidcc-userinfo-post-header",
            "oidcc-userinfo-post-body",
            "oidcc-response-type-missing",
        ],
        ClientAuth::ClientSecretBasic,
        "id_token token",
    ));
    out
}

/// The hybrid plan (`OIDCCHybridTestPlan`): the basic plan's table once per response type,
/// as the suite lists it.
fn hybrid_entries() -> Vec<Entry> {
    use ClientAuth::*;
    let mut out = Vec::new();
    for rt in ["code id_token", "code token", "code id_token token"] {
        let mut first: Vec<&'static str> = vec!["oidcc-server"];
        // OP-Response-Missing does not need repeating for the other response types.
        if rt == "code id_token" {
            first.push("oidcc-response-type-missing");
        }
        first.extend([
            "oidcc-idtoken-signature",
            "oidcc-userinfo-get",
            "oidcc-userinfo-post-header",
            "oidcc-userinfo-post-body",
        ]);
        // With an ID token from the authorization endpoint the nonce is required;
        // `code token` may omit it.
        first.push(if rt == "code token" {
            "oidcc-ensure-request-without-nonce-succeeds-for-code-flow"
        } else {
            "oidcc-ensure-request-without-nonce-fails"
        });
        first.extend([
            "oidcc-scope-profile",
            "oidcc-scope-email",
            "oidcc-scope-address",
            "oidcc-scope-phone",
            "oidcc-scope-all",
        ]);
        // The suite's "new test in java suite", listed with code id_token only.
        if rt == "code id_token" {
            first.push("oidcc-alternate-happy-flow");
        }
        first.extend([
            "oidcc-display-page",
            "oidcc-display-popup",
            "oidcc-prompt-login",
            "oidcc-prompt-none-not-logged-in",
            "oidcc-prompt-none-logged-in",
            "oidcc-max-age-1",
            "oidcc-max-age-10000",
            "oidcc-ensure-request-with-unknown-parameter-succeeds",
            "oidcc-id-token-hint",
            "oidcc-login-hint",
            "oidcc-ui-locales",
            "oidcc-claims-locales",
            "oidcc-ensure-request-with-acr-values-succeeds",
            "oidcc-codereuse",
            "oidcc-codereuse-30seconds",
            "oidcc-ensure-registered-redirect-uri",
        ]);
        out.extend(with_response_type(&first, ClientSecretBasic, rt));
        out.extend(with_response_type(
            &["oidcc-server-client-secret-post"],
            ClientSecretPost,
            rt,
        ));
        let mut last: Vec<&'static str> = vec![
            "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
            "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
            "oidcc-claims-essential",
            "oidcc-ensure-request-object-with-redirect-uri",
            "oidcc-refresh-token",
        ];
        if rt == "code id_token" {
            last.push("oidcc-ensure-request-with-valid-pkce-succeeds");
        }
        out.extend(with_response_type(&last, ClientSecretBasic, rt));
    }
    out
}

/// The dynamic plan (`OIDCCDynamicTestPlan`) with its variant: each module registers its own
/// clients (modules/dynamic.rs), private_key_jwt, response_type code (the plan leaves the
/// response type to the tester; `code` is the Dynamic OP profile's).
fn dynamic_entries() -> Vec<Entry> {
    const REGISTERED: &[(&str, &str)] = &[
        ("server_metadata", "discovery"),
        ("client_registration", "dynamic_client"),
        ("response_type", "code"),
        ("response_mode", "default"),
        ("client_auth_type", "private_key_jwt"),
    ];
    let entry = |module: &'static str, variant: &[(&'static str, &'static str)]| Entry {
        client_role: Some("dynamic"),
        variant: variant.to_vec(),
        ..Entry::oidcc(module, ClientAuth::PrivateKeyJwt, "code", "default")
    };
    crate::modules::dynamic::MODULES
        .iter()
        .map(|m| match *m {
            "oidcc-discovery-endpoint-verification" => entry(
                m,
                &[
                    ("server_metadata", "discovery"),
                    ("client_registration", "dynamic_client"),
                ],
            ),
            "oidcc-server-rotate-keys" => entry(m, &[("server_metadata", "discovery")]),
            _ => entry(m, REGISTERED),
        })
        .collect()
}

/// The plans and modules run today (see conformance/README.md for what is left out and why).
pub fn plans() -> Vec<Plan> {
    use ClientAuth::*;
    let mut basic_entries = basic(
        &[
            "oidcc-server",
            "oidcc-response-type-missing",
            "oidcc-idtoken-signature",
            "oidcc-idtoken-unsigned",
            "oidcc-userinfo-get",
            "oidcc-userinfo-post-header",
            "oidcc-userinfo-post-body",
            "oidcc-ensure-request-without-nonce-succeeds-for-code-flow",
            "oidcc-scope-profile",
            "oidcc-scope-email",
            "oidcc-scope-address",
            "oidcc-scope-phone",
            "oidcc-scope-all",
            "oidcc-alternate-happy-flow",
            "oidcc-display-page",
            "oidcc-display-popup",
            "oidcc-prompt-login",
            "oidcc-prompt-none-not-logged-in",
            "oidcc-prompt-none-logged-in",
            "oidcc-max-age-1",
            "oidcc-max-age-10000",
            "oidcc-ensure-request-with-unknown-parameter-succeeds",
            "oidcc-id-token-hint",
            "oidcc-login-hint",
            "oidcc-ui-locales",
            "oidcc-claims-locales",
            "oidcc-ensure-request-with-acr-values-succeeds",
            "oidcc-codereuse",
            "oidcc-codereuse-30seconds",
            "oidcc-ensure-registered-redirect-uri",
            "oidcc-ensure-post-request-succeeds",
        ],
        ClientSecretBasic,
    );
    basic_entries.extend(basic(
        &["oidcc-server-client-secret-post"],
        ClientSecretPost,
    ));
    basic_entries.extend(basic(
        &[
            "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
            "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported",
            "oidcc-claims-essential",
            "oidcc-ensure-request-object-with-redirect-uri",
            "oidcc-refresh-token",
            "oidcc-ensure-request-with-valid-pkce-succeeds",
        ],
        ClientSecretBasic,
    ));
    vec![
        Plan {
            name: "oidcc-config-certification-test-plan",
            entries: basic(
                &["oidcc-discovery-endpoint-verification"],
                ClientSecretBasic,
            ),
        },
        Plan {
            name: "oidcc-basic-certification-test-plan",
            entries: static_and_dynamic(basic_entries.clone()),
        },
        Plan {
            name: "oidcc-formpost-basic-certification-test-plan",
            entries: static_and_dynamic(form_post(basic_entries)),
        },
        Plan {
            name: "oidcc-formpost-hybrid-certification-test-plan",
            entries: static_and_dynamic(form_post(hybrid_entries())),
        },
        Plan {
            name: "oidcc-hybrid-certification-test-plan",
            entries: static_and_dynamic(hybrid_entries()),
        },
        Plan {
            name: "oidcc-implicit-certification-test-plan",
            entries: static_and_dynamic(implicit_entries()),
        },
        Plan {
            name: "fapi1-advanced-final-test-plan",
            entries: fapi1::plan_entries(),
        },
        Plan {
            name: "oidcc-dynamic-certification-test-plan",
            entries: dynamic_entries(),
        },
        fapi2::security_profile_plan(),
        fapi2::message_signing_plan(),
        logout::rp_initiated_plan(),
        logout::backchannel_plan(),
        logout::frontchannel_plan(),
        ciba::plan(),
    ]
}

pub fn variant(entry: &Entry) -> String {
    if !entry.variant.is_empty() {
        return entry
            .variant
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
    }
    format!(
        "server_metadata=discovery, client_registration=static_client, response_type={}, response_mode={}, client_auth_type={}",
        entry.response_type,
        entry.response_mode,
        entry.auth.name()
    )
}

type ModuleFuture<'a> = Pin<Box<dyn Future<Output = Flow> + Send + 'a>>;

fn dispatch<'a, 'b: 'a>(name: &str, ctx: &'a mut Ctx<'b>) -> Option<ModuleFuture<'a>> {
    Some(match name {
        n if n.starts_with("fapi1-") => return fapi1::dispatch(n, ctx),
        n if n.starts_with("fapi-ciba-") => return ciba::dispatch(n, ctx),
        // The three logout plans (modules/logout.rs).
        n if n.contains("logout") => return logout::dispatch(n, ctx),
        // The dynamic plan's modules (some share their name with the basic plan's).
        name if ctx.role == "dynamic" || name == "oidcc-server-rotate-keys" => {
            let module = dynamic::MODULES.iter().find(|m| **m == name)?;
            Box::pin(dynamic::run(ctx, module))
        }
        // The other plans' dynamic_client variant: OIDCCIdTokenUnsigned is skipped before its
        // client is registered when `none` is not offered, as the dynamic plan's.
        "oidcc-idtoken-unsigned" if ctx.variant_is("client_registration", "dynamic_client") => {
            Box::pin(dynamic::run(ctx, "oidcc-idtoken-unsigned"))
        }
        "oidcc-discovery-endpoint-verification" => {
            Box::pin(discovery::oidcc_discovery_endpoint_verification(ctx))
        }
        "oidcc-server" => Box::pin(oidcc::oidcc_server(ctx)),
        "oidcc-server-client-secret-post" => Box::pin(oidcc::oidcc_server_client_secret_post(ctx)),
        "oidcc-response-type-missing" => Box::pin(oidcc::oidcc_response_type_missing(ctx)),
        "oidcc-idtoken-signature" => Box::pin(oidcc::oidcc_idtoken_signature(ctx)),
        "oidcc-idtoken-unsigned" => Box::pin(oidcc::oidcc_idtoken_unsigned(ctx)),
        "oidcc-userinfo-get" => Box::pin(oidcc::oidcc_userinfo_get(ctx)),
        "oidcc-userinfo-post-header" => Box::pin(oidcc::oidcc_userinfo_post_header(ctx)),
        "oidcc-userinfo-post-body" => Box::pin(oidcc::oidcc_userinfo_post_body(ctx)),
        "oidcc-ensure-request-without-nonce-succeeds-for-code-flow" => {
            Box::pin(oidcc::oidcc_ensure_request_without_nonce_succeeds_for_code_flow(ctx))
        }
        "oidcc-scope-profile" => Box::pin(oidcc::oidcc_scope_profile(ctx)),
        "oidcc-scope-email" => Box::pin(oidcc::oidcc_scope_email(ctx)),
        "oidcc-scope-address" => Box::pin(oidcc::oidcc_scope_address(ctx)),
        "oidcc-scope-phone" => Box::pin(oidcc::oidcc_scope_phone(ctx)),
        "oidcc-scope-all" => Box::pin(oidcc::oidcc_scope_all(ctx)),
        "oidcc-alternate-happy-flow" => Box::pin(oidcc::oidcc_alternate_happy_flow(ctx)),
        "oidcc-display-page" => Box::pin(oidcc::oidcc_display_page(ctx)),
        "oidcc-display-popup" => Box::pin(oidcc::oidcc_display_popup(ctx)),
        "oidcc-prompt-login" => Box::pin(oidcc::oidcc_prompt_login(ctx)),
        "oidcc-prompt-none-not-logged-in" => Box::pin(oidcc::oidcc_prompt_none_not_logged_in(ctx)),
        "oidcc-prompt-none-logged-in" => Box::pin(oidcc::oidcc_prompt_none_logged_in(ctx)),
        "oidcc-max-age-1" => Box::pin(oidcc::oidcc_max_age_1(ctx)),
        "oidcc-max-age-10000" => Box::pin(oidcc::oidcc_max_age_10000(ctx)),
        "oidcc-ensure-request-with-unknown-parameter-succeeds" => Box::pin(
            oidcc::oidcc_ensure_request_with_unknown_parameter_succeeds(ctx),
        ),
        "oidcc-id-token-hint" => Box::pin(oidcc::oidcc_id_token_hint(ctx)),
        "oidcc-login-hint" => Box::pin(oidcc::oidcc_login_hint(ctx)),
        "oidcc-ui-locales" => Box::pin(oidcc::oidcc_ui_locales(ctx)),
        "oidcc-claims-locales" => Box::pin(oidcc::oidcc_claims_locales(ctx)),
        "oidcc-ensure-request-with-acr-values-succeeds" => {
            Box::pin(oidcc::oidcc_ensure_request_with_acr_values_succeeds(ctx))
        }
        "oidcc-ensure-request-without-nonce-fails" => {
            Box::pin(oidcc::oidcc_ensure_request_without_nonce_fails(ctx))
        }
        "oidcc-codereuse" => Box::pin(oidcc::oidcc_codereuse(ctx)),
        "oidcc-codereuse-30seconds" => Box::pin(oidcc::oidcc_codereuse_30seconds(ctx)),
        "oidcc-ensure-registered-redirect-uri" => {
            Box::pin(oidcc::oidcc_ensure_registered_redirect_uri(ctx))
        }
        "oidcc-ensure-post-request-succeeds" => {
            Box::pin(oidcc::oidcc_ensure_post_request_succeeds(ctx))
        }
        "oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported" => Box::pin(
            oidcc::oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
                ctx,
            ),
        ),
        "oidcc-claims-essential" => Box::pin(oidcc::oidcc_claims_essential(ctx)),
        "oidcc-ensure-request-object-with-redirect-uri" => {
            Box::pin(oidcc::oidcc_ensure_request_object_with_redirect_uri(ctx))
        }
        "oidcc-refresh-token" => Box::pin(oidcc::oidcc_refresh_token(ctx)),
        "oidcc-ensure-request-with-valid-pkce-succeeds" => {
            Box::pin(oidcc::oidcc_ensure_request_with_valid_pkce_succeeds(ctx))
        }
        "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported" => Box::pin(
            request_uri::oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
                ctx,
            ),
        ),
        // FAPI 2.0 Security Profile and Message Signing (modules/fapi2/).
        fapi2_module if fapi2_module.starts_with("fapi2-") => return fapi2::dispatch(name, ctx),
        _ => return None,
    })
}

/// Runs one module in a fresh context (its own browser, no session at the provider).
pub async fn run_module(
    cfg: &Config,
    ca: Option<reqwest::Certificate>,
    entry: &Entry,
) -> ModuleReport {
    let started = std::time::Instant::now();
    let mut ctx = match Ctx::new(cfg, ca, entry) {
        Ok(c) => c,
        Err(e) => {
            let mut log = crate::log::Log::default();
            log.check("configure", crate::report::Outcome::Failure, &[], Err(e));
            return ModuleReport::from_steps(entry.module, &variant(entry), log.steps, None, 0);
        }
    };
    let known = match dispatch(entry.module, &mut ctx) {
        Some(fut) => {
            let _ = fut.await;
            true
        }
        None => false,
    };
    if !known {
        let msg = format!("unknown module {}", entry.module);
        ctx.log
            .check("dispatch", crate::report::Outcome::Failure, &[], Err(msg));
    }
    crate::modules::dynamic_client::cleanup(&mut ctx).await;
    let log = std::mem::take(&mut ctx.log);
    ModuleReport::from_steps(
        entry.module,
        &variant(entry),
        log.steps,
        log.skipped,
        started.elapsed().as_millis(),
    )
}

/// Which plans, variants and modules to run (each list empty: all).
#[derive(Default, Debug)]
pub struct Selection {
    pub modules: Vec<String>,
    pub plans: Vec<String>,
    /// `name=value` variant values the entry must have (all of them).
    pub variants: Vec<String>,
}

impl Selection {
    pub fn includes(&self, plan: &str, entry: &Entry) -> bool {
        let variant = variant(entry);
        let values: Vec<&str> = variant.split(", ").collect();
        (self.modules.is_empty() || self.modules.iter().any(|m| m == entry.module))
            && (self.plans.is_empty() || self.plans.iter().any(|p| p == plan))
            && self.variants.iter().all(|v| values.contains(&v.as_str()))
    }
}

/// Runs the selected plans and modules, `parallel` modules at a time; each plan's modules keep
/// the plan's order in the report.
pub async fn run_plans(
    cfg: Arc<Config>,
    ca: Option<reqwest::Certificate>,
    selection: &Selection,
    parallel: usize,
) -> Vec<PlanReport> {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let plans: Vec<(&'static str, Vec<Entry>)> = plans()
        .into_iter()
        .map(|p| {
            let entries = p
                .entries
                .into_iter()
                .filter(|e| selection.includes(p.name, e))
                .collect();
            (p.name, entries)
        })
        .collect();
    // Modules that mostly wait (oidcc-codereuse-30seconds) take their place first, so the
    // others run during the wait.
    let mut order: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(p, (_, es))| (0..es.len()).map(move |e| (p, e)))
        .collect();
    order.sort_by_key(|&(p, e)| {
        let m = plans[p].1[e].module;
        !(m.ends_with("-30seconds")
            || m.ends_with("expired-request_uri")
            || fapi2::WAITING.contains(&m))
    });
    let mut slots: Vec<Vec<Option<tokio::task::JoinHandle<ModuleReport>>>> = plans
        .iter()
        .map(|(_, es)| es.iter().map(|_| None).collect())
        .collect();
    for (p, e) in order {
        let entry = plans[p].1[e].clone();
        let (cfg, ca, sem) = (cfg.clone(), ca.clone(), sem.clone());
        slots[p][e] = Some(tokio::spawn(async move {
            let _permit = sem.acquire_owned().await.expect("semaphore");
            run_module(&cfg, ca, &entry).await
        }));
    }
    let handles: Vec<(&'static str, Vec<tokio::task::JoinHandle<ModuleReport>>)> = plans
        .iter()
        .zip(slots)
        .map(|((name, _), hs)| (*name, hs.into_iter().flatten().collect()))
        .collect();
    let mut out = Vec::new();
    for (name, hs) in handles {
        let mut modules = Vec::new();
        for h in hs {
            modules.push(h.await.expect("module task"));
        }
        if !modules.is_empty() {
            out.push(PlanReport {
                plan: name.to_string(),
                modules,
            });
        }
    }
    out
}
