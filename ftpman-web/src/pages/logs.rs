//! The system log (the audit trail included): filters by level, component, job and time; paged.

use super::render::when;
use super::{Frame, Layout, PageResult, layout, page};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Query, State};
use ftpman_core::manager::LogFilter;
use serde::Deserialize;

#[derive(Deserialize)]
pub(super) struct LogsQuery {
    level: Option<String>,
    component: Option<String>,
    job: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<i64>,
}

struct LogRow {
    time: String,
    level: String,
    component: String,
    message: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsPage {
    layout: Layout,
    entries: Vec<LogRow>,
    level: String,
    levels: Vec<(String, bool)>,
    component: String,
    components: Vec<&'static str>,
    job: String,
    since: String,
    until: String,
    next: Option<i64>,
    error: Option<String>,
}

/// How many entries a page shows.
const ENTRIES_PER_PAGE: i64 = 100;

/// The components that write to the system log, offered as suggestions.
const COMPONENTS: &[&str] = &["engine", "scheduler", "audit", "notify", "web", "store"];

pub(super) async fn logs(State(s): State<AppState>, frame: Frame, Query(q): Query<LogsQuery>) -> PageResult {
    let layout = layout(&s, &frame, "Logs", "/logs").await?;
    let level = q.level.unwrap_or_default();
    let component = q.component.unwrap_or_default();
    let job = q.job.unwrap_or_default();
    let since = q.since.unwrap_or_default();
    let until = q.until.unwrap_or_default();
    let filter = (|| -> Result<LogFilter, crate::error::ApiError> {
        Ok(LogFilter {
            level: level.parse().ok(),
            component: (!component.is_empty()).then(|| component.clone()),
            job: (!job.is_empty()).then(|| job.clone()),
            since: crate::api::parse_time("since", Some(&since))?,
            until: crate::api::parse_time("until", Some(&until))?,
            before: q.cursor,
            limit: Some(ENTRIES_PER_PAGE),
        })
    })();
    let (entries, next, error) = match filter {
        Err(e) => (Vec::new(), None, Some(e.message)),
        Ok(filter) => {
            let found = s.manager.logs_page(&filter).await?;
            let rows = found
                .items
                .iter()
                .map(|e| LogRow {
                    time: when(Some(&e.time.to_rfc3339())),
                    level: e.level.as_str().to_string(),
                    component: e.component.clone(),
                    message: ftpman_core::validate::visible(&e.message),
                })
                .collect();
            (rows, found.next, None)
        }
    };
    let levels = ["", "info", "warn", "error"]
        .iter()
        .map(|v| (v.to_string(), *v == level))
        .collect();
    page(LogsPage {
        layout,
        entries,
        level,
        levels,
        component,
        components: COMPONENTS.to_vec(),
        job,
        since,
        until,
        next,
        error,
    })
}
