//! Configuration: zero-config defaults, an optional TOML file, then `CONSENTRY_*` environment
//! variables, then command-line flags. Validated once at start.

pub mod federation;
pub mod gateway;
pub mod webhooks;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder holding the SQLite database and generated keys.
    pub data_dir: PathBuf,
    /// `postgres://user:password@host:port/db?sslmode=...` to keep the data in PostgreSQL
    /// (several nodes over one database); the SQLite file in `data_dir` when unset.
    pub database_url: Option<String>,
    /// PostgreSQL connections each node keeps open at most.
    pub database_pool_size: usize,
    /// The operator's data key file (seals stored upstream tokens, `client_secret_jwt` and
    /// webhook secrets, and the signing keys in the database); `<data_dir>/keys/data.key` when
    /// unset, made there on first start with SQLite. Required with PostgreSQL: every node is
    /// given the same file.
    pub data_key: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Public issuer identifier; defaults to `https://localhost:PORT/oidc`.
    pub issuer: Option<String>,
    /// Serve plain HTTP (behind a TLS-terminating proxy, or for local benchmarks).
    pub http: bool,
    /// Log as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Log filter (tracing directives such as `info` or `consentry=debug,warn`).
    pub log: String,
    /// Create the demo client and demo user on start.
    pub demo: bool,
    /// Bearer token that protects dynamic client registration (RFC 7591 initial access token).
    pub registration_token: Option<String>,
    /// Bearer token for the client administration API (`/admin/clients`); closed while unset.
    pub admin_token: Option<String>,
    /// Every client must use pushed authorization requests (RFC 9126 §5).
    pub require_par: bool,
    /// DPoP proofs must carry a nonce this provider issued (RFC 9449 §8).
    pub dpop_require_nonce: bool,
    /// The FAPI profile for clients that do not name one: `fapi1_advanced` or `fapi2`.
    pub fapi_profile: Option<crate::types::FapiProfile>,
    /// PEM file of the CAs that issue certificates for `tls_client_auth` (RFC 8705 §2.1).
    pub mtls_trust_anchors: Option<PathBuf>,
    /// Proxies allowed to pass the client certificate in the `Client-Cert` header (RFC 9440).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// A TOML file replacing the built-in scope rules (src/protocol/scope_policy.toml).
    pub scope_policy: Option<PathBuf>,
    /// Resource servers by their RFC 8707 `resource` URI, with what their access tokens need.
    pub resource_servers: std::collections::BTreeMap<String, ResourceServer>,
    pub lifetimes: Lifetimes,
    pub login: LoginLimits,
    pub keys: KeyRotation,
    pub plugins: PluginsConfig,
    pub webhooks: webhooks::WebhookConfig,
    pub server: ServerLimits,
    /// Requests made on a client's behalf (`jwks_uri`, ...): see `crate::outbound`.
    pub outbound: crate::outbound::OutboundPolicy,
    /// The scope-checked gateway's routes (`[[gateway.routes]]`): see `gateway`.
    pub gateway: gateway::GatewayConfig,
    /// Upstream identity providers the login page offers.
    pub federation: federation::FederationConfig,
    /// The upstream token hand-out (`GET /users/{id}/connections/{cid}/token`).
    pub handout: HandoutConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoutConfig {
    /// How long hand-out audit entries are kept (days); 0 keeps them forever. Over a year by
    /// default, as financial audit trails commonly must be.
    pub audit_retention_days: i64,
}

/// The longest `handout.audit_retention_days` (a century): beyond it, keep forever with 0.
const MAX_AUDIT_RETENTION_DAYS: i64 = 36_500;

impl Default for HandoutConfig {
    fn default() -> Self {
        HandoutConfig {
            audit_retention_days: 400,
        }
    }
}

impl HandoutConfig {
    /// How long an audit entry is kept (seconds); `None` keeps it forever.
    pub fn audit_kept_secs(&self) -> Option<i64> {
        (self.audit_retention_days > 0).then(|| self.audit_retention_days * 24 * 3600)
    }
}

/// Connection limits and timeouts, so idle or slow clients cannot hold the server's
/// connections (or file descriptors) forever, and how long a stop waits for requests in flight.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
    /// How long a client may take to complete the TLS handshake (seconds).
    pub tls_handshake_timeout_secs: u64,
    /// How long a client may take to send a request's headers (seconds, HTTP/1.1).
    pub header_read_timeout_secs: u64,
    /// How long a connection may stay open with no request in flight (seconds).
    pub idle_timeout_secs: u64,
    /// On SIGTERM or SIGINT, how long requests in flight may take to finish (seconds).
    pub shutdown_grace_secs: u64,
    /// Serving threads (each a runtime of its own, `tls::cores`); 0: one per core this process
    /// may use (its CPU affinity and quota).
    pub threads: usize,
}

impl ServerLimits {
    /// How many serving threads to start.
    pub fn serving_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 4096,
            tls_handshake_timeout_secs: 10,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            shutdown_grace_secs: 20,
            threads: 0,
        }
    }
}

/// A resource server's requirements for the access tokens issued for it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceServer {
    /// RS256, PS256 or ES256 (the default for every other audience is ES256).
    pub access_token_signing_alg: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginsConfig {
    /// Folder of institution scripts (`*.rhai` or `<name>/main.rhai`), watched for changes;
    /// a relative path is taken from the working directory at start. Any folder but the
    /// default `plugins` must exist.
    pub dir: PathBuf,
    /// Development mode: a journey whose script fails shows the browser the error (file,
    /// line, hook) instead of only an error id. Never in production.
    pub dev: bool,
    /// How often the folder is rescanned for changed scripts (milliseconds; 0 turns it off).
    pub reload_interval_ms: u64,
    /// Wall-clock limit for one hook call (milliseconds).
    pub hook_timeout_ms: u64,
    /// Rhai operations one hook call may run.
    pub max_operations: u64,
    /// Per-institution settings scripts read with `setting(name)` (client ids, secrets), so
    /// secrets stay out of scripts: `[plugins.settings.<institution id>]`.
    pub settings: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// Extra CA certificates (PEM) to trust for institutions' servers, besides the web PKI.
    pub upstream_ca_file: Option<PathBuf>,
    /// Whether the operator named `dir` (flag, file or environment): only an unnamed default
    /// may be missing.
    #[serde(skip)]
    pub dir_named: bool,
    /// Set by `resolve_dir`: no folder was named and `./plugins` is absent, so the examples
    /// built into the binary are served.
    #[serde(skip)]
    pub built_in: bool,
}

/// The plugins folder a zero-config start looks for; it alone may be absent.
pub const DEFAULT_PLUGINS_DIR: &str = "plugins";

impl PluginsConfig {
    /// Makes `dir` absolute (from the working directory) and checks it is a folder. Only the
    /// default folder, not named by the operator, may be missing: then the built-in examples
    /// are served (`built_in`).
    pub fn resolve_dir(&mut self) -> Result<(), ConfigError> {
        let dir = std::path::absolute(&self.dir).map_err(|e| {
            ConfigError::Invalid(format!("plugins.dir {}: {e}", self.dir.display()))
        })?;
        let default = !self.dir_named && self.dir == Path::new(DEFAULT_PLUGINS_DIR);
        let named = |what: &str| {
            ConfigError::Invalid(format!("plugins.dir (--plugins) {}: {what}", dir.display()))
        };
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(named("not a folder")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && default => self.built_in = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(named("no such folder"))
            }
            Err(e) => return Err(named(&e.to_string())),
        }
        self.dir = dir;
        Ok(())
    }
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            dir: PathBuf::from(DEFAULT_PLUGINS_DIR),
            dev: false,
            reload_interval_ms: 1000,
            // Room for a few HTTPS calls to the institution; loops are cut off at this too.
            hook_timeout_ms: 5_000,
            max_operations: 5_000_000,
            settings: Default::default(),
            upstream_ca_file: None,
            dir_named: false,
            built_in: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct KeyRotation {
    /// Rotate the signing keys automatically when the current ones are this old (seconds);
    /// unset means only `consentry keys rotate` rotates them.
    pub rotate_after_secs: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lifetimes {
    pub authorization_code_secs: i64,
    pub access_token_secs: i64,
    pub id_token_secs: i64,
    pub refresh_token_secs: i64,
    pub session_secs: i64,
    pub interaction_secs: i64,
    /// How long a pushed request_uri stays usable (RFC 9126 §2.2: short; at most 90 s here).
    pub par_secs: i64,
    /// How long after a rotation a confidential client may retry it with the old refresh token
    /// (its answer was lost) while the new one is unused; 0 treats every such retry as reuse
    /// (RFC 9700 §4.14.2).
    pub refresh_retry_grace_secs: i64,
    /// How long a device flow's codes live (RFC 8628 §3.2 `expires_in`); at most 1800, since a
    /// user code is short and is guessed against for as long as it lives (RFC 8628 §5.1).
    pub device_code_secs: i64,
    /// The polling interval a device flow or a CIBA poll starts with (RFC 8628 §3.2 and CIBA
    /// Core §7.3 `interval`); at most 60.
    pub poll_interval_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginLimits {
    /// Failed attempts allowed per (account, client address), and per client address across
    /// accounts, before attempts are blocked (60 s, doubling per failure, up to `window_secs`).
    pub max_failures_per_account: u32,
    pub max_failures_per_ip: u32,
    pub window_secs: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("."),
            database_url: None,
            database_pool_size: 16,
            data_key: None,
            listen: "127.0.0.1:8443".parse().expect("static address"),
            issuer: None,
            http: false,
            log_json: false,
            log: "info".into(),
            demo: true,
            registration_token: None,
            admin_token: None,
            require_par: false,
            fapi_profile: None,
            dpop_require_nonce: false,
            mtls_trust_anchors: None,
            trusted_proxies: Vec::new(),
            scope_policy: None,
            resource_servers: Default::default(),
            lifetimes: Lifetimes::default(),
            login: LoginLimits::default(),
            keys: KeyRotation::default(),
            plugins: PluginsConfig::default(),
            webhooks: Default::default(),
            server: ServerLimits::default(),
            outbound: Default::default(),
            gateway: Default::default(),
            federation: Default::default(),
            handout: Default::default(),
        }
    }
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            authorization_code_secs: 60,
            access_token_secs: 600,
            id_token_secs: 600,
            refresh_token_secs: 30 * 24 * 3600,
            session_secs: 8 * 3600,
            interaction_secs: 15 * 60,
            par_secs: 60,
            refresh_retry_grace_secs: 60,
            device_code_secs: 600,
            poll_interval_secs: 5,
        }
    }
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            max_failures_per_account: 5,
            max_failures_per_ip: 20,
            window_secs: 15 * 60,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("config file {0}: {1}")]
    Parse(PathBuf, String),
    #[error("environment variable {0}: {1}")]
    Env(String, String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, overlaid by the TOML file (if any), then by `CONSENTRY_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_with(file, std::env::vars())
    }

    /// [`Config::load`] with `vars` for the process's environment.
    fn load_with(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = toml::Table::new();
        if let Some(path) = file {
            let text =
                std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
            table = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse(path.into(), e.to_string()))?;
        }
        for (name, value) in vars {
            if let Some(key) = name.strip_prefix("CONSENTRY_") {
                set_env_key(&mut table, &name, key, &value)?;
            }
        }
        let dir_named = table.get("plugins").and_then(|p| p.get("dir")).is_some();
        let mut config: Config =
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| {
                    ConfigError::Parse(file.map(Into::into).unwrap_or_default(), e.to_string())
                })?;
        config.plugins.dir_named = dir_named;
        Ok(config)
    }

    /// Checks what serde cannot; call after every override has been applied.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.database_pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database_pool_size must be at least 1".into(),
            ));
        }
        let issuer = self.issuer();
        let url = url::Url::parse(&issuer)
            .map_err(|e| ConfigError::Invalid(format!("issuer {issuer}: {e}")))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid(
                "issuer must not have a query or fragment".into(),
            ));
        }
        if url.scheme() != "https" && !self.http {
            return Err(ConfigError::Invalid(
                "issuer must be https unless --http is set".into(),
            ));
        }
        let l = &self.lifetimes;
        for (name, v) in [
            ("authorization_code_secs", l.authorization_code_secs),
            ("access_token_secs", l.access_token_secs),
            ("id_token_secs", l.id_token_secs),
            ("refresh_token_secs", l.refresh_token_secs),
            ("session_secs", l.session_secs),
            ("interaction_secs", l.interaction_secs),
            ("par_secs", l.par_secs),
            ("device_code_secs", l.device_code_secs),
            ("poll_interval_secs", l.poll_interval_secs),
        ] {
            if v <= 0 {
                return Err(ConfigError::Invalid(format!(
                    "lifetimes.{name} must be positive"
                )));
            }
        }
        self.gateway
            .validate(&self.outbound)
            .map_err(ConfigError::Invalid)?;
        self.federation.validate().map_err(ConfigError::Invalid)?;
        if l.refresh_retry_grace_secs < 0 {
            return Err(ConfigError::Invalid(
                "lifetimes.refresh_retry_grace_secs must not be negative".into(),
            ));
        }
        if self.server.threads > 256 {
            return Err(ConfigError::Invalid(
                "server.threads must be at most 256 (0: one per core)".into(),
            ));
        }
        // Upper bounds, with the rule behind each.
        for (name, v, max, why) in [
            (
                "authorization_code_secs",
                l.authorization_code_secs,
                600,
                " (RFC 6749 §4.1.2)",
            ),
            (
                "device_code_secs",
                l.device_code_secs,
                1800,
                " (RFC 8628 §5.1: user codes are guessed against while they live)",
            ),
            ("poll_interval_secs", l.poll_interval_secs, 60, ""),
        ] {
            if v > max {
                return Err(ConfigError::Invalid(format!(
                    "lifetimes.{name} must be at most {max}{why}"
                )));
            }
        }
        for (uri, rs) in &self.resource_servers {
            if crate::jose::Alg::parse(&rs.access_token_signing_alg).is_none() {
                return Err(ConfigError::Invalid(format!(
                    "resource_servers.\"{uri}\".access_token_signing_alg must be RS256, PS256 or ES256"
                )));
            }
        }
        if self.plugins.hook_timeout_ms == 0 || self.plugins.max_operations == 0 {
            return Err(ConfigError::Invalid(
                "plugins.hook_timeout_ms and plugins.max_operations must be positive".into(),
            ));
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 32) {
            return Err(ConfigError::Invalid(
                "admin_token must be at least 32 characters".into(),
            ));
        }
        let srv = &self.server;
        if srv.max_connections == 0
            || srv.tls_handshake_timeout_secs == 0
            || srv.header_read_timeout_secs == 0
            || srv.idle_timeout_secs == 0
        {
            return Err(ConfigError::Invalid(
                "server.max_connections and the server timeouts must be positive".into(),
            ));
        }
        let days = self.handout.audit_retention_days;
        if !(0..=MAX_AUDIT_RETENTION_DAYS).contains(&days) {
            return Err(ConfigError::Invalid(format!(
                "handout.audit_retention_days must be between 0 (keep forever) and \
                 {MAX_AUDIT_RETENTION_DAYS}, not {days}"
            )));
        }
        if l.par_secs > 90 {
            return Err(ConfigError::Invalid(
                "lifetimes.par_secs must be at most 90".into(),
            ));
        }
        Ok(())
    }

    pub fn issuer(&self) -> String {
        match &self.issuer {
            Some(i) => i.trim_end_matches('/').to_string(),
            None => {
                let scheme = if self.http { "http" } else { "https" };
                format!("{scheme}://localhost:{}/oidc", self.listen.port())
            }
        }
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("consentry.sqlite")
    }
}

/// `CONSENTRY_LIFETIMES__ACCESS_TOKEN_SECS=60` sets `lifetimes.access_token_secs`. A value is
/// read as TOML when it parses as one, so arrays of tables take inline syntax:
/// `CONSENTRY_GATEWAY__ROUTES='[{ method = "GET", path = "/a", ... }]'`.
fn set_env_key(
    table: &mut toml::Table,
    var: &str,
    key: &str,
    value: &str,
) -> Result<(), ConfigError> {
    let path: Vec<String> = key.split("__").map(|p| p.to_ascii_lowercase()).collect();
    let (last, parents) = path.split_last().expect("split yields one part");
    let mut here = table;
    for part in parents {
        let entry = here
            .entry(part.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = entry
            .as_table_mut()
            .ok_or_else(|| ConfigError::Env(var.into(), format!("{part} is not a table")))?;
    }
    // Numbers, booleans, arrays and inline tables parse as TOML; anything else is taken as a
    // string, except what can only have meant an array or a table: its TOML error is told.
    let parsed = match format!("v = {value}").parse::<toml::Table>() {
        Ok(mut t) => t.remove("v"),
        Err(e) if value.trim_start().starts_with(['[', '{']) => {
            return Err(ConfigError::Env(var.into(), format!("not TOML: {e}")));
        }
        Err(_) => None,
    };
    let parsed = parsed.unwrap_or_else(|| toml::Value::String(value.to_string()));
    here.insert(last.clone(), parsed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Containers configure everything through the environment, federation providers and
    /// gateway routes (arrays of tables) included.
    #[test]
    fn arrays_of_tables_come_from_the_environment_in_toml_inline_syntax() {
        let vars = [
            (
                "CONSENTRY_FEDERATION__PROVIDERS",
                concat!(
                    r#"[{ id = "corp", name = "Corp SSO", kind = "oidc", link = "email", "#,
                    r#"issuer = "https://sso.corp.example", client_id = "consentry", "#,
                    r#"client_secret = "s3cret" }]"#
                ),
            ),
            (
                "CONSENTRY_GATEWAY__ROUTES",
                r#"[{ method = "GET", path = "/accounts", scopes = ["accounts:read"], upstream = "https://api.example.com" }]"#,
            ),
            ("CONSENTRY_LIFETIMES__POLL_INTERVAL_SECS", "7"),
            ("OTHER_VARIABLE", "ignored"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let config = Config::load_with(None, vars).expect("loads");
        config.validate().expect("valid");
        let provider = &config.federation.providers[0];
        assert_eq!(
            (provider.id.as_str(), provider.name.as_str()),
            ("corp", "Corp SSO")
        );
        assert_eq!(provider.kind, federation::ProviderKind::Oidc);
        assert_eq!(config.gateway.routes[0].upstream, "https://api.example.com");
        assert_eq!(config.gateway.routes[0].scopes, ["accounts:read"]);
        assert_eq!(config.lifetimes.poll_interval_secs, 7);

        // A provider missing what its kind needs is refused, as from the file.
        let broken = [(
            "CONSENTRY_FEDERATION__PROVIDERS".to_string(),
            r#"[{ id = "corp", name = "Corp SSO", kind = "oidc", link = "email" }]"#.to_string(),
        )];
        let refused = Config::load_with(None, broken).and_then(|c| c.validate());
        assert!(
            refused.is_err(),
            "an OpenID provider without an issuer is refused"
        );

        // TOML 1.0 keeps an inline table on one line: a value that can only have meant an
        // array or a table is refused with TOML's reason, not taken as a string.
        let multi_line = [(
            "CONSENTRY_GATEWAY__ROUTES".to_string(),
            "[{ method = \"GET\",\n path = \"/a\" }]".to_string(),
        )];
        match Config::load_with(None, multi_line) {
            Err(ConfigError::Env(var, why)) => {
                assert_eq!(var, "CONSENTRY_GATEWAY__ROUTES");
                assert!(why.starts_with("not TOML"), "{why}");
            }
            other => panic!("a broken inline table is refused by name: {other:?}"),
        }
    }
}
