//! The settings page (admins only): each setting saved on its own with its error beside it
//! (secrets write-only), a test e-mail, and the users and API tokens (see [`super::users`]).

use super::{Frame, Layout, PageError, PageResult, flash, layout};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use ftpman_core::ManagerError;
use ftpman_core::manager::ErrorKind;
use ftpman_core::manager::views::SettingInfoView;
use serde::Deserialize;

pub(super) struct UserRow {
    name: String,
    roles: Vec<(&'static str, bool)>,
    created: String,
    me: bool,
    error: Option<String>,
}

pub(super) struct TokenRow {
    id: i64,
    name: String,
    user: String,
    role: String,
    created: String,
    used: String,
}

/// A token just made: its secret, shown this once.
pub(super) struct NewToken {
    pub name: String,
    pub secret: String,
}

/// What a settings page shows beyond the stored state: what was typed, what went wrong, a new
/// token's secret.
#[derive(Default)]
pub(super) struct Extras<'a> {
    pub to: String,
    /// The field (a setting's key, `email`, `user`, `token`, or `user:NAME`) and its error.
    pub error: Option<(&'a str, &'a ManagerError)>,
    /// What was typed into the field in error (never a secret).
    pub typed: String,
    pub new_token: Option<NewToken>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    settings: Vec<SettingInfoView>,
    to: String,
    error_field: String,
    error_message: String,
    general_error: Option<String>,
    typed: String,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    roles: Vec<(&'static str, bool)>,
    new_token: Option<NewToken>,
}

const ROLES: &[&str] = &["viewer", "operator", "admin"];

pub(super) async fn settings_view(s: &AppState, frame: &Frame, x: Extras<'_>) -> Result<String, PageError> {
    let layout = layout(s, frame, "Settings", "/settings").await?;
    let (error_field, error_message, general_error) = match x.error {
        None => (String::new(), String::new(), None),
        Some((field, e)) => match e.kind() {
            ErrorKind::InvalidInput | ErrorKind::AlreadyExists | ErrorKind::Conflict => {
                (field.to_string(), e.to_string(), None)
            }
            _ => (String::new(), String::new(), Some(e.to_string())),
        },
    };
    let me = frame
        .caller
        .principal
        .as_ref()
        .map(|p| p.username.clone())
        .unwrap_or_default();
    let users = s
        .manager
        .users()
        .await?
        .into_iter()
        .map(|u| UserRow {
            error: (error_field == format!("user:{}", u.username)).then(|| error_message.clone()),
            roles: ROLES.iter().map(|r| (*r, *r == u.role.as_str())).collect(),
            created: super::render::when(Some(&u.created_at.to_rfc3339())),
            me: u.username == me,
            name: u.username,
        })
        .collect();
    let tokens = s
        .manager
        .tokens()
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            user: t.username,
            role: t.role.to_string(),
            created: super::render::when(Some(&t.created_at.to_rfc3339())),
            used: super::render::when(t.last_used_at.map(|t| t.to_rfc3339()).as_deref()),
        })
        .collect();
    Ok(SettingsPage {
        layout,
        settings: s.manager.setting_infos().await?,
        to: x.to,
        error_field,
        error_message,
        general_error,
        typed: x.typed,
        users,
        tokens,
        roles: ROLES.iter().map(|r| (*r, *r == "viewer")).collect(),
        new_token: x.new_token,
    }
    .render()?)
}

pub(super) async fn settings(State(s): State<AppState>, frame: Frame) -> PageResult {
    Ok(Html(settings_view(&s, &frame, Extras::default()).await?).into_response())
}

#[derive(Deserialize)]
pub(super) struct SettingForm {
    value: String,
}

pub(super) async fn set_setting(
    State(s): State<AppState>,
    frame: Frame,
    Path(key): Path<String>,
    Form(f): Form<SettingForm>,
) -> PageResult {
    let https = frame.caller.client.https;
    let known = s.manager.setting_infos().await?;
    let secret = known.iter().any(|k| k.key == key && k.secret);
    // An empty secret field leaves the secret as it is (it is never shown, so it is never sent back).
    if secret && f.value.is_empty() {
        return Ok(flash::redirect(
            &s,
            "/settings",
            &format!("{key} left as it was"),
            https,
        ));
    }
    let (result, said) = if f.value.trim().is_empty() {
        (
            s.manager.unset_setting(&key).await.map(|_| ()),
            format!("{key} cleared"),
        )
    } else {
        (
            s.manager.set_setting(&key, f.value.trim()).await,
            format!("{key} saved"),
        )
    };
    match result {
        Ok(()) => Ok(flash::redirect(&s, "/settings", &said, https)),
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            let x = Extras {
                error: Some((&key, &e)),
                typed: if secret { String::new() } else { f.value },
                ..Default::default()
            };
            let body = settings_view(&s, &frame, x).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub(super) struct SmtpTestForm {
    to: String,
}

pub(super) async fn smtp_test(State(s): State<AppState>, frame: Frame, Form(f): Form<SmtpTestForm>) -> PageResult {
    match s.manager.smtp_test(&f.to).await {
        Ok(()) => Ok(flash::redirect(
            &s,
            "/settings",
            &format!("a test e-mail went to {}", f.to),
            frame.caller.client.https,
        )),
        Err(e) => {
            let status = if e.kind() == ErrorKind::InvalidInput {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            };
            // Any failure to send is shown beside the address, where the user looks.
            let message = ManagerError::from(ftpman_core::ValidationError::new("email", e.to_string()));
            let x = Extras {
                to: f.to.clone(),
                error: Some(("email", &message)),
                ..Default::default()
            };
            let body = settings_view(&s, &frame, x).await?;
            Ok((status, Html(body)).into_response())
        }
    }
}
