//! `consentry clients ...`: the admin API's client management, offline on the data folder.

use super::{json_arg, now, open_store, DataDir};
use clap::Subcommand;
use consentry::config::Config;
use consentry::store::Store;

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// Register a client from RFC 7591 metadata; prints it (with its secret) as JSON.
    Add {
        #[command(flatten)]
        dir: DataDir,
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
            let out = AdminStore::open(&dir)?
                .admin()
                .create(raw)
                .await
                .map_err(refused)?;
            println!("{out}");
        }
        ClientsCommand::List { dir } => {
            let store = open_store(&dir)?;
            for c in store.read(|tx| tx.clients().list()).await? {
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
