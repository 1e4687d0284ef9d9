//! Maps russh-sftp errors to transport errors with the site and path.

use crate::transport::TransportError;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;

/// Maps an SFTP error during `op` on `path`.
pub(super) fn sftp_error(site: &str, op: &str, path: &str, e: SftpError) -> TransportError {
    match e {
        SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile => TransportError::NotFound {
            site: site.to_string(),
            path: path.to_string(),
        },
        SftpError::Status(s) if s.status_code == StatusCode::PermissionDenied => TransportError::PermissionDenied {
            site: site.to_string(),
            path: path.to_string(),
        },
        SftpError::Timeout => TransportError::Timeout {
            site: site.to_string(),
            operation: format!("{op} {path}"),
            seconds: 0,
        },
        other => {
            // The session's reader gone ("sender dropped", a closed channel) is a lost
            // connection, as an I/O error is: a fresh connection may succeed.
            let lost = matches!(&other, SftpError::UnexpectedBehavior(m)
                if m.contains("sender dropped") || m.starts_with("SendError") || m.starts_with("RecvError"));
            let transient = lost || matches!(other, SftpError::IO(_) | SftpError::UnexpectedPacket);
            TransportError::Protocol {
                site: site.to_string(),
                operation: op.to_string(),
                path: path.to_string(),
                reason: other.to_string(),
                transient,
                source: Some(std::sync::Arc::new(other)),
            }
        }
    }
}

pub(super) use crate::transport::io::stream_error;
