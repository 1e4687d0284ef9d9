//! `ftpman runs`, `ftpman run show`, `run cancel` and `run watch`.

use crate::CmdResult;
use crate::output::{self, table};
use ftpman_core::Manager;
use ftpman_core::manager::views::RunView;
use std::collections::HashMap;
use std::process::ExitCode;

async fn job_names(m: &Manager) -> Result<HashMap<i64, String>, crate::Failure> {
    Ok(m.jobs().await?.into_iter().map(|j| (j.id, j.name)).collect())
}

pub async fn list(m: &Manager, job: Option<&str>, limit: i64, as_json: bool) -> CmdResult {
    let runs = m.runs(job, limit).await?;
    let names = job_names(m).await?;
    let name = |id: i64| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}"));
    if as_json {
        output::json(&m.run_views(&runs).await?);
    } else {
        let rows = runs
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    name(r.job_id),
                    if r.dry_run {
                        format!("{} (dry run)", r.status)
                    } else {
                        r.status.to_string()
                    },
                    r.trigger.to_string(),
                    output::when(r.started_at.or(Some(r.created_at))),
                    format!("{}/{}/{}", r.counts.transferred, r.counts.skipped, r.counts.failed),
                    output::bytes(r.counts.bytes.max(0) as u64),
                ]
            })
            .collect::<Vec<_>>();
        table(
            &[
                "ID",
                "JOB",
                "STATUS",
                "TRIGGER",
                "STARTED (UTC)",
                "SENT/SKIP/FAIL",
                "BYTES",
            ],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show(m: &Manager, id: i64, as_json: bool) -> CmdResult {
    let (run, files) = m.run(id).await?;
    let names = job_names(m).await?;
    let job = names.get(&run.job_id).cloned().unwrap_or_default();
    if as_json {
        output::json(&RunView::new(&run, &job).with_files(&files));
    } else {
        println!("{}", super::jobs::summary(&run));
        println!(
            "job {job}, started by {}, at {}",
            run.trigger,
            output::when(run.started_at)
        );
        if let Some(group_run) = run.group_run_id {
            println!("part of group run {group_run}, as of {}", output::when(run.as_of));
        } else if let Some(as_of) = run.as_of {
            println!(
                "backfill as of {}{}",
                output::when(Some(as_of)),
                if run.again {
                    ", sending again what the ledger had"
                } else {
                    ""
                }
            );
        }
        if let Some(window) = &run.window {
            println!("window {}", output::safe(window));
        }
        let rows = files
            .iter()
            .map(|f| {
                vec![
                    f.status.to_string(),
                    output::bytes(f.size.max(0) as u64),
                    f.source_path.clone(),
                    f.target_path.clone(),
                    f.error.clone().unwrap_or_default(),
                ]
            })
            .collect::<Vec<_>>();
        if !rows.is_empty() {
            table(&["STATUS", "SIZE", "SOURCE", "TARGET", "ERROR"], &rows);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line about a run in progress: "run 4 of job nightly running: 2 transferred, 0 failed, 3.1 MiB".
fn progress_line(run: &ftpman_core::model::Run, job: &str) -> String {
    let mut line = format!(
        "run {} of job {job} {}: {}",
        run.id,
        run.status,
        super::jobs::counts(run)
    );
    for f in run.active_files.iter().take(3) {
        line.push_str(&format!(
            "; moving {} ({} of {})",
            crate::output::safe(&f.path),
            output::bytes(f.bytes),
            output::bytes(f.size)
        ));
    }
    line
}

pub async fn cancel(m: &Manager, id: i64, as_json: bool) -> CmdResult {
    let requested = m.cancel_run(id).await?;
    let names = job_names(m).await?;
    let job = names.get(&requested.job_id).cloned().unwrap_or_default();
    if !as_json {
        println!("run {id} of job {job}: cancel requested; waiting for it to stop");
    }
    // The node running it stops it within a second or two; follow it to its end.
    let mut watch = m.watch_run(id).await?;
    let mut last = requested;
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout_at(until, watch.next()).await {
            Ok(Ok(Some(update))) => last = update.run,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => break,
        }
    }
    if as_json {
        output::json(&RunView::new(&last, &job));
    } else if last.status.is_final() {
        println!("{}", super::jobs::summary(&last));
    } else {
        println!(
            "run {id} has not stopped yet: the node running it ({}) may be unreachable; it stops when it sees the request, or when its lease runs out",
            last.node_id.as_deref().unwrap_or("?")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(if last.status == ftpman_core::model::RunStatus::Cancelled {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn watch(m: &Manager, id: i64, as_json: bool) -> CmdResult {
    let mut watch = m.watch_run(id).await?;
    let names = job_names(m).await?;
    let mut last = None;
    while let Some(update) = watch.next().await? {
        let job = names.get(&update.run.job_id).cloned().unwrap_or_default();
        for f in &update.files {
            let path = crate::output::safe(&f.source_path);
            match &f.error {
                Some(e) if !as_json => println!("{:<14} {path}: {}", f.status.as_str(), output::safe(e)),
                _ if !as_json => println!("{:<14} {path}", f.status.as_str()),
                _ => {}
            }
        }
        if as_json {
            // One JSON object a line, as the run goes.
            let view = RunView::new(&update.run, &job).with_files(&update.files);
            println!("{}", serde_json::to_string(&view).unwrap_or_default());
        } else if !update.run.status.is_final() {
            println!("{}", progress_line(&update.run, &job));
        }
        last = Some(update.run);
    }
    let Some(run) = last else { return Ok(ExitCode::FAILURE) };
    if !as_json {
        println!("{}", super::jobs::summary(&run));
    }
    Ok(if run.status == ftpman_core::model::RunStatus::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
