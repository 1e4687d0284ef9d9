//! Shell completion that knows this installation: site and job names come from the database the
//! command line would open (`--db` on the line being completed, else `DATABASE_URL`, else
//! `./ftpman.db`). The shell calls `ftpman` itself to complete (clap_complete's dynamic engine,
//! activated by the `COMPLETE` variable); `ftpman completions SHELL` prints the registration.
//! Completing never creates a database and never prints an error: it offers nothing instead.

use clap_complete::engine::CompletionCandidate;
use std::ffi::OsStr;

/// The variable the shell sets when it asks `ftpman` for completions.
pub const VAR: &str = "COMPLETE";

/// Site names starting with what is typed.
pub fn sites(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, Names::Sites, "")
}

/// Job names starting with what is typed.
pub fn jobs(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, Names::Jobs, "")
}

/// Group names starting with what is typed.
pub fn groups(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, Names::Groups, "")
}

/// `SITE:` for a `SITE:PATH` value (the path is the user's to type).
pub fn site_paths(current: &OsStr) -> Vec<CompletionCandidate> {
    candidates(current, Names::Sites, ":")
}

#[derive(Clone, Copy)]
enum Names {
    Sites,
    Jobs,
    Groups,
}

fn candidates(current: &OsStr, which: Names, suffix: &str) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    names(which)
        .into_iter()
        .map(|n| format!("{n}{suffix}"))
        .filter(|n| n.starts_with(typed.as_ref()))
        .map(CompletionCandidate::new)
        .collect()
}

/// The database the line being completed would use.
fn database() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut given = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--db=") {
            given = Some(v.to_string());
        } else if a == "--db" {
            given = args.get(i + 1).cloned();
        }
    }
    given
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .unwrap_or_else(|| "sqlite://ftpman.db".into())
}

fn names(which: Names) -> Vec<String> {
    let url = database();
    // An embedded database that is not there yet stays not there.
    if let Some(path) = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p))
        && !std::path::Path::new(path).exists()
    {
        return Vec::new();
    }
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return Vec::new();
    };
    rt.block_on(async {
        let Ok(Ok(m)) = tokio::time::timeout(std::time::Duration::from_secs(3), ftpman_core::Manager::open(&url)).await
        else {
            return Vec::new();
        };
        let found = match which {
            Names::Sites => m.sites().await.map(|v| v.into_iter().map(|s| s.name).collect()),
            Names::Jobs => m.jobs().await.map(|v| v.into_iter().map(|j| j.name).collect()),
            Names::Groups => m.groups().await.map(|v| v.into_iter().map(|g| g.name).collect()),
        };
        found.unwrap_or_default()
    })
}

/// Prints the shell's registration script: the shell then asks `ftpman` for each completion.
pub fn print_registration(shell: clap_complete::Shell) -> std::io::Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let name = shell.to_string();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| std::io::Error::other(format!("no completion for {name}")))?;
    let exe = std::env::current_exe()?;
    completer.write_registration(VAR, "ftpman", "ftpman", &exe.to_string_lossy(), &mut std::io::stdout())
}
