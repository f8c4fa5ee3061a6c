//! `consentry clients ...`: the admin API's client management, offline on the data folder.

use super::{json_arg, now, open_store, SealedDataDir};
use clap::Subcommand;
use consentry::config::Config;
use consentry::protocol::clients::service::path_id;
use consentry::protocol::clients::{views, ClientService, Registrar};
use consentry::store::Store;
use consentry::types::ClientId;

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Register a client from RFC 7591 metadata; prints it (with its secret) as JSON.
    Add {
        #[command(flatten)]
        dir: SealedDataDir,
        /// RFC 7591 client metadata as JSON; client_id and client_secret may be fixed.
        #[arg(long)]
        metadata: String,
        /// The client's subject identifiers (OIDC Core section 8): the user id itself, or a
        /// pairwise value per sector. Same as `subject_type` in the metadata.
        #[arg(long, value_parser = ["public", "pairwise"])]
        subject_type: Option<String>,
    },
    /// List registered clients as JSON lines.
    List {
        #[command(flatten)]
        dir: SealedDataDir,
    },
    /// Show one client's metadata as JSON.
    Show {
        #[command(flatten)]
        dir: SealedDataDir,
        client_id: String,
    },
    /// Remove a client and everything issued to it.
    Remove {
        #[command(flatten)]
        dir: SealedDataDir,
        client_id: String,
    },
    /// Replace a client's metadata (checked as registration checks it); the secret is kept.
    Update {
        #[command(flatten)]
        dir: SealedDataDir,
        client_id: String,
        /// The complete RFC 7591 client metadata as JSON.
        #[arg(long)]
        metadata: String,
    },
    /// Disable a client: it cannot authenticate or authorize, and its tokens are not active.
    Disable {
        #[command(flatten)]
        dir: SealedDataDir,
        client_id: String,
    },
    /// Enable a disabled client again.
    Enable {
        #[command(flatten)]
        dir: SealedDataDir,
        client_id: String,
    },
    /// Give a client a new secret (printed once as JSON); the old one stops working.
    RotateSecret {
        #[command(flatten)]
        dir: SealedDataDir,
        client_id: String,
    },
    /// Set the connection types (api, legacy, test) and/or the scopes a client may use.
    #[command(group(clap::ArgGroup::new("grants").required(true).multiple(true)))]
    Grant {
        #[command(flatten)]
        dir: SealedDataDir,
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
        dir: SealedDataDir,
        client_id: String,
        #[arg(long, group = "action")]
        url: Option<String>,
        #[arg(long, group = "action")]
        remove: bool,
    },
}

/// What client administration needs, opened from `dir` (the admin API's work, offline).
struct AdminStore {
    store: Store,
    sealer: consentry::sealing::Sealer,
    outbound: consentry::outbound::OutboundPolicy,
}

impl AdminStore {
    fn open(dir: &SealedDataDir) -> anyhow::Result<AdminStore> {
        Ok(AdminStore {
            // The outbound policy comes from the environment (`CONSENTRY_OUTBOUND__*`).
            outbound: {
                let mut outbound = Config::load(None)?.outbound;
                outbound.load_ca_file().map_err(anyhow::Error::msg)?;
                outbound
            },
            sealer: dir.sealer()?,
            store: open_store(&dir.dir)?,
        })
    }

    fn service(&self) -> ClientService<'_> {
        ClientService::offline(&self.store, &self.sealer, now(), self.outbound.clone())
    }
}

fn id(s: &str) -> anyhow::Result<ClientId> {
    path_id(s).map_err(refused)
}

pub fn refused(e: consentry::error::OAuthError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub async fn clients(cmd: ClientsCommand) -> anyhow::Result<()> {
    match cmd {
        ClientsCommand::Add {
            dir,
            metadata,
            subject_type,
        } => {
            let mut raw = json_arg("--metadata", &metadata)?;
            if let Some(t) = subject_type {
                if !raw.is_object() {
                    anyhow::bail!("--metadata must be a JSON object");
                }
                let given = raw.get("subject_type").and_then(|v| v.as_str());
                if given.is_some_and(|g| g != t) {
                    anyhow::bail!("--subject-type {t} contradicts subject_type in --metadata");
                }
                raw["subject_type"] = serde_json::json!(t);
            }
            let saved = AdminStore::open(&dir)?
                .service()
                .register(raw, Registrar::Operator)
                .await
                .map_err(refused)?;
            println!("{}", views::admin_saved(&saved));
        }
        ClientsCommand::List { dir } => {
            let all = AdminStore::open(&dir)?
                .service()
                .all()
                .await
                .map_err(refused)?;
            for c in all {
                println!("{}", views::admin(&c));
            }
        }
        ClientsCommand::Show { dir, client_id } => {
            let client = AdminStore::open(&dir)?
                .service()
                .get(&id(&client_id)?)
                .await
                .map_err(refused)?;
            println!("{}", serde_json::to_string_pretty(&views::admin(&client))?);
        }
        ClientsCommand::Remove { dir, client_id } => {
            AdminStore::open(&dir)?
                .service()
                .delete(&id(&client_id)?)
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
            let saved = AdminStore::open(&dir)?
                .service()
                .replace(&id(&client_id)?, raw, Registrar::Operator)
                .await
                .map_err(refused)?;
            println!("{}", views::admin_saved(&saved));
        }
        ClientsCommand::Disable { dir, client_id } => {
            let client = AdminStore::open(&dir)?
                .service()
                .set_disabled(&id(&client_id)?, true)
                .await
                .map_err(refused)?;
            println!("{}", views::admin(&client));
        }
        ClientsCommand::Enable { dir, client_id } => {
            let client = AdminStore::open(&dir)?
                .service()
                .set_disabled(&id(&client_id)?, false)
                .await
                .map_err(refused)?;
            println!("{}", views::admin(&client));
        }
        ClientsCommand::RotateSecret { dir, client_id } => {
            let secret = AdminStore::open(&dir)?
                .service()
                .rotate_secret(&id(&client_id)?)
                .await
                .map_err(refused)?;
            let out = serde_json::json!({
                "client_id": client_id, "client_secret": secret, "client_secret_expires_at": 0,
            });
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
            let saved = AdminStore::open(&dir)?
                .service()
                .grant(&id(&client_id)?, types, scope.map(Some))
                .await
                .map_err(refused)?;
            println!("{}", views::admin_saved(&saved));
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
                    .service()
                    .set_webhook(&id(&client_id)?, body)
                    .await
                    .map_err(refused)?;
                println!("{out}");
            }
            _ => {
                AdminStore::open(&dir)?
                    .service()
                    .remove_webhook(&id(&client_id)?)
                    .await
                    .map_err(refused)?;
                println!("removed the webhook of {client_id}");
            }
        },
    }
    Ok(())
}
