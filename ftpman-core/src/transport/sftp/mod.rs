//! SFTP over SSH (russh + russh-sftp): password and key login, pinned host keys, pipelined reads
//! and writes, `posix-rename@openssh.com` for renames that replace.

mod connect;
mod errors;
mod pace;
mod quick_ack;
mod range;
mod read;
mod write;

pub use connect::fetch_host_key;

use super::io::{CountingWriter, IdleTimeout};
use super::{
    Capabilities, Checksum, Entry, EntryKind, FileReader, FileWriter, Finished, Transport, TransportError,
    TransportResult, accept_listing, listed_entry, path,
};
use crate::model::Site;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use connect::HostKeyCheck;
use errors::{sftp_error, stream_error};
use russh::client::Handle;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::fs::Metadata;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

const POSIX_RENAME: &str = "posix-rename@openssh.com";

/// One logged-in SFTP session.
pub struct SftpTransport {
    site: Site,
    handle: Handle<HostKeyCheck>,
    /// The one channel a connection opens: listings, stats, renames, small files fetched in
    /// one round trip, streamed reads and writes at the link's pace.
    raw: Arc<RawSftpSession>,
    /// Whether the server offers `posix-rename@openssh.com`.
    posix_rename: bool,
}

/// Opens an SFTP channel on a logged-in connection.
async fn sftp_channel(handle: &Handle<HostKeyCheck>) -> Result<russh::ChannelStream<russh::client::Msg>, String> {
    let channel = handle.channel_open_session().await.map_err(|e| e.to_string())?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| e.to_string())?;
    Ok(channel.into_stream())
}

/// Runs one step of starting SFTP within the site's connect timeout, naming the step in errors.
async fn within_timeout<T>(
    site: &Site,
    operation: &str,
    step: impl std::future::Future<Output = Result<T, String>>,
) -> TransportResult<T> {
    tokio::time::timeout(site.connect_timeout, step)
        .await
        .map_err(|_| TransportError::Timeout {
            site: site.name.clone(),
            operation: operation.into(),
            seconds: site.connect_timeout.as_secs(),
        })?
        .map_err(|reason| TransportError::Protocol {
            site: site.name.clone(),
            operation: operation.into(),
            path: String::new(),
            reason,
            transient: true,
            source: None,
        })
}

impl SftpTransport {
    /// A writer on `rel` opened with `flags`, from `offset`.
    async fn open_writer(
        &mut self,
        rel: &str,
        flags: OpenFlags,
        offset: u64,
    ) -> TransportResult<Box<dyn FileWriter + '_>> {
        let full = path::resolve(&self.site, rel)?;
        let handle = self
            .raw
            .open(full, flags, FileAttributes::default())
            .await
            .map_err(self.err("write", rel))?
            .handle;
        let writer = write::PacedWriter::new(self.raw.clone(), handle, offset, self.site.connect_timeout);
        Ok(Box::new(SftpWriter {
            inner: CountingWriter::new(IdleTimeout::new(writer, self.site.connect_timeout)),
            site: self.site.name.clone(),
            path: rel.to_string(),
        }))
    }

    /// Connects, checks the host key, logs in and starts the SFTP subsystem.
    pub async fn connect(site: &Site) -> TransportResult<SftpTransport> {
        let (handle, acks) = connect::connect_and_login(site).await?;
        let (raw, posix_rename) = within_timeout(site, "starting SFTP", async {
            let raw = RawSftpSession::new(sftp_channel(&handle).await?);
            raw.set_timeout(site.connect_timeout.as_secs().max(1));
            let version = raw.init().await.map_err(|e| e.to_string())?;
            Ok((raw, version.extensions.contains_key(POSIX_RENAME)))
        })
        .await?;
        acks.off();
        Ok(SftpTransport {
            site: site.clone(),
            handle,
            raw: Arc::new(raw),
            posix_rename,
        })
    }

    fn err(&self, op: &str, rel: &str) -> impl Fn(russh_sftp::client::error::Error) -> TransportError + '_ {
        let (op, rel) = (op.to_string(), rel.to_string());
        move |e| sftp_error(&self.site.name, &op, &rel, e)
    }
}

fn kind_of(meta: &Metadata) -> EntryKind {
    if meta.is_symlink() {
        EntryKind::Symlink
    } else if meta.is_dir() {
        EntryKind::Dir
    } else if meta.permissions.is_none() || meta.file_type().is_file() {
        // A server that sends no mode says nothing: taken as a file, as it lists one.
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn mtime_of(meta: &Metadata) -> Option<DateTime<Utc>> {
    meta.mtime.and_then(|t| DateTime::<Utc>::from_timestamp(t as i64, 0))
}

/// Closes `handle` without waiting for the server's reply (a reader or writer that is done or
/// abandoned; the server handles the close before anything sent later on the channel).
fn close_unawaited(raw: Arc<RawSftpSession>, handle: String) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(e) = raw.close(handle).await {
                tracing::debug!(target: "ftpman::transport", "closing a file handle: {e}");
            }
        });
    }
}

/// SSH wire encoding of a string: u32 length, then the bytes.
fn ssh_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// What SFTP declares: a server that proves itself with a host key, exact listing times, and
/// writes pipelined ahead of their acknowledgements, so what was in flight before the end may
/// be missing after a break.
pub fn capabilities() -> Capabilities {
    Capabilities {
        remote: true,
        pins_host_key: true,
        exact_listing_times: true,
        cheap_checksum: false,
        resume_margin: write::RESUME_MARGIN,
        segment_writes: true,
        partial_reads: true,
    }
}

#[async_trait]
impl Transport for SftpTransport {
    fn site(&self) -> &Site {
        &self.site
    }

    async fn list(&mut self, rel: &str) -> TransportResult<Vec<Entry>> {
        let full = path::resolve(&self.site, rel)?;
        let raw = &self.raw;
        let handle = raw
            .opendir(full.as_str())
            .await
            .map_err(self.err("list", &full))?
            .handle;
        let limits = super::listing::ListingLimits::default();
        let mut results = Vec::new();
        let reading = async {
            loop {
                match raw.readdir(handle.as_str()).await {
                    Ok(name) => {
                        results.extend(name.files.iter().map(|f| {
                            listed_entry(
                                &self.site,
                                rel,
                                &f.filename,
                                kind_of(&f.attrs),
                                f.attrs.size.unwrap_or(0),
                                mtime_of(&f.attrs),
                                1,
                            )
                        }));
                        limits.check_entries(&self.site.name, rel, results.len())?;
                    }
                    Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break Ok(()),
                    Err(e) => break Err(self.err("list", &full)(e)),
                }
            }
        };
        let listed = match tokio::time::timeout(limits.deadline, reading).await {
            Ok(r) => r,
            Err(_) => Err(limits.too_slow(&self.site.name, rel)),
        };
        let closed = raw.close(handle).await;
        listed?;
        closed.map_err(self.err("list", &full))?;
        let mut entries = accept_listing(results);
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn stat(&mut self, rel: &str) -> TransportResult<Entry> {
        let full = path::resolve(&self.site, rel)?;
        let meta = self.raw.lstat(full).await.map_err(self.err("stat", rel))?.attrs;
        Ok(Entry {
            name: path::file_name(rel).to_string(),
            path: path::normalize(rel).unwrap_or_else(|_| rel.to_string()),
            kind: kind_of(&meta),
            size: meta.size.unwrap_or(0),
            mtime: mtime_of(&meta),
            mtime_granularity: 1,
        })
    }

    async fn read(&mut self, rel: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        self.read_range(rel, offset..u64::MAX).await
    }

    async fn read_range(&mut self, rel: &str, range: std::ops::Range<u64>) -> TransportResult<FileReader<'_>> {
        let full = path::resolve(&self.site, rel)?;
        let handle = self
            .raw
            .open(full, OpenFlags::READ, FileAttributes::default())
            .await
            .map_err(self.err("read", rel))?
            .handle;
        let reader = range::RangeReader::new(self.raw.clone(), handle, range, self.site.connect_timeout);
        Ok(Box::new(IdleTimeout::new(reader, self.site.connect_timeout)))
    }

    async fn read_sized(&mut self, rel: &str, offset: u64, size: u64) -> TransportResult<FileReader<'_>> {
        if offset > size || size - offset > read::SMALL_FILE {
            return self.read(rel, offset).await;
        }
        let full = path::resolve(&self.site, rel)?;
        let site = self.site.name.clone();
        let raw = &self.raw;
        let handle = raw
            .open(full, OpenFlags::READ, FileAttributes::default())
            .await
            .map_err(|e| sftp_error(&site, "read", rel, e))?
            .handle;
        let fetched = read::fetch_small(raw, &handle, offset, size).await;
        // The data is all here: the close goes out now and its reply is not waited for (the
        // server handles it before anything sent later on this channel).
        close_unawaited(raw.clone(), handle);
        let data = match fetched {
            Ok(data) => data,
            Err(read::FetchError::Sftp(e)) => return Err(sftp_error(&site, "read", rel, e)),
            Err(read::FetchError::Changed(how)) => {
                return Err(TransportError::Protocol {
                    site,
                    operation: "read".into(),
                    path: rel.to_string(),
                    reason: format!("the file changed since it was listed: {how}"),
                    transient: true,
                    source: None,
                });
            }
        };
        Ok(Box::new(std::io::Cursor::new(data)))
    }

    async fn write(&mut self, rel: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        let flags = if offset == 0 {
            OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE
        } else {
            OpenFlags::WRITE | OpenFlags::CREATE
        };
        self.open_writer(rel, flags, offset).await
    }

    async fn write_segment(&mut self, rel: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        self.open_writer(rel, OpenFlags::WRITE, offset).await
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    async fn make_durable(&mut self, _path: &str) -> TransportResult<()> {
        // The server writes to its own disk, and answers for it.
        Ok(())
    }

    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        let src = path::resolve(&self.site, from)?;
        let dst = path::resolve(&self.site, to)?;
        if !overwrite {
            // SSH_FXP_RENAME refuses an existing target on OpenSSH (it links, then unlinks).
            return match self.raw.rename(src.as_str(), dst.as_str()).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let exists = self.raw.lstat(dst.as_str()).await.is_ok();
                    if exists {
                        Err(TransportError::AlreadyExists {
                            site: self.site.name.clone(),
                            path: to.to_string(),
                        })
                    } else {
                        Err(sftp_error(&self.site.name, "rename", from, e))
                    }
                }
            };
        }
        let site = self.site.name.clone();
        if !self.posix_rename {
            return Err(TransportError::Protocol {
                site,
                operation: "rename".into(),
                path: from.to_string(),
                reason: format!("the server does not offer {POSIX_RENAME}, so a rename cannot replace a file"),
                transient: false,
                source: None,
            });
        }
        let mut data = Vec::with_capacity(src.len() + dst.len() + 8);
        ssh_string(&mut data, &src);
        ssh_string(&mut data, &dst);
        match self.raw.extended(POSIX_RENAME, data).await {
            Ok(russh_sftp::protocol::Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
            Ok(russh_sftp::protocol::Packet::Status(s)) => Err(sftp_error(&site, "rename", from, s.into())),
            Ok(_) => Err(TransportError::Protocol {
                site,
                operation: "rename".into(),
                path: from.to_string(),
                reason: "unexpected reply to posix-rename".into(),
                transient: false,
                source: None,
            }),
            Err(e) => Err(sftp_error(&site, "rename", from, e)),
        }
    }

    async fn delete(&mut self, rel: &str) -> TransportResult<()> {
        let full = path::resolve(&self.site, rel)?;
        self.raw.remove(full).await.map(|_| ()).map_err(self.err("delete", rel))
    }

    async fn mkdir_all(&mut self, rel: &str) -> TransportResult<()> {
        for (prefix, full) in path::ancestors(&self.site, rel)? {
            match self.raw.stat(full.clone()).await.map(|a| a.attrs) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(_) => {
                    return Err(TransportError::AlreadyExists {
                        site: self.site.name.clone(),
                        path: format!("{prefix} (a file, not a folder)"),
                    });
                }
                Err(_) => {
                    if let Err(e) = self.raw.mkdir(full.clone(), FileAttributes::default()).await {
                        // Another worker may have made it in the meantime.
                        let made = self.raw.stat(full).await.map(|a| a.attrs.is_dir()).unwrap_or(false);
                        if !made {
                            return Err(sftp_error(&self.site.name, "mkdir", &prefix, e));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    async fn rmdir(&mut self, rel: &str) -> TransportResult<()> {
        let full = path::resolve(&self.site, rel)?;
        self.raw.rmdir(full).await.map(|_| ()).map_err(self.err("rmdir", rel))
    }

    async fn checksum(&mut self, _rel: &str) -> TransportResult<Option<Checksum>> {
        // OpenSSH offers no checksum extension; verification relies on byte counts.
        Ok(None)
    }

    async fn close(self: Box<Self>) -> TransportResult<()> {
        let _ = self.raw.close_session();
        let _ = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "bye", "en")
            .await;
        Ok(())
    }
}

struct SftpWriter {
    inner: CountingWriter<IdleTimeout<write::PacedWriter>>,
    site: String,
    path: String,
}

#[async_trait]
impl FileWriter for SftpWriter {
    async fn finish(mut self: Box<Self>) -> TransportResult<Finished> {
        // shutdown() waits for every pipelined write and closes the handle; flush() would also
        // send fsync@openssh.com, which the rename that follows does not need.
        self.inner
            .shutdown()
            .await
            .map_err(|e| stream_error(&self.site, "write", &self.path, e))?;
        Ok(Finished {
            written: self.inner.written(),
            size: None,
        })
    }
}

crate::transport::io::forward_async_write!(SftpWriter, inner);
