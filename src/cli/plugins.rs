//! `consentry plugins check|list|reference`: compile institution scripts without a server, and
//! print the script reference generated from the host's registrations.

use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// Compile and validate scripts; prints each one's institution id, or file:line: reason,
    /// and exits non-zero if any has a problem.
    Check {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The wall-clock limit `institution()` runs under (the server's `hook_timeout_ms`).
        #[arg(long, default_value_t = sandbox_defaults().deadline.as_millis() as u64)]
        hook_timeout_ms: u64,
        /// The operations limit `institution()` runs under (the server's `max_operations`).
        #[arg(long, default_value_t = sandbox_defaults().max_operations)]
        max_operations: u64,
    },
    /// List the institutions a plugins folder provides, as JSON lines.
    List {
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
    /// Print the script reference (hooks, maps, host functions) as Markdown; it is committed
    /// as plugins/REFERENCE.md.
    Reference,
}

fn sandbox_defaults() -> consentry::plugins::sandbox::Limits {
    Default::default()
}

pub fn plugins(cmd: PluginsCommand) -> anyhow::Result<()> {
    use consentry::plugins::{plugin, reference, sandbox, Registry};
    match cmd {
        PluginsCommand::Check {
            files,
            hook_timeout_ms,
            max_operations,
        } => {
            let limits = sandbox::Limits {
                deadline: std::time::Duration::from_millis(hook_timeout_ms),
                max_operations,
                ..Default::default()
            };
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
        PluginsCommand::Reference => {
            print!(
                "{}",
                reference::markdown(&sandbox::engine(&Default::default()))
            );
            Ok(())
        }
    }
}
