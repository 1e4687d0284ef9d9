//! `ftpman`: the command line. Until the CLI issue lands, it opens the store and prints its
//! state (`ftpman status`, the default).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// ftpman: managed file transfer between FTP, FTPS, SFTP and local folders.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Database URL: sqlite://PATH (embedded) or postgres://user@host/db.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://ftpman.db", global = true)]
    db: String,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Open the store (creating it on first use) and print what it holds.
    Status,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FTPMAN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Status) {
        Command::Status => status(&cli.db).await,
    }
}

async fn status(db: &str) -> ExitCode {
    let manager = match ftpman_core::Manager::open(db).await {
        Ok(m) => m,
        Err(e) => {
            eprintln!("ftpman: {e}");
            return ExitCode::FAILURE;
        }
    };
    match manager.status().await {
        Ok(s) => {
            println!("database:    {} ({:?})", s.database, s.backend);
            println!("sites:       {}", s.sites);
            println!("jobs:        {} ({} enabled)", s.jobs, s.enabled_jobs);
            println!("active runs: {}", s.active_runs);
            println!("nodes:       {}", s.nodes);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ftpman: {e}");
            ExitCode::FAILURE
        }
    }
}
