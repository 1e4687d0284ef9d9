//! Groups: list, add, show, edit, remove, enable or disable, run now; one group run with its
//! jobs' runs.

use crate::auth::Caller;
use crate::error::{ApiResult, Body, ErrorBody, OptionalBody, PathArg};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ftpman_core::manager::{GroupOptions, GroupRunView, GroupView, RunOptions};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_groups, add_group))
        .routes(routes!(show_group, edit_group, remove_group))
        .routes(routes!(enable_group))
        .routes(routes!(disable_group))
        .routes(routes!(run_group))
        .routes(routes!(show_group_run))
}

/// A new group: its name and the same options as `ftpman group add` (unknown fields refused).
pub struct NewGroup;

impl utoipa::PartialSchema for NewGroup {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::named_schema::<GroupOptions>("group")
    }
}

impl utoipa::ToSchema for NewGroup {}

/// Every group, its jobs in order.
#[utoipa::path(get, path = "/groups", tag = "groups",
    responses((status = 200, body = [GroupView]), (status = 401, body = ErrorBody)))]
async fn list_groups(State(s): State<AppState>) -> ApiResult<Json<Vec<GroupView>>> {
    let groups = s.manager.groups().await?;
    Ok(Json(s.manager.group_views(&groups).await?))
}

/// Adds a group; a job that does not exist, or one listed twice, is refused naming `jobs`.
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = NewGroup,
    responses(
        (status = 201, body = GroupView),
        (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn add_group(
    State(s): State<AppState>,
    Body(new): Body<super::Named<GroupOptions>>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let group = s.manager.add_group(&new.name, &new.options).await?;
    let view = s.manager.group_views(std::slice::from_ref(&group)).await?.remove(0);
    Ok((StatusCode::CREATED, Json(view)))
}

async fn full_view(s: &AppState, name: &str) -> ApiResult<GroupView> {
    Ok(s.manager.group_view_with_runs(name, 5, 10).await?)
}

/// One group, with its next five fires and its latest ten runs.
#[utoipa::path(get, path = "/groups/{name}", tag = "groups", params(("name" = String, Path)),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)))]
async fn show_group(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<GroupView>> {
    Ok(Json(full_view(&s, &name).await?))
}

/// Changes a group: only the fields given change (`jobs` replaces the list).
#[utoipa::path(patch, path = "/groups/{name}", tag = "groups", params(("name" = String, Path)),
    request_body = GroupOptions,
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn edit_group(
    State(s): State<AppState>,
    PathArg(name): PathArg<String>,
    Body(opts): Body<GroupOptions>,
) -> ApiResult<Json<GroupView>> {
    s.manager.edit_group(&name, &opts).await?;
    Ok(Json(full_view(&s, &name).await?))
}

/// Removes a group and its runs; its jobs and their runs stay.
#[utoipa::path(delete, path = "/groups/{name}", tag = "groups", params(("name" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
async fn remove_group(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<StatusCode> {
    s.manager.remove_group(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Lets the group's schedule fire again.
#[utoipa::path(post, path = "/groups/{name}/enable", tag = "groups", params(("name" = String, Path)),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)))]
async fn enable_group(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<GroupView>> {
    s.manager.set_group_enabled(&name, true).await?;
    Ok(Json(full_view(&s, &name).await?))
}

/// Stops the group's schedule (runs now are still possible).
#[utoipa::path(post, path = "/groups/{name}/disable", tag = "groups", params(("name" = String, Path)),
    responses((status = 200, body = GroupView), (status = 404, body = ErrorBody)))]
async fn disable_group(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<GroupView>> {
    s.manager.set_group_enabled(&name, false).await?;
    Ok(Json(full_view(&s, &name).await?))
}

/// Runs the group now on this node: answers at once with the group run (`running`, or
/// `skipped` when the group is still running); its jobs run one after another, each a run of
/// its own. The body may be left out; `as_of` makes it a backfill, `again` sends the jobs'
/// windows again. Follow it at `/group-runs/{id}`.
#[utoipa::path(post, path = "/groups/{name}/run", tag = "groups", params(("name" = String, Path)),
    request_body = Option<RunOptions>,
    responses(
        (status = 202, description = "Started; `Location` is the group run", body = GroupRunView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
async fn run_group(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathArg(name): PathArg<String>,
    OptionalBody(options): OptionalBody<RunOptions>,
) -> ApiResult<Response> {
    let run = s
        .manager
        .start_group_run(&name, &options, super::jobs::trigger(&caller))
        .await?;
    let view = GroupRunView::new(&run, &name);
    let location = format!("{}/api/v1/group-runs/{}", s.config.base_path, view.id);
    let mut response = (StatusCode::ACCEPTED, Json(view)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// One group run, with its jobs' runs in the order they ran.
#[utoipa::path(get, path = "/group-runs/{id}", tag = "groups", params(("id" = i64, Path)),
    responses((status = 200, body = GroupRunView), (status = 404, body = ErrorBody)))]
async fn show_group_run(State(s): State<AppState>, PathArg(id): PathArg<i64>) -> ApiResult<Json<GroupRunView>> {
    Ok(Json(s.manager.group_run_view(id).await?))
}
