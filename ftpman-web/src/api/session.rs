//! Signing in and out of the web UI: a session kept in the store (every node sees it), its
//! secret in an HttpOnly, SameSite=Strict cookie, a new one at each sign-in.

use crate::auth::{Caller, SESSION_COOKIE, csrf_token};
use crate::error::{ApiResult, Body, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use ftpman_core::Secret;
use ftpman_core::manager::access::SESSION_MAX;
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login, whoami, logout))
}

/// A sign-in.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The user name.
    pub username: String,
    /// The password.
    #[schema(value_type = String, write_only)]
    pub password: Secret,
}

/// Who is signed in.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    /// The user.
    pub username: String,
    /// The role in force.
    pub role: String,
    /// Send as `X-CSRF-Token` with changes made with the session cookie (absent for tokens).
    pub csrf_token: Option<String>,
}

/// The session cookie's `Set-Cookie` value (`value` empty and `max_age` 0 clear it).
pub(crate) fn session_cookie(state: &AppState, value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let path = if state.config.base_path.is_empty() {
        "/"
    } else {
        state.config.base_path.as_str()
    };
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// Signs in with a user name and password: sets the session cookie.
#[utoipa::path(post, path = "/session", tag = "session", security(()),
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the cookie is set", body = SessionView),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
        (status = 422, description = "A field is missing", body = ErrorBody),
        (status = 429, description = "Too many failed attempts", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    Body(req): Body<LoginRequest>,
) -> ApiResult<Response> {
    let source = caller.client.addr.to_string();
    let (principal, secret) = state.manager.login(&req.username, &req.password, &source).await?;
    // A new session at each sign-in; the one the browser had before ends.
    if let Some(old) = crate::auth::cookie(&headers, SESSION_COOKIE) {
        let _ = state.manager.logout(old).await;
    }
    let body = SessionView {
        username: principal.username,
        role: principal.role.to_string(),
        csrf_token: Some(csrf_token(secret.expose())),
    };
    let mut response = Json(body).into_response();
    if let Some(c) = session_cookie(&state, secret.expose(), SESSION_MAX.as_secs(), caller.client.https) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(response)
}

/// Who is signed in (by session or token).
#[utoipa::path(get, path = "/session", tag = "session",
    responses(
        (status = 200, body = SessionView),
        (status = 401, body = ErrorBody),
    ))]
async fn whoami(Extension(caller): Extension<Caller>) -> ApiResult<Json<SessionView>> {
    let p = caller.user()?;
    Ok(Json(SessionView {
        username: p.username.clone(),
        role: p.role.to_string(),
        csrf_token: caller.session.as_deref().map(csrf_token),
    }))
}

/// Signs out: the session ends on every node and the cookie is cleared.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, body = ErrorBody),
    ))]
async fn logout(State(state): State<AppState>, Extension(caller): Extension<Caller>) -> ApiResult<Response> {
    if let Some(secret) = &caller.session {
        state.manager.logout(secret).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(c) = session_cookie(&state, "", 0, caller.client.https) {
        response.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(response)
}
