//! The command line: the subcommands and what each runs. Each file holds one group; the rules
//! they apply live in the library, so the CLI, the admin API and registration agree.

mod clients;
mod keys;
mod plugins;
mod resident;
mod serve;
mod store_ops;
mod users;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use consentry::sealing::{DataKeySource, Sealer};
use consentry::store::{Location, PostgresOptions, Store};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "consentry",
    version,
    about = "OpenID Connect provider for open-banking connections"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start the provider.
    Serve(serve::ServeArgs),
    /// Manage registered clients.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Manage local users.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Apply the database migrations and exit (`serve` applies them too).
    Migrate(DataDir),
    /// Write a consistent copy of the SQLite database while the provider serves.
    Backup(store_ops::BackupArgs),
    /// Copy every row of one database into a new, empty one (e.g. SQLite into PostgreSQL).
    MigrateStore(store_ops::MigrateStoreArgs),
    /// Check, list and rehearse institution scripts.
    #[command(subcommand)]
    Plugins(plugins::PluginsCommand),
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve::serve(args).await,
        Command::Clients(c) => clients::clients(c).await,
        Command::Users(u) => users::users(u).await,
        Command::Keys(k) => keys::keys(k).await,
        Command::Plugins(c) => plugins::plugins(c).await,
        Command::Migrate(dir) => store_ops::migrate(&dir),
        Command::Backup(a) => store_ops::backup(&a),
        Command::MigrateStore(a) => store_ops::migrate_store(&a).await,
    }
}

pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

#[derive(Args)]
pub struct DataDir {
    /// Folder holding the database (as given to `serve --data-dir`).
    #[arg(long, default_value = ".")]
    pub data_dir: PathBuf,
    /// The PostgreSQL database (as given to `serve --database-url`), instead of the data
    /// folder's SQLite file.
    #[arg(long, env = "CONSENTRY_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// A database and the operator's data key, for the commands that seal or open secrets.
#[derive(Args)]
pub struct SealedDataDir {
    #[command(flatten)]
    pub dir: DataDir,
    /// The operator's data key file (as given to `serve --data-key`); default
    /// `DATA_DIR/keys/data.key`. Required with --database-url: never made by a command.
    #[arg(long, env = "CONSENTRY_DATA_KEY")]
    pub data_key: Option<PathBuf>,
}

impl SealedDataDir {
    /// The data key, refused (never made) when the database is PostgreSQL and no key is given.
    pub fn sealer(&self) -> anyhow::Result<Sealer> {
        open_sealer(&self.dir, self.data_key.as_deref())
    }
}

/// The data key for `dir`'s database: `file`, else `DATA_DIR/keys/data.key`, made there only
/// for an SQLite database (with PostgreSQL a key made here would be no node's key).
pub fn open_sealer(dir: &DataDir, file: Option<&Path>) -> anyhow::Result<Sealer> {
    Ok(Sealer::open_data_key(&DataKeySource {
        file,
        keys_dir: &dir.data_dir.join("keys"),
        may_create: !location(dir)?.is_shared(),
    })?)
}

fn location(dir: &DataDir) -> anyhow::Result<Location> {
    Ok(match &dir.database_url {
        Some(url) => Location::parse(url).map_err(anyhow::Error::msg)?,
        None => Location::Sqlite(dir.data_dir.join("consentry.sqlite")),
    })
}

pub fn open_store(dir: &DataDir) -> anyhow::Result<Store> {
    let location = location(dir)?;
    if let Location::Sqlite(_) = location {
        std::fs::create_dir_all(&dir.data_dir)?;
    }
    Store::open_at(&location, &PostgresOptions::default())
        .with_context(|| format!("cannot open the database {}", location.display()))
}

pub fn now() -> i64 {
    consentry::clock::Clock::default().now()
}

pub fn json_arg(name: &str, text: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("{name} is not JSON: {e}"))
}
