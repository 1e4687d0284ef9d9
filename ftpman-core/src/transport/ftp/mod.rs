//! FTP and FTPS (explicit and implicit) through suppaftp: binary mode always, passive (EPSV) by
//! default or active, MLSD or LIST listings, REST to resume, a timeout on every operation.

mod buffered_tls;
mod connect;
mod errors;
mod list;

/// One line of a `LIST` or `MLSD` listing as ftpman reads it: `None` for a line that is no
/// entry (a total, noise), an error for a hostile name, else the entry (`.` and `..` dropped).
pub fn parse_listing_line(site: &Site, dir: &str, line: &str, mlsd: bool) -> Option<TransportResult<Option<Entry>>> {
    list::parse_line(site, dir, line, mlsd)
}

/// The checksum in a `HASH` reply (draft-bryan-ftpext-hash: "213 SHA-256 0-1234 <hex> <path>"),
/// or `None` when the reply holds none ftpman understands.
pub fn hash_reply(text: &str) -> Option<Checksum> {
    let mut words = text.split_whitespace().skip(1);
    match (words.next(), words.nth(1)) {
        (Some(alg), Some(hex)) if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()) => Some(Checksum {
            algorithm: alg.to_ascii_lowercase().replace('-', ""),
            hex: hex.to_ascii_lowercase(),
        }),
        _ => None,
    }
}
pub mod tls;

#[cfg(test)]
mod tests;

use super::io::{CountingWriter, IdleTimeout};
use super::{
    Capabilities, Checksum, Entry, EntryKind, FileReader, FileWriter, Finished, Transport, TransportError,
    TransportResult, accept_listing, path,
};
use crate::model::Site;
use async_trait::async_trait;
use buffered_tls::BufferedTlsStream;
use chrono::{DateTime, Utc};
use errors::ftp_error;
use std::pin::Pin;
use std::task::{Context, Poll};
use suppaftp::{FtpError, Status};
use tokio::io::{AsyncRead, ReadBuf};

pub(crate) type Ftp = suppaftp::tokio::ImplAsyncFtpStream<BufferedTlsStream>;
type DataStream = suppaftp::tokio::TransferStream<BufferedTlsStream>;

/// One logged-in FTP or FTPS control connection.
pub struct FtpTransport {
    site: Site,
    ftp: Ftp,
    mlsd: bool,
    mlst: bool,
    hash: bool,
}

impl FtpTransport {
    /// The lines of a folder's `MLSD` or `LIST`, read within the listing bounds (the data
    /// connection closed and the server's closing reply read, also when a bound is hit).
    async fn listing(&mut self, mlsd: bool, full: &str, rel: &str) -> TransportResult<Vec<String>> {
        let command = if mlsd {
            format!("MLSD {full}")
        } else {
            format!("LIST {full}")
        };
        let (_, stream) = self
            .ftp
            .custom_data_command(command, &[Status::AboutToSend, Status::AlreadyOpen])
            .await
            .map_err(|e| ftp_error(&self.site.name, "list", full, e))?;
        let mut reader = tokio::io::BufReader::new(stream);
        let lines = super::listing::ListingLimits::default()
            .read_lines(&mut reader, &self.site.name, rel)
            .await;
        let finished = reader.into_inner().finish().await;
        let lines = lines?;
        finished.map_err(|e| ftp_error(&self.site.name, "list", full, e))?;
        Ok(lines)
    }

    /// Connects, secures (FTPS), logs in and switches to binary mode.
    pub async fn connect(site: &Site) -> TransportResult<FtpTransport> {
        let (ftp, features) = connect::connect(site).await?;
        let has = |name: &str| features.keys().any(|k| k.eq_ignore_ascii_case(name));
        Ok(FtpTransport {
            site: site.clone(),
            mlsd: has("MLST"),
            mlst: has("MLST"),
            hash: has("HASH"),
            ftp,
        })
    }

    /// Whether `full` is a folder (CWD succeeds).
    async fn is_dir(&mut self, full: &str) -> bool {
        let site = self.site.connect_timeout;
        matches!(tokio::time::timeout(site, self.ftp.cwd(full)).await, Ok(Ok(())))
    }
}

/// Runs one FTP operation within the site's timeout.
async fn timed<T>(
    site: &Site,
    op: &str,
    rel: &str,
    fut: impl Future<Output = Result<T, FtpError>>,
) -> TransportResult<T> {
    tokio::time::timeout(site.connect_timeout, fut)
        .await
        .map_err(|_| TransportError::Timeout {
            site: site.name.clone(),
            operation: format!("{op} {rel}"),
            seconds: site.connect_timeout.as_secs(),
        })?
        .map_err(|e| ftp_error(&site.name, op, rel, e))
}

/// What FTP and FTPS declare before connecting: a server whose listings show minutes only and
/// that computes no checksum; a connection whose server offers `MLSD` or `HASH` says so.
pub fn capabilities() -> Capabilities {
    Capabilities {
        remote: true,
        pins_host_key: false,
        exact_listing_times: false,
        cheap_checksum: false,
        resume_margin: 0,
        segment_writes: false,
        partial_reads: false,
    }
}

#[async_trait]
impl Transport for FtpTransport {
    fn site(&self) -> &Site {
        &self.site
    }

    async fn list(&mut self, rel: &str) -> TransportResult<Vec<Entry>> {
        let full = path::resolve(&self.site, rel)?;
        let mlsd = self.mlsd;
        let lines = tokio::time::timeout(self.site.connect_timeout, self.listing(mlsd, &full, rel))
            .await
            .map_err(|_| TransportError::Timeout {
                site: self.site.name.clone(),
                operation: format!("list {rel}"),
                seconds: self.site.connect_timeout.as_secs(),
            })??;
        // An empty LIST of a missing folder looks like an empty folder on some servers.
        if lines.is_empty() && !self.is_dir(&full).await {
            return Err(TransportError::NotFound {
                site: self.site.name.clone(),
                path: full,
            });
        }
        let results = lines
            .iter()
            .filter_map(|l| list::parse_line(&self.site, rel, l, mlsd))
            .collect();
        let mut entries = accept_listing(results);
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn stat(&mut self, rel: &str) -> TransportResult<Entry> {
        let full = path::resolve(&self.site, rel)?;
        let name = path::file_name(rel).to_string();
        let normalized = path::normalize(rel).unwrap_or_else(|_| rel.to_string());
        if self.mlst {
            let line = timed(&self.site, "stat", rel, self.ftp.mlst(Some(&full))).await?;
            if let Some(Ok(Some(mut e))) = list::parse_line(&self.site, &path::parent(rel), line.trim(), true) {
                e.name = name;
                e.path = normalized;
                return Ok(e);
            }
        }
        let timeout = self.site.connect_timeout;
        match timed(&self.site, "stat", rel, self.ftp.size(&full)).await {
            Ok(size) => {
                let mtime = match tokio::time::timeout(timeout, self.ftp.mdtm(&full)).await {
                    Ok(Ok(t)) => Some(DateTime::<Utc>::from_naive_utc_and_offset(t, Utc)),
                    _ => None,
                };
                Ok(Entry {
                    name,
                    path: normalized,
                    kind: EntryKind::File,
                    size: size as u64,
                    mtime,
                    mtime_granularity: 1,
                })
            }
            // 550: no such file, or not a file (SIZE of a folder); anything else (a dropped
            // connection, a timeout, a busy file) says nothing about whether the path exists.
            Err(TransportError::NotFound { .. }) if self.is_dir(&full).await => Ok(Entry {
                name,
                path: normalized,
                kind: EntryKind::Dir,
                size: 0,
                mtime: None,
                mtime_granularity: 1,
            }),
            Err(TransportError::NotFound { .. }) => Err(TransportError::NotFound {
                site: self.site.name.clone(),
                path: rel.to_string(),
            }),
            Err(e) => Err(e),
        }
    }

    async fn read(&mut self, rel: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        let full = path::resolve(&self.site, rel)?;
        if offset > 0 {
            timed(&self.site, "resume", rel, self.ftp.resume_transfer(offset as usize)).await?;
        }
        let stream = timed(&self.site, "read", rel, self.ftp.retr_as_stream(&full)).await?;
        Ok(Box::new(FtpReader {
            stream: Some(IdleTimeout::new(stream, self.site.connect_timeout)),
            finishing: None,
            done: false,
            site: self.site.name.clone(),
            path: rel.to_string(),
            timeout: self.site.connect_timeout,
        }))
    }

    async fn write_segment(&mut self, rel: &str, _offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        Err(TransportError::Protocol {
            site: self.site.name.clone(),
            operation: "write".into(),
            path: rel.to_string(),
            reason: "FTP writes no segments: a server may cut the file at the offset it is given".into(),
            transient: false,
            source: None,
        })
    }

    async fn write(&mut self, rel: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        let full = path::resolve(&self.site, rel)?;
        if offset > 0 {
            timed(&self.site, "resume", rel, self.ftp.resume_transfer(offset as usize)).await?;
        }
        let stream = timed(&self.site, "write", rel, self.ftp.put_with_stream(&full)).await?;
        Ok(Box::new(FtpWriter {
            inner: CountingWriter::new(IdleTimeout::new(stream, self.site.connect_timeout)),
            site: self.site.name.clone(),
            path: rel.to_string(),
            timeout: self.site.connect_timeout,
        }))
    }

    async fn make_durable(&mut self, _path: &str) -> TransportResult<()> {
        // The server writes to its own disk, and answers for it.
        Ok(())
    }

    /// FTP has no rename that refuses to replace: without `overwrite`, the target name is
    /// checked just before RNFR/RNTO, which leaves a window in which another client could
    /// create it (ftpman itself never delivers two files to one name at once).
    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        let src = path::resolve(&self.site, from)?;
        let dst = path::resolve(&self.site, to)?;
        let target_exists = match self.stat(to).await {
            Ok(_) => true,
            Err(TransportError::NotFound { .. }) => false,
            Err(e) => return Err(e),
        };
        if target_exists && !overwrite {
            return Err(TransportError::AlreadyExists {
                site: self.site.name.clone(),
                path: to.to_string(),
            });
        }
        let refused = match timed(&self.site, "rename", from, self.ftp.rename(&src, &dst)).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        // A timeout or a dropped connection may have come after the server renamed: nothing is
        // deleted then (the caller's next connection finds the file where it is).
        if refused.is_transient() || !(target_exists && overwrite) {
            return Err(refused);
        }
        // The server refused to rename over the file, as some do: remove it, then rename; but
        // only while the file to rename is still under its old name.
        self.stat(from).await?;
        timed(&self.site, "delete", to, self.ftp.rm(&dst)).await?;
        timed(&self.site, "rename", from, self.ftp.rename(&src, &dst)).await
    }

    async fn delete(&mut self, rel: &str) -> TransportResult<()> {
        let full = path::resolve(&self.site, rel)?;
        timed(&self.site, "delete", rel, self.ftp.rm(&full)).await
    }

    async fn mkdir_all(&mut self, rel: &str) -> TransportResult<()> {
        for (prefix, full) in path::ancestors(&self.site, rel)? {
            if self.is_dir(&full).await {
                continue;
            }
            if let Err(e) = timed(&self.site, "mkdir", &prefix, self.ftp.mkdir(&full)).await
                && !self.is_dir(&full).await
            {
                return Err(e);
            }
        }
        Ok(())
    }

    async fn rmdir(&mut self, rel: &str) -> TransportResult<()> {
        let full = path::resolve(&self.site, rel)?;
        timed(&self.site, "rmdir", rel, self.ftp.rmdir(&full)).await
    }

    async fn checksum(&mut self, rel: &str) -> TransportResult<Option<Checksum>> {
        if !self.hash {
            return Ok(None);
        }
        let full = path::resolve(&self.site, rel)?;
        // draft-bryan-ftpext-hash: "213 SHA-256 0-1234 <hex> <path>".
        let reply = timed(
            &self.site,
            "checksum",
            rel,
            self.ftp.custom_command(format!("HASH {full}"), &[Status::File]),
        )
        .await?;
        Ok(hash_reply(&reply.as_string().unwrap_or_default()))
    }

    async fn check(&mut self) -> TransportResult<()> {
        timed(&self.site, "NOOP", "", self.ftp.noop()).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exact_listing_times: self.mlsd,
            cheap_checksum: self.hash,
            ..capabilities()
        }
    }

    async fn close(mut self: Box<Self>) -> TransportResult<()> {
        let _ = tokio::time::timeout(self.site.connect_timeout, self.ftp.quit()).await;
        Ok(())
    }
}

/// A download that reads the server's final reply when the data ends: a transfer the server
/// reports as failed after its last byte (426, 451) is an error, never a short file taken whole.
struct FtpReader {
    stream: Option<IdleTimeout<DataStream>>,
    finishing: Option<Pin<Box<dyn Future<Output = TransportResult<()>> + Send>>>,
    done: bool,
    site: String,
    path: String,
    timeout: std::time::Duration,
}

impl AsyncRead for FtpReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        loop {
            if self.done {
                return Poll::Ready(Ok(()));
            }
            if let Some(finishing) = self.finishing.as_mut() {
                let result = std::task::ready!(finishing.as_mut().poll(cx));
                self.finishing = None;
                self.done = true;
                return Poll::Ready(result.map_err(std::io::Error::other));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let before = buf.filled().len();
            std::task::ready!(Pin::new(stream).poll_read(cx, buf))?;
            if buf.filled().len() > before || buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            // The data connection ended: the reply says whether the server sent all of it.
            let Some(stream) = self.stream.take() else { continue };
            let (site, path, timeout) = (self.site.clone(), self.path.clone(), self.timeout * 4);
            self.finishing = Some(Box::pin(async move {
                tokio::time::timeout(timeout, stream.into_inner().finish())
                    .await
                    .map_err(|_| TransportError::Timeout {
                        site: site.clone(),
                        operation: format!("finishing download of {path}"),
                        seconds: timeout.as_secs(),
                    })?
                    .map_err(|e| ftp_error(&site, "read", &path, e))
            }));
        }
    }
}

struct FtpWriter {
    inner: CountingWriter<IdleTimeout<DataStream>>,
    site: String,
    path: String,
    timeout: std::time::Duration,
}

#[async_trait]
impl FileWriter for FtpWriter {
    async fn finish(self: Box<Self>) -> TransportResult<Finished> {
        let written = self.inner.written();
        let stream = self.inner.into_inner().into_inner();
        // The server's final reply (226) confirms it stored every byte.
        tokio::time::timeout(self.timeout * 4, stream.finish())
            .await
            .map_err(|_| TransportError::Timeout {
                site: self.site.clone(),
                operation: format!("finishing upload of {}", self.path),
                seconds: self.timeout.as_secs() * 4,
            })?
            .map_err(|e| ftp_error(&self.site, "write", &self.path, e))?;
        Ok(Finished { written, size: None })
    }
}

crate::transport::io::forward_async_write!(FtpWriter, inner);
