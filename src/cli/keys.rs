//! `consentry keys rotate|list`.

use super::{now, DataDir};
use clap::Subcommand;
use consentry::config::Config;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum KeysCommand {
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

pub fn keys(cmd: KeysCommand) -> anyhow::Result<()> {
    use consentry::jose::key_file;
    let keys = match cmd {
        KeysCommand::Rotate { config, data_dir } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(d) = data_dir {
                config.data_dir = d;
            }
            let retention = consentry::protocol::key_retention::retention_secs(&config.lifetimes);
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
