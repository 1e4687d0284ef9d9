//! One-off transfers between this machine and a site: `ftpman upload` and `ftpman download`.
//! Both are atomic: a file is written under a temporary name and renamed when complete.

use super::{Manager, ManagerError, ManagerResult};
use crate::model::{Site, SiteUrl};
use crate::transport::copy::copy_file;
use crate::transport::{Connector, EntryKind, ProtocolConnector, Transport, path};
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
    let temp = path::child(
        &path::parent(dst_path),
        &format!(".{}.ftpman-part", path::file_name(dst_path)),
    );
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
