//! One-off transfers between this machine and a site: `ftpman upload` and `ftpman download`.
//! Both are atomic: a file is written under a temporary name and renamed when complete.

use super::{Manager, ManagerError, ManagerResult};
use crate::model::{Site, SiteUrl};
use crate::transport::copy::copy_file;
use crate::transport::{Connector, Entry, EntryKind, ProtocolConnector, Transport, path};
use std::path::{Path, PathBuf};

/// What one upload or download moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferReport {
    /// Files moved, as (name, bytes).
    pub files: Vec<(String, u64)>,
}

fn local_site(dir: &Path) -> ManagerResult<Site> {
    let url = SiteUrl::parse(&format!("file://{}", dir.display()))?;
    Ok(Site::new("local", &url)?)
}

fn split_remote(spec: &str) -> ManagerResult<(String, String)> {
    match spec.split_once(':') {
        Some((site, p)) if !site.is_empty() => Ok((site.to_string(), if p.is_empty() { "/".into() } else { p.into() })),
        _ => Err(crate::validate::ValidationError::new("target", format!("'{spec}' is not SITE:PATH")).into()),
    }
}

async fn copy_atomic(
    src: &mut dyn Transport,
    src_path: &str,
    dst: &mut dyn Transport,
    dst_path: &str,
    progress: &mut (dyn FnMut(u64) + Send),
) -> ManagerResult<u64> {
    let temp = path::temporary(dst_path, &transfer_tag());
    let copied = copy_file(src, src_path, None, dst, &temp, 0, None, progress).await?;
    let written = match copied.size {
        Some(size) => size,
        None => dst.stat(&temp).await?.size,
    };
    let expected = src.stat(src_path).await?.size;
    if written != expected {
        let _ = dst.delete(&temp).await;
        return Err(crate::transport::TransportError::Protocol {
            site: dst.site().name.clone(),
            operation: "verify".into(),
            path: dst_path.to_string(),
            reason: format!("{expected} bytes sent, {written} arrived"),
            transient: false,
            source: None,
        }
        .into());
    }
    dst.rename(&temp, dst_path, true).await?;
    Ok(copied.written)
}

impl Manager {
    /// Uploads local files into the folder `SITE:PATH`.
    pub async fn upload(
        &self,
        target: &str,
        files: &[PathBuf],
        progress: &mut (dyn FnMut(&str, u64) + Send),
    ) -> ManagerResult<TransferReport> {
        let (site_name, dir) = split_remote(target)?;
        let site = self.site(&site_name).await?;
        let mut remote = self.engine().connection(&site).await?;
        remote.mkdir_all(&dir).await?;
        let mut report = TransferReport { files: Vec::new() };
        for file in files {
            let io = |source| ManagerError::Io {
                path: file.display().to_string(),
                source,
            };
            let abs = std::fs::canonicalize(file).map_err(io)?;
            if !abs.is_file() {
                return Err(io(std::io::Error::other("not a regular file")));
            }
            let name = abs
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parent = abs.parent().unwrap_or(Path::new("/"));
            let mut local = ProtocolConnector.connect(&local_site(parent)?).await?;
            let shown = name.clone();
            let n = copy_atomic(
                local.as_mut(),
                &format!("/{name}"),
                &mut *remote,
                &path::child(&dir, &name),
                &mut |b| progress(&shown, b),
            )
            .await?;
            report.files.push((name, n));
        }
        drop(remote);
        self.audit(
            format!("uploaded {} file(s) to {target}", report.files.len()),
            serde_json::json!({"site": site_name, "files": report.files.len()}),
        )
        .await;
        Ok(report)
    }

    /// Downloads `SITE:PATH` (a file, or every file of a folder) into the local folder `dest`.
    pub async fn download(
        &self,
        source: &str,
        dest: &Path,
        progress: &mut (dyn FnMut(&str, u64) + Send),
    ) -> ManagerResult<TransferReport> {
        let (site_name, remote_path) = split_remote(source)?;
        let site = self.site(&site_name).await?;
        std::fs::create_dir_all(dest).map_err(|source| ManagerError::Io {
            path: dest.display().to_string(),
            source,
        })?;
        let dest = std::fs::canonicalize(dest).map_err(|source| ManagerError::Io {
            path: dest.display().to_string(),
            source,
        })?;
        let mut remote = self.engine().connection(&site).await?;
        let entry = remote.stat(&remote_path).await?;
        let files = if entry.kind == EntryKind::Dir {
            remote
                .list(&remote_path)
                .await?
                .into_iter()
                .filter(|e| e.kind == EntryKind::File)
                .collect()
        } else {
            vec![entry]
        };
        let mut local = ProtocolConnector.connect(&local_site(&dest)?).await?;
        let mut report = TransferReport { files: Vec::new() };
        for f in files {
            let shown = f.name.clone();
            let n = copy_atomic(
                &mut *remote,
                &f.path,
                local.as_mut(),
                &format!("/{}", f.name),
                &mut |b| progress(&shown, b),
            )
            .await?;
            report.files.push((f.name, n));
        }
        Ok(report)
    }
}

/// Bytes copied between a client's stream and a site per read.
const STREAM_CHUNK: usize = 256 * 1024;

/// A file being downloaded from a site by [`Manager::download_stream`]: its size and its bytes.
pub struct DownloadStream {
    /// The file as the site lists it.
    pub entry: Entry,
    /// Its bytes; ends early (short of `entry.size`) if the transfer broke.
    pub reader: tokio::io::DuplexStream,
}

impl Manager {
    /// Stores what `reader` yields as the file `name` in the folder `dir` of `site`, streamed
    /// (never held whole in memory): written under a temporary name, renamed into place once
    /// complete and its size checked. More than `limit` bytes is [`ManagerError::TooLarge`] and
    /// leaves nothing behind; an existing file is replaced only with `overwrite`.
    pub async fn upload_stream<R>(
        &self,
        site: &str,
        dir: &str,
        name: &str,
        mut reader: R,
        limit: u64,
        overwrite: bool,
    ) -> ManagerResult<u64>
    where
        R: tokio::io::AsyncRead + Unpin + Send,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if !path::is_safe_listed_name(name) {
            return Err(crate::validate::ValidationError::new(
                "file",
                format!("{} is not a file name", crate::validate::printable(name)),
            )
            .into());
        }
        let dir = if dir.is_empty() { "/" } else { dir };
        let site_rec = self.site(site).await?;
        let mut remote = self.engine().connection(&site_rec).await?;
        let target = path::child(dir, name);
        if !overwrite && remote.stat(&target).await.is_ok() {
            return Err(crate::transport::TransportError::AlreadyExists {
                site: site.to_string(),
                path: target,
            }
            .into());
        }
        remote.mkdir_all(dir).await?;
        let temp = path::temporary(&path::child(dir, name), &transfer_tag());
        let mut total: u64 = 0;
        let copied: ManagerResult<()> = async {
            let mut writer = remote.write(&temp, 0).await?;
            let mut buf = vec![0u8; STREAM_CHUNK];
            loop {
                let n = reader.read(&mut buf).await.map_err(|source| ManagerError::Io {
                    path: format!("upload of {}", crate::validate::printable(name)),
                    source,
                })?;
                if n == 0 {
                    break;
                }
                total += n as u64;
                if total > limit {
                    return Err(ManagerError::TooLarge {
                        what: format!("upload of {}", crate::validate::printable(name)),
                        limit,
                    });
                }
                writer
                    .write_all(&buf[..n])
                    .await
                    .map_err(|e| crate::transport::TransportError::Protocol {
                        site: site.to_string(),
                        operation: "upload".into(),
                        path: temp.clone(),
                        reason: e.to_string(),
                        transient: false,
                        source: None,
                    })?;
            }
            let finished = writer.finish().await?;
            let stored = match finished.size {
                Some(s) => s,
                None => remote.stat(&temp).await?.size,
            };
            if stored != total {
                return Err(crate::transport::TransportError::Protocol {
                    site: site.to_string(),
                    operation: "verify".into(),
                    path: target.clone(),
                    reason: format!("{total} bytes sent, {stored} arrived"),
                    transient: false,
                    source: None,
                }
                .into());
            }
            remote.rename(&temp, &target, overwrite).await?;
            Ok(())
        }
        .await;
        if let Err(e) = copied {
            let _ = remote.delete(&temp).await;
            return Err(e);
        }
        drop(remote);
        self.audit(
            format!("uploaded {target} ({total} bytes) to site '{site}'"),
            serde_json::json!({"site": site, "path": target, "bytes": total}),
        )
        .await;
        Ok(total)
    }

    /// Opens the file `path` of `site` for download: its listing entry at once, and a reader
    /// fed by a task that holds the connection, so that the caller streams the bytes out as
    /// they arrive. A folder is refused.
    pub async fn download_stream(&self, site: &str, file: &str) -> ManagerResult<DownloadStream> {
        use tokio::io::AsyncWriteExt;
        let site_rec = self.site(site).await?;
        let mut remote = self.engine().connection(&site_rec).await?;
        let entry = remote.stat(file).await?;
        if entry.kind == EntryKind::Dir {
            return Err(crate::validate::ValidationError::new(
                "path",
                format!("{} is a folder, not a file", crate::validate::printable(file)),
            )
            .into());
        }
        let (mut tx, rx) = tokio::io::duplex(STREAM_CHUNK);
        let path = entry.path.clone();
        let size = entry.size;
        tokio::spawn(async move {
            let mut reader = match remote.read_sized(&path, 0, size).await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(target: "ftpman::transfer", "download of {path} failed: {e}");
                    return;
                }
            };
            if let Err(e) = tokio::io::copy(&mut reader, &mut tx).await {
                tracing::warn!(target: "ftpman::transfer", "download of {path} broke off: {e}");
                return;
            }
            let _ = tx.shutdown().await;
        });
        Ok(DownloadStream { entry, reader: rx })
    }
}

/// A tag of this transfer's own for its temporary name: two uploads of one name at once (two
/// browsers, two nodes) never write one temporary file.
fn transfer_tag() -> String {
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("t{:x}{:x}{seq:x}", nanos, std::process::id())
}
