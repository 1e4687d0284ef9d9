//! API tokens: made for the caller, scoped to a role no higher than theirs, shown once,
//! hashed at rest, revocable. Operators manage their own; admins see and revoke every one.

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, Body, ErrorBody, PathArg};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use ftpman_core::manager::views::TokenView;
use ftpman_core::model::UserRole;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

/// A token to make.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// What it is for (`airflow`, `monitoring`).
    pub name: String,
    /// Its role, at most the caller's (default `viewer`).
    pub role: Option<String>,
}

/// A token just made, with its secret: shown this once.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The token.
    pub token: TokenView,
    /// Send as `Authorization: Bearer <secret>`. It is not kept: copy it now.
    pub secret: String,
}

/// The caller's tokens (every user's for an admin); never a secret.
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, body = [TokenView]), (status = 403, body = ErrorBody)))]
async fn list_tokens(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<TokenView>>> {
    let tokens = s.manager.tokens_visible_to(caller.user()?).await?;
    Ok(Json(tokens.iter().map(TokenView::from).collect()))
}

/// Makes a token for the caller.
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 422, body = ErrorBody)))]
async fn create_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(new): Body<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let role = match new.role.as_deref() {
        None => UserRole::Viewer,
        Some(r) => r
            .parse::<UserRole>()
            .map_err(|_| ApiError::invalid("role", format!("'{r}' is not admin, operator or viewer")))?,
    };
    let user = caller.user()?;
    let (token, secret) = s.manager.create_token(&user.username, &new.name, role).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: TokenView::from(&token),
            secret: secret.expose().to_string(),
        }),
    ))
}

/// Revokes a token (one's own; an admin any): it is refused from now on, on every node.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathArg(id): PathArg<i64>,
) -> ApiResult<StatusCode> {
    s.manager.revoke_token_as(caller.user()?, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
