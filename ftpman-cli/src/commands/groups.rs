//! `ftpman group ...`

use crate::CmdResult;
use crate::cli::{GroupCommand, GroupFlags};
use crate::output::{self, table};
use ftpman_core::Manager;
use ftpman_core::manager::{GroupOptions, GroupView, RunOptions};
use ftpman_core::model::{RunStatus, Trigger};
use std::process::ExitCode;

fn options(f: &GroupFlags) -> GroupOptions {
    GroupOptions {
        jobs: (!f.jobs.is_empty()).then(|| f.jobs.clone()),
        schedule: f.when.schedule.clone(),
        tz: f.when.tz.clone(),
        at: f.when.at.clone(),
        manual: f.when.manual,
        continue_on_failure: crate::commands::on_off(f.continue_on_failure, f.stop_on_failure),
        enabled: None,
    }
}

/// `group show` for people: its jobs in order, when it runs, what happens on a failure, its
/// latest runs.
fn show(view: &GroupView) {
    let row = |k: &str, v: String| println!("  {k:<12} {}", output::safe(&v));
    println!(
        "group {} ({})",
        view.name,
        if view.enabled { "enabled" } else { "disabled" }
    );
    row("jobs", view.jobs.join(" -> "));
    row("schedule", view.schedule.text.clone());
    if view.schedule.kind != "cron" {
        row("time zone", view.zone.clone());
    }
    if let Some(fires) = view.next_fires.as_ref().filter(|f| !f.is_empty()) {
        row("next fires", fires.join(", "));
    }
    row(
        "on failure",
        if view.continue_on_failure {
            "go on with the next job".into()
        } else {
            "stop; the jobs after it are not run".into()
        },
    );
    let runs = view.runs.as_deref().unwrap_or_default();
    if runs.is_empty() {
        row("last run", "never run".into());
    } else {
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                vec![
                    r.id.to_string(),
                    r.status.clone(),
                    r.trigger.clone(),
                    r.started_at.clone().unwrap_or_else(|| r.created_at.clone()),
                    r.error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        println!();
        table(&["GROUP RUN", "STATUS", "TRIGGER", "STARTED", "ERROR"], &rows);
    }
}

pub async fn run(m: &Manager, cmd: GroupCommand, as_json: bool) -> CmdResult {
    match cmd {
        GroupCommand::Add { name, flags } => {
            let group = m.add_group(&name, &options(&flags)).await?;
            println!("group '{}' added ({})", group.name, group.schedule);
        }
        GroupCommand::Edit { name, flags } => {
            let group = m.edit_group(&name, &options(&flags)).await?;
            println!("group '{}' changed ({})", group.name, group.schedule);
        }
        GroupCommand::List => {
            let views = m.group_views(&m.groups().await?).await?;
            if as_json {
                output::json(&views);
            } else {
                let rows: Vec<Vec<String>> = views
                    .iter()
                    .map(|g| {
                        vec![
                            g.name.clone(),
                            if g.enabled { "yes" } else { "no" }.into(),
                            g.jobs.join(","),
                            g.schedule.text.clone(),
                        ]
                    })
                    .collect();
                table(&["NAME", "ENABLED", "JOBS", "SCHEDULE"], &rows);
            }
        }
        GroupCommand::Show { name } => {
            let view = m.group_view_with_runs(&name, 5, 5).await?;
            if as_json {
                output::json(&view);
            } else {
                show(&view);
            }
        }
        GroupCommand::Remove { name } => {
            m.remove_group(&name).await?;
            println!("group '{name}' removed (its jobs stay)");
        }
        GroupCommand::Enable { name } => {
            m.set_group_enabled(&name, true).await?;
            println!("group '{name}' enabled");
        }
        GroupCommand::Disable { name } => {
            m.set_group_enabled(&name, false).await?;
            println!("group '{name}' disabled");
        }
        GroupCommand::Run { name, as_of, again } => {
            let options = RunOptions {
                dry_run: false,
                as_of,
                again,
            };
            let (run, runs) = m.run_group(&name, &options, Trigger::Manual).await?;
            let view = m.group_run_view(run.id).await?;
            if as_json {
                output::json(&view);
            } else {
                let names = view.runs.iter().flatten().map(|r| r.job.clone());
                for (r, job) in runs.iter().zip(names) {
                    println!("job {job}: {}", super::jobs::summary(r));
                }
                let mut line = format!("group run {} of '{name}' {}", run.id, run.status);
                if let Some(e) = &run.error {
                    line.push_str(&format!(" — {}", output::safe(e)));
                }
                println!("{line}");
            }
            if run.status != RunStatus::Succeeded {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
