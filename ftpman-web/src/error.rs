//! The one error type of the web layer: every failure becomes `{"error": {"kind", "message",
//! "field"}}` with the HTTP status its kind calls for. Bodies, queries and paths that do not
//! parse are answered the same way, naming the field at fault where one is known.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ftpman_core::ManagerError;
use ftpman_core::manager::ErrorKind;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, in words and as a kind a program can match.
#[derive(Debug, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `not_found`, `invalid_input`, `already_exists`, `in_use`, `conflict`, `unauthorized`,
    /// `forbidden`, `rate_limited`, `too_large`, `connection_failed`, `authentication_failed`,
    /// `host_key_unknown`, `host_key_changed`, `transfer_failed`, `cancelled` or `internal`.
    pub kind: ErrorKind,
    /// For people.
    pub message: String,
    /// The field (body, query or path parameter) at fault, for invalid input.
    pub field: Option<String>,
    /// The SSH host key the server offered, when it is not pinned or differs from the pin
    /// (check it, then pin it with the site's `host_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_host_key: Option<String>,
}

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    /// The kind, which decides the status.
    pub kind: ErrorKind,
    /// For people.
    pub message: String,
    /// The field at fault.
    pub field: Option<String>,
    /// Seconds to wait before asking again (429).
    pub retry_after: Option<u64>,
    /// The status, where it is not the kind's usual one (400 for a body that does not parse).
    pub status: Option<StatusCode>,
    /// The host key a server offered (see [`ErrorDetail::offered_host_key`]).
    pub offered_host_key: Option<String>,
}

/// Result of handlers.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            field: None,
            retry_after: None,
            status: None,
            offered_host_key: None,
        }
    }

    /// Invalid input in `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(ErrorKind::InvalidInput, message)
        }
    }

    /// A request that could not be read at all (400 rather than 422).
    pub fn malformed(field: Option<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            field,
            status: Some(StatusCode::BAD_REQUEST),
            ..ApiError::new(ErrorKind::InvalidInput, message)
        }
    }

    /// The HTTP status of `kind`.
    pub fn status_of(kind: ErrorKind) -> StatusCode {
        match kind {
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::AlreadyExists | ErrorKind::InUse | ErrorKind::Conflict | ErrorKind::Cancelled => {
                StatusCode::CONFLICT
            }
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            // The remote server or the database failed, not this request.
            ErrorKind::ConnectionFailed
            | ErrorKind::AuthenticationFailed
            | ErrorKind::HostKeyUnknown
            | ErrorKind::HostKeyChanged
            | ErrorKind::TransferFailed => StatusCode::BAD_GATEWAY,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ManagerError> for ApiError {
    fn from(e: ManagerError) -> Self {
        let kind = e.kind();
        if kind == ErrorKind::Internal {
            tracing::error!(target: "ftpman::web", "{e}");
        }
        ApiError {
            kind,
            field: e.field().map(str::to_string),
            retry_after: match &e {
                ManagerError::RateLimited { retry_after_secs, .. } => Some(*retry_after_secs),
                _ => None,
            },
            offered_host_key: offered_host_key(&e),
            message: e.to_string(),
            status: None,
        }
    }
}

/// The host key a server offered, where the error carries one.
pub fn offered_host_key(e: &ManagerError) -> Option<String> {
    match e {
        ManagerError::HostKeyUnknown { offered, .. } => Some(offered.clone()),
        ManagerError::Transport(t) => t.offered_host_key().map(str::to_string),
        _ => None,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status.unwrap_or_else(|| ApiError::status_of(self.kind));
        let body = ErrorBody {
            error: ErrorDetail {
                kind: self.kind,
                message: self.message,
                field: self.field,
                offered_host_key: self.offered_host_key,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert("retry-after", v);
        }
        response
    }
}

/// The answer to a path no route serves.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorKind::NotFound, "no such page or API route")
}

/// The answer to a method a route does not take.
pub async fn method_not_allowed() -> ApiError {
    ApiError {
        status: Some(StatusCode::METHOD_NOT_ALLOWED),
        ..ApiError::new(ErrorKind::InvalidInput, "this route does not take that method")
    }
}

/// The field a serde message names (`unknown field `x``, `missing field `y``, `x: invalid
/// type`).
fn field_of(message: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            return rest.split('`').next().map(str::to_string);
        }
    }
    let (path, _) = message.split_once(": ")?;
    let path = path.trim();
    (!path.is_empty() && !path.contains(' ')).then(|| path.to_string())
}

/// A JSON body; one that does not parse is a 400 or 422 in the API's error shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(JsonRejection::JsonDataError(e)) => {
                let message = e.body_text();
                let detail = message
                    .split_once("into the target type: ")
                    .map(|(_, d)| d.to_string())
                    .unwrap_or(message.clone());
                Err(ApiError {
                    field: field_of(&detail).or(Some("body".into())),
                    ..ApiError::new(ErrorKind::InvalidInput, detail)
                })
            }
            Err(e) => Err(ApiError::malformed(Some("body".into()), e.body_text())),
        }
    }
}

/// A JSON body that may be left out: no body at all stands for `T::default()`; one that is
/// given is read as [`Body`] reads it.
pub struct OptionalBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = req.headers();
        let empty = headers.get(axum::http::header::CONTENT_TYPE).is_none()
            && headers
                .get(axum::http::header::CONTENT_LENGTH)
                .is_none_or(|v| v.as_bytes() == b"0");
        if empty {
            return Ok(OptionalBody(T::default()));
        }
        Body::<T>::from_request(req, state).await.map(|Body(v)| OptionalBody(v))
    }
}

/// Query parameters; ones that do not parse are a 422 naming the parameter.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let message = e.body_text();
                let detail = message
                    .rsplit("Failed to deserialize query string: ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                let field = field_of(&detail).or_else(|| culprit::<T>(parts.uri.query().unwrap_or("")));
                let detail = match &field {
                    Some(f) if !detail.starts_with(f.as_str()) => format!("{f}: {detail}"),
                    _ => detail,
                };
                Err(ApiError {
                    field,
                    ..ApiError::new(ErrorKind::InvalidInput, detail)
                })
            }
            Err(e) => Err(ApiError::malformed(None, e.body_text())),
        }
    }
}

/// The parameter at fault in a query string that does not parse, when serde's message does not
/// say (`invalid digit found in string`): the one whose removal makes the rest parse.
fn culprit<T: DeserializeOwned>(query: &str) -> Option<String> {
    let pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.iter().enumerate().find_map(|(i, pair)| {
        let rest: Vec<&str> = pairs
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| *p)
            .collect();
        serde_urlencoded_ok::<T>(&rest.join("&")).then(|| pair.split('=').next().unwrap_or(pair).to_string())
    })
}

fn serde_urlencoded_ok<T: DeserializeOwned>(query: &str) -> bool {
    let uri: Result<axum::http::Uri, _> = format!("/?{query}").parse();
    uri.is_ok_and(|u| axum::extract::Query::<T>::try_from_uri(&u).is_ok())
}

/// Path parameters; ones that do not parse (a run id that is not a number) are a 400.
pub struct PathArg<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathArg<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathArg(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let field = match e.kind() {
                    axum::extract::path::ErrorKind::ParseErrorAtKey { key, .. }
                    | axum::extract::path::ErrorKind::InvalidUtf8InPathParam { key } => Some(key.clone()),
                    // A route with one parameter: that one.
                    _ => match axum::extract::RawPathParams::from_request_parts(parts, state).await {
                        Ok(raw) if raw.iter().count() == 1 => raw.iter().next().map(|(k, _)| k.to_string()),
                        _ => None,
                    },
                };
                Err(ApiError::malformed(field, e.body_text()))
            }
            Err(e) => Err(ApiError::malformed(None, e.body_text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_by_kind() {
        assert_eq!(ApiError::status_of(ErrorKind::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            ApiError::status_of(ErrorKind::InvalidInput),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(ApiError::status_of(ErrorKind::AlreadyExists), StatusCode::CONFLICT);
        assert_eq!(ApiError::status_of(ErrorKind::Unauthorized), StatusCode::UNAUTHORIZED);
        assert_eq!(ApiError::status_of(ErrorKind::Forbidden), StatusCode::FORBIDDEN);
        assert_eq!(
            ApiError::status_of(ErrorKind::RateLimited),
            StatusCode::TOO_MANY_REQUESTS
        );
    }

    #[test]
    fn fields_from_serde_messages() {
        assert_eq!(
            field_of("unknown field `colour`, expected one of `a`").as_deref(),
            Some("colour")
        );
        assert_eq!(
            field_of("missing field `name` at line 1 column 2").as_deref(),
            Some("name")
        );
        assert_eq!(field_of("parallel: invalid type: string").as_deref(), Some("parallel"));
        assert_eq!(field_of("expected value at line 1 column 1"), None);
    }
}
