//! Jobs: list, add, show, edit, remove, enable or disable, run now, dry run, forget deliveries.

use crate::auth::Caller;
use crate::error::{ApiResult, Body, ErrorBody, OptionalBody, PathArg};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ftpman_core::manager::views::{JobView, RunView};
use ftpman_core::manager::{JobOptions, RunOptions};
use ftpman_core::model::Trigger;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs, add_job))
        .routes(routes!(show_job, edit_job, remove_job))
        .routes(routes!(enable_job))
        .routes(routes!(disable_job))
        .routes(routes!(run_job))
        .routes(routes!(dry_run_job))
        .routes(routes!(forget_job))
        .routes(routes!(describe_schedule))
}

/// A cron expression to explain.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScheduleQuery {
    /// The expression (5 or 6 fields, `*/5 * * * *`).
    pub cron: String,
    /// The time zone it is read in (default UTC).
    pub tz: Option<String>,
}

/// A cron expression in words, and its next fires.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScheduleWords {
    /// In words ("at 02:00 every day, Europe/Berlin").
    pub text: String,
    /// The next five fires (RFC 3339).
    pub next_fires: Vec<String>,
}

/// Explains a cron expression, as a form shows it while it is typed; a refused one is 422
/// naming `schedule` or `tz`.
#[utoipa::path(get, path = "/schedule", tag = "jobs", params(ScheduleQuery),
    responses((status = 200, body = ScheduleWords), (status = 422, body = ErrorBody)))]
async fn describe_schedule(
    State(s): State<AppState>,
    crate::error::Params(q): crate::error::Params<ScheduleQuery>,
) -> ApiResult<Json<ScheduleWords>> {
    let (text, fires) = s.manager.describe_schedule(&q.cron, q.tz.as_deref(), 5)?;
    Ok(Json(ScheduleWords {
        text,
        next_fires: fires.iter().map(|t| t.to_rfc3339()).collect(),
    }))
}

/// A new job: its name and the same options as `ftpman job add` (read as [`super::Named`],
/// which refuses unknown fields).
pub struct NewJob;

impl utoipa::PartialSchema for NewJob {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::named_schema::<JobOptions>("job")
    }
}

impl utoipa::ToSchema for NewJob {}

/// Which deliveries to forget.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgetRequest {
    /// Source paths to forget; empty or absent: every delivery of the job.
    #[serde(default)]
    pub paths: Vec<String>,
}

/// How many deliveries were forgotten.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Forgotten {
    /// Ledger entries forgotten: those files move again at the next run.
    pub forgotten: u64,
}

/// Every job, with its schedule in words.
#[utoipa::path(get, path = "/jobs", tag = "jobs",
    responses((status = 200, body = [JobView]), (status = 401, body = ErrorBody)))]
async fn list_jobs(State(s): State<AppState>) -> ApiResult<Json<Vec<JobView>>> {
    let jobs = s.manager.jobs().await?;
    Ok(Json(s.manager.job_views(&jobs).await?))
}

/// Adds a job; the answer names the field at fault when a value is refused (a cron
/// expression, a site that does not exist...).
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = NewJob,
    responses(
        (status = 201, body = JobView),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn add_job(
    State(s): State<AppState>,
    Body(new): Body<super::Named<JobOptions>>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let job = s.manager.add_job(&new.name, &new.options).await?;
    let view = s.manager.job_views(std::slice::from_ref(&job)).await?.remove(0);
    Ok((StatusCode::CREATED, Json(view)))
}

async fn view_with_fires(s: &AppState, name: &str) -> ApiResult<JobView> {
    Ok(s.manager.job_view_with_fires(name, 5).await?)
}

/// One job, with its next five fires.
#[utoipa::path(get, path = "/jobs/{name}", tag = "jobs", params(("name" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
async fn show_job(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<JobView>> {
    Ok(Json(view_with_fires(&s, &name).await?))
}

/// Changes a job: only the fields given change.
#[utoipa::path(patch, path = "/jobs/{name}", tag = "jobs", params(("name" = String, Path)),
    request_body = JobOptions,
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_job(
    State(s): State<AppState>,
    PathArg(name): PathArg<String>,
    Body(opts): Body<JobOptions>,
) -> ApiResult<Json<JobView>> {
    s.manager.edit_job(&name, &opts).await?;
    Ok(Json(view_with_fires(&s, &name).await?))
}

/// Removes a job and its history.
#[utoipa::path(delete, path = "/jobs/{name}", tag = "jobs", params(("name" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
async fn remove_job(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<StatusCode> {
    s.manager.remove_job(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets the job's schedule fire again.
#[utoipa::path(post, path = "/jobs/{name}/enable", tag = "jobs", params(("name" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
async fn enable_job(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<JobView>> {
    s.manager.set_job_enabled(&name, true).await?;
    Ok(Json(view_with_fires(&s, &name).await?))
}

/// Stops the job's schedule (runs now are still possible).
#[utoipa::path(post, path = "/jobs/{name}/disable", tag = "jobs", params(("name" = String, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
async fn disable_job(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<JobView>> {
    s.manager.set_job_enabled(&name, false).await?;
    Ok(Json(view_with_fires(&s, &name).await?))
}

pub(super) fn trigger(caller: &Caller) -> Trigger {
    // A person in the browser, or a program with a token.
    if caller.session.is_some() {
        Trigger::Manual
    } else {
        Trigger::Api
    }
}

/// Runs the job now, on this node: answers at once with the run (`running`, or `skipped`
/// when the job is still running); follow it at `/runs/{id}/events`. The body may be left
/// out; `as_of` makes it a backfill (its window and target path resolved from that time),
/// `again` sends the window's files even where the ledger has them.
#[utoipa::path(post, path = "/jobs/{name}/run", tag = "jobs", params(("name" = String, Path)),
    request_body = Option<RunOptions>,
    responses(
        (status = 202, description = "Started; `Location` is the run", body = RunView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn run_job(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathArg(name): PathArg<String>,
    OptionalBody(options): OptionalBody<RunOptions>,
) -> ApiResult<Response> {
    let handle = s.manager.start_run_with(&name, &options, trigger(&caller)).await?;
    let view = s.manager.run_view(handle.run()).await?;
    let location = format!("{}/api/v1/runs/{}", s.config.base_path, view.id);
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Runs the job as a dry run and waits for it: each file that would move (with its target),
/// each that would be skipped and why. Nothing is written, deleted or recorded as delivered.
/// The body may be left out, or give `as_of` and `again` as for a run.
#[utoipa::path(post, path = "/jobs/{name}/dry-run", tag = "jobs", params(("name" = String, Path)),
    request_body = Option<RunOptions>,
    responses((status = 200, body = RunView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn dry_run_job(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathArg(name): PathArg<String>,
    OptionalBody(options): OptionalBody<RunOptions>,
) -> ApiResult<Json<RunView>> {
    let options = RunOptions {
        dry_run: true,
        ..options
    };
    let run = s
        .manager
        .start_run_with(&name, &options, trigger(&caller))
        .await?
        .wait()
        .await?;
    Ok(Json(s.manager.run_view_with_files(run.id).await?))
}

/// Forgets deliveries of the job, so that those files move again at its next run.
#[utoipa::path(post, path = "/jobs/{name}/forget", tag = "jobs", params(("name" = String, Path)),
    request_body = ForgetRequest,
    responses((status = 200, body = Forgotten), (status = 404, body = ErrorBody)))]
async fn forget_job(
    State(s): State<AppState>,
    PathArg(name): PathArg<String>,
    Body(req): Body<ForgetRequest>,
) -> ApiResult<Json<Forgotten>> {
    let forgotten = s.manager.forget(&name, &req.paths).await?;
    Ok(Json(Forgotten { forgotten }))
}
