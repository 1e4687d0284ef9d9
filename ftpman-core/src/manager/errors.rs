//! What kind of failure a [`ManagerError`] is, so that a frontend maps errors with one `match`:
//! the web API to an HTTP status, Python to an exception class, the CLI to an exit code.

use super::ManagerError;
use crate::secrets::SecretError;
use crate::store::StoreError;
use crate::transport::TransportError;

/// The kinds of failure every frontend distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No such site, job, run, user, file or folder.
    NotFound,
    /// A value was refused; [`ManagerError::field`] names it.
    InvalidInput,
    /// The name is taken.
    AlreadyExists,
    /// It is still used by something else (a site by a job).
    InUse,
    /// It clashes with the current state (a run that already ended, a run held elsewhere).
    Conflict,
    /// The key, password or token does not open it (a wrong encryption key).
    Unauthorized,
    /// Signed in, but the role does not allow it (a viewer changing a job).
    Forbidden,
    /// Too many attempts (sign-ins) in a short time; try again later.
    RateLimited,
    /// More data than allowed (an upload over the size limit).
    TooLarge,
    /// The server or database could not be reached, or the connection broke.
    ConnectionFailed,
    /// The server refused the login.
    AuthenticationFailed,
    /// The server's SSH host key is not pinned yet.
    HostKeyUnknown,
    /// The server's identity differs from the pinned one (SSH host key, TLS certificate).
    HostKeyChanged,
    /// A file could not be moved (refused by the server, permission, space).
    TransferFailed,
    /// Stopped by a user.
    Cancelled,
    /// A bug or an unexpected state inside ftpman.
    Internal,
}

impl ErrorKind {
    /// The kind's name, as the web API and Python show it (`not_found`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not_found",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InUse => "in_use",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::ConnectionFailed => "connection_failed",
            ErrorKind::AuthenticationFailed => "authentication_failed",
            ErrorKind::HostKeyUnknown => "host_key_unknown",
            ErrorKind::HostKeyChanged => "host_key_changed",
            ErrorKind::TransferFailed => "transfer_failed",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn store_kind(e: &StoreError) -> ErrorKind {
    match e {
        StoreError::UnsupportedUrl(_) | StoreError::Invalid(_) => ErrorKind::InvalidInput,
        StoreError::Database { .. } | StoreError::Migrate(_) => ErrorKind::ConnectionFailed,
        StoreError::Exists { .. } => ErrorKind::AlreadyExists,
        StoreError::NotFound { .. } => ErrorKind::NotFound,
        StoreError::InUse { .. } => ErrorKind::InUse,
        StoreError::Secret(SecretError::WrongKey { .. } | SecretError::NoKey | SecretError::BadKey { .. }) => {
            ErrorKind::Unauthorized
        }
        StoreError::Secret(_) | StoreError::Corrupt { .. } => ErrorKind::Internal,
        StoreError::Busy(_) | StoreError::NotHeld { .. } => ErrorKind::Conflict,
    }
}

fn transport_kind(e: &TransportError) -> ErrorKind {
    match e {
        TransportError::Unreachable { .. } | TransportError::Timeout { .. } => ErrorKind::ConnectionFailed,
        TransportError::HostKeyNotPinned { .. } => ErrorKind::HostKeyUnknown,
        TransportError::HostKeyMismatch { .. } | TransportError::Certificate { .. } => ErrorKind::HostKeyChanged,
        TransportError::Config { .. } => ErrorKind::InvalidInput,
        TransportError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
        TransportError::Login { .. } => ErrorKind::AuthenticationFailed,
        TransportError::NotFound { .. } => ErrorKind::NotFound,
        TransportError::PermissionDenied { .. } | TransportError::HostileName { .. } => ErrorKind::TransferFailed,
        TransportError::Protocol { transient: true, .. } => ErrorKind::ConnectionFailed,
        TransportError::Protocol { .. } => ErrorKind::TransferFailed,
    }
}

impl ManagerError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ManagerError::Store(e) => store_kind(e),
            ManagerError::Engine(crate::engine::EngineError::Store(e)) => store_kind(e),
            ManagerError::Invalid(_) => ErrorKind::InvalidInput,
            ManagerError::NotFound { .. } => ErrorKind::NotFound,
            ManagerError::HostKeyUnknown { .. } => ErrorKind::HostKeyUnknown,
            ManagerError::Transport(e) => transport_kind(e),
            ManagerError::Notify(_) => ErrorKind::ConnectionFailed,
            ManagerError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            ManagerError::Io { .. } => ErrorKind::TransferFailed,
            ManagerError::Conflict(_) => ErrorKind::Conflict,
            ManagerError::Unauthorized(_) => ErrorKind::Unauthorized,
            ManagerError::Forbidden(_) => ErrorKind::Forbidden,
            ManagerError::RateLimited { .. } => ErrorKind::RateLimited,
            ManagerError::TooLarge { .. } => ErrorKind::TooLarge,
            ManagerError::Cancelled { .. } => ErrorKind::Cancelled,
            ManagerError::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The field (or CLI flag, same name) at fault, for invalid input.
    pub fn field(&self) -> Option<&str> {
        match self {
            ManagerError::Invalid(v) | ManagerError::Store(StoreError::Invalid(v)) => Some(&v.field),
            ManagerError::Store(StoreError::UnsupportedUrl(_)) => Some("db"),
            _ => None,
        }
    }
}
