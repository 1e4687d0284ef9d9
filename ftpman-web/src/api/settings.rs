//! Settings (SMTP, webhook, retention, the web's base URL) and the test e-mail. A secret
//! setting's value is write-only: set, replaced or removed, never shown.

use crate::error::{ApiResult, Body, ErrorBody, PathArg};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ftpman_core::manager::views::SettingInfoView;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_settings))
        .routes(routes!(set_setting, unset_setting))
        .routes(routes!(smtp_test))
}

/// A setting's new value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingValue {
    /// The value (a secret one is sealed in the database).
    #[schema(write_only)]
    pub value: String,
}

/// Where to send a test e-mail.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpTestRequest {
    /// The recipient.
    pub to: String,
}

/// Every setting ftpman knows, set or not.
#[utoipa::path(get, path = "/settings", tag = "settings",
    responses((status = 200, body = [SettingInfoView]), (status = 403, body = ErrorBody)))]
async fn list_settings(State(s): State<AppState>) -> ApiResult<Json<Vec<SettingInfoView>>> {
    Ok(Json(s.manager.setting_infos().await?))
}

/// Sets a setting (checked: a port must be a number, an address an address...).
#[utoipa::path(put, path = "/settings/{key}", tag = "settings", params(("key" = String, Path)),
    request_body = SettingValue,
    responses((status = 204, description = "Set"), (status = 422, body = ErrorBody)))]
async fn set_setting(
    State(s): State<AppState>,
    PathArg(key): PathArg<String>,
    Body(v): Body<SettingValue>,
) -> ApiResult<StatusCode> {
    s.manager.set_setting(&key, &v.value).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a setting (back to its default).
#[utoipa::path(delete, path = "/settings/{key}", tag = "settings", params(("key" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = ErrorBody)))]
async fn unset_setting(State(s): State<AppState>, PathArg(key): PathArg<String>) -> ApiResult<StatusCode> {
    if s.manager.unset_setting(&key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(crate::error::ApiError::new(
            ftpman_core::manager::ErrorKind::NotFound,
            format!("setting '{key}' is not set"),
        ))
    }
}

/// Sends a test e-mail with the SMTP settings.
#[utoipa::path(post, path = "/settings/smtp/test", tag = "settings", request_body = SmtpTestRequest,
    responses((status = 204, description = "Sent"), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody)))]
async fn smtp_test(State(s): State<AppState>, Body(req): Body<SmtpTestRequest>) -> ApiResult<StatusCode> {
    s.manager.smtp_test(&req.to).await?;
    Ok(StatusCode::NO_CONTENT)
}
