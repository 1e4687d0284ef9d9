//! Maps file-system errors to transport errors with the site and path.

use crate::transport::TransportError;
use std::io::ErrorKind;

/// Maps an I/O error during `op` on `path` of site `site`.
pub(super) fn io_error(site: &str, op: &str, path: &str, e: std::io::Error) -> TransportError {
    match e.kind() {
        ErrorKind::NotFound => TransportError::NotFound {
            site: site.to_string(),
            path: path.to_string(),
        },
        ErrorKind::PermissionDenied => TransportError::PermissionDenied {
            site: site.to_string(),
            path: path.to_string(),
        },
        ErrorKind::AlreadyExists => TransportError::AlreadyExists {
            site: site.to_string(),
            path: path.to_string(),
        },
        _ => TransportError::Protocol {
            site: site.to_string(),
            operation: op.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
            // A full disk or an I/O error will not go away by trying again at once.
            transient: matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::TimedOut),
            source: Some(std::sync::Arc::new(e)),
        },
    }
}
