//! The `consentry` command: serve the provider, and operator tools for clients, users, keys
//! and institution scripts (`cli/`).

mod cli;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

/// mimalloc: the request path allocates many small, short-lived buffers across threads, where
/// it spends markedly less time than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// One thread for accepting, housekeeping and the CLI: connections are served on threads of
/// their own (`tls::Cores`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = cli::run(cli.command).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not eprintln!: it panics when stderr cannot be written.
            let _ = writeln!(std::io::stderr(), "consentry: {}", cli::one_line(&e));
            ExitCode::FAILURE
        }
    }
}
