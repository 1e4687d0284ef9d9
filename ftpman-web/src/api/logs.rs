//! The system log (the engine's messages and the audit trail), filtered and paged.

use super::{Paged, parse_time};
use crate::error::{ApiError, ApiResult, ErrorBody, Params};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use ftpman_core::manager::LogFilter;
use ftpman_core::manager::views::LogView;
use ftpman_core::model::LogLevel;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_logs))
}

/// Which entries to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Only entries at least this severe (`debug`, `info`, `warn`, `error`).
    pub level: Option<String>,
    /// Only this component (`engine`, `audit`, `notify`, `scheduler`, ...).
    pub component: Option<String>,
    /// Only entries about this job.
    pub job: Option<String>,
    /// Only entries at or after this time (RFC 3339) or this long ago (`2h`).
    pub since: Option<String>,
    /// Only entries before this time or this long ago.
    pub until: Option<String>,
    /// Page size (1 to 1,000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub cursor: Option<i64>,
}

/// System log entries, newest first.
#[utoipa::path(get, path = "/logs", tag = "logs", params(LogsQuery),
    responses((status = 200, body = Paged<LogView>), (status = 422, body = ErrorBody)))]
async fn list_logs(State(s): State<AppState>, Params(q): Params<LogsQuery>) -> ApiResult<Json<Paged<LogView>>> {
    let level = match q.level.as_deref() {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<LogLevel>()
                .map_err(|_| ApiError::invalid("level", format!("'{v}' is not a level (debug, info, warn, error)")))?,
        ),
    };
    if let Some(l) = q.limit
        && !(1..=1000).contains(&l)
    {
        return Err(ApiError::invalid("limit", "limit must be between 1 and 1000"));
    }
    let filter = LogFilter {
        level,
        component: q.component.filter(|c| !c.is_empty()),
        job: q.job.filter(|j| !j.is_empty()),
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
        before: q.cursor,
        limit: q.limit,
    };
    let page = s.manager.logs_page(&filter).await?;
    Ok(Json(Paged {
        items: page.items.iter().map(LogView::from).collect(),
        next: page.next,
    }))
}
