//! The cluster's nodes and what the database holds.

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use ftpman_core::manager::SummaryView;
use ftpman_core::manager::views::{NodeView, StatusView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(nodes))
        .routes(routes!(status))
        .routes(routes!(summary))
}

/// The nodes of the cluster with their last heartbeat.
#[utoipa::path(get, path = "/nodes", tag = "system",
    responses((status = 200, body = [NodeView]), (status = 401, body = ErrorBody)))]
async fn nodes(State(s): State<AppState>) -> ApiResult<Json<Vec<NodeView>>> {
    let nodes = s
        .manager
        .store()
        .nodes()
        .await
        .map_err(ftpman_core::ManagerError::from)?;
    Ok(Json(nodes.iter().map(NodeView::from).collect()))
}

/// What the database holds: sites, jobs, active runs, nodes.
#[utoipa::path(get, path = "/status", tag = "system",
    responses((status = 200, body = StatusView), (status = 401, body = ErrorBody)))]
async fn status(State(s): State<AppState>) -> ApiResult<Json<StatusView>> {
    Ok(Json(StatusView::from(&s.manager.status().await?)))
}

/// The dashboard at a glance: totals, runs and bytes per day over 30 days, success rates, the
/// next fires, what runs now, the latest failures and the nodes.
#[utoipa::path(get, path = "/summary", tag = "system",
    responses((status = 200, body = SummaryView), (status = 401, body = ErrorBody)))]
async fn summary(State(s): State<AppState>) -> ApiResult<Json<SummaryView>> {
    Ok(Json(s.manager.summary(chrono::Utc::now()).await?))
}
