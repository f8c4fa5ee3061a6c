//! The `consentry` command: serve the provider, and operator tools for clients and users.

use clap::{Args, Parser, Subcommand};
use consentry::config::Config;
use consentry::protocol::login::hash_password;
use consentry::store::{self, Store};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "consentry",
    version,
    about = "OpenID Connect provider for open-banking connections"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the provider.
    Serve(ServeArgs),
    /// Manage registered clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage local users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check and list institution scripts.
    #[command(subcommand)]
    Plugins(PluginsCommand),
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Compile and validate scripts; prints each one's institution id, or file:line: reason,
    /// and exits non-zero if any has a problem.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the institutions a plugins folder provides, as JSON lines.
    List {
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Retire the current keys, make the published next keys current, and publish new next keys.
    /// A running provider picks the change up within seconds.
    /// Retired keys stay published for the longest token lifetime of the configuration
    /// (`--config` and `CONSENTRY_*`, as `serve` reads them).
    Rotate {
        /// TOML configuration file (as given to `serve --config`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Folder holding the keys (default: the configuration's `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// List the signing keys (kid, algorithm, status) as JSON lines.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder for the database and generated keys.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8443.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Public issuer URL, e.g. https://localhost:8443/oidc.
    #[arg(long)]
    issuer: Option<String>,
    /// Serve plain HTTP (behind a TLS-terminating proxy, or for local benchmarks).
    #[arg(long)]
    http: bool,
    /// Log as JSON lines.
    #[arg(long)]
    log_json: bool,
}

#[derive(Args)]
struct DataDir {
    /// Folder holding the database (as given to `serve --data-dir`).
    #[arg(long, default_value = ".")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum ClientsCommand {
    /// Register a client from RFC 7591 metadata; prints it (with its secret) as JSON.
    Add {
        #[command(flatten)]
        dir: DataDir,
        /// RFC 7591 client metadata as JSON; client_id and client_secret may be fixed.
        #[arg(long)]
        metadata: String,
    },
    /// List registered clients as JSON lines.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
    /// Show one client's metadata as JSON.
    Show {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
    },
    /// Remove a client and everything issued to it.
    Remove {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
    },
    /// Replace a client's metadata (checked as registration checks it); the secret is kept.
    Update {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
        /// The complete RFC 7591 client metadata as JSON.
        #[arg(long)]
        metadata: String,
    },
    /// Disable a client: it cannot authenticate or authorize, and its tokens are not active.
    Disable {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
    },
    /// Enable a disabled client again.
    Enable {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
    },
    /// Give a client a new secret (printed once as JSON); the old one stops working.
    RotateSecret {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
    },
    /// Set the connection types (api, legacy, test) and/or the scopes a client may use.
    #[command(group(clap::ArgGroup::new("grants").required(true).multiple(true)))]
    Grant {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
        /// Comma-separated connection types, e.g. api,legacy ("" for none beyond test).
        #[arg(long, group = "grants")]
        connection_types: Option<String>,
        /// Space-separated scopes the client may be granted.
        #[arg(long, group = "grants")]
        scope: Option<String>,
    },
    /// Set a client's webhook endpoint (prints the new signing secret once), or remove it.
    #[command(group(clap::ArgGroup::new("action").required(true)))]
    Webhook {
        #[command(flatten)]
        dir: DataDir,
        client_id: String,
        #[arg(long, group = "action")]
        url: Option<String>,
        #[arg(long, group = "action")]
        remove: bool,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add a local user; the password is read from standard input.
    Add {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        username: String,
        /// Read the password from standard input (required: passwords never go on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Standard claims (OpenID Connect Core 5.1) as a JSON object, e.g.
        /// '{"given_name": "Ada", "address": {"country": "GB"}}'; --email and --name win.
        #[arg(long)]
        claims: Option<String>,
    },
}

/// mimalloc: the request path allocates many small, short-lived buffers across threads, where
/// it spends markedly less time than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread for accepting, housekeeping and the CLI: connections are served on threads of
/// their own (`tls::Cores`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Clients(c) => clients(c).await,
        Command::Users(u) => users(u).await,
        Command::Keys(k) => keys(k),
        Command::Plugins(c) => plugins(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics when stderr cannot be written.
            let _ = writeln!(std::io::stderr(), "consentry: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn init_logging(json: bool, directives: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(directives)
        .map_err(|e| anyhow::anyhow!("log filter {directives:?}: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(consentry::logging::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(i) = args.issuer {
        config.issuer = Some(i);
    }
    config.http |= args.http;
    config.log_json |= args.log_json;
    init_logging(config.log_json, &config.log)?;
    let app = consentry::build_app(config).await?;
    let listener = app.bind().await?;
    let p = &app.provider;
    // Printed without println!, which panics when stdout cannot be written.
    consentry::logging::print(&banner(&app, listener.local_addr()?));
    let grace = p.config.server.shutdown_grace_secs;
    let stop = stop_signal()?;
    app.run_until(listener, async move {
        let signal = stop.await;
        tracing::info!(
            signal,
            grace_secs = grace,
            "shutting down: finishing requests in flight"
        );
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves with the signal's name on SIGTERM or SIGINT (both drain; neither kills at once).
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

/// What the server prints when it starts: where it listens, and the demo credentials.
fn banner(app: &consentry::App, listening: SocketAddr) -> String {
    use std::fmt::Write as _;
    let p = &app.provider;
    let mut out = String::new();
    let _ = writeln!(out, "Consentry is running");
    let _ = writeln!(out, "  issuer:      {}", p.issuer);
    let _ = writeln!(
        out,
        "  discovery:   {}/.well-known/openid-configuration",
        p.issuer
    );
    let _ = writeln!(out, "  listening:   {listening}");
    let _ = writeln!(out, "  data dir:    {}", p.config.data_dir.display());
    if let Some(ca) = &app.ca_path {
        let _ = writeln!(
            out,
            "  CA cert:     {}  (trust it, e.g. curl --cacert {})",
            ca.display(),
            ca.display()
        );
    }
    if p.config.demo {
        use consentry::demo;
        let _ = writeln!(
            out,
            "  demo client: client_id={} client_secret={}",
            demo::CLIENT_ID,
            demo::CLIENT_SECRET
        );
        let _ = writeln!(out, "               redirect_uri={}", demo::REDIRECT_URI);
        let _ = writeln!(
            out,
            "  demo user:   username={} password={}",
            demo::USERNAME,
            demo::PASSWORD
        );
    }
    let institutions = p.plugins.catalog().list();
    let _ = writeln!(
        out,
        "  institutions: {} from {} (scope id:all shows the chooser)",
        institutions.len(),
        p.config.plugins.dir.display()
    );
    if p.plugins.get("sandbox-bank").is_some() {
        let _ = writeln!(
            out,
            "  sandbox bank: scope id:sandbox-bank, username=sandbox password=sandbox-password"
        );
    }
    out
}

fn open_store(dir: &DataDir) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&dir.data_dir)?;
    Ok(Store::open(&dir.data_dir.join("consentry.sqlite"))?)
}

fn now() -> i64 {
    consentry::clock::Clock::default().now()
}

/// What client administration needs, opened from `dir` (the admin API's work, offline).
struct AdminStore {
    store: Store,
    sealer: consentry::sealing::Sealer,
    outbound: consentry::outbound::OutboundPolicy,
}

impl AdminStore {
    fn open(dir: &DataDir) -> anyhow::Result<AdminStore> {
        Ok(AdminStore {
            // The outbound policy comes from the environment (`CONSENTRY_OUTBOUND__*`).
            outbound: Config::load(None)?.outbound,
            sealer: consentry::sealing::Sealer::load_or_create(&dir.data_dir.join("keys"))?,
            store: open_store(dir)?,
        })
    }

    fn admin(&self) -> consentry::protocol::admin::Admin<'_> {
        consentry::protocol::admin::Admin {
            store: &self.store,
            sealer: &self.sealer,
            now: now(),
            outbound: self.outbound,
        }
    }
}

fn refused(e: consentry::error::OAuthError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn json_arg(name: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{name} is not JSON: {e}"))
}

async fn clients(cmd: ClientsCommand) -> anyhow::Result<()> {
    match cmd {
        ClientsCommand::Add { dir, metadata } => {
            let raw = json_arg("--metadata", &metadata)?;
            let out = AdminStore::open(&dir)?
                .admin()
                .create(raw)
                .await
                .map_err(refused)?;
            println!("{out}");
        }
        ClientsCommand::List { dir } => {
            let store = open_store(&dir)?;
            for c in store.read(store::clients::list).await? {
                println!("{}", consentry::protocol::admin::view(&c));
            }
        }
        ClientsCommand::Show { dir, client_id } => {
            let out = AdminStore::open(&dir)?
                .admin()
                .show(&client_id)
                .await
                .map_err(refused)?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        ClientsCommand::Remove { dir, client_id } => {
            AdminStore::open(&dir)?
                .admin()
                .delete(&client_id)
                .await
                .map_err(refused)?;
            println!("removed {client_id}");
        }
        ClientsCommand::Update {
            dir,
            client_id,
            metadata,
        } => {
            let raw = json_arg("--metadata", &metadata)?;
            let out = AdminStore::open(&dir)?
                .admin()
                .replace(&client_id, raw)
                .await
                .map_err(refused)?;
            println!("{out}");
        }
        ClientsCommand::Disable { dir, client_id } => {
            let out = AdminStore::open(&dir)?
                .admin()
                .set_disabled(&client_id, true)
                .await
                .map_err(refused)?;
            println!("{out}");
        }
        ClientsCommand::Enable { dir, client_id } => {
            let out = AdminStore::open(&dir)?
                .admin()
                .set_disabled(&client_id, false)
                .await
                .map_err(refused)?;
            println!("{out}");
        }
        ClientsCommand::RotateSecret { dir, client_id } => {
            let out = AdminStore::open(&dir)?
                .admin()
                .rotate_secret(&client_id)
                .await
                .map_err(refused)?;
            println!("{out}");
        }
        ClientsCommand::Grant {
            dir,
            client_id,
            connection_types,
            scope,
        } => {
            let types: Option<Vec<String>> = connection_types.map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            });
            let out = AdminStore::open(&dir)?
                .admin()
                .grant(&client_id, types, scope.map(Some))
                .await
                .map_err(refused)?;
            println!("{out}");
        }
        ClientsCommand::Webhook {
            dir,
            client_id,
            url,
            remove,
        } => match url {
            Some(url) if !remove => {
                let body = serde_json::json!({ "url": url });
                let out = AdminStore::open(&dir)?
                    .admin()
                    .set_webhook(&client_id, body)
                    .await
                    .map_err(refused)?;
                println!("{out}");
            }
            _ => {
                AdminStore::open(&dir)?
                    .admin()
                    .remove_webhook(&client_id)
                    .await
                    .map_err(refused)?;
                println!("removed the webhook of {client_id}");
            }
        },
    }
    Ok(())
}

async fn users(cmd: UsersCommand) -> anyhow::Result<()> {
    let UsersCommand::Add {
        dir,
        username,
        password_stdin: _,
        email,
        name,
        claims,
    } = cmd;
    if username.trim().is_empty() {
        anyhow::bail!("--username must not be empty");
    }
    let mut password = String::new();
    std::io::stdin().read_to_string(&mut password)?;
    let password = password.trim_end_matches(['\r', '\n']).to_string();
    if password.len() < 8 {
        anyhow::bail!("the password must be at least 8 characters");
    }
    let hash = hash_password(&password).map_err(anyhow::Error::msg)?;
    let mut claims = match claims {
        None => serde_json::json!({}),
        Some(text) => json_arg("--claims", &text)?,
    };
    // --email and --name win, and are checked with the rest.
    if let Some(claims) = claims.as_object_mut() {
        if let Some(e) = email {
            claims.insert("email".into(), e.into());
            claims
                .entry("email_verified")
                .or_insert_with(|| false.into());
        }
        if let Some(n) = name {
            claims.insert("name".into(), n.into());
        }
    }
    let claims = consentry::protocol::user_claims::validate(&claims).map_err(refused)?;
    let user = store::users::User {
        id: consentry::protocol::secrets::random_user_id(),
        username: Some(username.clone()),
        password_hash: Some(hash),
        claims,
        managed_by_client: None,
        client_user_id: None,
        created_at: now(),
    };
    let id = user.id.clone();
    let store = open_store(&dir)?;
    store
        .write(move |c| store::users::insert(c, &user))
        .await
        .map_err(|e| match e {
            store::StoreError::Conflict => anyhow::anyhow!("username {username} is taken"),
            e => e.into(),
        })?;
    println!("{}", serde_json::json!({ "user_id": id }));
    Ok(())
}

fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    use consentry::jose::key_file;
    let keys = match cmd {
        KeysCommand::Rotate { config, data_dir } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let retention = consentry::keys::retention_for(&config.lifetimes);
            consentry::keys::rotate(&config.keys_dir(), now(), retention)?
        }
        KeysCommand::List { dir } => key_file::load_or_create(&dir.data_dir.join("keys"), now())?,
    };
    for k in &keys {
        let line = serde_json::json!({
            "kid": k.kid(), "alg": k.alg().map(|a| a.name()), "status": k.status,
            "created_at": k.created_at, "activated_at": k.activated_at, "retired_at": k.retired_at,
        });
        println!("{line}");
    }
    Ok(())
}

fn plugins(cmd: PluginsCommand) -> anyhow::Result<()> {
    use consentry::plugins::{plugin, sandbox, Registry};
    match cmd {
        PluginsCommand::Check { files } => {
            let limits = sandbox::Limits::default();
            let engine = sandbox::engine(&limits);
            let mut failed = 0;
            for file in &files {
                let icon_dir = file.parent().unwrap_or(std::path::Path::new("."));
                match plugin::compile(&engine, &limits, file, icon_dir) {
                    Ok(p) => println!("ok {} ({})", file.display(), p.meta.id),
                    Err(e) => {
                        println!("error {e}");
                        failed += 1;
                    }
                }
            }
            anyhow::ensure!(
                failed == 0,
                "{failed} of {} scripts have problems",
                files.len()
            );
            Ok(())
        }
        PluginsCommand::List { dir } => {
            anyhow::ensure!(dir.is_dir(), "{} is not a folder", dir.display());
            let registry = Registry::load(&dir, sandbox::Limits::default(), Default::default());
            let catalog = registry.catalog();
            for p in catalog.list() {
                let line = serde_json::json!({
                    "id": p.meta.id, "name": p.meta.name, "type": p.meta.kind.as_str(),
                    "bankRef": p.meta.bank_ref, "file": p.file.display().to_string(),
                });
                println!("{line}");
            }
            for problem in catalog.problems.values() {
                eprintln!("error {problem}");
            }
            anyhow::ensure!(
                catalog.problems.is_empty(),
                "{} scripts have problems",
                catalog.problems.len()
            );
            Ok(())
        }
    }
}
