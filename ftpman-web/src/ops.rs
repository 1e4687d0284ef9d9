//! Operations endpoints outside the API: `/healthz` (the process answers), `/readyz` (the
//! store answers and the scheduler runs) and `/metrics` (Prometheus; it needs a token, as
//! job names and volumes are business information).

use crate::error::{ApiResult, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", security(()),
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready for work: the store answers and, where this process runs one, the scheduler runs.
#[utoipa::path(get, path = "/readyz", tag = "system", security(()),
    responses(
        (status = 200, description = "`ready`", content_type = "text/plain", body = String),
        (status = 503, description = "What is not ready", content_type = "text/plain", body = String),
    ))]
async fn readyz(State(s): State<AppState>) -> Response {
    if let Err(e) = s.manager.store().nodes().await {
        tracing::warn!(target: "ftpman::web", "not ready: the store does not answer: {e}");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the database does not answer\n",
        )
            .into_response();
    }
    if !s.scheduler_ok() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the scheduler is not running\n",
        )
            .into_response();
    }
    "ready\n".into_response()
}

/// This node's metrics in the Prometheus text format (needs a viewer token or session).
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody),
    ))]
async fn metrics(State(s): State<AppState>) -> ApiResult<Response> {
    let text = s.metrics.render(&s.manager).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        text,
    )
        .into_response())
}
