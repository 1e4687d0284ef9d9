//! Users, their roles and API tokens, on the settings page: add a user, change a role, reset a
//! password, remove a user; make a token (its secret shown once) and revoke one.

use super::settings::{Extras, NewToken, settings_view};
use super::{Frame, PageResult, flash};
use crate::state::AppState;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use ftpman_core::manager::ErrorKind;
use ftpman_core::model::UserRole;
use ftpman_core::{ManagerError, Secret};
use serde::Deserialize;

/// A refused change, shown beside the form it came from.
async fn refused(s: &AppState, frame: &Frame, field: &str, e: &ManagerError, typed: String) -> PageResult {
    if !matches!(
        e.kind(),
        ErrorKind::InvalidInput | ErrorKind::AlreadyExists | ErrorKind::Conflict | ErrorKind::NotFound
    ) {
        return Err(super::PageError(crate::error::ApiError::new(e.kind(), e.to_string())));
    }
    let x = Extras {
        error: Some((field, e)),
        typed,
        ..Default::default()
    };
    let body = settings_view(s, frame, x).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
}

fn role(text: &str) -> Result<UserRole, ManagerError> {
    text.parse::<UserRole>().map_err(|_| {
        ftpman_core::ValidationError::new("role", format!("'{text}' is not a role: viewer, operator or admin")).into()
    })
}

#[derive(Deserialize)]
pub(super) struct NewUserForm {
    name: String,
    role: String,
    password: String,
}

pub(super) async fn add_user(State(s): State<AppState>, frame: Frame, Form(f): Form<NewUserForm>) -> PageResult {
    let name = f.name.trim().to_string();
    let result = match role(&f.role) {
        Ok(r) => s.manager.add_user(&name, r, &Secret::new(f.password)).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(flash::redirect(
            &s,
            "/settings#users",
            &format!("user {name} added as {}", f.role),
            frame.caller.client.https,
        )),
        Err(e) => refused(&s, &frame, "user", &e, name).await,
    }
}

#[derive(Deserialize)]
pub(super) struct UserForm {
    role: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn edit_user(
    State(s): State<AppState>,
    frame: Frame,
    Path(name): Path<String>,
    Form(f): Form<UserForm>,
) -> PageResult {
    let password = (!f.password.is_empty()).then(|| Secret::new(f.password));
    let result = match role(&f.role) {
        Ok(r) => s.manager.edit_user(&name, Some(r), password.as_ref()).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            let said = if password.is_some() {
                format!(
                    "user {name} saved: role {}, password reset (their sessions ended)",
                    f.role
                )
            } else {
                format!("user {name} saved: role {}", f.role)
            };
            Ok(flash::redirect(&s, "/settings#users", &said, frame.caller.client.https))
        }
        Err(e) => refused(&s, &frame, &format!("user:{name}"), &e, String::new()).await,
    }
}

pub(super) async fn remove_user(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    match s.manager.remove_user(&name).await {
        Ok(()) => Ok(flash::redirect(
            &s,
            "/settings#users",
            &format!("user {name} removed"),
            frame.caller.client.https,
        )),
        Err(e) => refused(&s, &frame, &format!("user:{name}"), &e, String::new()).await,
    }
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    name: String,
    role: String,
}

/// Makes a token for the signed-in admin; the page shows its secret this once.
pub(super) async fn create_token(State(s): State<AppState>, frame: Frame, Form(f): Form<TokenForm>) -> PageResult {
    let me = frame
        .caller
        .user()
        .map(|p| p.username.clone())
        .map_err(super::PageError)?;
    let result = match role(&f.role) {
        Ok(r) => s.manager.create_token(&me, f.name.trim(), r).await,
        Err(e) => Err(e),
    };
    match result {
        Ok((token, secret)) => {
            let x = Extras {
                new_token: Some(NewToken {
                    name: token.name,
                    secret: secret.expose().to_string(),
                }),
                ..Default::default()
            };
            let mut r = Html(settings_view(&s, &frame, x).await?).into_response();
            // The secret is on this page only: no cache keeps it.
            r.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(r)
        }
        Err(e) => refused(&s, &frame, "token", &e, f.name).await,
    }
}

pub(super) async fn revoke_token(State(s): State<AppState>, frame: Frame, Path(id): Path<i64>) -> PageResult {
    match s.manager.revoke_token(id).await {
        Ok(()) => Ok(flash::redirect(
            &s,
            "/settings#tokens",
            &format!("token {id} revoked"),
            frame.caller.client.https,
        )),
        Err(e) => refused(&s, &frame, "token", &e, String::new()).await,
    }
}
