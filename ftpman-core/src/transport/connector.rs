//! Opening connections: TCP with the failure a user understands, and the [`ProtocolConnector`]
//! that picks the transport for a site's protocol.

use super::{Connector, Transport, TransportError, TransportResult, UnreachableKind};
use crate::model::{Protocol, Site};
use async_trait::async_trait;
use tokio::net::TcpStream;

fn unreachable(site: &Site, kind: UnreachableKind, reason: String) -> TransportError {
    TransportError::Unreachable {
        site: site.name.clone(),
        host: format!("{}:{}", site.host, site.port),
        kind,
        reason,
    }
}

/// The error for a failed TCP connect.
pub(crate) fn connect_error(site: &Site, e: &std::io::Error) -> TransportError {
    let kind = if e.kind() == std::io::ErrorKind::ConnectionRefused {
        UnreachableKind::Refused
    } else {
        UnreachableKind::Network
    };
    unreachable(site, kind, e.to_string())
}

/// Resolves the site's host within its timeout.
pub(crate) async fn resolve(site: &Site) -> TransportResult<Vec<std::net::SocketAddr>> {
    let unreachable = |kind, reason: String| unreachable(site, kind, reason);
    let addrs: Vec<_> = tokio::time::timeout(
        site.connect_timeout,
        tokio::net::lookup_host((site.host.as_str(), site.port)),
    )
    .await
    .map_err(|_| unreachable(UnreachableKind::Timeout, "name lookup took too long".into()))?
    .map_err(|e| unreachable(UnreachableKind::NameLookup, e.to_string()))?
    .collect();
    if addrs.is_empty() {
        return Err(unreachable(
            UnreachableKind::NameLookup,
            "the name has no address".into(),
        ));
    }
    Ok(addrs)
}

/// Resolves and connects to the site's host and port within its timeout, saying which step failed.
pub(crate) async fn tcp_connect(site: &Site) -> TransportResult<TcpStream> {
    let unreachable = |kind, reason: String| unreachable(site, kind, reason);
    let mut last = None;
    for addr in resolve(site).await? {
        match tokio::time::timeout(site.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(connect_error(site, &e)),
            Err(_) => {
                last = Some(unreachable(
                    UnreachableKind::Timeout,
                    format!("no answer within {}s", site.connect_timeout.as_secs()),
                ))
            }
        }
    }
    Err(last.unwrap_or_else(|| unreachable(UnreachableKind::Network, "no address to try".into())))
}

/// Connects to any site with the transport its protocol needs.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProtocolConnector;

#[async_trait]
impl Connector for ProtocolConnector {
    async fn connect(&self, site: &Site) -> TransportResult<Box<dyn Transport>> {
        Ok(match site.protocol {
            Protocol::Local => Box::new(super::local::LocalTransport::connect(site).await?),
            Protocol::Sftp => Box::new(super::sftp::SftpTransport::connect(site).await?),
            Protocol::Ftp | Protocol::Ftps | Protocol::FtpsImplicit => {
                Box::new(super::ftp::FtpTransport::connect(site).await?)
            }
        })
    }
}

/// What the transport of `protocol` declares it can do, before any connection is made (a
/// connection may refine it: see [`Transport::capabilities`]).
pub fn declared_capabilities(protocol: Protocol) -> super::Capabilities {
    match protocol {
        Protocol::Local => super::local::capabilities(),
        Protocol::Sftp => super::sftp::capabilities(),
        Protocol::Ftp | Protocol::Ftps | Protocol::FtpsImplicit => super::ftp::capabilities(),
    }
}

/// Fetches the SSH host key fingerprint an SFTP site's server offers, so a user can pin it.
pub async fn fetch_host_key(site: &Site) -> TransportResult<String> {
    if site.protocol != Protocol::Sftp {
        return Err(TransportError::Config {
            site: site.name.clone(),
            reason: "host keys exist only for sftp sites".into(),
        });
    }
    super::sftp::fetch_host_key(site).await
}
