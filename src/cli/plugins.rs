//! `consentry plugins init|check|list|test|reference`: write out the built-in examples,
//! compile institution scripts, rehearse their journeys without a server, and print the
//! script reference generated from the host's registrations.

use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum PluginsCommand {
    /// Write the example institutions built into the binary into DIR (made if missing), as a
    /// plugins folder to edit; refuses, writing nothing, when any of their files exists.
    Init { dir: PathBuf },
    /// Compile and validate scripts; prints each one's institution id, or file:line: reason,
    /// and exits non-zero if any has a problem.
    Check {
        #[arg(required_unless_present = "config")]
        files: Vec<PathBuf>,
        /// The server's configuration file (and `CONSENTRY_*`, as `serve` reads them): its
        /// operator `hosts` settings are checked too, each problem at file:line.
        #[arg(long)]
        config: Option<PathBuf>,
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
    /// Rehearse a script's journey as each case file describes it (without one: connect, and
    /// show the first step); prints every step and exits non-zero on the first mismatch.
    Test {
        file: PathBuf,
        #[arg(long = "case", num_args = 1..)]
        cases: Vec<PathBuf>,
    },
    /// Print the script reference (hooks, maps, host functions) as Markdown; it is committed
    /// as plugins/REFERENCE.md.
    Reference,
}

/// The operator's `plugins.settings.<id>.hosts` entries that are not `host` or `host:port`,
/// each at the configuration file's line that sets it (or naming the key alone when the
/// environment sets it).
fn operator_hosts_problems(path: &Path) -> anyhow::Result<Vec<String>> {
    let config = consentry::config::Config::load(Some(path))?;
    let text = std::fs::read_to_string(path)?;
    let problems = consentry::plugins::hosts::setting_problems(&config.plugins.settings);
    Ok(problems
        .into_iter()
        .map(|p| {
            let id = p
                .strip_prefix("plugins.settings.")
                .and_then(|r| r.split_once(".hosts:"))
                .map(|(id, _)| id)
                .unwrap_or_default();
            match hosts_line(&text, id) {
                Some(line) => format!("{}:{line}: {p}", path.display()),
                None => format!("{} (or the environment): {p}", path.display()),
            }
        })
        .collect())
}

/// The line (1-based) of `hosts = ...` in the `[plugins.settings.<id>]` table.
fn hosts_line(text: &str, id: &str) -> Option<usize> {
    let headers = [
        format!("[plugins.settings.{id}]"),
        format!("[plugins.settings.\"{id}\"]"),
    ];
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = headers.iter().any(|h| line.replace(' ', "") == *h);
        } else if inside
            && line
                .strip_prefix("hosts")
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return Some(i + 1);
        }
    }
    None
}

fn sandbox_defaults() -> consentry::plugins::sandbox::Limits {
    Default::default()
}

pub async fn plugins(cmd: PluginsCommand) -> anyhow::Result<()> {
    use consentry::plugins::{plugin, reference, sandbox, Registry};
    match cmd {
        PluginsCommand::Init { dir } => {
            let written = consentry::plugins::shipped::write_into(&dir)
                .map_err(|e| anyhow::anyhow!("plugins init {}: {e}", dir.display()))?;
            for file in &written {
                println!("wrote {}", file.display());
            }
            println!(
                "serve them with: consentry serve --plugins {}",
                dir.display()
            );
            Ok(())
        }
        PluginsCommand::Test { file, cases } => test(&file, &cases).await,
        PluginsCommand::Check {
            files,
            config,
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
            if let Some(path) = &config {
                let problems = operator_hosts_problems(path)?;
                for p in &problems {
                    println!("error {p}");
                }
                failed += problems.len();
            }
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
            anyhow::ensure!(failed == 0, "{failed} problems");
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

/// Plays each case against the script; the first mismatch of each case is printed, and the
/// command fails naming the first one.
async fn test(file: &Path, cases: &[PathBuf]) -> anyhow::Result<()> {
    use consentry::plugins::rehearsal::{Case, Rehearser};
    let rehearser = Rehearser::new(file).map_err(anyhow::Error::msg)?;
    let mut played = Vec::new();
    for path in cases {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let case = Case::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        played.push((path.display().to_string(), case));
    }
    if played.is_empty() {
        played.push(("(no case: connect, first step)".into(), Case::smoke()));
    }
    let mut failures = Vec::new();
    for (name, case) in &played {
        println!(
            "case {name} at {} ({})",
            rehearser.institution(),
            case.journey.as_str()
        );
        if !case.description.is_empty() {
            println!("  {}", case.description);
        }
        let run = rehearser.run(case).await;
        for line in &run.transcript {
            println!("  {line}");
        }
        match run.mismatch {
            None => println!("  ok"),
            Some(m) => {
                println!("  MISMATCH {m}");
                failures.push(format!("{name}: {m}"));
            }
        }
    }
    anyhow::ensure!(
        failures.is_empty(),
        "{} of {} cases failed; first: {}",
        failures.len(),
        played.len(),
        failures[0]
    );
    Ok(())
}
