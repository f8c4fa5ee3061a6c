//! `consentry keys rotate|list`: the signing keys in the database, which every node serves.

use super::{now, open_store, DataDir};
use clap::Subcommand;
use consentry::config::Config;
use consentry::sealing::Sealer;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Retire the current keys, make the published next keys current, and publish new next keys.
    /// Every running node picks the change up within 2 seconds (it reads the keys' version
    /// every 2 s). Refused while the last rotation is less than 10 seconds old.
    /// Retired keys stay published for the longest token lifetime of the configuration
    /// (`--config` and `CONSENTRY_*`, as `serve` reads them).
    Rotate {
        /// TOML configuration file (as given to `serve --config`).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Folder holding the database and `keys/` with the data key that seals the signing
        /// keys (default: the configuration's `data_dir`).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The PostgreSQL database (as given to `serve --database-url`; default: the
        /// configuration's `database_url`), instead of the data folder's SQLite file.
        #[arg(long)]
        database_url: Option<String>,
    },
    /// List the signing keys (kid, algorithm, status) as JSON lines.
    List {
        #[command(flatten)]
        dir: DataDir,
    },
}

pub async fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    let set = match cmd {
        KeysCommand::Rotate {
            config,
            data_dir,
            database_url,
        } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            if let Some(url) = database_url {
                config.database_url = Some(url);
            }
            let retention = consentry::protocol::key_retention::retention_secs(&config.lifetimes);
            let dir = DataDir {
                data_dir: config.data_dir.clone(),
                database_url: config.database_url.clone(),
            };
            let store = open_store(&dir)?;
            let keys_dir = config.keys_dir();
            let sealer = Sealer::load_or_create(&keys_dir)?;
            consentry::keys::rotate(&store, &sealer, &keys_dir, now(), retention).await?
        }
        KeysCommand::List { dir } => {
            let store = open_store(&dir)?;
            let keys_dir = dir.data_dir.join("keys");
            let sealer = Sealer::load_or_create(&keys_dir)?;
            consentry::keys::load_or_create(&store, &sealer, &keys_dir, now()).await?
        }
    };
    for k in &set.keys {
        let line = serde_json::json!({
            "kid": k.kid(), "alg": k.alg().map(|a| a.name()), "status": k.status,
            "created_at": k.created_at, "activated_at": k.activated_at, "retired_at": k.retired_at,
        });
        println!("{line}");
    }
    Ok(())
}
