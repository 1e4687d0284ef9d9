//! Core errors as Python exceptions: the class is chosen by the error's kind from
//! `ftpman.errors` (where each class also derives from Python's own, `LookupError` for
//! `NotFound`...), and carries the message, the kind and the field at fault.

use ftpman_core::ManagerError;
use pyo3::prelude::*;

/// The class name in `ftpman.errors` for a kind.
fn class_of(kind: &str) -> &'static str {
    match kind {
        "not_found" => "NotFound",
        "invalid_input" => "InvalidInput",
        "already_exists" => "AlreadyExists",
        "in_use" => "InUse",
        "conflict" => "Conflict",
        "unauthorized" => "Unauthorized",
        "forbidden" => "Forbidden",
        "rate_limited" => "RateLimited",
        "too_large" => "TooLarge",
        "connection_failed" => "ConnectionFailed",
        "authentication_failed" => "AuthenticationFailed",
        "host_key_unknown" => "HostKeyUnknown",
        "host_key_changed" => "HostKeyMismatch",
        "transfer_failed" => "TransferFailed",
        "cancelled" => "Cancelled",
        _ => "InternalError",
    }
}

/// A Python exception of the class for `kind`.
pub fn raise(kind: &str, message: String, field: Option<String>, offered_host_key: Option<String>) -> PyErr {
    Python::attach(|py| {
        let made = (|| -> PyResult<PyErr> {
            let module = py.import("ftpman.errors")?;
            let class = module.getattr(class_of(kind))?;
            let value = class.call1((message.clone(), kind, field.clone(), offered_host_key.clone()))?;
            Ok(PyErr::from_value(value))
        })();
        made.unwrap_or_else(|e| e)
    })
}

/// A core error as a Python exception.
pub fn to_py(e: ManagerError) -> PyErr {
    let offered = match &e {
        ManagerError::HostKeyUnknown { offered, .. } => Some(offered.clone()),
        ManagerError::Transport(t) => t.offered_host_key().map(str::to_string),
        _ => None,
    };
    raise(e.kind().as_str(), e.to_string(), e.field().map(str::to_string), offered)
}

/// Invalid input found in this layer (an argument of the wrong shape).
pub fn invalid(field: &str, message: impl Into<String>) -> PyErr {
    raise("invalid_input", message.into(), Some(field.to_string()), None)
}
