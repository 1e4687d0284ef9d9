//! ftpman-web: the REST API and the dashboard's pages (on the same core calls) served by
//! `ftpman serve`. A thin axum layer over [`ftpman_core::Manager`]: handlers parse, call the
//! core, render; who may do what is decided in one place ([`policy`]), for every route.

pub mod api;
mod assets;
pub mod auth;
pub mod client;
pub mod config;
pub mod error;
mod headers;
pub mod node;
pub mod ops;
pub mod pages;
pub mod policy;
pub mod state;

pub use config::WebConfig;
pub use error::ApiError;
pub use state::AppState;

use axum::Router;
use std::net::SocketAddr;
use utoipa_axum::router::OpenApiRouter;

/// Every route with its OpenAPI description, before access control is laid over it.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(api::openapi::base())
        .nest("/api/v1", api::routes())
        .merge(ops::routes())
}

/// The OpenAPI document of every route (what `/api/v1/openapi.json` serves).
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The application: every route, access control on each, under the configured base path.
pub fn app(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    let router = router
        .merge(pages::routes(&state))
        .merge(assets::routes())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::layer))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::map_response(headers::add))
        .with_state(state.clone());
    let base = state.config.base_path.clone();
    if base.is_empty() {
        router
    } else {
        Router::new().nest(&base, router).fallback(error::not_found)
    }
}

/// Serves `state`'s application on `listener` until `shutdown` completes; requests in flight
/// (and live event streams, which end when the state's shutdown flag is raised) finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
