//! A conformance runner for OpenID Providers: replays the OpenID Foundation suite's plans and
//! modules (names and assertions from openid-certification/conformance-suite) as a relying
//! party with its own HTTP stack and JOSE code, sharing nothing with the provider under test.

pub mod browser;
pub mod config;
pub mod dpop;
pub mod form;
pub mod jose;
pub mod log;
pub mod modules;
pub mod plans;
pub mod registration;
pub mod report;
pub mod rp_server;
pub mod tls_probe;

pub use config::Config;
pub use plans::{run_module, run_plans, Entry};
pub use report::{ModuleReport, PlanReport, Verdict};

/// Reads the CA certificate the provider's TLS chains to.
pub fn load_ca(cfg: &Config) -> Result<Option<reqwest::Certificate>, String> {
    match &cfg.ca_file {
        None => Ok(None),
        Some(p) => {
            let pem = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
            reqwest::Certificate::from_pem(&pem)
                .map(Some)
                .map_err(|e| format!("{}: {e}", p.display()))
        }
    }
}
