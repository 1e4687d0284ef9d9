//! `ftpman logs`.

use crate::CmdResult;
use crate::cli::Level;
use crate::output;
use ftpman_core::Manager;
use ftpman_core::manager::views::LogView;
use ftpman_core::model::{LogEntry, LogLevel};
use std::process::ExitCode;

fn print(e: &LogEntry, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string(&LogView::from(e)).unwrap_or_default());
    } else {
        println!(
            "{} {:<5} {:<10} {}",
            e.time.format("%Y-%m-%d %H:%M:%S"),
            e.level.as_str(),
            e.component,
            e.message
        );
    }
}

pub async fn logs(m: &Manager, level: Option<Level>, limit: i64, follow: bool, as_json: bool) -> CmdResult {
    let level = level.map(|l| match l {
        Level::Debug => LogLevel::Debug,
        Level::Info => LogLevel::Info,
        Level::Warn => LogLevel::Warn,
        Level::Error => LogLevel::Error,
    });
    let mut entries = m.logs(level, limit).await?;
    entries.reverse();
    if as_json && !follow {
        output::json(&entries.iter().map(LogView::from).collect::<Vec<_>>());
        return Ok(ExitCode::SUCCESS);
    }
    let mut last = entries.last().map(|e| e.id).unwrap_or(0);
    for e in &entries {
        print(e, as_json);
    }
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
        }
        for e in m.logs_after(level, last).await? {
            last = e.id;
            print(&e, as_json);
        }
    }
    Ok(ExitCode::SUCCESS)
}
