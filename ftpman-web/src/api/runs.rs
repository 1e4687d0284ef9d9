//! Runs: list and filter, one run, its files, cancel, and its live events (Server-Sent Events,
//! from the store, so that a run executing on another node is followed the same way).

use super::{Paged, parse_time};
use crate::error::{ApiError, ApiResult, ErrorBody, Params, PathArg};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use ftpman_core::manager::RunFilter;
use ftpman_core::manager::views::{RunFileView, RunView};
use ftpman_core::model::RunStatus;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(show_run))
        .routes(routes!(run_files))
        .routes(routes!(cancel_run))
        .routes(routes!(run_events))
}

/// Which runs to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this job's runs.
    pub job: Option<String>,
    /// Only runs in this status (`queued`, `running`, `succeeded`, `partial`, `failed`,
    /// `skipped`, `cancelled`, `interrupted`).
    pub status: Option<String>,
    /// Only runs created at or after this time (RFC 3339) or this long ago (`2h`, `7d`).
    pub since: Option<String>,
    /// Only runs created before this time or this long ago.
    pub until: Option<String>,
    /// Page size (1 to 1,000; default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub cursor: Option<i64>,
}

/// Which files of a run.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilesQuery {
    /// Page size (1 to 1,000; default 200).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
    /// The `next` of the previous page.
    pub cursor: Option<i64>,
}

/// One Server-Sent Event as it arrives: `event: run` with a [`RunUpdateView`] as JSON in
/// `data`, or `event: end` with the run's final status, or `event: error` with a message.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunEventFrame {
    /// `run`, `end` or `error`.
    pub event: String,
    /// A [`RunUpdateView`] as JSON (`run`), the final status (`end`), `{"message"}` (`error`).
    pub data: String,
}

/// What one live event (`event: run`) carries: the run now, and its files recorded since the
/// previous event.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunUpdateView {
    /// The run, with its counts, bytes and the files moving now.
    pub run: RunView,
    /// Files finished since the previous event.
    pub files: Vec<RunFileView>,
}

fn check_limit(limit: Option<i64>) -> ApiResult<Option<i64>> {
    match limit {
        Some(l) if !(1..=1000).contains(&l) => Err(ApiError::invalid("limit", "limit must be between 1 and 1000")),
        other => Ok(other),
    }
}

/// Runs, newest first, one page at a time.
#[utoipa::path(get, path = "/runs", tag = "runs", params(RunsQuery),
    responses(
        (status = 200, body = Paged<RunView>),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn list_runs(State(s): State<AppState>, Params(q): Params<RunsQuery>) -> ApiResult<Json<Paged<RunView>>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(v) => Some(
            v.parse::<RunStatus>()
                .map_err(|_| ApiError::invalid("status", format!("'{v}' is not a run status")))?,
        ),
    };
    let filter = RunFilter {
        job: q.job.filter(|j| !j.is_empty()),
        status,
        since: parse_time("since", q.since.as_deref())?,
        until: parse_time("until", q.until.as_deref())?,
        before: q.cursor,
        limit: check_limit(q.limit)?,
    };
    let page = s.manager.runs_page(&filter).await?;
    Ok(Json(Paged {
        items: s.manager.run_views(&page.items).await?,
        next: page.next,
    }))
}

/// One run (its files are paged at `/runs/{id}/files`).
#[utoipa::path(get, path = "/runs/{id}", tag = "runs", params(("id" = i64, Path)),
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
async fn show_run(State(s): State<AppState>, PathArg(id): PathArg<i64>) -> ApiResult<Json<RunView>> {
    let run = s.manager.run_record(id).await?;
    Ok(Json(s.manager.run_view(&run).await?))
}

/// A run's files, in the order they finished.
#[utoipa::path(get, path = "/runs/{id}/files", tag = "runs", params(("id" = i64, Path), FilesQuery),
    responses((status = 200, body = Paged<RunFileView>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn run_files(
    State(s): State<AppState>,
    PathArg(id): PathArg<i64>,
    Params(q): Params<FilesQuery>,
) -> ApiResult<Json<Paged<RunFileView>>> {
    let limit = check_limit(q.limit)?.unwrap_or(200);
    let page = s.manager.run_files_page(id, q.cursor.unwrap_or(0), limit).await?;
    Ok(Json(Paged {
        items: page.items.iter().map(RunFileView::from).collect(),
        next: page.next,
    }))
}

/// Cancels a run wherever it runs; the node running it stops within a second or two, leaving
/// no partial file under a final name.
#[utoipa::path(post, path = "/runs/{id}/cancel", tag = "runs", params(("id" = i64, Path)),
    responses(
        (status = 200, body = RunView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The run already ended", body = ErrorBody),
    ))]
async fn cancel_run(State(s): State<AppState>, PathArg(id): PathArg<i64>) -> ApiResult<Json<RunView>> {
    let run = s.manager.cancel_run(id).await?;
    Ok(Json(s.manager.run_view(&run).await?))
}

/// The run's live progress as Server-Sent Events: `event: run` with a [`RunUpdateView`] at
/// each change (about once a second while files move), and `event: end` once it has ended.
#[utoipa::path(get, path = "/runs/{id}/events", tag = "runs", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "A stream of `run` events, then `end`", content_type = "text/event-stream", body = RunEventFrame),
        (status = 404, body = ErrorBody),
    ))]
async fn run_events(
    State(s): State<AppState>,
    PathArg(id): PathArg<i64>,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>> {
    let mut watch = s.manager.watch_run(id).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Event>(16);
    let mut stopping = s.stopping.clone();
    let manager = s.manager.clone();
    tokio::spawn(async move {
        loop {
            let update = tokio::select! {
                u = watch.next() => u,
                _ = stopping.wait_for(|stop| *stop) => break,
            };
            let event = match update {
                Ok(Some(u)) => {
                    let ended = u.run.status.is_final();
                    let run = match manager.run_view(&u.run).await {
                        Ok(v) => v,
                        Err(_) => break,
                    };
                    let body = RunUpdateView {
                        run,
                        files: u.files.iter().map(RunFileView::from).collect(),
                    };
                    let event = Event::default().event("run").json_data(&body);
                    match event {
                        Ok(e) => {
                            if tx.send(e).await.is_err() {
                                break;
                            }
                        }
                        Err(_) => break,
                    }
                    if !ended {
                        continue;
                    }
                    Event::default().event("end").data(u.run.status.as_str())
                }
                Ok(None) => Event::default().event("end").data("ended"),
                Err(e) => match Event::default()
                    .event("error")
                    .json_data(serde_json::json!({"message": e.to_string()}))
                {
                    Ok(ev) => ev,
                    Err(_) => break,
                },
            };
            let _ = tx.send(event).await;
            break;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
