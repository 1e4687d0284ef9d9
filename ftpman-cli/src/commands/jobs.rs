//! `ftpman job ...`

use crate::CmdResult;
use crate::cli::{JobCommand, JobFlags};
use crate::output::{self, table};
use ftpman_core::Manager;
use ftpman_core::manager::JobOptions;
use ftpman_core::manager::views::RunView;
use ftpman_core::model::{RunStatus, Trigger};
use std::collections::HashMap;
use std::process::ExitCode;

fn options(f: &JobFlags) -> JobOptions {
    JobOptions {
        from: f.from.clone(),
        to: f.to.clone(),
        include: (!f.include.is_empty()).then(|| f.include.clone()),
        exclude: (!f.exclude.is_empty()).then(|| f.exclude.clone()),
        recursive: crate::commands::on_off(f.recursive, f.no_recursive),
        min_age: f.min_age.clone(),
        max_age: f.max_age.clone(),
        window: f.window.clone(),
        name_date: f.name_date.clone(),
        schedule: f.when.schedule.clone(),
        tz: f.when.tz.clone(),
        at: f.when.at.clone(),
        manual: f.when.manual,
        after: f.after.clone(),
        on_conflict: f.on_conflict.clone(),
        atomic: crate::commands::on_off(f.atomic, f.no_atomic),
        parallel: f.parallel,
        retries: f.retries,
        retry_backoff: f.retry_backoff.clone(),
        bwlimit: f.bwlimit.clone(),
        file_timeout: f.file_timeout.clone(),
        notify: f.notify.clone(),
        email: (!f.email.is_empty()).then(|| f.email.clone()),
        enabled: None,
    }
}

async fn site_names(m: &Manager) -> Result<HashMap<i64, String>, crate::Failure> {
    Ok(m.sites().await?.into_iter().map(|s| (s.id, s.name)).collect())
}

/// `job show` for people: what the job does, when, and how, in an aligned list.
fn show(
    job: &ftpman_core::model::Job,
    view: &ftpman_core::manager::views::JobView,
    fires: &[chrono::DateTime<chrono::Utc>],
    last: Option<&ftpman_core::model::Run>,
) {
    let tz = job.zone();
    let row = |k: &str, v: String| println!("  {k:<12} {}", output::safe(&v));
    println!(
        "job {} ({})",
        view.name,
        if view.enabled { "enabled" } else { "disabled" }
    );
    row("from", view.from.clone());
    row("to", view.to.clone());
    let mut files = vec![
        if view.recursive {
            "with sub-folders"
        } else {
            "this folder only"
        }
        .to_string(),
    ];
    if !view.include.is_empty() {
        files.push(format!("only {}", view.include.join(", ")));
    }
    if !view.exclude.is_empty() {
        files.push(format!("never {}", view.exclude.join(", ")));
    }
    if view.min_age != "0s" {
        files.push(format!("unchanged for {}", view.min_age));
    }
    if let Some(max) = &view.max_age {
        files.push(format!("not older than {max}"));
    }
    if let Some(window) = &view.window {
        files.push(match &view.name_date {
            Some(pattern) => format!("of the window {window}, by the date in their names ({pattern})"),
            None => format!("of the window {window}, by modification time"),
        });
    }
    row("files", files.join("; "));
    if let Some(next) = &view.next_window {
        row(
            "next window",
            if fires.is_empty() {
                format!("{next} (a run started now)")
            } else {
                next.clone()
            },
        );
    }
    row("schedule", view.schedule.text.clone());
    if view.schedule.kind != "cron" {
        row("time zone", view.zone.clone());
    }
    if !fires.is_empty() {
        let when: Vec<String> = fires
            .iter()
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z").to_string())
            .collect();
        row("next fires", when.join(", "));
    }
    row(
        "last run",
        match last {
            Some(r) => format!(
                "{} {} {}: {}",
                r.id,
                r.status,
                output::when(r.started_at.or(Some(r.created_at))),
                counts(r)
            ),
            None => "never run".into(),
        },
    );
    row("on conflict", format!("{} ({})", job.conflict, job.conflict.meaning()));
    row("after", view.after.clone());
    row(
        "delivery",
        format!(
            "{}, {} at once, {} retries (first after {}), at most {} a file{}",
            if view.atomic {
                "under a temporary name, renamed when verified"
            } else {
                "in place"
            },
            view.parallel,
            view.retries,
            view.retry_backoff,
            view.file_timeout,
            view.bwlimit.as_ref().map(|b| format!(", {b}/s")).unwrap_or_default()
        ),
    );
    row(
        "notify",
        if view.email.is_empty() {
            view.notify.clone()
        } else {
            format!("{} ({})", view.notify, view.email.join(", "))
        },
    );
}

/// What a dry run found: each file that would move (size, where to), each that would not and
/// why, and the total.
fn dry_run_listing(files: &[ftpman_core::model::RunFile], run: &ftpman_core::model::Run) {
    use ftpman_core::model::RunFileStatus;
    let mut rows = Vec::new();
    let (mut count, mut bytes) = (0u64, 0u64);
    for f in files {
        let (what, note) = match f.status {
            RunFileStatus::WouldTransfer => {
                count += 1;
                bytes += f.size.max(0) as u64;
                ("would move", format!("-> {}", f.target_path))
            }
            RunFileStatus::Skipped => ("would skip", f.error.clone().unwrap_or_default()),
            _ => ("would fail", f.error.clone().unwrap_or_default()),
        };
        rows.push(vec![
            what.to_string(),
            output::bytes(f.size.max(0) as u64),
            f.source_path.clone(),
            note,
        ]);
    }
    if !rows.is_empty() {
        rows.sort_by(|a, b| a[2].cmp(&b[2]));
        table(&["DRY RUN", "SIZE", "SOURCE", "TARGET OR WHY"], &rows);
    }
    let delivered = run.counts.skipped - files.iter().filter(|f| f.status == RunFileStatus::Skipped).count() as i64;
    println!(
        "would move {count} file(s), {}; {} already delivered (in the ledger); nothing was moved",
        output::bytes(bytes),
        delivered.max(0)
    );
}

/// A run's counts for people: "2 transferred, 0 skipped, 1 failed, 3.1 MiB".
pub fn counts(run: &ftpman_core::model::Run) -> String {
    format!(
        "{} transferred, {} skipped, {} failed, {}",
        run.counts.transferred,
        run.counts.skipped,
        run.counts.failed,
        output::bytes(run.counts.bytes.max(0) as u64)
    )
}

/// The summary line of a finished run.
pub fn summary(run: &ftpman_core::model::Run) -> String {
    let secs = run.duration_secs().unwrap_or(0.0);
    let mut line = format!("run {} {}: {} in {secs:.1}s", run.id, run.status, counts(run));
    if run.counts.undated > 0 {
        line.push_str(&format!(
            "; {} passed over (no date for the window)",
            run.counts.undated
        ));
    }
    if let Some(e) = &run.error {
        line.push_str(&format!(" — {}", output::safe(e.lines().next().unwrap_or(""))));
    }
    line
}

pub async fn run(m: &Manager, cmd: JobCommand, as_json: bool) -> CmdResult {
    match cmd {
        JobCommand::Add { name, flags } => {
            let job = m.add_job(&name, &options(&flags)).await?;
            println!("job '{}' added ({})", job.name, job.schedule);
        }
        JobCommand::Edit { name, flags } => {
            let job = m.edit_job(&name, &options(&flags)).await?;
            println!("job '{}' changed ({})", job.name, job.schedule);
        }
        JobCommand::List => {
            let jobs = m.jobs().await?;
            let names = site_names(m).await?;
            let name_of = |id: i64| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}"));
            if as_json {
                output::json(&m.job_views(&jobs).await?);
            } else {
                let rows = jobs
                    .iter()
                    .map(|j| {
                        vec![
                            j.name.clone(),
                            if j.enabled { "yes" } else { "no" }.into(),
                            format!("{}:{}", name_of(j.source_site_id), j.source_path),
                            format!("{}:{}", name_of(j.target_site_id), j.target_path),
                            j.schedule.to_string(),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(&["NAME", "ENABLED", "FROM", "TO", "SCHEDULE"], &rows);
            }
        }
        JobCommand::Show { name } => {
            let job = m.job(&name).await?;
            let view = m.job_view_with_fires(&name, 5).await?;
            let fires = m.next_fires(&name, 5).await?;
            if as_json {
                output::json(&view);
            } else {
                let last = m.runs(Some(&name), 1).await?.into_iter().next();
                show(&job, &view, &fires, last.as_ref());
            }
        }
        JobCommand::Remove { name } => {
            m.remove_job(&name).await?;
            println!("job '{name}' removed");
        }
        JobCommand::Enable { name } => {
            m.set_job_enabled(&name, true).await?;
            println!("job '{name}' enabled");
        }
        JobCommand::Forget { name, paths } => {
            let n = m.forget(&name, &paths).await?;
            println!("job '{name}': {n} ledger entries cleared; those files are sent again by its next run");
        }
        JobCommand::Disable { name } => {
            m.set_job_enabled(&name, false).await?;
            println!("job '{name}' disabled");
        }
        JobCommand::Run {
            name,
            dry_run,
            as_of,
            again,
        } => {
            let job = m.job(&name).await?;
            let options = ftpman_core::manager::RunOptions { dry_run, as_of, again };
            let mut handle = m.start_run_with(&name, &options, Trigger::Manual).await?;
            let mut progress = crate::progress::RunProgress::default();
            let shutdown = crate::commands::shutdown_signal();
            tokio::pin!(shutdown);
            let mut cancelling = false;
            loop {
                tokio::select! {
                    event = handle.next_event() => match event {
                        Some(e) if !progress.show(&e) => {}
                        _ => break,
                    },
                    _ = &mut shutdown, if !cancelling => {
                        // This run only: others on the database go on.
                        eprintln!("cancelling run {}: the file being moved is abandoned (never left under its final name)", handle.id());
                        cancelling = true;
                        if let Err(e) = handle.cancel().await {
                            eprintln!("{e}");
                        }
                    }
                }
            }
            let run = match handle.wait().await {
                Ok(run) => run,
                // Cancelled: reported like any other end, with its summary.
                Err(ftpman_core::ManagerError::Cancelled { run }) => *run,
                Err(e) => return Err(e.into()),
            };
            if as_json {
                let files = m.run(run.id).await?.1;
                output::json(&RunView::new(&run, &job.name).with_files(&files));
            } else {
                if let Some(window) = &run.window {
                    println!("window {}", output::safe(window));
                }
                if run.dry_run {
                    dry_run_listing(&m.run(run.id).await?.1, &run);
                }
                println!("{}", summary(&run));
            }
            if run.status != RunStatus::Succeeded {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
