//! `ftpman runs` and `ftpman run show`.

use crate::CmdResult;
use crate::output::{self, table};
use ftpman_core::Manager;
use ftpman_core::manager::json;
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
        output::json(&serde_json::Value::Array(
            runs.iter().map(|r| json::run(r, &name(r.job_id))).collect(),
        ));
    } else {
        let rows = runs
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    name(r.job_id),
                    r.status.to_string(),
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
        let mut v = json::run(&run, &job);
        v["files"] = serde_json::Value::Array(files.iter().map(json::run_file).collect());
        output::json(&v);
    } else {
        println!("{}", super::jobs::summary(&run));
        println!(
            "job {job}, started by {}, at {}",
            run.trigger,
            output::when(run.started_at)
        );
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
