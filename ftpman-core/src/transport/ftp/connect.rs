//! Connecting and logging in to FTP and FTPS (explicit and implicit) servers.

use super::Ftp;
use super::buffered_tls::BufferedTlsConnector;
use super::errors::ftp_error;
use super::tls::client_config;
use crate::model::{Protocol, Site};
use crate::transport::connector::{connect_error, resolve, tcp_connect};
use crate::transport::{TransportError, TransportResult};
use suppaftp::types::FileType;
use suppaftp::{FtpError, Mode, Status};

fn tls_connector(site: &Site) -> TransportResult<BufferedTlsConnector> {
    let config = client_config(site)?;
    Ok(BufferedTlsConnector::from(suppaftp::tokio_rustls::TlsConnector::from(
        config,
    )))
}

async fn timed<T>(site: &Site, op: &str, fut: impl Future<Output = Result<T, FtpError>>) -> TransportResult<T> {
    tokio::time::timeout(site.connect_timeout, fut)
        .await
        .map_err(|_| TransportError::Timeout {
            site: site.name.clone(),
            operation: op.to_string(),
            seconds: site.connect_timeout.as_secs(),
        })?
        .map_err(|e| ftp_error(&site.name, op, "", e))
}

/// Connects, secures (FTPS), logs in and sets binary mode; returns the stream and its FEAT list.
pub(super) async fn connect(site: &Site) -> TransportResult<(Ftp, suppaftp::types::Features)> {
    let mut ftp = match site.protocol {
        Protocol::Ftp => {
            let tcp = tcp_connect(site).await?;
            timed(site, "greeting", Ftp::connect_with_stream(tcp)).await?
        }
        Protocol::Ftps => {
            let tcp = tcp_connect(site).await?;
            let plain = timed(site, "greeting", Ftp::connect_with_stream(tcp)).await?;
            timed(
                site,
                "TLS handshake",
                plain.into_secure(tls_connector(site)?, &site.host),
            )
            .await?
        }
        Protocol::FtpsImplicit => {
            let addrs = resolve(site).await?;
            let connecting = Ftp::connect_secure_implicit(addrs[0], tls_connector(site)?, &site.host);
            let mut ftp = match tokio::time::timeout(site.connect_timeout, connecting).await {
                Ok(Err(FtpError::ConnectionError(e))) => return Err(connect_error(site, &e)),
                Ok(result) => result.map_err(|e| ftp_error(&site.name, "TLS handshake", "", e))?,
                Err(_) => {
                    return Err(TransportError::Timeout {
                        site: site.name.clone(),
                        operation: "TLS handshake".into(),
                        seconds: site.connect_timeout.as_secs(),
                    });
                }
            };
            // suppaftp does not send these for implicit FTPS; without them data connections fail.
            timed(site, "PBSZ", ftp.custom_command("PBSZ 0", &[Status::CommandOk])).await?;
            timed(site, "PROT", ftp.custom_command("PROT P", &[Status::CommandOk])).await?;
            ftp
        }
        other => {
            return Err(TransportError::Config {
                site: site.name.clone(),
                reason: format!("{other} is not an FTP protocol"),
            });
        }
    };
    let password = site
        .password
        .as_ref()
        .map(|p| p.expose().to_string())
        .unwrap_or_default();
    match tokio::time::timeout(
        site.connect_timeout,
        ftp.login(site.username.as_str(), password.as_str()),
    )
    .await
    {
        Err(_) => {
            return Err(TransportError::Timeout {
                site: site.name.clone(),
                operation: "login".into(),
                seconds: site.connect_timeout.as_secs(),
            });
        }
        Ok(Err(FtpError::UnexpectedResponse(r))) if r.status.code() == 530 || r.status.code() == 331 => {
            return Err(TransportError::Login {
                site: site.name.clone(),
                user: site.username.clone(),
            });
        }
        Ok(Err(e)) => return Err(ftp_error(&site.name, "login", "", e)),
        Ok(Ok(())) => {}
    }
    // ASCII is suppaftp's default and corrupts binary files.
    timed(site, "TYPE I", ftp.transfer_type(FileType::Binary)).await?;
    if site.passive {
        ftp.set_mode(Mode::ExtendedPassive);
    } else {
        ftp = ftp.active_mode(site.connect_timeout);
    }
    let features = timed(site, "FEAT", ftp.feat()).await.unwrap_or_default();
    Ok((ftp, features))
}
