//! Maps suppaftp errors to transport errors with the site and path.

use crate::transport::TransportError;
use suppaftp::FtpError;

/// Whether a TLS failure's text says the connection went away (rather than that the peer's
/// certificate was refused).
fn connection_lost(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    !r.contains("certificate")
        && [
            "eof",
            "reset",
            "broken pipe",
            "connection aborted",
            "connection closed",
            "unexpected end",
        ]
        .iter()
        .any(|w| r.contains(w))
}

/// Maps an FTP error during `op` on `path`.
pub(super) fn ftp_error(site: &str, op: &str, path: &str, e: FtpError) -> TransportError {
    let protocol =
        |reason: String, transient: bool, source: Option<crate::transport::SourceError>| TransportError::Protocol {
            site: site.to_string(),
            operation: op.to_string(),
            path: path.to_string(),
            reason,
            transient,
            source,
        };
    match e {
        // A connection that closes during the handshake is a network failure, worth a retry;
        // only what the certificate check says is about the certificate.
        FtpError::SecureError(reason) if connection_lost(&reason) => protocol(
            format!("the connection closed during the TLS handshake: {reason}"),
            true,
            None,
        ),
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
                550 => TransportError::NotFound {
                    site: site.to_string(),
                    path: path.to_string(),
                },
                452 | 552 => protocol(format!("the server is out of space: {body}"), false, None),
                // vsftpd's last words when its session process dies: the connection is gone.
                _ if body.contains("OOPS") => protocol(body, true, None),
                // 4xx replies are transient by the protocol's own definition.
                400..=499 => protocol(body, true, None),
                _ => protocol(body, false, None),
            }
        }
        FtpError::ConnectionError(io) => protocol(io.to_string(), true, Some(std::sync::Arc::new(io))),
        FtpError::BadResponse => protocol("the server sent a malformed reply".into(), true, None),
        other => protocol(other.to_string(), false, Some(std::sync::Arc::new(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suppaftp::Status;
    use suppaftp::types::Response;

    #[test]
    fn errors_carry_their_kind_site_operation_path_and_source() {
        use crate::transport::TransportErrorKind;
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = ftp_error("partner", "RETR", "/out/a.csv", FtpError::ConnectionError(io));
        assert_eq!(
            (e.kind(), e.site(), e.operation(), e.path(), e.is_transient()),
            (
                TransportErrorKind::Protocol,
                "partner",
                Some("RETR"),
                Some("/out/a.csv"),
                true
            )
        );
        let source = std::error::Error::source(&e).expect("the I/O error underneath");
        assert!(source.to_string().contains("reset by peer"), "{source}");
        let missing = reply(550, "550 No such file");
        assert_eq!(
            (missing.kind(), missing.path(), missing.site()),
            (TransportErrorKind::NotFound, Some("/a.csv"), "s")
        );
    }

    fn reply(code: u32, text: &str) -> TransportError {
        let resp = Response::new(Status::from(code), text.as_bytes().to_vec());
        ftp_error("s", "stat", "/a.csv", FtpError::UnexpectedResponse(resp))
    }

    #[test]
    fn only_550_means_not_found() {
        assert!(matches!(
            reply(550, "550 No such file."),
            TransportError::NotFound { .. }
        ));
        assert!(matches!(
            reply(550, "550 Permission denied."),
            TransportError::PermissionDenied { .. }
        ));
        // 450: the file is busy or unavailable for now; it says nothing about existence.
        let busy = reply(450, "450 File busy.");
        assert!(
            matches!(busy, TransportError::Protocol { transient: true, .. }),
            "{busy:?}"
        );
        assert!(busy.is_transient());
        assert!(
            reply(500, "500 OOPS: priv_sock_send_cmd").is_transient(),
            "a dead session"
        );
    }
}
