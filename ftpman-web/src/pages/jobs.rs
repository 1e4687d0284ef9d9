//! The jobs: the list (schedule in words, next fire, the last runs), a job's page (what it does,
//! when it fires next, its history) and the actions on a job (run, dry run, enable, disable,
//! remove).

use super::render::when;
use super::{Frame, Layout, PageResult, RunRow, flash, layout, page, run_row, segment};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use ftpman_core::manager::{ErrorKind, RunFilter};
use ftpman_core::model::{Trigger, UserRole};
use ftpman_core::validate::format_bytes;

struct JobRow {
    name: String,
    enabled: bool,
    from: String,
    to: String,
    schedule: String,
    next: String,
    history: Vec<(i64, String)>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    layout: Layout,
    jobs: Vec<JobRow>,
    groups: Vec<super::groups::GroupRow>,
    can_run: bool,
}

/// How many of a job's runs the list's small bar shows.
const HISTORY_TICKS: i64 = 10;

pub(super) async fn jobs(State(s): State<AppState>, frame: Frame) -> PageResult {
    let layout = layout(&s, &frame, "Jobs", "/jobs").await?;
    let all = s.manager.jobs().await?;
    let views = s.manager.job_views(&all).await?;
    let mut rows = Vec::with_capacity(views.len());
    for v in views {
        let fires = s.manager.next_fires(&v.name, 1).await.unwrap_or_default();
        let history = s
            .manager
            .runs_page(&RunFilter {
                job: Some(v.name.clone()),
                limit: Some(HISTORY_TICKS),
                ..Default::default()
            })
            .await?
            .items
            .iter()
            .rev()
            .map(|r| (r.id, r.status.as_str().to_string()))
            .collect();
        rows.push(JobRow {
            next: if v.enabled {
                when(fires.first().map(|t| t.to_rfc3339()).as_deref())
            } else {
                "–".into()
            },
            name: v.name,
            enabled: v.enabled,
            from: v.from,
            to: v.to,
            schedule: v.schedule.text,
            history,
        });
    }
    page(JobsPage {
        layout,
        jobs: rows,
        groups: super::groups::rows(&s).await?,
        can_run: frame.can(UserRole::Operator),
    })
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    layout: Layout,
    job: ftpman_core::manager::views::JobView,
    options: Vec<(&'static str, String)>,
    fires: Vec<String>,
    runs: Vec<RunRow>,
    totals: String,
    can_run: bool,
}

/// How many fires and runs a job's page shows.
const FIRES_SHOWN: usize = 5;
const RUNS_SHOWN: i64 = 20;

/// A fire time in the job's own zone, and as a `<time>` the script shows as "in 3 h".
fn fire_in_zone(at: &str, tz: Option<&str>) -> String {
    let utc = match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(t) => t.with_timezone(&chrono::Utc),
        Err(_) => return "–".into(),
    };
    let local = tz
        .and_then(|z| ftpman_core::validate::parse_time_zone("tz", z).ok())
        .map(|z| format!("{} {}", utc.with_timezone(&z).format("%a %Y-%m-%d %H:%M"), z.name()))
        .unwrap_or_else(|| utc.format("%a %Y-%m-%d %H:%M UTC").to_string());
    format!(
        "{} <span class=\"muted\">({})</span>",
        super::render::escape(&local),
        when(Some(at))
    )
}

pub(super) async fn job_page(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    let job = s.manager.job_view_with_fires(&name, FIRES_SHOWN).await?;
    let layout = layout(&s, &frame, &format!("Job {name}"), "/jobs").await?;
    let list = s
        .manager
        .runs_page(&RunFilter {
            job: Some(name.clone()),
            limit: Some(RUNS_SHOWN),
            ..Default::default()
        })
        .await?;
    let views = s.manager.run_views(&list.items).await?;
    let (files, bytes) = views
        .iter()
        .fold((0i64, 0i64), |(f, b), r| (f + r.transferred, b + r.bytes.max(0)));
    let totals = format!(
        "{} run{} shown: {files} file{} moved, {}",
        views.len(),
        if views.len() == 1 { "" } else { "s" },
        if files == 1 { "" } else { "s" },
        format_bytes(bytes as u64)
    );
    let options = vec![
        (
            "Include",
            if job.include.is_empty() {
                "every file".to_string()
            } else {
                job.include.join(", ")
            },
        ),
        (
            "Exclude",
            if job.exclude.is_empty() {
                "nothing".to_string()
            } else {
                job.exclude.join(", ")
            },
        ),
        (
            "Sub-folders",
            if job.recursive {
                "walked".to_string()
            } else {
                "not walked".to_string()
            },
        ),
        ("Unchanged for", job.min_age.clone()),
        (
            "Period",
            match (&job.window, &job.name_date) {
                (None, _) => "any date".to_string(),
                (Some(w), None) => format!("{w}, by modification time"),
                (Some(w), Some(p)) => format!("{w}, by the date in the names ({p})"),
            },
        ),
        ("Next window", job.next_window.clone().unwrap_or_else(|| "–".into())),
        ("After delivery", job.after.clone()),
        ("Existing target", job.on_conflict.clone()),
        (
            "Written as",
            if job.atomic {
                "a temporary name, renamed when complete".to_string()
            } else {
                "its final name".to_string()
            },
        ),
        ("Files at once", job.parallel.to_string()),
        (
            "Retries",
            format!("{} per file, backoff {}", job.retries, job.retry_backoff),
        ),
        ("Per-file timeout", job.file_timeout.clone()),
        (
            "Bandwidth",
            job.bwlimit
                .clone()
                .map(|b| format!("{b}/s"))
                .unwrap_or_else(|| "unlimited".into()),
        ),
        (
            "E-mail",
            if job.email.is_empty() {
                job.notify.clone()
            } else {
                format!("{} to {}", job.notify, job.email.join(", "))
            },
        ),
    ];
    let fires = if job.enabled {
        job.next_fires
            .iter()
            .flatten()
            .map(|t| fire_in_zone(t, job.schedule.tz.as_deref()))
            .collect()
    } else {
        Vec::new()
    };
    page(JobPage {
        layout,
        options,
        fires,
        runs: views.iter().map(run_row).collect(),
        totals,
        can_run: frame.can(UserRole::Operator),
        job,
    })
}

async fn start(s: &AppState, frame: &Frame, name: &str, dry_run: bool) -> PageResult {
    match s.manager.start_run(name, dry_run, Trigger::Manual).await {
        Ok(handle) => {
            Ok(axum::response::Redirect::to(&format!("{}/runs/{}", s.config.base_path, handle.id())).into_response())
        }
        // A run already going (or a job that vanished) is said on the job's page, not as an error page.
        Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::InvalidInput) => Ok(flash::redirect_error(
            s,
            &format!("/jobs/{}", segment(name)),
            &e.to_string(),
            frame.caller.client.https,
        )),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn run_now(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    start(&s, &frame, &name, false).await
}

pub(super) async fn dry_run(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    start(&s, &frame, &name, true).await
}

async fn set_enabled(s: &AppState, frame: &Frame, name: &str, enabled: bool) -> PageResult {
    s.manager.set_job_enabled(name, enabled).await?;
    let said = if enabled {
        format!("job {name} enabled: it fires on its schedule again")
    } else {
        format!("job {name} disabled: it does not fire until enabled")
    };
    Ok(flash::redirect(
        s,
        &format!("/jobs/{}", segment(name)),
        &said,
        frame.caller.client.https,
    ))
}

pub(super) async fn enable(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    set_enabled(&s, &frame, &name, true).await
}

pub(super) async fn disable(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    set_enabled(&s, &frame, &name, false).await
}

pub(super) async fn remove_job(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    match s.manager.remove_job(&name).await {
        Ok(()) => Ok(flash::redirect(
            &s,
            "/jobs",
            &format!("job {name} removed"),
            frame.caller.client.https,
        )),
        Err(e) if matches!(e.kind(), ErrorKind::InUse | ErrorKind::Conflict) => Ok(flash::redirect_error(
            &s,
            &format!("/jobs/{}", segment(&name)),
            &e.to_string(),
            frame.caller.client.https,
        )),
        Err(e) => Err(e.into()),
    }
}
