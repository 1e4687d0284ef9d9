//! The runs: the list (filters by job, status and time; paged) and a run's page (its facts,
//! every file, live progress over Server-Sent Events, cancel; what a dry run would move).

use super::render::{duration, pill, when};
use super::{Frame, Layout, PageResult, RunRow, flash, layout, page, run_row};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, Query, State};
use ftpman_core::manager::{ErrorKind, RunFilter};
use ftpman_core::model::{RunFileStatus, RunStatus, UserRole};
use ftpman_core::validate::format_bytes;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct RunsQuery {
    job: Option<String>,
    status: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<i64>,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    layout: Layout,
    runs: Vec<RunRow>,
    job: String,
    status: String,
    statuses: Vec<(String, bool)>,
    since: String,
    until: String,
    next: Option<i64>,
    error: Option<String>,
}

const STATUSES: &[&str] = &[
    "",
    "queued",
    "running",
    "succeeded",
    "partial",
    "failed",
    "skipped",
    "cancelled",
    "interrupted",
];

/// How many runs a page of the list shows.
const RUNS_PER_PAGE: i64 = 50;

pub(super) async fn runs(State(s): State<AppState>, frame: Frame, Query(q): Query<RunsQuery>) -> PageResult {
    let layout = layout(&s, &frame, "Runs", "/runs").await?;
    let job = q.job.unwrap_or_default();
    let status = q.status.unwrap_or_default();
    let since = q.since.unwrap_or_default();
    let until = q.until.unwrap_or_default();
    let statuses = STATUSES.iter().map(|v| (v.to_string(), *v == status)).collect();
    let filter = (|| -> Result<RunFilter, crate::error::ApiError> {
        Ok(RunFilter {
            job: (!job.is_empty()).then(|| job.clone()),
            status: status.parse::<RunStatus>().ok(),
            since: crate::api::parse_time("since", Some(&since))?,
            until: crate::api::parse_time("until", Some(&until))?,
            before: q.cursor,
            limit: Some(RUNS_PER_PAGE),
        })
    })();
    let (rows, next, error) = match filter {
        Err(e) => (Vec::new(), None, Some(e.message)),
        Ok(filter) => match s.manager.runs_page(&filter).await {
            Ok(p) => (
                s.manager.run_views(&p.items).await?.iter().map(run_row).collect(),
                p.next,
                None,
            ),
            Err(e) if e.kind() == ErrorKind::NotFound => (Vec::new(), None, Some(e.to_string())),
            Err(e) => return Err(e.into()),
        },
    };
    page(RunsPage {
        layout,
        runs: rows,
        job,
        status,
        statuses,
        since,
        until,
        next,
        error,
    })
}

struct RunFacts {
    id: i64,
    job: String,
    status: String,
    trigger: String,
    dry_run: bool,
    final_state: bool,
    found: i64,
    transferred: i64,
    skipped: i64,
    failed: i64,
    bytes: String,
    duration: String,
    started: String,
    node: String,
    error: String,
    window: String,
    as_of: String,
    again: bool,
    undated: i64,
}

struct FileRow {
    source: String,
    target: String,
    size: String,
    duration: String,
    status: String,
    error: String,
}

/// What a dry run found, in one sentence.
struct DryRunSummary {
    would_move: usize,
    bytes: String,
    would_skip: usize,
    would_fail: usize,
    /// Skipped because the ledger has them: counted, not listed.
    already: i64,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    layout: Layout,
    run: RunFacts,
    files: Vec<FileRow>,
    more_files: bool,
    dry: Option<DryRunSummary>,
    can_cancel: bool,
}

/// How many of a run's files its page shows (the API pages through all of them).
const FILES_SHOWN: i64 = 500;

pub(super) async fn run(State(s): State<AppState>, frame: Frame, Path(id): Path<i64>) -> PageResult {
    let record = s.manager.run_record(id).await?;
    let layout = layout(&s, &frame, &format!("Run {id}"), "/runs").await?;
    let v = s.manager.run_view(&record).await?;
    let files = s.manager.run_files_page(id, 0, FILES_SHOWN).await?;
    let dry = record.dry_run.then(|| {
        let moving: Vec<_> = files
            .items
            .iter()
            .filter(|f| f.status == RunFileStatus::WouldTransfer)
            .collect();
        let would_skip = files
            .items
            .iter()
            .filter(|f| f.status == RunFileStatus::Skipped)
            .count();
        DryRunSummary {
            would_move: moving.len(),
            bytes: format_bytes(moving.iter().map(|f| f.size.max(0) as u64).sum()),
            would_skip,
            already: (record.counts.skipped - would_skip as i64).max(0),
            would_fail: files
                .items
                .iter()
                .filter(|f| !matches!(f.status, RunFileStatus::WouldTransfer | RunFileStatus::Skipped))
                .count(),
        }
    });
    page(RunPage {
        layout,
        more_files: files.next.is_some(),
        files: files
            .items
            .iter()
            .map(|f| FileRow {
                // Names as a server sent them, with what could disguise them made visible.
                source: ftpman_core::validate::visible(&f.source_path),
                target: ftpman_core::validate::visible(&f.target_path),
                size: format_bytes(f.size.max(0) as u64),
                duration: duration(f.duration.as_secs_f64()),
                status: pill(f.status.as_str()),
                error: ftpman_core::validate::visible(f.error.as_deref().unwrap_or_default()),
            })
            .collect(),
        dry,
        can_cancel: frame.can(UserRole::Operator),
        run: RunFacts {
            id: v.id,
            job: v.job.clone(),
            status: pill(&v.status),
            trigger: v.trigger.clone(),
            dry_run: v.dry_run,
            final_state: record.status.is_final(),
            found: v.found,
            transferred: v.transferred,
            skipped: v.skipped,
            failed: v.failed,
            bytes: format_bytes(v.bytes.max(0) as u64),
            duration: v.duration_s.map(duration).unwrap_or_else(|| "–".into()),
            started: when(v.started_at.as_deref()),
            node: v.node.clone().unwrap_or_else(|| "–".into()),
            error: v.error.clone().unwrap_or_default(),
            window: v.window.clone().unwrap_or_default(),
            as_of: v.as_of.as_deref().map(|t| when(Some(t))).unwrap_or_default(),
            again: v.again,
            undated: v.undated,
        },
    })
}

pub(super) async fn cancel(State(s): State<AppState>, frame: Frame, Path(id): Path<i64>) -> PageResult {
    let https = frame.caller.client.https;
    match s.manager.cancel_run(id).await {
        Ok(_) => Ok(flash::redirect(
            &s,
            &format!("/runs/{id}"),
            &format!("run {id} is being cancelled"),
            https,
        )),
        // It ended before the request arrived: say so on its page.
        Err(e) if e.kind() == ErrorKind::Conflict => {
            Ok(flash::redirect_error(&s, &format!("/runs/{id}"), &e.to_string(), https))
        }
        Err(e) => Err(e.into()),
    }
}
