//! The local transport: a folder on this machine, with the same semantics as the remote ones.
//! No path escapes the root, through `..` or through a symbolic link.
//!
//! Each operation runs on a blocking thread in one hop, path check included: a hop per system
//! call (as `tokio::fs` makes) costs more than the call itself when files are small.

mod durable;
mod errors;
mod writer;

use super::{
    Checksum, Entry, EntryKind, FileReader, FileWriter, Transport, TransportError, TransportResult, accept_listing,
    listed_entry, path,
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
        let parts = path::components(rel).map_err(|reason| TransportError::Config {
            site: self.site.clone(),
            reason,
        })?;
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
        let parts = path::components(rel).map_err(|reason| TransportError::Config {
            site: self.site.clone(),
            reason,
        })?;
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

    /// The file-system path of a site path, unchecked: for a name whose folder was just opened
    /// through `open` (a rename does not follow a link in its last part).
    fn joined(&self, rel: &str) -> TransportResult<PathBuf> {
        let parts = path::components(rel).map_err(|reason| TransportError::Config {
            site: self.site.clone(),
            reason,
        })?;
        Ok(parts.iter().fold(self.root.clone(), |p, s| p.join(s)))
    }

    fn err<'a>(&'a self, op: &'a str, rel: &'a str) -> impl Fn(std::io::Error) -> TransportError + 'a {
        move |e| io_error(&self.site, op, rel, e)
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
enum Open {
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

/// A folder opened with `O_PATH`, for `openat2(RESOLVE_BENEATH)` lookups beneath it: the kernel
/// refuses any resolution that leaves it, through `..` or a link, in one system call (where
/// reading a path back through `/proc` took three).
struct Beneath {
    #[cfg(target_os = "linux")]
    dir: std::os::fd::OwnedFd,
}

/// `struct open_how` of `linux/openat2.h` (its first version, 24 bytes).
#[cfg(target_os = "linux")]
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Whether this kernel has `openat2`; cleared on the first `ENOSYS` (or a sandbox's `EPERM`).
#[cfg(target_os = "linux")]
static OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

impl Beneath {
    /// Opens `root` for lookups beneath it; `None` where the system has no such lookups.
    fn open(root: &std::path::Path) -> Option<Beneath> {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            if !OPENAT2.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            // Not through a link: a root that became one is left to the real-path check.
            let dir = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open(root)
                .ok()?;
            Some(Beneath { dir: dir.into() })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = root;
            None
        }
    }

    /// Opens `rel` beneath the folder: `Some` with the
    /// file or the kernel's reason it cannot be opened, `None` where the path check must decide
    /// (a link, an absolute link on the way, no `openat2` here).
    fn open_file(&self, rel: &str, how: Open) -> Option<std::io::Result<std::fs::File>> {
        #[cfg(target_os = "linux")]
        {
            use std::sync::atomic::Ordering;
            if !OPENAT2.load(Ordering::Relaxed) {
                return None;
            }
            let path = std::ffi::CString::new(if rel.is_empty() { "." } else { rel }).ok()?;
            // A file's last part is not followed if it is a link: the path check judges it
            // (a link to nothing yet would make the file wherever it points). A folder's may be
            // followed beneath the root (with `O_DIRECTORY` a link would only say "not a
            // folder").
            let nofollow = if matches!(how, Open::Folder) {
                0
            } else {
                libc::O_NOFOLLOW
            };
            let flags = how.flags() | libc::O_CLOEXEC | nofollow;
            let mode = if flags & libc::O_CREAT != 0 { 0o666 } else { 0 };
            let e = match self.openat2(&path, flags, mode) {
                Ok(fd) => return Some(Ok(std::fs::File::from(fd))),
                Err(e) => e,
            };
            match e.raw_os_error() {
                Some(libc::ENOSYS) | Some(libc::E2BIG) => {
                    OPENAT2.store(false, Ordering::Relaxed);
                    None
                }
                // A link (ELOOP: the last part, with O_NOFOLLOW), one that leaves or is absolute
                // (EXDEV), a rename racing the lookup (EAGAIN), or a sandbox's refusal (EPERM,
                // which is also an immutable file's answer: the path check's own open then gives
                // the reason).
                Some(libc::ELOOP) | Some(libc::EXDEV) | Some(libc::EPERM) | Some(libc::EAGAIN) => None,
                _ => Some(Err(e)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (rel, how);
            None
        }
    }

    /// `openat2(dir, path, flags, mode)` resolving beneath the folder, no magic links.
    #[cfg(target_os = "linux")]
    fn openat2(&self, path: &std::ffi::CStr, flags: i32, mode: u64) -> std::io::Result<std::os::fd::OwnedFd> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        let how = OpenHow {
            flags: flags as u64,
            mode,
            resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: a valid directory descriptor, a NUL-terminated path and an `open_how` of the
        // size passed, all alive for the call.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor, owned by no one else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    /// Looks `rel` up beneath the folder: `Some(Ok)` when it exists inside, `Some(Err)` with the
    /// kernel's reason otherwise (`EXDEV`: the lookup would leave the folder), `None` when the
    /// kernel cannot say.
    fn check(&self, rel: &str) -> Option<std::io::Result<()>> {
        #[cfg(target_os = "linux")]
        {
            use std::sync::atomic::Ordering;
            if !OPENAT2.load(Ordering::Relaxed) {
                return None;
            }
            let path = std::ffi::CString::new(rel).ok()?;
            let e = match self.openat2(&path, libc::O_PATH | libc::O_CLOEXEC, 0) {
                Ok(_) => return Some(Ok(())),
                Err(e) => e,
            };
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::E2BIG)
            ) {
                OPENAT2.store(false, Ordering::Relaxed);
                return None;
            }
            Some(Err(e))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = rel;
            None
        }
    }
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

#[async_trait]
impl Transport for LocalTransport {
    fn site(&self) -> &Site {
        &self.site
    }

    async fn list(&mut self, rel: &str) -> TransportResult<Vec<Entry>> {
        let found = self
            .on_disk("list", rel, |disk, rel| {
                let dir = disk.path(rel)?;
                let mut found = Vec::new();
                for de in std::fs::read_dir(&dir).map_err(disk.err("list", rel))? {
                    let de = de.map_err(disk.err("list", rel))?;
                    let meta = std::fs::symlink_metadata(de.path()).map_err(disk.err("list", rel))?;
                    found.push((de.file_name().to_string_lossy().into_owned(), meta));
                }
                Ok(found)
            })
            .await?;
        let results = found
            .iter()
            .map(|(name, meta)| {
                listed_entry(
                    &self.site,
                    rel,
                    name,
                    entry_kind(meta.file_type()),
                    meta.len(),
                    mtime(meta),
                    1,
                )
            })
            .collect();
        let mut entries = accept_listing(results);
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    async fn stat(&mut self, rel: &str) -> TransportResult<Entry> {
        let meta = self
            .on_disk("stat", rel, |disk, rel| {
                std::fs::symlink_metadata(disk.path(rel)?).map_err(disk.err("stat", rel))
            })
            .await?;
        Ok(Entry {
            name: path::file_name(rel).to_string(),
            path: path::normalize(rel).unwrap_or_else(|_| rel.to_string()),
            kind: entry_kind(meta.file_type()),
            size: meta.len(),
            mtime: mtime(&meta),
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
        // A malformed path fails now; the file is opened (links checked) when the writer first
        // needs it, which for a small file is the same hop that writes it.
        path::components(rel).map_err(|reason| TransportError::Config {
            site: self.site.name.clone(),
            reason,
        })?;
        let (disk, file_rel) = (self.disk.clone(), rel.to_string());
        let open: writer::Opener = Box::new(move || {
            let rel = file_rel.as_str();
            let mut f = disk.open("write", rel, Open::Write { truncate: offset == 0 })?;
            if offset > 0 {
                // Resume: drop anything past the offset, then continue from it.
                f.set_len(offset).map_err(disk.err("write", rel))?;
                f.seek(std::io::SeekFrom::Start(offset))
                    .map_err(disk.err("write", rel))?;
            }
            Ok(f)
        });
        Ok(Box::new(LocalWriter::new(open, &self.site.name, rel)))
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
            if overwrite {
                std::fs::rename(&src, &dst).map_err(disk.err("rename", from))?;
            } else {
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
            std::fs::remove_file(disk.path(rel)?).map_err(disk.err("delete", rel))
        })
        .await
    }

    async fn mkdir_all(&mut self, rel: &str) -> TransportResult<()> {
        self.on_disk("mkdir", rel, |disk, rel| {
            std::fs::create_dir_all(disk.path(rel)?).map_err(disk.err("mkdir", rel))
        })
        .await
    }

    async fn rmdir(&mut self, rel: &str) -> TransportResult<()> {
        self.on_disk("rmdir", rel, |disk, rel| {
            std::fs::remove_dir(disk.path(rel)?).map_err(disk.err("rmdir", rel))
        })
        .await
    }

    async fn checksum(&mut self, rel: &str) -> TransportResult<Option<Checksum>> {
        self.on_disk("checksum", rel, |disk, rel| {
            let mut f = std::fs::File::open(disk.path(rel)?).map_err(disk.err("checksum", rel))?;
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

    async fn close(self: Box<Self>) -> TransportResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteUrl;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn links_are_judged_by_where_they_lead_with_and_without_openat2() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"not yours").unwrap();
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("sub/deeper")).unwrap();
        std::fs::write(r.join("ok.txt"), b"fine").unwrap();
        let link = |target: &std::path::Path, at: &str| std::os::unix::fs::symlink(target, r.join(at)).unwrap();
        // Inside: relative, absolute (back into the root), and through a linked folder.
        link(std::path::Path::new("../ok.txt"), "sub/relative.txt");
        link(&r.join("ok.txt"), "sub/absolute.txt");
        link(std::path::Path::new("../../sub"), "sub/deeper/sub-again");
        // Out: climbing past the root, a chain whose last link leaves, a folder link outside.
        link(std::path::Path::new("../../.."), "sub/deeper/up");
        link(&outside.path().join("secret.txt"), "chain-end");
        link(std::path::Path::new("chain-end"), "chain-start");
        link(outside.path(), "out-dir");
        link(&outside.path().join("planted.txt"), "dangling-out");
        link(std::path::Path::new("not-there.txt"), "dangling-in");
        let site = Site::new("l", &SiteUrl::parse(&format!("file://{}", r.display())).unwrap()).unwrap();
        let mut t = LocalTransport::connect(&site).await.unwrap();
        let had_openat2 = OPENAT2.load(std::sync::atomic::Ordering::Relaxed);
        // Both ways of checking must agree (the second is what a kernel without openat2 uses).
        for with_openat2 in [true, false] {
            OPENAT2.store(with_openat2 && had_openat2, std::sync::atomic::Ordering::Relaxed);
            for inside in [
                "/sub/relative.txt",
                "/sub/absolute.txt",
                "/sub/deeper/sub-again/relative.txt",
            ] {
                let mut got = String::new();
                let mut reader = t.read(inside, 0).await.unwrap_or_else(|e| panic!("{inside}: {e}"));
                tokio::io::AsyncReadExt::read_to_string(&mut reader, &mut got)
                    .await
                    .unwrap();
                assert_eq!(got, "fine", "{inside}");
            }
            // Renamed into a folder reached through a link that stays inside.
            std::fs::write(r.join("to-move.txt"), b"m").unwrap();
            t.rename("/to-move.txt", "/sub/deeper/sub-again/moved.txt", false)
                .await
                .unwrap();
            std::fs::remove_file(r.join("sub/moved.txt")).unwrap();
            for out in [
                "/sub/deeper/up/etc/passwd",
                "/chain-start",
                "/out-dir/secret.txt",
                "/out-dir/new.txt",
            ] {
                let err = t.stat(out).await.err().unwrap_or_else(|| panic!("{out} was followed"));
                assert!(matches!(err, TransportError::PermissionDenied { .. }), "{out}: {err}");
            }
            // A new file under a folder that exists inside is fine; through a link that points
            // at nothing yet (outside or not), it is refused: creating it would follow the link.
            assert!(matches!(
                t.stat("/sub/deeper/not-yet.txt").await,
                Err(TransportError::NotFound { .. })
            ));
            for dangling in ["/dangling-out", "/dangling-in"] {
                let mut w = t.write(dangling, 0).await.unwrap();
                tokio::io::AsyncWriteExt::write_all(&mut w, b"x").await.unwrap();
                let err = w
                    .finish()
                    .await
                    .err()
                    .unwrap_or_else(|| panic!("{dangling} was written"));
                assert!(
                    matches!(err, TransportError::PermissionDenied { .. }),
                    "{dangling}: {err}"
                );
            }
            assert!(!outside.path().join("planted.txt").exists());
            // A link that stays inside is read through, but never written through: one planted
            // where a temporary file goes would have ftpman write into the file it names.
            for planted in ["/sub/relative.txt", "/sub/absolute.txt"] {
                let refused = match t.write(planted, 0).await {
                    Err(e) => e,
                    Ok(mut w) => {
                        tokio::io::AsyncWriteExt::write_all(&mut w, b"overwritten")
                            .await
                            .unwrap();
                        w.finish()
                            .await
                            .err()
                            .unwrap_or_else(|| panic!("{planted} was written through"))
                    }
                };
                assert!(
                    matches!(refused, TransportError::PermissionDenied { .. }),
                    "{planted}: {refused}"
                );
                assert_eq!(std::fs::read(r.join("ok.txt")).unwrap(), b"fine", "{planted}");
            }
        }
        OPENAT2.store(had_openat2, std::sync::atomic::Ordering::Relaxed);
    }

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
        // The file is opened when first needed: for a small one, at finish.
        let mut w = t.write("/escape/new.txt", 0).await.unwrap();
        w.write_all(b"out").await.unwrap();
        assert!(matches!(
            w.finish().await.err(),
            Some(TransportError::PermissionDenied { .. })
        ));
        assert!(!outside.path().join("new.txt").exists());
        // Nor is a file renamed, or made durable, through one.
        for overwrite in [false, true] {
            assert!(matches!(
                t.rename("/ok.txt", "/escape/moved.txt", overwrite).await,
                Err(TransportError::PermissionDenied { .. })
            ));
        }
        assert!(!outside.path().join("moved.txt").exists());
        assert!(matches!(
            t.make_durable("/escape/secret.txt").await,
            Err(TransportError::PermissionDenied { .. })
        ));
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
