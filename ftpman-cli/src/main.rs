//! `ftpman`: the command line, a thin layer over `ftpman_core::Manager`.
//!
//! Exit status: 0 on success, 1 when an operation failed, 2 on bad usage (an unknown flag, a
//! value that does not parse, a refused value).

mod cli;
mod commands;
mod complete;
mod output;
mod progress;
mod secrets;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// An error as the CLI reports it: the message, and whether it was bad usage.
pub struct Failure {
    message: String,
    usage: bool,
}

impl From<ftpman_core::ManagerError> for Failure {
    fn from(e: ftpman_core::ManagerError) -> Self {
        Failure {
            usage: e.is_usage(),
            message: e.to_string(),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { message, usage: false }
    }
}

impl Failure {
    /// A bad-usage failure.
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            usage: true,
        }
    }
}

/// What a command returns.
pub type CmdResult = Result<ExitCode, Failure>;

/// Switches the system-log layer on once the database is open (events before that only reach
/// standard error).
pub type LogSwitch =
    tracing_subscriber::reload::Handle<Option<ftpman_core::syslog::SystemLogLayer>, tracing_subscriber::Registry>;

fn main() -> ExitCode {
    // Asked by the shell for completions: answer and exit, before anything else runs.
    clap_complete::CompleteEnv::with_factory(<Cli as clap::CommandFactory>::command)
        .var(complete::VAR)
        .complete();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt.block_on(run()),
        Err(e) => {
            eprintln!("ftpman: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    use tracing_subscriber::prelude::*;
    let cli = Cli::parse();
    let console_filter = tracing_subscriber::EnvFilter::try_from_env("FTPMAN_LOG").unwrap_or_else(|_| {
        if matches!(cli.command, Command::Serve(_)) {
            "info"
        } else {
            "warn"
        }
        .into()
    });
    let (system_log, switch) = tracing_subscriber::reload::Layer::new(None);
    tracing_subscriber::registry()
        .with(system_log)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .with_filter(console_filter),
        )
        .init();
    match commands::run(cli, switch).await {
        Ok(code) => code,
        Err(f) => {
            eprintln!("ftpman: {}", crate::output::safe(&f.message));
            ExitCode::from(if f.usage { 2 } else { 1 })
        }
    }
}
