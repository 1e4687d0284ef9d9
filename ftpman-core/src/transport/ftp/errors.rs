//! Maps suppaftp errors to transport errors with the site and path.

use crate::transport::TransportError;
use suppaftp::FtpError;

/// Maps an FTP error during `op` on `path`.
pub(super) fn ftp_error(site: &str, op: &str, path: &str, e: FtpError) -> TransportError {
    let protocol = |reason: String, transient: bool| TransportError::Protocol {
        site: site.to_string(),
        operation: op.to_string(),
        path: path.to_string(),
        reason,
        transient,
    };
    match e {
        FtpError::SecureError(reason) => TransportError::Certificate {
            site: site.to_string(),
            reason,
        },
        FtpError::UnexpectedResponse(resp) => {
            let code = resp.status.code();
            let body = resp.as_string().unwrap_or_default().trim().to_string();
            match code {
                530 => TransportError::Login {
                    site: site.to_string(),
                    user: String::new(),
                },
                550 if body.to_ascii_lowercase().contains("permission") => TransportError::PermissionDenied {
                    site: site.to_string(),
                    path: path.to_string(),
                },
                550 | 450 => TransportError::NotFound {
                    site: site.to_string(),
                    path: path.to_string(),
                },
                452 | 552 => protocol(format!("the server is out of space: {body}"), false),
                // 4xx replies are transient by the protocol's own definition.
                400..=499 => protocol(body, true),
                _ => protocol(body, false),
            }
        }
        FtpError::ConnectionError(io) => protocol(io.to_string(), true),
        FtpError::BadResponse => protocol("the server sent a malformed reply".into(), true),
        other => protocol(other.to_string(), false),
    }
}
