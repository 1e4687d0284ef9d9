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

pub async fn logs(m: &Manager, asked: crate::cli::LogsArgs, as_json: bool) -> CmdResult {
    let since = match &asked.since {
        None => None,
        Some(s) => Some(
            ftpman_core::validate::parse_since("since", s, chrono::Utc::now())
                .map_err(|e| crate::Failure::usage(e.to_string()))?,
        ),
    };
    if let Some(job) = &asked.job {
        m.job(job).await?;
    }
    let filter = ftpman_core::manager::LogFilter {
        level: asked.level.map(|l| match l {
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }),
        component: asked.component,
        job: asked.job,
        since,
        limit: Some(asked.limit),
        ..Default::default()
    };
    let follow = asked.follow;
    let mut entries = m.logs_page(&filter).await?.items;
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
        for e in m.logs_after(&filter, last).await? {
            last = e.id;
            print(&e, as_json);
        }
    }
    Ok(ExitCode::SUCCESS)
}
