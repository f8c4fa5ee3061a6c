//! Consentry: an OpenID Connect provider for open-banking connections.
//!
//! `build_app` wires configuration, storage, keys and TLS into a runnable [`App`]; `main.rs`
//! and the integration tests both start the provider through it.

pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod files;
pub mod http;
pub mod jose;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod origin_pool;
pub mod outbound;
pub mod per_core;
pub mod plugins;
pub mod protocol;
pub mod provider;
pub mod sealing;
pub mod secrets;
pub mod store;
pub mod supervise;
pub mod tls;
pub mod types;
pub mod views;
pub mod webhooks;

use anyhow::Context;
use arc_swap::ArcSwap;
use config::Config;
use provider::Provider;
use rustls::ServerConfig;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;

/// How often expired rows are swept. Often, so that under sustained load the stored rows stay
/// close to what is live (rate × (lifetime + interval)) and each sweep is short.
const SWEEP_INTERVAL_SECS: u64 = 10;
/// Most rows a sweep deletes from one table in one write (see `store::sweep`).
const SWEEP_BATCH: i64 = 500;

/// A provider ready to serve.
pub struct App {
    pub provider: Arc<Provider>,
    tls: Option<Arc<ServerConfig>>,
    /// The threads that will serve its connections.
    cores: tls::Cores,
    /// The development CA that signed the server certificate (HTTPS only).
    pub ca_path: Option<PathBuf>,
}

/// Opens the database (migrating it), loads or generates keys and TLS material, and creates
/// the demo client and user when enabled.
pub async fn build_app(mut config: Config) -> anyhow::Result<App> {
    config.validate()?;
    config.plugins.resolve_dir()?;
    config.outbound.load_ca_file().map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let location = match &config.database_url {
        Some(url) => {
            store::Location::parse(url).map_err(|e| anyhow::anyhow!("database_url: {e}"))?
        }
        None => store::Location::Sqlite(config.database_path()),
    };
    let pool = store::PostgresOptions {
        pool_size: config.database_pool_size,
    };
    let keys_dir = config.keys_dir();
    // Before the database: a node without the operator's data key must not start at all.
    let sealer = sealing::Sealer::open_data_key(&sealing::DataKeySource {
        file: config.data_key.as_deref(),
        keys_dir: &keys_dir,
        may_create: !location.is_shared(),
    })?;
    let store = store::Store::open_at(&location, &pool)
        .with_context(|| format!("cannot open the database {}", location.display()))?;
    let clock = clock::Clock::default();
    // The database's key set (every node's), stored by the first node to start.
    let keys = keys::load_or_create(&store, &sealer, &keys_dir, clock.now())
        .await?
        .key_set()?;
    let issuer = config.issuer();
    let issuer_url = url::Url::parse(&issuer)?;
    let (tls, ca_path) = if config.http {
        (None, None)
    } else {
        let host = issuer_url
            .host_str()
            .unwrap_or("localhost")
            .trim_matches(['[', ']'])
            .to_string();
        let pki = tls::ensure_dev_pki(&config.keys_dir(), &[host]).map_err(anyhow::Error::msg)?;
        (
            Some(tls::server_config(
                (pki.chain, pki.key),
                (pki.rsa_chain, pki.rsa_key),
            )?),
            Some(pki.ca_path),
        )
    };
    let mtls_roots = config
        .mtls_trust_anchors
        .as_deref()
        .map(load_roots)
        .transpose()?;
    let upstream_http = protocol::upstream_oidc::http_client(
        config.plugins.upstream_ca_file.as_deref(),
        "plugins.upstream_ca_file",
    )?;
    // Supervised-task panics are counted by the store's task list, shared with the metrics.
    let metrics = metrics::Metrics::new(store.tasks().panics.clone());
    let plugins = load_plugins(&config, &metrics);
    let dpop_nonce_key = protocol::fapi::dpop::nonce_key(&sealer);
    let pairwise = protocol::oidc::subject::PairwiseKey::load(&keys_dir, &sealer)?;
    // The database's SAML SP key (every node's), when a SAML provider is configured.
    let saml_sp_key = protocol::federation::saml_keys::load_or_create(
        &config.federation,
        &store,
        &sealer,
        &keys_dir,
        issuer_url.host_str().unwrap_or("localhost"),
        clock.now(),
    )
    .await?;
    let serving_threads = config.server.serving_threads();
    let services = protocol::Services {
        base_path: issuer_url.path().trim_end_matches('/').to_string(),
        endpoints: protocol::context::Endpoints::for_issuer(&issuer),
        issuer,
        store,
        keys: ArcSwap::from_pointee(keys),
        metrics,
        passwords: protocol::password_pool::PasswordPool::new(
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )?,
        mtls_roots,
        jwks_cache: protocol::jwks_fetch::JwksCache::for_clients(config.outbound.clone()),
        request_uri_http: config
            .outbound
            .http_client(protocol::fapi::request_uri::FETCH_TIMEOUT),
        sealer,
        dpop_nonce_key,
        pairwise,
        scope_policy: protocol::oidc::scope_policy::Policy::load(config.scope_policy.as_deref())?,
        webhook_wake: tokio::sync::Notify::new(),
        client_cache: Default::default(),
        saml_metadata: Default::default(),
        saml_sp_key,
        plugins,
        upstream_http: upstream_http.clone(),
        upstream_jwks: protocol::jwks_fetch::JwksCache::with_client(upstream_http),
        federation: protocol::federation::oidc::Upstreams::build(&config.federation)?,
        gateway_origins: per_core::PerCore::new(serving_threads, || {
            origin_pool::OriginPool::new(
                config.gateway.routes.iter().map(|r| r.upstream.as_str()),
                &config.gateway.origin_policy(&config.outbound),
                protocol::tokens::gateway::UPSTREAM_TIMEOUT,
            )
        }),
        gateway_identities: Default::default(),
        config,
    };
    let provider = Provider {
        discovery: ArcSwap::from_pointee(protocol::oidc::discovery::document(&services)),
        services,
        clock,
    };
    let provider = Arc::new(provider);
    if provider.config.demo {
        demo::ensure(&provider).await?;
    }
    let cores = tls::Cores::start(serving_threads).context("cannot start the serving threads")?;
    Ok(App {
        provider,
        tls,
        cores,
        ca_path,
    })
}

/// One round of housekeeping: deletes expired rows and hand-out audit entries older than
/// `handout.audit_retention_days`, and marks connections whose consent has
/// run out as needing reauth. Returns those connections.
pub async fn sweep_once(
    p: &Provider,
) -> store::StoreResult<Vec<store::connections::BankConnection>> {
    let now = p.now();
    let handouts_before = p.config.handout.audit_kept_secs().map(|kept| now - kept);
    let mut swept = 0;
    loop {
        let round = p
            .store
            .write_in_background(move |tx| {
                tx.sweep()
                    .expired_and_audit(now, handouts_before, SWEEP_BATCH)
            })
            .await?;
        swept += round.rows;
        if !round.more {
            break;
        }
    }
    let lapsed = p
        .store
        .write(move |tx| tx.connections().expire_consents(now))
        .await?;
    if !lapsed.is_empty() {
        p.webhook_wake.notify_one();
    }
    if swept > 0 {
        tracing::debug!(rows = swept, "swept expired rows");
    }
    for c in &lapsed {
        tracing::info!(connection = %c.id, institution = %c.institution_id, "connection consent expired; reauth required");
    }
    Ok(lapsed)
}

/// Compiles the institution scripts, logging (not failing on) the broken ones.
fn load_plugins(config: &Config, metrics: &metrics::Metrics) -> plugins::Registry {
    let dir = &config.plugins.dir;
    let limits = plugins::sandbox::Limits::from_config(&config.plugins);
    let settings = config.plugins.settings.clone();
    let registry = if config.plugins.built_in {
        tracing::info!(
            missing = %dir.display(),
            "no plugins folder configured and ./plugins absent: serving the built-in example institutions; \
             for an editable copy run `consentry plugins init DIR` and serve with --plugins DIR"
        );
        plugins::Registry::built_in(limits, settings)
    } else {
        plugins::Registry::new(dir, limits, settings)
    };
    log_reload(metrics, registry.reload());
    tracing::info!(
        institutions = registry.catalog().list().len(),
        dir = %dir.display(),
        "institution scripts loaded"
    );
    registry
}

/// Logs what a rescan of the plugins folder changed, and counts the refused scripts.
fn log_reload(metrics: &metrics::Metrics, events: Vec<plugins::ReloadEvent>) {
    use plugins::ReloadEvent as E;
    for event in events {
        match event {
            E::Loaded { id, file } => {
                tracing::info!(institution = %id, file = %file.display(), "institution script loaded")
            }
            E::Changed { id, file } => {
                tracing::info!(institution = %id, file = %file.display(), "institution script changed; new version loaded")
            }
            E::Removed { id, file } => {
                tracing::info!(institution = %id, file = %file.display(), "institution script removed; institution unloaded")
            }
            E::Refused { problem, kept } => {
                let institution = E::institution(&problem, &kept);
                metrics.plugin_error(&institution, "compile");
                match kept {
                    Some(_) => {
                        tracing::error!(%institution, %problem, "institution script refused; keeping the previous version")
                    }
                    None => {
                        tracing::error!(%institution, %problem, "institution script refused; not loaded")
                    }
                }
            }
        }
    }
}

/// Rescans the plugins folder on an interval so changed scripts are picked up live.
async fn watch_plugins(p: Arc<Provider>) {
    let every = p.config.plugins.reload_interval_ms;
    if every == 0 {
        return;
    }
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let reloader = p.clone();
        let Ok(events) = tokio::task::spawn_blocking(move || reloader.plugins.reload()).await
        else {
            continue;
        };
        log_reload(&p.metrics, events);
    }
}

/// Reads a PEM bundle of CA certificates.
fn load_roots(path: &std::path::Path) -> anyhow::Result<Arc<rustls::RootCertStore>> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
        .with_context(|| format!("mtls_trust_anchors {}", path.display()))?
    {
        roots.add(cert.with_context(|| format!("mtls_trust_anchors {}", path.display()))?)?;
    }
    anyhow::ensure!(
        !roots.is_empty(),
        "mtls_trust_anchors {} holds no certificate",
        path.display()
    );
    Ok(Arc::new(roots))
}

impl App {
    pub async fn bind(&self) -> std::io::Result<TcpListener> {
        TcpListener::bind(self.provider.config.listen).await
    }

    /// Serves on `listener` until the returned future is dropped, sweeping expired rows.
    pub async fn run(self, listener: TcpListener) {
        self.run_until(listener, std::future::pending()).await
    }

    /// Serves on `listener` until `stop` completes, then drains: accepts no more connections,
    /// lets requests in flight finish within `server.shutdown_grace_secs`, and returns.
    pub async fn run_until(
        self,
        listener: TcpListener,
        stop: impl std::future::Future<Output = ()>,
    ) {
        // Background work lives as long as this future: dropping it stops them all. Each task
        // is restarted if it panics, and reported by /readyz while down.
        let mut background = tokio::task::JoinSet::new();
        let p = &self.provider;
        let tasks = p.store.tasks();
        let sweeper = p.clone();
        tasks.spawn(&mut background, "sweeper", move || {
            let sweeper = sweeper.clone();
            async move {
                let mut tick =
                    tokio::time::interval(std::time::Duration::from_secs(SWEEP_INTERVAL_SECS));
                loop {
                    tick.tick().await;
                    if let Err(e) = sweep_once(&sweeper).await {
                        tracing::warn!(error = %e, "sweep failed");
                    }
                }
            }
        });
        let watcher = p.clone();
        tasks.spawn(&mut background, "key-watcher", move || {
            keys::watch(watcher.clone())
        });
        let reloader = p.clone();
        tasks.spawn(&mut background, "plugin-reloader", move || {
            watch_plugins(reloader.clone())
        });
        let worker = p.clone();
        tasks.spawn(&mut background, "webhook-worker", move || {
            webhooks::run(worker.clone())
        });
        let service = Arc::new(http::service(p.clone()));
        let (stopping, stop_rx) = tokio::sync::watch::channel(false);
        let serving = tls::Serving {
            limits: p.config.server.clone(),
            accept_errors: p.metrics.accept_errors.clone(),
            stop: stop_rx,
        };
        let serve = tls::serve(listener, service, self.tls, self.cores, serving);
        tokio::pin!(serve);
        tokio::select! {
            _ = &mut serve => {}
            _ = stop => {
                let _ = stopping.send(true);
                serve.await;
            }
        }
        background.shutdown().await;
    }
}
