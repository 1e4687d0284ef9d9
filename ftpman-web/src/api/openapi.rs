//! The OpenAPI document's frame: title, security schemes, tags. The paths and schemas come
//! from the handlers' own annotations, collected as the router is built.

use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ftpman",
        description = "Managed file transfer between FTP, FTPS, SFTP servers and local folders. \
            Authenticate with `Authorization: Bearer <token>` (an API token) or the session cookie \
            from `POST /api/v1/session`; a change sent with the cookie must come from ftpman's own \
            pages or carry the session's `X-CSRF-Token`. Errors are `{\"error\": {\"kind\", \"message\", \"field\"}}`. \
            Lists are pages: pass `limit` and the `next` of one page as `cursor` for the next."
    ),
    modifiers(&Security),
    components(schemas(crate::api::runs::RunUpdateView)),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "session", description = "Signing in and out"),
        (name = "sites", description = "Servers and local folders"),
        (name = "jobs", description = "What moves where, and when"),
        (name = "groups", description = "Jobs run one after another as one unit"),
        (name = "runs", description = "Runs of jobs, their files and live events"),
        (name = "logs", description = "The system log and audit trail"),
        (name = "settings", description = "SMTP, webhook, retention"),
        (name = "users", description = "Web users and roles"),
        (name = "tokens", description = "API tokens"),
        (name = "system", description = "Nodes, status, health and metrics"),
    )
)]
struct Base;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
        );
    }
}

/// The document before the routes add their paths.
pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

/// Routes.
pub fn routes() -> utoipa_axum::router::OpenApiRouter<crate::state::AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(document))
}

/// This document: every route and schema of the API, generated from the handlers.
#[utoipa::path(get, path = "/openapi.json", tag = "system",
    responses((status = 200, description = "OpenAPI 3.1", content_type = "application/json", body = Object)))]
async fn document() -> axum::Json<&'static utoipa::openapi::OpenApi> {
    static DOC: std::sync::OnceLock<utoipa::openapi::OpenApi> = std::sync::OnceLock::new();
    axum::Json(DOC.get_or_init(crate::openapi))
}
