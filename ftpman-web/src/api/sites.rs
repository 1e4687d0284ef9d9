//! Sites: list, add, show, edit, remove, test the connection, list a remote folder.

use crate::error::{ApiError, ApiResult, Body, ErrorBody, Params, PathArg};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ftpman_core::manager::SiteOptions;
use ftpman_core::manager::views::{EntryView, SiteTestView, SiteView};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sites, add_site))
        .routes(routes!(show_site, edit_site, remove_site))
        .routes(routes!(test_site))
        .routes(routes!(list_folder))
}

/// A new site: its name and the same options as `ftpman site add` (read as [`super::Named`],
/// which refuses unknown fields).
pub struct NewSite;

impl utoipa::PartialSchema for NewSite {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::named_schema::<SiteOptions>("site")
    }
}

impl utoipa::ToSchema for NewSite {}

/// Which folder to list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FolderQuery {
    /// The folder, relative to the site's root (default `/`).
    pub path: Option<String>,
}

/// Every site, by name; secrets are never shown, only whether they are set.
#[utoipa::path(get, path = "/sites", tag = "sites",
    responses((status = 200, body = [SiteView]), (status = 401, body = ErrorBody)))]
async fn list_sites(State(s): State<AppState>) -> ApiResult<Json<Vec<SiteView>>> {
    Ok(Json(s.manager.site_views().await?))
}

/// Adds a site. An SFTP site needs `host_key` (or `accept_new_host_key`); without them the
/// answer is `host_key_unknown` with the offered fingerprint in `offered_host_key`.
#[utoipa::path(post, path = "/sites", tag = "sites", request_body = NewSite,
    responses(
        (status = 201, body = SiteView),
        (status = 409, description = "The name is taken", body = ErrorBody),
        (status = 422, description = "A field is invalid (see `field`)", body = ErrorBody),
        (status = 502, description = "The server could not be reached, or its host key is not pinned", body = ErrorBody),
    ))]
async fn add_site(
    State(s): State<AppState>,
    Body(new): Body<super::Named<SiteOptions>>,
) -> ApiResult<(StatusCode, Json<SiteView>)> {
    let site = s.manager.add_site(&new.name, &new.options).await?;
    Ok((StatusCode::CREATED, Json(SiteView::from(&site))))
}

/// One site.
#[utoipa::path(get, path = "/sites/{name}", tag = "sites", params(("name" = String, Path)),
    responses((status = 200, body = SiteView), (status = 404, body = ErrorBody)))]
async fn show_site(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<SiteView>> {
    Ok(Json(s.manager.site_view(&name).await?))
}

/// Changes a site: only the fields given change; a secret given empty is cleared.
#[utoipa::path(patch, path = "/sites/{name}", tag = "sites", params(("name" = String, Path)),
    request_body = SiteOptions,
    responses(
        (status = 200, body = SiteView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 502, body = ErrorBody),
    ))]
async fn edit_site(
    State(s): State<AppState>,
    PathArg(name): PathArg<String>,
    Body(opts): Body<SiteOptions>,
) -> ApiResult<Json<SiteView>> {
    Ok(Json(SiteView::from(&s.manager.edit_site(&name, &opts).await?)))
}

/// Removes a site no job uses.
#[utoipa::path(delete, path = "/sites/{name}", tag = "sites", params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A job still uses it", body = ErrorBody),
    ))]
async fn remove_site(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<StatusCode> {
    s.manager.remove_site(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects, logs in and lists the root: the answer says what failed and what to do, and
/// shows the host key the server offers so that it can be pinned.
#[utoipa::path(post, path = "/sites/{name}/test", tag = "sites", params(("name" = String, Path)),
    responses((status = 200, body = SiteTestView), (status = 404, body = ErrorBody)))]
async fn test_site(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<Json<SiteTestView>> {
    let view = SiteTestView::from(&s.manager.test_site(&name).await?);
    Ok(Json(view))
}

/// Lists a folder of the site (names exactly as the server sent them; a name that would escape
/// the folder is left out).
#[utoipa::path(get, path = "/sites/{name}/ls", tag = "sites", params(("name" = String, Path), FolderQuery),
    responses(
        (status = 200, body = [EntryView]),
        (status = 404, body = ErrorBody),
        (status = 502, body = ErrorBody),
    ))]
async fn list_folder(
    State(s): State<AppState>,
    PathArg(name): PathArg<String>,
    Params(q): Params<FolderQuery>,
) -> ApiResult<Json<Vec<EntryView>>> {
    let path = q.path.unwrap_or_else(|| "/".into());
    if path.contains('\0') {
        return Err(ApiError::invalid("path", "a path cannot contain a NUL character"));
    }
    let entries = s.manager.list(&name, &path).await?;
    Ok(Json(entries.iter().map(EntryView::from).collect()))
}
