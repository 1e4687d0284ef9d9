//! The site test: connect, log in, list the root, and say what failed in a user's words.

use super::{Connector, TransportError, UnreachableKind};
use crate::model::Site;
use std::time::{Duration, Instant};

/// What went wrong, as a user would put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SiteProblem {
    /// The host name does not resolve.
    NameLookup,
    /// Nothing listens on the port.
    Refused,
    /// The server did not answer in time.
    Timeout,
    /// The network failed otherwise.
    Network,
    /// The user name or password (or key) was refused.
    Login,
    /// The SSH host key is not the pinned one, or none is pinned.
    HostKey,
    /// The TLS certificate could not be verified.
    Certificate,
    /// The root folder cannot be read.
    Permission,
    /// The root folder does not exist.
    NotFound,
    /// The site's settings cannot work (a key that does not parse...).
    Config,
    /// Anything else the server said.
    Other,
}

impl SiteProblem {
    /// Classifies a transport error.
    pub fn of(e: &TransportError) -> SiteProblem {
        match e {
            TransportError::Unreachable { kind, .. } => match kind {
                UnreachableKind::NameLookup => SiteProblem::NameLookup,
                UnreachableKind::Refused => SiteProblem::Refused,
                UnreachableKind::Timeout => SiteProblem::Timeout,
                UnreachableKind::Network => SiteProblem::Network,
            },
            TransportError::Timeout { .. } => SiteProblem::Timeout,
            TransportError::Login { .. } => SiteProblem::Login,
            TransportError::HostKeyMismatch { .. } | TransportError::HostKeyNotPinned { .. } => SiteProblem::HostKey,
            TransportError::Certificate { .. } => SiteProblem::Certificate,
            TransportError::PermissionDenied { .. } => SiteProblem::Permission,
            TransportError::NotFound { .. } => SiteProblem::NotFound,
            TransportError::Config { .. } => SiteProblem::Config,
            _ => SiteProblem::Other,
        }
    }

    /// What to do about it.
    pub fn advice(&self) -> &'static str {
        match self {
            SiteProblem::NameLookup => "check the host name",
            SiteProblem::Refused => "check the port, and that the server is running",
            SiteProblem::Timeout => "check the host, the port and any firewall in between",
            SiteProblem::Network => "check the network path to the server",
            SiteProblem::Login => "check the user name and the password or key",
            SiteProblem::HostKey => "compare the offered fingerprint with the server's administrator before pinning it",
            SiteProblem::Certificate => {
                "pin the certificate's SHA-256 fingerprint, or fix the server's certificate chain"
            }
            SiteProblem::Permission => "give the user access to the root folder, or choose another root",
            SiteProblem::NotFound => "create the root folder, or correct the site's root",
            SiteProblem::Config => "correct the site's settings",
            SiteProblem::Other => "see the server's message",
        }
    }
}

/// The outcome of a successful site test.
#[derive(Debug, Clone)]
pub struct SiteTestReport {
    /// Entries in the root folder.
    pub root_entries: usize,
    /// Time to connect and log in.
    pub connect_time: Duration,
    /// Time to list the root.
    pub list_time: Duration,
}

/// A failed site test: which problem, the error, and advice.
#[derive(Debug, thiserror::Error)]
#[error("{error} ({})", .problem.advice())]
pub struct SiteTestFailure {
    /// The classified problem.
    pub problem: SiteProblem,
    /// The transport's error.
    #[source]
    pub error: TransportError,
}

/// Connects, logs in and lists the site's root.
pub async fn test_site(site: &Site, connector: &dyn Connector) -> Result<SiteTestReport, SiteTestFailure> {
    let fail = |error: TransportError| SiteTestFailure {
        problem: SiteProblem::of(&error),
        error,
    };
    let started = Instant::now();
    let mut conn = connector.connect(site).await.map_err(fail)?;
    let connect_time = started.elapsed();
    let listed = Instant::now();
    let entries = conn.list("/").await;
    let list_time = listed.elapsed();
    let _ = conn.close().await;
    let entries = entries.map_err(fail)?;
    Ok(SiteTestReport {
        root_entries: entries.len(),
        connect_time,
        list_time,
    })
}
