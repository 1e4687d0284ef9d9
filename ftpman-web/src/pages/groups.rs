//! The groups on the jobs page (their jobs in order, schedule, last run) and running one now.

use super::render::{escape, pill, when};
use super::{Frame, PageResult, flash};
use crate::state::AppState;
use axum::extract::{Path, State};
use ftpman_core::manager::{ErrorKind, RunOptions};
use ftpman_core::model::Trigger;

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
