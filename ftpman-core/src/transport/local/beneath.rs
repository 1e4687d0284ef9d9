//! The sandbox of a local site: every operation acts relative to a handle on the site's root,
//! resolved by the kernel beneath it (`openat2` with `RESOLVE_BENEATH`, then `fstatat`,
//! `unlinkat`, `mkdirat`, `renameat2` on the folder found), so no link swapped in between a
//! check and an act can lead out. A link that leaves the root, or that the kernel would have to
//! leave it to follow (an absolute one), is refused, never judged by path. On a system without
//! `openat2` the transport checks real paths instead (`Disk::path`).

use super::Open;
use crate::transport::EntryKind;
use chrono::{DateTime, Utc};

/// What a lookup beneath the root found: kind, size and modification time (of the entry itself,
/// a link never followed).
#[derive(Debug, Clone)]
pub(super) struct Found {
    pub kind: EntryKind,
    pub size: u64,
    pub mtime: Option<DateTime<Utc>>,
}

/// A link the sandbox will not follow (carried inside an `io::Error`, so the transport can say
/// so in its own words).
#[derive(Debug)]
pub(super) struct RefusedLink(std::io::Error);

impl std::fmt::Display for RefusedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "a symbolic link ftpman does not follow ({})", self.0)
    }
}

impl std::error::Error for RefusedLink {}

/// The error for a link the sandbox will not follow.
fn refused_link(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::PermissionDenied, RefusedLink(e))
}

/// Whether `e` is the sandbox refusing a link.
pub(super) fn is_refused_link(e: &std::io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<RefusedLink>())
}

/// A folder opened with `O_PATH`, for `openat2(RESOLVE_BENEATH)` lookups beneath it: the kernel
/// refuses any resolution that leaves it, through `..` or a link, in one system call (where
/// reading a path back through `/proc` took three).
pub(super) struct Beneath {
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
pub(super) static OPENAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

impl Beneath {
    /// Opens `root` for lookups beneath it; `None` where the system has no such lookups.
    pub(super) fn open(root: &std::path::Path) -> Option<Beneath> {
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

    /// Opens `rel` beneath the folder: `Some` with the file or the kernel's reason it cannot be
    /// opened (a link that would leave the root refused as `PermissionDenied`), `None` where the
    /// path check must decide (no `openat2` here).
    pub(super) fn open_file(&self, rel: &str, how: Open) -> Option<std::io::Result<std::fs::File>> {
        #[cfg(target_os = "linux")]
        {
            use std::sync::atomic::Ordering;
            if !OPENAT2.load(Ordering::Relaxed) {
                return None;
            }
            let path = std::ffi::CString::new(if rel.is_empty() { "." } else { rel }).ok()?;
            // A write never goes through a link in the file's own place (a link planted there
            // would have ftpman write into whatever file it names, or make one wherever it
            // points). A read or a folder may follow a link the kernel keeps beneath the root.
            let nofollow = if matches!(how, Open::Write { .. }) {
                libc::O_NOFOLLOW
            } else {
                0
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
                // A link in a written file's place (ELOOP), or one that leaves the root or is
                // absolute (EXDEV): refused, never judged by path (a link swapped in between a
                // check and an open would defeat that).
                Some(libc::ELOOP) | Some(libc::EXDEV) => Some(Err(refused_link(e))),
                // A rename racing the lookup (EAGAIN), or a sandbox's refusal (EPERM, which is
                // also an immutable file's answer: the path check's own open gives the reason).
                Some(libc::EPERM) | Some(libc::EAGAIN) => None,
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
    pub(super) fn check(&self, rel: &str) -> Option<std::io::Result<()>> {
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

#[cfg(target_os = "linux")]
impl Beneath {
    /// The folder holding `rel`'s last part, opened beneath the root, and that part's name
    /// (`.` for the root itself).
    fn parent(&self, rel: &str) -> std::io::Result<(std::os::fd::OwnedFd, std::ffi::CString)> {
        let (dir, leaf) = match rel.rsplit_once('/') {
            Some((dir, leaf)) => (if dir.is_empty() { "." } else { dir }, leaf),
            None if rel.is_empty() => (".", "."),
            None => (".", rel),
        };
        let c = |s: &str| std::ffi::CString::new(s).map_err(std::io::Error::other);
        let fd = self
            .openat2(&c(dir)?, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::EXDEV) => refused_link(e),
                _ => e,
            })?;
        Ok((fd, c(leaf)?))
    }

    /// What is at `rel`, the entry itself (a link is not followed).
    pub(super) fn stat(&self, rel: &str) -> std::io::Result<Found> {
        use std::os::fd::AsRawFd;
        let (dir, leaf) = self.parent(rel)?;
        stat_at(dir.as_raw_fd(), &leaf)
    }

    /// The entries of the folder `rel`, each as itself (links not followed).
    pub(super) fn list(&self, rel: &str) -> std::io::Result<Vec<(String, Found)>> {
        use std::os::fd::{AsRawFd, IntoRawFd};
        let path = std::ffi::CString::new(if rel.is_empty() { "." } else { rel }).map_err(std::io::Error::other)?;
        let fd = self
            .openat2(&path, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) | Some(libc::EXDEV) => refused_link(e),
                _ => e,
            })?;
        let raw = fd.into_raw_fd();
        // SAFETY: `raw` is an open directory descriptor, owned from here by the stream (closed
        // with it by `closedir`).
        let stream = unsafe { libc::fdopendir(raw) };
        if stream.is_null() {
            let e = std::io::Error::last_os_error();
            // SAFETY: fdopendir failed, so the descriptor is still ours to close.
            unsafe { libc::close(raw) };
            return Err(e);
        }
        let mut found = Vec::new();
        let result = loop {
            // SAFETY: `stream` is a valid directory stream until closed below.
            unsafe { *libc::__errno_location() = 0 };
            let entry = unsafe { libc::readdir(stream) };
            if entry.is_null() {
                let errno = std::io::Error::last_os_error();
                break if errno.raw_os_error() == Some(0) {
                    Ok(())
                } else {
                    Err(errno)
                };
            }
            // SAFETY: a non-null entry from readdir, valid until the next readdir.
            let name = unsafe { std::ffi::CStr::from_ptr((*entry).d_name.as_ptr()) };
            let bytes = name.to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            // SAFETY: the stream's own descriptor, valid while the stream is open.
            let dir_fd = unsafe { libc::dirfd(stream) };
            match stat_at(dir_fd, name) {
                Ok(f) => found.push((String::from_utf8_lossy(bytes).into_owned(), f)),
                // Gone since it was listed: not there.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => break Err(e),
            }
        };
        // SAFETY: closes the stream (and its descriptor) once.
        unsafe { libc::closedir(stream) };
        let _ = raw.as_raw_fd();
        result.map(|()| found)
    }

    /// Removes the file (or, with `folder`, the empty folder) at `rel`.
    pub(super) fn remove(&self, rel: &str, folder: bool) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let (dir, leaf) = self.parent(rel)?;
        let flags = if folder { libc::AT_REMOVEDIR } else { 0 };
        // SAFETY: a valid directory descriptor and a NUL-terminated name, alive for the call.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), leaf.as_ptr(), flags) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// Makes the folder `rel` and any missing on the way, each inside the one before.
    pub(super) fn mkdir_all(&self, rel: &str) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut so_far = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            let (dir, leaf) = self.parent(&so_far)?;
            // SAFETY: a valid directory descriptor and a NUL-terminated name, alive for the call.
            if unsafe { libc::mkdirat(dir.as_raw_fd(), leaf.as_ptr(), 0o777) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EEXIST) {
                    return Err(e);
                }
                // What exists must be a folder (a link to one beneath the root will do).
                self.openat2(
                    &std::ffi::CString::new(so_far.as_str()).map_err(std::io::Error::other)?,
                    libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                    0,
                )
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ELOOP) | Some(libc::EXDEV) => refused_link(e),
                    Some(libc::ENOTDIR) => std::io::Error::new(
                        std::io::ErrorKind::NotADirectory,
                        format!("{so_far} is a file, not a folder"),
                    ),
                    _ => e,
                })?;
            }
        }
        Ok(())
    }

    /// Renames `from` to `to`, both beneath the root; with `no_replace`, refused when `to`
    /// exists (`renameat2(RENAME_NOREPLACE)`). Neither name's last part is followed if a link.
    pub(super) fn rename(&self, from: &str, to: &str, no_replace: bool) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let (from_dir, from_leaf) = self.parent(from)?;
        let (to_dir, to_leaf) = self.parent(to)?;
        let flags = if no_replace { libc::RENAME_NOREPLACE } else { 0 };
        // SAFETY: valid directory descriptors and NUL-terminated names, alive for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_renameat2,
                from_dir.as_raw_fd(),
                from_leaf.as_ptr(),
                to_dir.as_raw_fd(),
                to_leaf.as_ptr(),
                flags,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if no_replace && matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS)) {
            // A file system without RENAME_NOREPLACE: link (refusing an existing name), unlink.
            // SAFETY: as above; no link in either last part is followed (flags 0).
            let linked = unsafe {
                libc::linkat(
                    from_dir.as_raw_fd(),
                    from_leaf.as_ptr(),
                    to_dir.as_raw_fd(),
                    to_leaf.as_ptr(),
                    0,
                )
            };
            if linked != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: as above.
            if unsafe { libc::unlinkat(from_dir.as_raw_fd(), from_leaf.as_ptr(), 0) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            return Ok(());
        }
        Err(e)
    }
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)` as a [`Found`].
#[cfg(target_os = "linux")]
fn stat_at(dir: std::os::fd::RawFd, name: &std::ffi::CStr) -> std::io::Result<Found> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a valid directory descriptor, a NUL-terminated name and a `stat` buffer.
    let flags = libc::AT_SYMLINK_NOFOLLOW
        | if name.to_bytes() == b"." {
            libc::AT_EMPTY_PATH
        } else {
            0
        };
    if unsafe { libc::fstatat(dir, name.as_ptr(), st.as_mut_ptr(), flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstatat succeeded and filled the buffer.
    let st = unsafe { st.assume_init() };
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => EntryKind::Dir,
        libc::S_IFREG => EntryKind::File,
        libc::S_IFLNK => EntryKind::Symlink,
        _ => EntryKind::Other,
    };
    let mtime = DateTime::<Utc>::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32);
    Ok(Found {
        kind,
        size: st.st_size as u64,
        mtime,
    })
}
