//! `consentry migrate`, `backup` and `migrate-store`: the database's own operations.

use super::{open_store, DataDir};
use anyhow::Context;
use clap::Args;
use consentry::store::{transfer, Location, PostgresOptions, Store};
use std::path::PathBuf;

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    dir: DataDir,
    /// The new file to write (refused if it exists).
    #[arg(long)]
    to: PathBuf,
}

#[derive(Args)]
pub struct MigrateStoreArgs {
    /// The installation's database: `sqlite:PATH` or `postgres://...`.
    #[arg(long)]
    from: String,
    /// A new, empty database: `postgres://...` (or `sqlite:PATH`).
    #[arg(long)]
    to: String,
}

pub fn migrate(dir: &DataDir) -> anyhow::Result<()> {
    let store = open_store(dir)?;
    consentry::logging::print(&format!(
        "migrations applied: {}\n",
        store.location().display()
    ));
    Ok(())
}

pub fn backup(a: &BackupArgs) -> anyhow::Result<()> {
    if a.dir.database_url.is_some() {
        anyhow::bail!(
            "backup copies an SQLite database; back PostgreSQL up with pg_dump (README, Several nodes)"
        );
    }
    let db = a.dir.data_dir.join("consentry.sqlite");
    anyhow::ensure!(db.exists(), "no database at {}", db.display());
    transfer::backup_sqlite(&db, &a.to).with_context(|| format!("backup to {}", a.to.display()))?;
    consentry::logging::print(&format!(
        "backed up {} to {}\n",
        db.display(),
        a.to.display()
    ));
    Ok(())
}

pub async fn migrate_store(a: &MigrateStoreArgs) -> anyhow::Result<()> {
    let open = |url: &str| -> anyhow::Result<Store> {
        let location = Location::parse(url).map_err(anyhow::Error::msg)?;
        if let Location::Sqlite(path) = &location {
            anyhow::ensure!(
                path.exists() || url == a.to,
                "no database at {}",
                path.display()
            );
        }
        Store::open_at(&location, &PostgresOptions::default())
            .with_context(|| format!("cannot open the database {}", location.display()))
    };
    let (from, to) = (open(&a.from)?, open(&a.to)?);
    let moved = transfer::copy_all(&from, &to).await?;
    for (table, rows) in moved {
        consentry::logging::print(&format!("{table}: {rows} rows\n"));
    }
    Ok(())
}
