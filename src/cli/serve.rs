//! `consentry serve`: load the configuration, build the provider, print where it listens,
//! serve until SIGTERM or SIGINT.

use clap::Args;
use consentry::config::Config;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Folder for the database and generated keys.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL database to keep the data in (postgres://...); the SQLite file in the data
    /// folder when unset.
    #[arg(long, env = "CONSENTRY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The operator's data key file, the same on every node (default:
    /// `DATA_DIR/keys/data.key`, made on first start with SQLite; required with PostgreSQL).
    #[arg(long, env = "CONSENTRY_DATA_KEY")]
    data_key: Option<PathBuf>,
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
    /// Folder of institution scripts (overrides `plugins.dir`); relative to the working
    /// directory. It must exist.
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// Development mode (`plugins.dev`): a failing institution script's error, with file:line
    /// and hook, is shown in the browser. Never in production.
    #[arg(long)]
    dev: bool,
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

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data_dir {
        config.data_dir = d;
    }
    if let Some(u) = args.database_url {
        config.database_url = Some(u);
    }
    if let Some(k) = args.data_key {
        config.data_key = Some(k);
    }
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(i) = args.issuer {
        config.issuer = Some(i);
    }
    if let Some(d) = args.plugins {
        config.plugins.dir = d;
        config.plugins.dir_named = true;
    }
    config.plugins.dev |= args.dev;
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
    super::resident::release_startup_code();
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
    let _ = writeln!(out, "  database:    {}", p.store.location().display());
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
    let from = match p.plugins.is_built_in() {
        true => "the built-in examples (`consentry plugins init DIR` writes an editable copy)"
            .to_string(),
        false => p.config.plugins.dir.display().to_string(),
    };
    let _ = writeln!(
        out,
        "  institutions: {} from {from} (scope id:all shows the chooser)",
        institutions.len(),
    );
    if p.config.plugins.dev {
        let _ = writeln!(
            out,
            "  dev mode:    script errors are shown in the browser (never use in production)"
        );
    }
    if p.plugins.get("sandbox-bank").is_some() {
        let _ = writeln!(
            out,
            "  sandbox bank: scope id:sandbox-bank, username=sandbox password=sandbox-password"
        );
    }
    out
}
