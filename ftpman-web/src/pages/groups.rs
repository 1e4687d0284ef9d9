//! The groups on the jobs page (their jobs in order, schedule, last run) and running one now.

use super::render::{escape, pill, when};
use super::{Frame, Layout, PageResult, flash, layout, page};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use ftpman_core::manager::{ErrorKind, RunOptions};
use ftpman_core::model::Trigger;
use ftpman_core::model::UserRole;

/// A group as the jobs page lists it.
pub(super) struct GroupRow {
    pub name: String,
    pub enabled: bool,
    /// Its jobs in order, `a → b → c`.
    pub jobs: String,
    pub schedule: String,
    /// The last run's status and when it started, as HTML (`–` when never run).
    pub last: String,
}

/// Every group, for the jobs page.
pub(super) async fn rows(s: &AppState) -> Result<Vec<GroupRow>, ftpman_core::ManagerError> {
    let groups = s.manager.groups().await?;
    let mut rows = Vec::with_capacity(groups.len());
    for view in s.manager.group_views(&groups).await? {
        let full = s.manager.group_view_with_runs(&view.name, 0, 1).await?;
        let last = match full.runs.as_deref().and_then(<[_]>::first) {
            Some(r) => format!(
                "{} {}",
                pill(&r.status),
                when(r.started_at.as_deref().or(Some(r.created_at.as_str())))
            ),
            None => "–".into(),
        };
        rows.push(GroupRow {
            jobs: view.jobs.iter().map(|j| escape(j)).collect::<Vec<_>>().join(" → "),
            name: view.name,
            enabled: view.enabled,
            schedule: view.schedule.text,
            last,
        });
    }
    Ok(rows)
}

/// Starts a group run now; back on the jobs page, a toast says so (or why not).
pub(super) async fn run_now(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    let https = frame.caller.client.https;
    match s
        .manager
        .start_group_run(&name, &RunOptions::default(), Trigger::Manual)
        .await
    {
        Ok(run) => Ok(flash::redirect(
            &s,
            "/jobs",
            &format!(
                "group {name}: run {} {}, its jobs one after another (see Runs)",
                run.id, run.status
            ),
            https,
        )),
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::Conflict | ErrorKind::InvalidInput | ErrorKind::NotFound
            ) =>
        {
            Ok(flash::redirect_error(&s, "/jobs", &e.to_string(), https))
        }
        Err(e) => Err(e.into()),
    }
}

/// A group run as its group's page lists it.
struct GroupRunRow {
    id: i64,
    status: String,
    trigger: String,
    started: String,
    /// Its jobs' runs: (run id, job, status, the status as a pill).
    jobs: Vec<(i64, String, String, String)>,
    error: String,
}

#[derive(Template)]
#[template(path = "group.html")]
struct GroupPage {
    layout: Layout,
    group: ftpman_core::manager::GroupView,
    fires: Vec<String>,
    runs: Vec<GroupRunRow>,
    can_run: bool,
}

/// How many fires and runs a group's page shows.
const FIRES_SHOWN: usize = 5;
const RUNS_SHOWN: i64 = 10;

/// A group's page: its jobs in order, when it runs, its latest runs with their jobs' runs.
pub(super) async fn group_page(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    let group = s.manager.group_view_with_runs(&name, FIRES_SHOWN, RUNS_SHOWN).await?;
    let layout = layout(&s, &frame, &format!("Group {name}"), "/jobs").await?;
    let mut runs = Vec::new();
    for r in group.runs.iter().flatten() {
        let full = s.manager.group_run_view(r.id).await?;
        runs.push(GroupRunRow {
            id: r.id,
            status: pill(&r.status),
            trigger: r.trigger.clone(),
            started: when(r.started_at.as_deref().or(Some(r.created_at.as_str()))),
            jobs: full
                .runs
                .iter()
                .flatten()
                .map(|j| (j.id, j.job.clone(), j.status.clone(), pill(&j.status)))
                .collect(),
            error: r.error.clone().unwrap_or_default(),
        });
    }
    let fires = group.next_fires.iter().flatten().map(|t| when(Some(t))).collect();
    page(GroupPage {
        layout,
        fires,
        runs,
        can_run: frame.can(UserRole::Operator),
        group,
    })
}
