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
        .routes(routes!(remove_user))
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
        Some(r) => r
            .parse::<UserRole>()
            .map_err(|_| crate::error::ApiError::invalid("role", format!("'{r}' is not admin, operator or viewer")))?,
    };
    let user = s.manager.add_user(&new.username, role, &new.password).await?;
    Ok((StatusCode::CREATED, Json(UserView::from(&user))))
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
