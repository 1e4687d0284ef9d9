//! The [`Transport`] trait: one connection to one site, speaking FTP, FTPS, SFTP or the local
//! file system, one folder per protocol (`ftp/`, `sftp/`, `local/`) split by role. What acts on
//! any transport is written once beside them: the retry rule (`retry.rs`), the bandwidth limit
//! (`throttle.rs`), resumable copying (`copy.rs`), one large file over several connections
//! (`segmented.rs`), the connection pool (`pool.rs`) and the site
//! test (`site_test.rs`). Bytes and timings are counted where transfers are recorded
//! (`crate::metrics`).
//!
//! Paths given to a transport are relative to the site's root; a transport never reaches outside
//! it, and refuses names from a server that would (`..`, `/`, `\` or NUL inside a name).

mod connector;
pub mod copy;
pub mod ftp;
pub mod io;
pub mod listing;
pub mod local;
pub mod path;
pub mod pool;
pub mod retry;
pub mod segmented;
pub mod sftp;
pub mod site_test;
pub mod throttle;

pub use connector::{ProtocolConnector, declared_capabilities, fetch_host_key};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::model::Site;

/// What a listing says about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Name within its folder (checked: no separators, not `.` or `..`).
    pub name: String,
    /// Path relative to the site's root.
    pub path: String,
    /// File, folder or link.
    pub kind: EntryKind,
    /// Size in bytes (files).
    pub size: u64,
    /// Last modification, when the server says.
    pub mtime: Option<DateTime<Utc>>,
    /// Seconds `mtime` is rounded to: 1 when exact; an FTP LIST shows `HH:MM` (60) for recent
    /// files and only the day (86,400) for older ones.
    pub mtime_granularity: u32,
}

/// Kind of a listed entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A folder.
    Dir,
    /// A symbolic link (not followed by default).
    Symlink,
    /// A FIFO, socket or device: never read (opening a FIFO would wait for a writer forever).
    Other,
}

/// A checksum a server computed for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    /// Algorithm name, e.g. `sha256`, `md5`.
    pub algorithm: String,
    /// Lower-case hex digest.
    pub hex: String,
}

/// Why a transport operation failed: its kind ([`TransportError::kind`]), the site, the
/// operation and the path it concerned where there is one, whether trying again may help
/// ([`TransportError::is_transient`]), and the library's error underneath
/// ([`std::error::Error::source`]).
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The host could not be reached (name lookup, refused, unreachable).
    #[error("site '{site}': cannot reach {host}: {kind}: {reason}")]
    Unreachable {
        /// Site name.
        site: String,
        /// host:port.
        host: String,
        /// Which way it failed.
        kind: UnreachableKind,
        /// What the network said.
        reason: String,
    },
    /// No SSH host key is pinned for the site.
    #[error(
        "site '{site}': no SSH host key pinned; the server offers {offered}: pin it with --host-key {offered} after checking it with the server's administrator"
    )]
    HostKeyNotPinned {
        /// Site name.
        site: String,
        /// The fingerprint the server offered.
        offered: String,
    },
    /// The site's own settings cannot work (a key that does not parse, a root that does not exist).
    #[error("site '{site}': {reason}")]
    Config {
        /// Site name.
        site: String,
        /// What is wrong.
        reason: String,
    },
    /// The target name exists and overwriting was not asked for.
    #[error("site '{site}': {path}: already exists")]
    AlreadyExists {
        /// Site name.
        site: String,
        /// Path.
        path: String,
    },
    /// An operation took longer than the site's timeout.
    #[error("site '{site}': {operation} timed out after {seconds}s")]
    Timeout {
        /// Site name.
        site: String,
        /// What was being done.
        operation: String,
        /// The timeout.
        seconds: u64,
    },
    /// The server refused the login.
    #[error("site '{site}': login refused for user '{user}'")]
    Login {
        /// Site name.
        site: String,
        /// User name.
        user: String,
    },
    /// The server's SSH host key differs from the pinned one.
    #[error(
        "site '{site}': host key mismatch: expected {expected}, server offered {actual}; if the server's key really changed, pin the new one"
    )]
    HostKeyMismatch {
        /// Site name.
        site: String,
        /// Pinned fingerprint.
        expected: String,
        /// Offered fingerprint.
        actual: String,
    },
    /// The TLS certificate could not be verified.
    #[error("site '{site}': TLS certificate refused: {reason}")]
    Certificate {
        /// Site name.
        site: String,
        /// Why.
        reason: String,
    },
    /// No such file or folder.
    #[error("site '{site}': {path}: not found")]
    NotFound {
        /// Site name.
        site: String,
        /// Path.
        path: String,
    },
    /// The server denied access.
    #[error("site '{site}': {path}: permission denied")]
    PermissionDenied {
        /// Site name.
        site: String,
        /// Path.
        path: String,
    },
    /// A name from the server would escape the folder it was listed in.
    #[error("site '{site}': refused hostile name {name:?} listed in {path}")]
    HostileName {
        /// Site name.
        site: String,
        /// Folder that was listed.
        path: String,
        /// The name, printable.
        name: String,
    },
    /// The connection broke or the server answered with an error.
    #[error("site '{site}': {operation} {path}: {reason}")]
    Protocol {
        /// Site name.
        site: String,
        /// What was being done.
        operation: String,
        /// Path.
        path: String,
        /// The server's or library's words.
        reason: String,
        /// Whether trying again may help (dropped connection, 4xx reply).
        transient: bool,
        /// The library's error underneath (an I/O, FTP or SFTP error), where there is one.
        #[source]
        source: Option<SourceError>,
    },
}

/// An error underneath a [`TransportError`], kept for whoever walks the error's sources.
pub type SourceError = std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a [`TransportError`] is, for callers that decide by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// The host could not be reached.
    Unreachable,
    /// No SSH host key is pinned.
    HostKeyNotPinned,
    /// The site's own settings cannot work.
    Config,
    /// The target name exists.
    AlreadyExists,
    /// The site's timeout passed.
    Timeout,
    /// The login was refused.
    Login,
    /// The server's host key is not the pinned one.
    HostKeyMismatch,
    /// The TLS certificate was refused.
    Certificate,
    /// No such file or folder.
    NotFound,
    /// Access denied.
    PermissionDenied,
    /// A listed name would escape its folder.
    HostileName,
    /// The connection broke, or the server answered with an error.
    Protocol,
}

impl TransportError {
    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        match self {
            TransportError::Unreachable { .. } => TransportErrorKind::Unreachable,
            TransportError::HostKeyNotPinned { .. } => TransportErrorKind::HostKeyNotPinned,
            TransportError::Config { .. } => TransportErrorKind::Config,
            TransportError::AlreadyExists { .. } => TransportErrorKind::AlreadyExists,
            TransportError::Timeout { .. } => TransportErrorKind::Timeout,
            TransportError::Login { .. } => TransportErrorKind::Login,
            TransportError::HostKeyMismatch { .. } => TransportErrorKind::HostKeyMismatch,
            TransportError::Certificate { .. } => TransportErrorKind::Certificate,
            TransportError::NotFound { .. } => TransportErrorKind::NotFound,
            TransportError::PermissionDenied { .. } => TransportErrorKind::PermissionDenied,
            TransportError::HostileName { .. } => TransportErrorKind::HostileName,
            TransportError::Protocol { .. } => TransportErrorKind::Protocol,
        }
    }

    /// The site it concerns.
    pub fn site(&self) -> &str {
        match self {
            TransportError::Unreachable { site, .. }
            | TransportError::HostKeyNotPinned { site, .. }
            | TransportError::Config { site, .. }
            | TransportError::AlreadyExists { site, .. }
            | TransportError::Timeout { site, .. }
            | TransportError::Login { site, .. }
            | TransportError::HostKeyMismatch { site, .. }
            | TransportError::Certificate { site, .. }
            | TransportError::NotFound { site, .. }
            | TransportError::PermissionDenied { site, .. }
            | TransportError::HostileName { site, .. }
            | TransportError::Protocol { site, .. } => site,
        }
    }

    /// The path it concerns, where it is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            TransportError::AlreadyExists { path, .. }
            | TransportError::NotFound { path, .. }
            | TransportError::PermissionDenied { path, .. }
            | TransportError::HostileName { path, .. }
            | TransportError::Protocol { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The operation that failed, where one is named (`list`, `RETR`, `open`...).
    pub fn operation(&self) -> Option<&str> {
        match self {
            TransportError::Timeout { operation, .. } | TransportError::Protocol { operation, .. } => Some(operation),
            _ => None,
        }
    }

    /// The SSH host key the server offered, where the error is about one (not pinned yet, or
    /// different from the pin).
    pub fn offered_host_key(&self) -> Option<&str> {
        match self {
            TransportError::HostKeyNotPinned { offered, .. } => Some(offered),
            TransportError::HostKeyMismatch { actual, .. } => Some(actual),
            _ => None,
        }
    }

    /// Whether a retry may succeed (timeouts, dropped connections, transient server replies).
    pub fn is_transient(&self) -> bool {
        match self {
            TransportError::Timeout { .. } => true,
            TransportError::Protocol { transient, .. } => *transient,
            TransportError::Unreachable { kind, .. } => *kind != UnreachableKind::NameLookup,
            _ => false,
        }
    }
}

/// How a connection attempt failed before any protocol was spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachableKind {
    /// The host name did not resolve.
    NameLookup,
    /// Nothing listens on that port.
    Refused,
    /// No answer within the timeout.
    Timeout,
    /// The network said the host or network cannot be reached, or the connection dropped.
    Network,
}

impl std::fmt::Display for UnreachableKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnreachableKind::NameLookup => "name lookup failed",
            UnreachableKind::Refused => "connection refused",
            UnreachableKind::Timeout => "no answer (timeout)",
            UnreachableKind::Network => "network error",
        })
    }
}

/// Result of transport operations.
pub type TransportResult<T> = Result<T, TransportError>;

/// What a completed write reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// Bytes written through this writer (or, from [`copy::copy_file`], moved by that call).
    pub written: u64,
    /// The file's whole size as the target reports it once the data is stored, where that
    /// comes with closing at no extra cost (a local file: `fstat` after writing). `None`: ask
    /// with [`Transport::stat`].
    pub size: Option<u64>,
}

/// A file being written; `finish` completes it.
#[async_trait]
pub trait FileWriter: AsyncWrite + Send + Unpin {
    /// Flushes, closes and confirms the upload (FTP's final reply, SFTP's close). That the
    /// file survives a crash of the target's machine is [`Transport::rename`]'s promise, or
    /// [`Transport::make_durable`]'s.
    async fn finish(self: Box<Self>) -> TransportResult<Finished>;
}

/// One logged-in connection to a site.
#[async_trait]
pub trait Transport: Send {
    /// The site this connection belongs to.
    fn site(&self) -> &Site;
    /// Lists a folder (not recursive).
    async fn list(&mut self, path: &str) -> TransportResult<Vec<Entry>>;
    /// Describes one path.
    async fn stat(&mut self, path: &str) -> TransportResult<Entry>;
    /// Opens a file for reading from `offset`.
    async fn read(&mut self, path: &str, offset: u64) -> TransportResult<FileReader<'_>>;
    /// Opens a file for reading from `offset` when its `size` is known from a listing. A
    /// transport that pipelines reads uses the size to fetch a small file in one round trip
    /// instead of reading ahead blindly (SFTP). Whatever the size says, the reader yields the
    /// file as it is; a file that changed since it was listed may fail here, and otherwise fails
    /// the engine's verification.
    async fn read_sized(&mut self, path: &str, offset: u64, size: u64) -> TransportResult<FileReader<'_>> {
        let _ = size;
        self.read(path, offset).await
    }
    /// Opens a file for reading the bytes of `range` (one segment of a file that several
    /// connections read at once): the reader ends at `range.end`, or earlier where the file
    /// does. A transport that reads ahead asks for nothing past the end (SFTP); elsewhere this
    /// is [`Transport::read`] cut at the end.
    async fn read_range(&mut self, path: &str, range: std::ops::Range<u64>) -> TransportResult<FileReader<'_>> {
        use tokio::io::AsyncReadExt;
        let len = range.end.saturating_sub(range.start);
        let reader = self.read(path, range.start).await?;
        Ok(Box::new(reader.take(len)))
    }
    /// Opens a file for writing: truncating when `offset` is 0, else appending from `offset`.
    async fn write(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>>;
    /// Opens an existing file for writing at `offset`, leaving every byte outside what is
    /// written as it is (nothing truncated): one segment of a file that several connections
    /// write at once. Only where [`Capabilities::segment_writes`] says so; elsewhere it fails.
    async fn write_segment(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>>;
    /// Renames `from` to `to`, replacing `to` when `overwrite` and the protocol allows. Where
    /// this ftpman writes to the disk itself (a local folder), the file's data and its new name
    /// are on disk when this returns.
    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()>;
    /// Returns once the file at `path` (its data and its name) would survive a crash, for a
    /// file written in place, with no rename after it. Where this ftpman writes to the disk
    /// itself (a local folder) that is a sync; a server keeps its own disk (FTP, SFTP: nothing
    /// to do). Required, so that no layer can forget to pass it on.
    async fn make_durable(&mut self, path: &str) -> TransportResult<()>;
    /// Deletes a file.
    async fn delete(&mut self, path: &str) -> TransportResult<()>;
    /// Creates a folder and its missing parents.
    async fn mkdir_all(&mut self, path: &str) -> TransportResult<()>;
    /// Removes an empty folder.
    async fn rmdir(&mut self, path: &str) -> TransportResult<()>;
    /// A checksum, where the server computes one cheaply.
    async fn checksum(&mut self, path: &str) -> TransportResult<Option<Checksum>>;
    /// What this connection can do, as far as callers need to know: declared by each
    /// transport (and refined by what the server said it supports), never guessed from the
    /// protocol's name.
    fn capabilities(&self) -> Capabilities;
    /// Checks that the connection still works (an idle one may have been dropped by the
    /// server): FTP NOOP, an SFTP round trip.
    async fn check(&mut self) -> TransportResult<()> {
        self.stat("/").await.map(|_| ())
    }
    /// Logs out and closes.
    async fn close(self: Box<Self>) -> TransportResult<()>;
}

/// What a transport can do that its callers plan around. Each transport declares its own
/// (`ftp::capabilities`, `sftp::capabilities`, `local::capabilities`, known before connecting);
/// a connection's [`Transport::capabilities`] may refine them from what its server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// A server at the other end: its connections are counted against the site's
    /// `max_connections` and shared between nodes, and it needs credentials. A local folder is
    /// each node's own, and its "connections" are handles on it.
    pub remote: bool,
    /// The server proves itself with an SSH host key, which a site pins.
    pub pins_host_key: bool,
    /// Listed modification times are exact to the second (FTP `LIST` shows minutes only: the
    /// engine then asks [`Transport::stat`] where a job's age filters or date window need them).
    pub exact_listing_times: bool,
    /// [`Transport::checksum`] is computed by the server without sending the file; the engine
    /// compares checksums only when both ends say so.
    pub cheap_checksum: bool,
    /// How many bytes before the end of a file this connection wrote may be missing after it
    /// broke mid-write (writes sent ahead of their acknowledgements may land out of order, as
    /// SFTP pipelines them): a resumed transfer starts this far before the size the target
    /// reports.
    pub resume_margin: u64,
    /// [`Transport::write_segment`] works: several connections may write one file at their
    /// offsets at once, and nothing is cut off behind what each writes. (An FTP server may
    /// truncate a file at the offset a `REST` before `STOR` names, which a check of the final
    /// size would not see: FTP declares no segments.)
    pub segment_writes: bool,
    /// A read may stop before the end of the file and leave the connection usable. Where not
    /// (FTP: an abandoned `RETR` leaves its reply pending), a connection that read part of a
    /// file is closed after it.
    pub partial_reads: bool,
}

/// Opens [`Transport`]s for sites; the engine holds one and asks it for connections.
#[async_trait]
pub trait Connector: Send + Sync {
    /// Connects and logs in to `site`.
    async fn connect(&self, site: &Site) -> TransportResult<Box<dyn Transport>>;
}

/// The byte-stream half of a reader returned by [`Transport::read`].
pub type FileReader<'a> = Box<dyn AsyncRead + Send + Unpin + 'a>;

/// Builds an [`Entry`] for `name` listed in `dir`, refusing names that would escape `dir`.
/// `.` and `..` are listing noise and yield `Ok(None)`.
pub(crate) fn listed_entry(
    site: &Site,
    dir: &str,
    name: &str,
    kind: EntryKind,
    size: u64,
    mtime: Option<DateTime<Utc>>,
    mtime_granularity: u32,
) -> TransportResult<Option<Entry>> {
    if name == "." || name == ".." {
        return Ok(None);
    }
    if !path::is_safe_listed_name(name) {
        return Err(TransportError::HostileName {
            site: site.name.clone(),
            path: dir.to_string(),
            name: crate::validate::printable(name),
        });
    }
    Ok(Some(Entry {
        name: name.to_string(),
        path: path::child(dir, name),
        kind,
        size,
        mtime,
        mtime_granularity,
    }))
}

/// Keeps the entries of a listing whose names are safe; each refused name is logged as a warning
/// (it reaches the system log) and never followed.
pub(crate) fn accept_listing(results: Vec<TransportResult<Option<Entry>>>) -> Vec<Entry> {
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        match r {
            Ok(Some(e)) => out.push(e),
            Ok(None) => {}
            Err(e) => tracing::warn!(target: "ftpman::transport", "{e}"),
        }
    }
    out
}
