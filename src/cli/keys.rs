//! `consentry keys rotate|list`: the signing keys in the database, which every node serves.

use super::{now, open_sealer, open_store, DataDir, SealedDataDir};
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
        /// The operator's data key file (as given to `serve --data-key`; default: the
        /// configuration's `data_key`, `CONSENTRY_DATA_KEY`, else `DATA_DIR/keys/data.key`).
        /// Required with PostgreSQL.
        #[arg(long)]
        data_key: Option<PathBuf>,
    },
    /// List the signing keys (kid, algorithm, status) as JSON lines.
    List {
        #[command(flatten)]
        dir: SealedDataDir,
    },
    /// Write a new data key to FILE (owner-only; never over an existing file), for the
    /// operator to give every node of a PostgreSQL installation (`serve --data-key FILE`).
    NewDataKey {
        /// Where to write the key.
        file: PathBuf,
    },
}

pub async fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    let set = match cmd {
        KeysCommand::Rotate {
            config,
            data_dir,
            database_url,
            data_key,
        } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            if let Some(url) = database_url {
                config.database_url = Some(url);
            }
            if let Some(key) = data_key {
                config.data_key = Some(key);
            }
            let retention = consentry::protocol::key_retention::retention_secs(&config.lifetimes);
            let dir = DataDir {
                data_dir: config.data_dir.clone(),
                database_url: config.database_url.clone(),
            };
            let sealer = open_sealer(&dir, config.data_key.as_deref())?;
            let store = open_store(&dir)?;
            let keys_dir = config.keys_dir();
            consentry::keys::rotate(&store, &sealer, &keys_dir, now(), retention).await?
        }
        KeysCommand::List { dir } => {
            let sealer = dir.sealer()?;
            let store = open_store(&dir.dir)?;
            let keys_dir = dir.dir.data_dir.join("keys");
            consentry::keys::load_or_create(&store, &sealer, &keys_dir, now()).await?
        }
        KeysCommand::NewDataKey { file } => {
            Sealer::new_data_key_file(&file)?;
            consentry::logging::print(&format!("new data key written to {}\n", file.display()));
            return Ok(());
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
