//! consentry-conformance: runs the plans against a provider and writes the report.

use clap::Parser;
use consentry_conformance::plans::Selection;
use consentry_conformance::{load_ca, report, run_plans, Config, Verdict};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(about = "Replays the OpenID Foundation conformance plans against an OpenID Provider")]
struct Cli {
    /// Runner configuration (JSON: discovery_url, ca_file, user, clients).
    #[arg(long, required_unless_present_any = ["list", "public_jwk"])]
    config: Option<PathBuf>,
    /// Where the JSON and Markdown reports go.
    #[arg(long, default_value = "conformance/report")]
    out: PathBuf,
    /// Run only these modules (repeatable); a plan's name selects all its modules.
    #[arg(long = "module")]
    modules: Vec<String>,
    /// Run only these plans (repeatable), e.g. oidcc-basic-certification-test-plan.
    #[arg(long = "plan")]
    plans: Vec<String>,
    /// Run only the entries with this variant value (repeatable: all must match), e.g.
    /// client_registration=dynamic_client.
    #[arg(long = "variant", value_name = "NAME=VALUE")]
    variants: Vec<String>,
    /// Modules run at once.
    #[arg(long, default_value_t = 6)]
    parallel: usize,
    /// List the plans and modules, run nothing.
    #[arg(long)]
    list: bool,
    /// Print the public JWK set of this private key (PKCS#8 DER) and exit (for provisioning
    /// the clients' `jwks`); needs --alg and --kid.
    #[arg(long, value_name = "FILE", requires_all = ["alg", "kid"])]
    public_jwk: Option<PathBuf>,
    #[arg(long)]
    alg: Option<String>,
    #[arg(long)]
    kid: Option<String>,
    /// The runner's server also answers https on rp_listen, with this certificate (PEM)...
    #[arg(long, value_name = "FILE", requires_all = ["rp_tls_key", "rp_tls_ca"])]
    rp_tls_cert: Option<PathBuf>,
    /// ... its key (PEM, PKCS#8)...
    #[arg(long, value_name = "FILE")]
    rp_tls_key: Option<PathBuf>,
    /// ... and the CA that issued it (given to the provider as outbound.ca_file).
    #[arg(long, value_name = "FILE")]
    rp_tls_ca: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Some(file) = &cli.public_jwk {
        let key = consentry_conformance::config::SigningKeyConfig {
            file: file.clone(),
            alg: cli.alg.clone().unwrap_or_default(),
            kid: cli.kid.clone().unwrap_or_default(),
        };
        let signer = consentry_conformance::jose::Signer::load(&key).unwrap_or_else(|e| fail(&e));
        println!("{}", serde_json::json!({"keys": [signer.public_jwk()]}));
        return;
    }
    if cli.list {
        for p in consentry_conformance::plans::plans() {
            for e in p.entries {
                let v = consentry_conformance::plans::variant(&e);
                println!("{}\t{}\t{v}", p.name, e.module);
            }
        }
        return;
    }
    let known: Vec<&str> = consentry_conformance::plans::plans()
        .into_iter()
        .flat_map(|p| std::iter::once(p.name).chain(p.entries.into_iter().map(|e| e.module)))
        .collect();
    if let Some(m) = cli.modules.iter().find(|m| !known.contains(&m.as_str())) {
        fail(&format!("no module {m} in the plans (see --list)"));
    }
    let plan_names: Vec<&str> = consentry_conformance::plans::plans()
        .into_iter()
        .map(|p| p.name)
        .collect();
    if let Some(p) = cli.plans.iter().find(|p| !plan_names.contains(&p.as_str())) {
        fail(&format!("no plan {p} (see --list)"));
    }
    let selection = Selection {
        modules: cli.modules.clone(),
        plans: cli.plans.clone(),
        variants: cli.variants.clone(),
    };
    let cfg =
        Config::from_file(cli.config.as_deref().expect("--config")).unwrap_or_else(|e| fail(&e));
    let ca = load_ca(&cfg).unwrap_or_else(|e| fail(&e));
    if let Some(addr) = &cfg.rp_listen {
        let tls =
            cli.rp_tls_cert
                .clone()
                .map(|cert_file| consentry_conformance::config::RpTlsConfig {
                    cert_file,
                    key_file: cli.rp_tls_key.clone().unwrap_or_default(),
                    ca_file: cli.rp_tls_ca.clone().unwrap_or_default(),
                });
        consentry_conformance::rp_server::serve_with_tls(addr, tls.as_ref())
            .await
            .unwrap_or_else(|e| fail(&e));
    }
    let plans = run_plans(Arc::new(cfg), ca, &selection, cli.parallel).await;
    std::fs::create_dir_all(&cli.out)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", cli.out.display())));
    for p in &plans {
        let json = serde_json::to_string_pretty(p).expect("report json");
        write(&cli.out.join(format!("{}.json", p.plan)), &json);
        write(
            &cli.out.join(format!("{}.md", p.plan)),
            &report::markdown(p),
        );
    }
    let all: Vec<&report::ModuleReport> = plans.iter().flat_map(|p| p.modules.iter()).collect();
    for p in &plans {
        println!("\n{}", p.plan);
        for m in &p.modules {
            let note = m
                .skip_reason
                .clone()
                .or_else(|| m.failures.first().cloned())
                .unwrap_or_default();
            // The response type, where a plan runs a module under several.
            let rt = m
                .variant
                .split(", ")
                .find_map(|v| v.strip_prefix("response_type="))
                .filter(|rt| *rt != "code")
                .map(|rt| format!(" ({rt})"))
                .unwrap_or_default();
            let rt = if m.variant.contains("response_mode=form_post") {
                format!("{rt} (form_post)")
            } else {
                rt
            };
            // The plans with variants of their own (FAPI): their values, but the profile's.
            let rt = if m.variant.contains("response_type=") {
                rt
            } else {
                let values: Vec<&str> = m
                    .variant
                    .split(", ")
                    .filter_map(|v| v.split_once('='))
                    .filter(|(k, _)| *k != "fapi_profile")
                    .map(|(_, v)| v)
                    .collect();
                format!(" ({})", values.join(", "))
            };
            // The OIDCC plans' modules run with either client registration variant.
            let rt = if m.variant.contains("response_type=")
                && m.variant.contains("client_registration=dynamic_client")
            {
                format!("{rt} [dynamic_client]")
            } else {
                rt
            };
            let name = format!("{}{rt}", m.name);
            println!("  {:<60} {:<8} {}", name, m.verdict.as_str(), note);
        }
    }
    let warned: Vec<&&report::ModuleReport> = all
        .iter()
        .filter(|m| m.verdict == Verdict::Warning)
        .collect();
    if !warned.is_empty() {
        println!("\nwarnings:");
        for m in warned {
            println!("  {}: {}", m.name, m.warnings.join("; "));
        }
    }
    let t = report::totals(all.iter().copied());
    println!("\nreports in {}", cli.out.display());
    println!(
        "{} passed, {} failed, {} skipped",
        t.passed, t.failed, t.skipped
    );
    if t.failed > 0 {
        std::process::exit(1);
    }
}

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
}

fn fail(msg: &str) -> ! {
    eprintln!("consentry-conformance: {msg}");
    std::process::exit(2)
}
