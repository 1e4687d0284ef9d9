//! The local transport: a folder on this machine, with the same semantics as the remote ones.
//! No path escapes the root, through `..` or through a symbolic link.
//!
//! Each operation runs on a blocking thread in one hop, path check included: a hop per system
//! call (as `tokio::fs` makes) costs more than the call itself when files are small.

mod beneath;
mod durable;
mod errors;
mod writer;

use beneath::Beneath;
#[cfg(all(test, target_os = "linux"))]
use beneath::OPENAT2;

use super::{
    Capabilities, Checksum, Entry, EntryKind, FileReader, FileWriter, Transport, TransportError, TransportResult,
    accept_listing, listed_entry, path,
};
use crate::model::Site;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use errors::io_error;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::PathBuf;
use std::sync::Arc;
use writer::LocalWriter;

/// A file of at most this many bytes (as listed) is read whole in one blocking hop.
const SMALL_READ: u64 = 1 << 20;

/// A connection to a local folder.
pub struct LocalTransport {
    site: Site,
    disk: Arc<Disk>,
}

/// What the blocking side needs: the real root, and the site's name for errors.
struct Disk {
    root: PathBuf,
    site: String,
}

/// Whether a path stays under the root.
enum Inside {
    Yes,
    No,
    /// Nothing there (yet): the caller asks about the parent.
    Missing,
}

impl Disk {
    /// The file-system path of a site path, checked to stay under the root even through links.
    fn path(&self, rel: &str) -> TransportResult<PathBuf> {
        let parts = path::site_components(&self.site, rel)?;
        // The deepest part that exists must resolve inside the root: a link anywhere on the
        // way must not lead out. The root is opened afresh for each check, so a root replaced
        // since connecting (renamed, mounted over, made a link) is judged as it is now.
        let beneath = Beneath::open(&self.root);
        for depth in (1..=parts.len()).rev() {
            match self.inside(beneath.as_ref(), &parts[..depth]) {
                Inside::Yes => break,
                Inside::Missing => continue,
                Inside::No => {
                    return Err(TransportError::PermissionDenied {
                        site: self.site.clone(),
                        path: format!("{rel} (a symbolic link leads outside the site's root)"),
                    });
                }
            }
        }
        Ok(parts.iter().fold(self.root.clone(), |p, s| p.join(s)))
    }

    /// Whether `parts` (under the root) resolves inside the root. The kernel answers in one
    /// lookup where it can (`openat2` with `RESOLVE_BENEATH`); otherwise, and to tell an
    /// absolute link that points back inside from one that leads out, the real path decides.
    fn inside(&self, beneath: Option<&Beneath>, parts: &[&str]) -> Inside {
        let full = parts.iter().fold(self.root.clone(), |p, s| p.join(s));
        // Missing, unless a link is there that leads nowhere (yet): creating through it would
        // make the file wherever it points, so it counts as leading out.
        let missing = || match std::fs::symlink_metadata(&full) {
            Ok(meta) if meta.file_type().is_symlink() => Inside::No,
            _ => Inside::Missing,
        };
        if let Some(beneath) = beneath {
            match beneath.check(&parts.join("/")) {
                Some(Ok(())) => return Inside::Yes,
                Some(Err(e)) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                    return missing();
                }
                // EXDEV (it leads out, or is an absolute link), ELOOP, or no openat2 here.
                _ => {}
            }
        }
        match real_path(&full) {
            Ok(real) if real.starts_with(&self.root) => Inside::Yes,
            Ok(_) => Inside::No,
            Err(_) => missing(),
        }
    }

    /// Opens the file (or folder) at `rel`, which must stay under the root. Where the kernel
    /// can, the check and the open are one lookup (`openat2` with `RESOLVE_BENEATH`), so nothing
    /// can swap a link in between; a link as the last part, an absolute link, or a kernel
    /// without `openat2` take the path check and then the open.
    fn open(&self, op: &str, rel: &str, how: Open) -> TransportResult<std::fs::File> {
        let parts = path::site_components(&self.site, rel)?;
        if let Some(opened) = Beneath::open(&self.root).and_then(|b| b.open_file(&parts.join("/"), how)) {
            return opened.map_err(self.err(op, rel));
        }
        let full = self.path(rel)?;
        // A write never goes through a link in the file's own place, even one that stays inside
        // the root: a link planted where a temporary file will be written would have ftpman
        // write into whatever file it names.
        if matches!(how, Open::Write { .. })
            && std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Err(TransportError::PermissionDenied {
                site: self.site.clone(),
                path: rel.to_string(),
            });
        }
        how.options().open(full).map_err(self.err(op, rel))
    }

    /// `rel` as a path relative to the root (`a/b`, empty for the root), checked for `..`.
    fn relative(&self, rel: &str) -> TransportResult<String> {
        path::site_components(&self.site, rel).map(|parts| parts.join("/"))
    }

    /// The sandbox over the root, where the kernel offers one (Linux with `openat2`).
    fn beneath(&self) -> Option<Beneath> {
        #[cfg(target_os = "linux")]
        {
            Beneath::open(&self.root)
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    /// The file-system path of a site path, unchecked: for a name whose folder was just opened
    /// through `open` (a rename does not follow a link in its last part).
    fn joined(&self, rel: &str) -> TransportResult<PathBuf> {
        let parts = path::site_components(&self.site, rel)?;
        Ok(parts.iter().fold(self.root.clone(), |p, s| p.join(s)))
    }

    fn err<'a>(&'a self, op: &'a str, rel: &'a str) -> impl Fn(std::io::Error) -> TransportError + 'a {
        move |e| {
            if beneath::is_refused_link(&e) {
                TransportError::PermissionDenied {
                    site: self.site.clone(),
                    path: format!(
                        "{rel} (a symbolic link leads outside the site's root, is absolute, or stands where a file is written)"
                    ),
                }
            } else {
                io_error(&self.site, op, rel, e)
            }
        }
    }
}

/// The real path of an existing `p`, every link resolved. On Linux the kernel resolves it in one
/// lookup (open with `O_PATH`, then read the descriptor's link in `/proc`), where `canonicalize`
/// reads every prefix of the path in turn.
fn real_path(p: &std::path::Path) -> std::io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(p)?;
        if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())) {
            return Ok(real);
        }
    }
    std::fs::canonicalize(p)
}

/// How `Disk::open` opens a path.
#[derive(Clone, Copy)]
pub(super) enum Open {
    Read,
    /// Created if missing; emptied first when `truncate`.
    Write {
        truncate: bool,
    },
    /// A folder, to sync the names in it.
    Folder,
}

impl Open {
    #[cfg(target_os = "linux")]
    fn flags(self) -> i32 {
        match self {
            Open::Read => libc::O_RDONLY,
            Open::Write { truncate: true } => libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            Open::Write { truncate: false } => libc::O_WRONLY | libc::O_CREAT,
            Open::Folder => libc::O_RDONLY | libc::O_DIRECTORY,
        }
    }

    fn options(self) -> std::fs::OpenOptions {
        let mut options = std::fs::OpenOptions::new();
        match self {
            Open::Read | Open::Folder => options.read(true),
            Open::Write { truncate } => {
                // Never through a link in the file's own place (checked, and refused atomically).
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
                options.write(true).create(true).truncate(truncate)
            }
        };
        options
    }
}

impl LocalTransport {
    /// A writer on `rel` from `offset`, cutting the file there first when `cut`.
    fn open_writer(&self, rel: &str, offset: u64, how: Open, cut: bool) -> TransportResult<Box<dyn FileWriter + '_>> {
        // A malformed path fails now; the file is opened (links checked) when the writer first
        // needs it, which for a small file is the same hop that writes it.
        path::site_components(&self.site.name, rel)?;
        let (disk, file_rel) = (self.disk.clone(), rel.to_string());
        let open: writer::Opener = Box::new(move || {
            let rel = file_rel.as_str();
            let mut f = disk.open("write", rel, how)?;
            if cut {
                f.set_len(offset).map_err(disk.err("write", rel))?;
            }
            if offset > 0 {
                f.seek(std::io::SeekFrom::Start(offset))
                    .map_err(disk.err("write", rel))?;
            }
            Ok(f)
        });
        Ok(Box::new(LocalWriter::new(open, &self.site.name, rel)))
    }

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
            disk: Arc::new(Disk {
                root,
                site: site.name.clone(),
            }),
        })
    }

    /// Runs `op` on a blocking thread.
    async fn on_disk<T: Send + 'static>(
        &self,
        op: &'static str,
        rel: &str,
        f: impl FnOnce(&Disk, &str) -> TransportResult<T> + Send + 'static,
    ) -> TransportResult<T> {
        let (disk, rel) = (self.disk.clone(), rel.to_string());
        let site = self.site.name.clone();
        tokio::task::spawn_blocking(move || f(&disk, &rel))
            .await
            .map_err(|e| TransportError::Protocol {
                site,
                operation: op.into(),
                path: String::new(),
                reason: format!("the file-system task failed: {e}"),
                transient: false,
                source: None,
            })?
    }
}

/// Makes the file at `rel` durable: its data, and its name in its folder.
fn sync_file_and_name(disk: &Disk, op: &str, rel: &str) -> TransportResult<()> {
    let file = disk.open(op, rel, Open::Read)?;
    durable::sync(&file).map_err(disk.err(op, rel))?;
    let folder = disk.open(op, &path::parent(rel), Open::Folder)?;
    durable::sync(&folder).map_err(disk.err(op, rel))
}

/// Renames `src` to `dst` unless `dst` exists, atomically: `renameat2(RENAME_NOREPLACE)` on
/// Linux; where the file system does not offer it, link() (which refuses an existing target)
/// and then unlink the old name.
fn rename_no_replace(src: &std::path::Path, dst: &std::path::Path) -> std::io::Result<()> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::ffi::OsStrExt;
        let c = |p: &std::path::Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
        let (from, to) = (c(src)?, c(dst)?);
        // SAFETY: both are valid NUL-terminated paths, alive for the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                from.as_ptr(),
                libc::AT_FDCWD,
                to.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            return Err(e);
        }
    }
    std::fs::hard_link(src, dst)?;
    std::fs::remove_file(src)
}

/// What the path-based fallback found, as the sandbox reports it.
fn found_of(meta: &std::fs::Metadata) -> beneath::Found {
    beneath::Found {
        kind: entry_kind(meta.file_type()),
        size: meta.len(),
        mtime: mtime(meta),
    }
}

fn entry_kind(ft: std::fs::FileType) -> EntryKind {
    if ft.is_symlink() {
        EntryKind::Symlink
    } else if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn mtime(meta: &std::fs::Metadata) -> Option<DateTime<Utc>> {
    meta.modified().ok().map(DateTime::<Utc>::from)
}

/// What a local folder declares: no server (each node's own folder, no credentials), exact
/// times, and a checksum computed by reading the file (not cheap: the engine verifies by size).
pub fn capabilities() -> Capabilities {
    Capabilities {
        remote: false,
        pins_host_key: false,
        exact_listing_times: true,
        cheap_checksum: false,
        resume_margin: 0,
        segment_writes: true,
        partial_reads: true,
    }
}

#[async_trait]
impl Transport for LocalTransport {
    fn site(&self) -> &Site {
        &self.site
    }

    async fn list(&mut self, rel: &str) -> TransportResult<Vec<Entry>> {
        let found = self
            .on_disk("list", rel, |disk, rel| {
                #[cfg(target_os = "linux")]
                if let Some(b) = disk.beneath() {
                    return b.list(&disk.relative(rel)?).map_err(disk.err("list", rel));
                }
                let dir = disk.path(rel)?;
                let mut found = Vec::new();
                for de in std::fs::read_dir(&dir).map_err(disk.err("list", rel))? {
                    let de = de.map_err(disk.err("list", rel))?;
                    let meta = std::fs::symlink_metadata(de.path()).map_err(disk.err("list", rel))?;
                    found.push((de.file_name().to_string_lossy().into_owned(), found_of(&meta)));
                }
                Ok(found)
            })
            .await?;
        let results = found
            .iter()
            .map(|(name, f)| listed_entry(&self.site, rel, name, f.kind, f.size, f.mtime, 1))
            .collect();
        let mut entries = accept_listing(results);
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn stat(&mut self, rel: &str) -> TransportResult<Entry> {
        let found = self
            .on_disk("stat", rel, |disk, rel| {
                #[cfg(target_os = "linux")]
                if let Some(b) = disk.beneath() {
                    return b.stat(&disk.relative(rel)?).map_err(disk.err("stat", rel));
                }
                std::fs::symlink_metadata(disk.path(rel)?)
                    .map(|m| found_of(&m))
                    .map_err(disk.err("stat", rel))
            })
            .await?;
        Ok(Entry {
            name: path::file_name(rel).to_string(),
            path: path::normalize(rel).unwrap_or_else(|_| rel.to_string()),
            kind: found.kind,
            size: found.size,
            mtime: found.mtime,
            mtime_granularity: 1,
        })
    }

    async fn read(&mut self, rel: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        let file = self
            .on_disk("read", rel, move |disk, rel| {
                let mut f = disk.open("read", rel, Open::Read)?;
                if offset > 0 {
                    f.seek(std::io::SeekFrom::Start(offset))
                        .map_err(disk.err("read", rel))?;
                }
                Ok(f)
            })
            .await?;
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn read_sized(&mut self, rel: &str, offset: u64, size: u64) -> TransportResult<FileReader<'_>> {
        if size.saturating_sub(offset) > SMALL_READ {
            return self.read(rel, offset).await;
        }
        // A small file is read whole in the hop that opens it. If it grew since it was listed,
        // the rest follows from the open file, so the reader still yields the file as it is.
        let (head, rest) = self
            .on_disk("read", rel, move |disk, rel| {
                let mut f = disk.open("read", rel, Open::Read)?;
                if offset > 0 {
                    f.seek(std::io::SeekFrom::Start(offset))
                        .map_err(disk.err("read", rel))?;
                }
                let mut head = Vec::with_capacity(size.saturating_sub(offset) as usize + 1);
                (&mut f)
                    .take(SMALL_READ + 1)
                    .read_to_end(&mut head)
                    .map_err(disk.err("read", rel))?;
                let more = head.len() as u64 > SMALL_READ;
                Ok((head, more.then_some(f)))
            })
            .await?;
        let head = std::io::Cursor::new(head);
        Ok(match rest {
            None => Box::new(head),
            Some(f) => Box::new(tokio::io::AsyncReadExt::chain(head, tokio::fs::File::from_std(f))),
        })
    }

    async fn write(&mut self, rel: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        // Resume: drop anything past the offset, then continue from it.
        self.open_writer(rel, offset, Open::Write { truncate: offset == 0 }, offset > 0)
    }

    async fn write_segment(&mut self, rel: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        self.open_writer(rel, offset, Open::Write { truncate: false }, false)
    }

    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        let to = to.to_string();
        self.on_disk("rename", from, move |disk, from| {
            // The data first: a file renamed into place before its data is on disk may be
            // found empty under its final name after a crash. Synced with whatever other files
            // are waiting (`durable`). Opening it checks it is under the root.
            let data = disk.open("rename", from, Open::Read)?;
            durable::sync(&data).map_err(disk.err("rename", from))?;
            drop(data);
            // A rename does not follow a link in the last part of either name: the folder the
            // new name goes into is what must be under the root, and it is kept open to be
            // synced after.
            let folder = disk.open("rename", &path::parent(&to), Open::Folder)?;
            let (src, dst) = (disk.joined(from)?, disk.joined(&to)?);
            #[cfg(target_os = "linux")]
            let sandboxed = match disk.beneath() {
                Some(b) => {
                    b.rename(&disk.relative(from)?, &disk.relative(&to)?, !overwrite)
                        .map_err(|e| match e.kind() {
                            std::io::ErrorKind::AlreadyExists => disk.err("rename", &to)(e),
                            _ => disk.err("rename", from)(e),
                        })?;
                    true
                }
                None => false,
            };
            #[cfg(not(target_os = "linux"))]
            let sandboxed = false;
            // Without the kernel's sandbox, by the paths the checks above judged.
            if !sandboxed && overwrite {
                std::fs::rename(&src, &dst).map_err(disk.err("rename", from))?;
            } else if !sandboxed {
                rename_no_replace(&src, &dst).map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => disk.err("rename", &to)(e),
                    _ => disk.err("rename", from)(e),
                })?;
            }
            // Then the new name, before the engine records the file as delivered and touches
            // the source: a crash must not leave it under its temporary name only. If that
            // fails, a rename to a new name is undone, so that the file is not left under its
            // final name unrecorded (where the next run would take it for someone else's); one
            // that replaced a file stays, since the old one is gone and the next run replaces
            // it again.
            durable::sync(&folder).map_err(|e| {
                if !overwrite {
                    let _ = std::fs::rename(&dst, &src);
                }
                disk.err("rename", &to)(e)
            })
        })
        .await
    }

    async fn make_durable(&mut self, rel: &str) -> TransportResult<()> {
        self.on_disk("sync", rel, |disk, rel| sync_file_and_name(disk, "sync", rel))
            .await
    }

    async fn delete(&mut self, rel: &str) -> TransportResult<()> {
        self.on_disk("delete", rel, |disk, rel| {
            #[cfg(target_os = "linux")]
            if let Some(b) = disk.beneath() {
                return b.remove(&disk.relative(rel)?, false).map_err(disk.err("delete", rel));
            }
            std::fs::remove_file(disk.path(rel)?).map_err(disk.err("delete", rel))
        })
        .await
    }

    async fn mkdir_all(&mut self, rel: &str) -> TransportResult<()> {
        self.on_disk("mkdir", rel, |disk, rel| {
            #[cfg(target_os = "linux")]
            if let Some(b) = disk.beneath() {
                return b.mkdir_all(&disk.relative(rel)?).map_err(disk.err("mkdir", rel));
            }
            std::fs::create_dir_all(disk.path(rel)?).map_err(disk.err("mkdir", rel))
        })
        .await
    }

    async fn rmdir(&mut self, rel: &str) -> TransportResult<()> {
        self.on_disk("rmdir", rel, |disk, rel| {
            #[cfg(target_os = "linux")]
            if let Some(b) = disk.beneath() {
                return b.remove(&disk.relative(rel)?, true).map_err(disk.err("rmdir", rel));
            }
            std::fs::remove_dir(disk.path(rel)?).map_err(disk.err("rmdir", rel))
        })
        .await
    }

    async fn checksum(&mut self, rel: &str) -> TransportResult<Option<Checksum>> {
        self.on_disk("checksum", rel, |disk, rel| {
            let mut f = disk.open("checksum", rel, Open::Read)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 256 * 1024];
            loop {
                let n = f.read(&mut buf).map_err(disk.err("checksum", rel))?;
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
        })
        .await
    }

    async fn check(&mut self) -> TransportResult<()> {
        Ok(())
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    async fn close(self: Box<Self>) -> TransportResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
