//! Web users and their roles.

use crate::error::{ApiResult, Body, ErrorBody, PathArg};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ftpman_core::Secret;
use ftpman_core::manager::views::UserView;
use ftpman_core::model::UserRole;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, add_user))
        .routes(routes!(edit_user, remove_user))
}

/// A new user.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// The user name.
    pub username: String,
    /// At least 12 characters; kept as an argon2id hash.
    #[schema(value_type = String, write_only)]
    pub password: Secret,
    /// `admin`, `operator` or `viewer` (default `viewer`).
    pub role: Option<String>,
}

/// A change to a user: a new role, a new password (which ends the user's sessions), or both.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    /// `admin`, `operator` or `viewer`.
    pub role: Option<String>,
    /// At least 12 characters.
    #[schema(value_type = Option<String>, write_only)]
    pub password: Option<Secret>,
}

fn role(text: &str) -> Result<UserRole, crate::error::ApiError> {
    text.parse::<UserRole>()
        .map_err(|_| crate::error::ApiError::invalid("role", format!("'{text}' is not admin, operator or viewer")))
}

/// Every user (never a password or its hash).
#[utoipa::path(get, path = "/users", tag = "users",
    responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
async fn list_users(State(s): State<AppState>) -> ApiResult<Json<Vec<UserView>>> {
    Ok(Json(s.manager.users().await?.iter().map(UserView::from).collect()))
}

/// Adds a user.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser,
    responses((status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn add_user(State(s): State<AppState>, Body(new): Body<NewUser>) -> ApiResult<(StatusCode, Json<UserView>)> {
    let role = match new.role.as_deref() {
        None => UserRole::Viewer,
        Some(r) => role(r)?,
    };
    let user = s.manager.add_user(&new.username, role, &new.password).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
}

/// Changes a user's role or password (a new password ends their sessions; the last admin keeps
/// their role).
#[utoipa::path(patch, path = "/users/{name}", tag = "users", params(("name" = String, Path)), request_body = UserChange,
    responses(
        (status = 200, body = UserView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A bad role or password, or the last admin's role", body = ErrorBody),
    ))]
async fn edit_user(
    State(s): State<AppState>,
    PathArg(name): PathArg<String>,
    Body(change): Body<UserChange>,
) -> ApiResult<Json<UserView>> {
    let new_role = change.role.as_deref().map(role).transpose()?;
    let user = s.manager.edit_user(&name, new_role, change.password.as_ref()).await?;
    Ok(Json(UserView::from(&user)))
}

/// Removes a user (never the last admin).
#[utoipa::path(delete, path = "/users/{name}", tag = "users", params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last admin", body = ErrorBody),
    ))]
async fn remove_user(State(s): State<AppState>, PathArg(name): PathArg<String>) -> ApiResult<StatusCode> {
    s.manager.remove_user(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
