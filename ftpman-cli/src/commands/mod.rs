//! One function per command; each parses nothing itself beyond its flags and calls the core.

mod files;
mod groups;
mod jobs;
mod logs;
mod runs;
mod serve;
mod settings;
mod sites;
mod users;

use crate::cli::{Cli, Command};
use crate::{CmdResult, Failure};
use ftpman_core::Manager;
use std::process::ExitCode;

pub async fn run(cli: Cli, switch: crate::LogSwitch) -> CmdResult {
    if let Command::Completions { shell } = cli.command {
        crate::complete::print_registration(shell).map_err(|e| Failure::from(format!("completions: {e}")))?;
        return Ok(ExitCode::SUCCESS);
    }
    if !creates_a_database(&cli.command)
        && let Some(path) = cli
            .db
            .strip_prefix("sqlite://")
            .map(|p| p.split('?').next().unwrap_or(p))
        && !path.is_empty()
        && path != ":memory:"
        && !std::path::Path::new(path).exists()
    {
        return Err(Failure::from(format!(
            "no ftpman database at {path} yet: add a site (ftpman site add NAME --url URL) to start one here, or point --db (DATABASE_URL) at yours"
        )));
    }
    let url = database_url(&cli.db)?;
    let m = Manager::open(&url).await?;
    // From here on, ftpman's own events (engine, scheduler, transports) go into the system log.
    let (log, writer) = ftpman_core::syslog::SystemLog::start(m.store().clone());
    let _ = switch.reload(Some(log.layer()));
    let result = dispatch(m, cli.command, cli.json).await;
    let _ = switch.reload(None);
    drop(log);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), writer).await;
    result
}

/// The database URL to open: `--db` (or `DATABASE_URL`), with the password read from the file
/// `DATABASE_PASSWORD_FILE` names when it is set. A password typed into `--db` itself is
/// visible to every user of the machine (`ps`), so it is warned about.
fn database_url(db: &str) -> Result<String, Failure> {
    let on_the_line = std::env::args().any(|a| a == "--db" || a.starts_with("--db="));
    if on_the_line && ftpman_core::store::url_has_password(db) {
        eprintln!(
            "ftpman: warning: the database password is on the command line, where any user of this machine can read it; put the URL in DATABASE_URL, or the password in a file named by DATABASE_PASSWORD_FILE"
        );
    }
    match std::env::var_os("DATABASE_PASSWORD_FILE") {
        None => Ok(db.to_string()),
        Some(file) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Failure::usage(format!(
                    "DATABASE_PASSWORD_FILE {}: {e}",
                    std::path::Path::new(&file).display()
                ))
            })?;
            let password = text.trim_end_matches(['\n', '\r']);
            ftpman_core::store::with_password(db, password)
                .map_err(|e| Failure::from(ftpman_core::ManagerError::from(e)))
        }
    }
}

/// Whether a command may start a new embedded database (one that only reads says there is
/// none instead of leaving an empty one behind).
fn creates_a_database(command: &Command) -> bool {
    use crate::cli::{SettingsCommand, SiteCommand, UserCommand};
    matches!(
        command,
        Command::Serve(_)
            | Command::Site(SiteCommand::Add { .. })
            | Command::User(UserCommand::Add { .. })
            | Command::Settings(SettingsCommand::Set { .. })
    )
}

async fn dispatch(m: Manager, command: Command, json: bool) -> CmdResult {
    match command {
        Command::Serve(args) => serve::serve(m, args).await,
        Command::Site(c) => sites::run(&m, c, json).await,
        Command::Job(c) => jobs::run(&m, c, json).await,
        Command::Group(c) => groups::run(&m, c, json).await,
        Command::Runs { job, limit } => runs::list(&m, job.as_deref(), limit, json).await,
        Command::Run(crate::cli::RunCommand::Show { id }) => runs::show(&m, id, json).await,
        Command::Run(crate::cli::RunCommand::Cancel { id }) => runs::cancel(&m, id, json).await,
        Command::Run(crate::cli::RunCommand::Watch { id }) => runs::watch(&m, id, json).await,
        Command::Logs(args) => logs::logs(&m, args, json).await,
        Command::Upload { target, files } => files::upload(&m, &target, &files).await,
        Command::Download { source, dest } => files::download(&m, &source, &dest).await,
        Command::Settings(c) => settings::run(&m, c, json).await,
        Command::Smtp(crate::cli::SmtpCommand::Test { addr }) => {
            m.smtp_test(&addr).await?;
            println!("test e-mail sent to {addr}");
            Ok(ExitCode::SUCCESS)
        }
        Command::User(c) => users::run(&m, c, json).await,
        Command::Token(c) => users::tokens(&m, c, json).await,
        Command::Status => {
            let s = m.status().await?;
            if json {
                crate::output::json(&ftpman_core::manager::views::StatusView::from(&s));
            } else {
                println!("database:    {} ({:?})", s.database, s.backend);
                println!("sites:       {}", s.sites);
                println!("jobs:        {} ({} enabled)", s.jobs, s.enabled_jobs);
                println!("active runs: {}", s.active_runs);
                println!("nodes:       {}", s.nodes);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { .. } => Err(Failure::usage("unreachable")),
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM: both ask ftpman to stop cleanly.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// A setting switched on by one flag and off by its opposite; `None` when neither was given.
pub(crate) fn on_off(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}
