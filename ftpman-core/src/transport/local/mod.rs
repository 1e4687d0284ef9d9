//! The local transport: a folder on this machine, with the same semantics as the remote ones.
//! No path escapes the root, through `..` or through a symbolic link.

mod errors;

use super::io::CountingWriter;
use super::{
    Checksum, Entry, EntryKind, FileReader, FileWriter, Transport, TransportError, TransportResult, accept_listing,
    listed_entry, path,
};
use crate::model::Site;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use errors::io_error;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// A connection to a local folder.
pub struct LocalTransport {
    site: Site,
    root: PathBuf,
}

impl LocalTransport {
    /// Opens the site's root, which must exist and be a folder.
    pub async fn connect(site: &Site) -> TransportResult<LocalTransport> {
        let root = tokio::fs::canonicalize(&site.root)
            .await
            .map_err(|e| TransportError::Config {
                site: site.name.clone(),
                reason: format!("root folder {}: {e}", site.root),
            })?;
        if !root.is_dir() {
            return Err(TransportError::Config {
                site: site.name.clone(),
                reason: format!("root {} is not a folder", site.root),
            });
        }
        Ok(LocalTransport {
            site: site.clone(),
            root,
        })
    }

    /// The file-system path of a site path, checked to stay under the root even through links.
    async fn local(&self, rel: &str) -> TransportResult<PathBuf> {
        let parts = path::components(rel).map_err(|reason| TransportError::Config {
            site: self.site.name.clone(),
            reason,
        })?;
        let full = parts.iter().fold(self.root.clone(), |p, s| p.join(s));
        // Resolve the deepest part that exists: a link anywhere on the way must not lead out.
        let mut probe = full.as_path();
        loop {
            match tokio::fs::canonicalize(probe).await {
                Ok(real) => {
                    if !real.starts_with(&self.root) {
                        return Err(TransportError::PermissionDenied {
                            site: self.site.name.clone(),
                            path: format!("{rel} (a symbolic link leads outside the site's root)"),
                        });
                    }
                    break;
                }
                Err(_) => match probe.parent() {
                    Some(p) if p.starts_with(&self.root) => probe = p,
                    _ => break,
                },
            }
        }
        Ok(full)
    }

    fn err(&self, op: &str, rel: &str) -> impl Fn(std::io::Error) -> TransportError + '_ {
        let op = op.to_string();
        let rel = rel.to_string();
        move |e| io_error(&self.site.name, &op, &rel, e)
    }
}

fn entry_kind(ft: std::fs::FileType) -> EntryKind {
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else {
        EntryKind::File
    }
}

fn mtime(meta: &std::fs::Metadata) -> Option<DateTime<Utc>> {
    meta.modified().ok().map(DateTime::<Utc>::from)
}

#[async_trait]
impl Transport for LocalTransport {
    fn site(&self) -> &Site {
        &self.site
    }

    async fn list(&mut self, rel: &str) -> TransportResult<Vec<Entry>> {
        let dir = self.local(rel).await?;
        let mut rd = tokio::fs::read_dir(&dir)
            .await
            .map_err(self.err("list", &dir.display().to_string()))?;
        let mut results = Vec::new();
        while let Some(de) = rd.next_entry().await.map_err(self.err("list", rel))? {
            let name = de.file_name().to_string_lossy().into_owned();
            let meta = tokio::fs::symlink_metadata(de.path())
                .await
                .map_err(self.err("list", rel))?;
            results.push(listed_entry(
                &self.site,
                rel,
                &name,
                entry_kind(meta.file_type()),
                meta.len(),
                mtime(&meta),
            ));
        }
        let mut entries = accept_listing(results);
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn stat(&mut self, rel: &str) -> TransportResult<Entry> {
        let p = self.local(rel).await?;
        let meta = tokio::fs::symlink_metadata(&p).await.map_err(self.err("stat", rel))?;
        Ok(Entry {
            name: path::file_name(rel).to_string(),
            path: path::normalize(rel).unwrap_or_else(|_| rel.to_string()),
            kind: entry_kind(meta.file_type()),
            size: meta.len(),
            mtime: mtime(&meta),
        })
    }

    async fn read(&mut self, rel: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        let p = self.local(rel).await?;
        let mut f = tokio::fs::File::open(&p).await.map_err(self.err("read", rel))?;
        if offset > 0 {
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(self.err("read", rel))?;
        }
        Ok(Box::new(f))
    }

    async fn write(&mut self, rel: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        let p = self.local(rel).await?;
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create(true);
        if offset == 0 {
            opts.truncate(true);
        }
        let mut f = opts.open(&p).await.map_err(self.err("write", rel))?;
        if offset > 0 {
            // Resume: drop anything past the offset, then continue from it.
            f.set_len(offset).await.map_err(self.err("write", rel))?;
            f.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(self.err("write", rel))?;
        }
        Ok(Box::new(LocalWriter {
            inner: CountingWriter::new(f),
            site: self.site.name.clone(),
            path: rel.to_string(),
        }))
    }

    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        let src = self.local(from).await?;
        let dst = self.local(to).await?;
        if overwrite {
            tokio::fs::rename(&src, &dst).await.map_err(self.err("rename", from))
        } else {
            // link() refuses an existing target atomically; then the old name goes.
            tokio::fs::hard_link(&src, &dst).await.map_err(self.err("rename", to))?;
            tokio::fs::remove_file(&src).await.map_err(self.err("rename", from))
        }
    }

    async fn delete(&mut self, rel: &str) -> TransportResult<()> {
        let p = self.local(rel).await?;
        tokio::fs::remove_file(&p).await.map_err(self.err("delete", rel))
    }

    async fn mkdir_all(&mut self, rel: &str) -> TransportResult<()> {
        let p = self.local(rel).await?;
        tokio::fs::create_dir_all(&p).await.map_err(self.err("mkdir", rel))
    }

    async fn rmdir(&mut self, rel: &str) -> TransportResult<()> {
        let p = self.local(rel).await?;
        tokio::fs::remove_dir(&p).await.map_err(self.err("rmdir", rel))
    }

    async fn checksum(&mut self, rel: &str) -> TransportResult<Option<Checksum>> {
        let p = self.local(rel).await?;
        let mut f = tokio::fs::File::open(&p).await.map_err(self.err("checksum", rel))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = f.read(&mut buf).await.map_err(self.err("checksum", rel))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let hex = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Some(Checksum {
            algorithm: "sha256".into(),
            hex,
        }))
    }

    async fn check(&mut self) -> TransportResult<()> {
        Ok(())
    }

    async fn close(self: Box<Self>) -> TransportResult<()> {
        Ok(())
    }
}

struct LocalWriter {
    inner: CountingWriter<tokio::fs::File>,
    site: String,
    path: String,
}

#[async_trait]
impl FileWriter for LocalWriter {
    async fn finish(mut self: Box<Self>) -> TransportResult<u64> {
        let written = self.inner.written();
        let f = self.inner.get_mut();
        f.flush()
            .await
            .map_err(|e| io_error(&self.site, "write", &self.path, e))?;
        // The data is on disk before the engine renames it into place and trusts it.
        f.sync_all()
            .await
            .map_err(|e| io_error(&self.site, "write", &self.path, e))?;
        Ok(written)
    }
}

impl tokio::io::AsyncWrite for LocalWriter {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteUrl;

    #[tokio::test]
    async fn links_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"not yours").unwrap();
        let root = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), root.path().join("link.txt")).unwrap();
        std::fs::write(root.path().join("ok.txt"), b"fine").unwrap();
        let site = Site::new(
            "l",
            &SiteUrl::parse(&format!("file://{}", root.path().display())).unwrap(),
        )
        .unwrap();
        let mut t = LocalTransport::connect(&site).await.unwrap();
        for path in ["/escape/secret.txt", "/link.txt"] {
            let err = t
                .read(path, 0)
                .await
                .err()
                .expect("a link out of the root must not be followed");
            assert!(matches!(err, TransportError::PermissionDenied { .. }), "{path}: {err}");
            assert!(err.to_string().contains("outside the site's root"), "{err}");
        }
        assert!(matches!(
            t.write("/escape/new.txt", 0).await.err(),
            Some(TransportError::PermissionDenied { .. })
        ));
        assert!(!outside.path().join("new.txt").exists());
        assert!(matches!(
            t.delete("/link.txt").await,
            Err(TransportError::PermissionDenied { .. })
        ));
        // Listed, but as links, which the engine does not follow.
        let kinds: Vec<(String, EntryKind)> = t
            .list("/")
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("escape".into(), EntryKind::Symlink),
                ("link.txt".into(), EntryKind::Symlink),
                ("ok.txt".into(), EntryKind::File)
            ]
        );
        let mut ok = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut t.read("/ok.txt", 0).await.unwrap(), &mut ok)
            .await
            .unwrap();
        assert_eq!(ok, "fine");
    }
}
