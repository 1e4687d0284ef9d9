//! Writing a local file. A file gathers in memory up to 1 MiB: a small file is opened, written
//! and measured in one blocking hop at `finish`, and made durable by the rename that follows
//! (with the other files renamed at the same time, see `durable`), so that its transfer slot is
//! free while it waits for the disk. A larger one is opened when it outgrows the buffer, streams
//! through `tokio::fs::File` (whose one write in flight per chunk keeps the network flowing
//! while the disk writes; a gathered 1 MiB buffer per hop measured slower for large FTPS
//! downloads), and is synced at `finish`.

use super::errors::io_error;
use crate::transport::io::carried_error;
use crate::transport::{FileWriter, Finished, TransportError, TransportResult};
use async_trait::async_trait;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Bytes gathered before the file streams.
const BUFFER: usize = 1024 * 1024;
// A retry resumes only past `RESUME_AFTER` moved bytes, which must mean this file was opened
// (and truncated) by then.
const _: () = assert!(BUFFER as u64 <= crate::transport::copy::RESUME_AFTER);

/// Opens the file (path checks included) on a blocking thread, when it is first needed.
pub(super) type Opener = Box<dyn FnOnce() -> TransportResult<std::fs::File> + Send>;

enum Mode {
    /// Still small: the bytes are here, the file not yet open.
    Gathering(Opener, Vec<u8>),
    /// Outgrown the buffer: the file is being opened; the gathered bytes wait for it.
    Opening(JoinHandle<TransportResult<std::fs::File>>, Vec<u8>),
    /// Streaming; `pending[done..]` is gathered data not yet handed to the file.
    Streaming {
        file: tokio::fs::File,
        pending: Vec<u8>,
        done: usize,
        behind: WriteBehind,
    },
    /// Failed (opening, or a panic in a write); never left.
    Broken,
}

/// Bytes written between two starts of the write-back of a streaming file.
const WRITE_BEHIND: u64 = 8 * 1024 * 1024;

/// Starts the disk writing a large file's data while it still streams in. The kernel starts on
/// its own only once a tenth of memory is dirty, so without this a large download is written
/// to the disk only by the sync at its end: network time plus disk time, where this makes it
/// about the longer of the two. Only one start is in flight at a time.
struct WriteBehind {
    /// A second descriptor of the file, for the blocking thread (never the one being written
    /// through, which the writer may close at any time).
    file: Option<std::sync::Arc<std::fs::File>>,
    since: u64,
    running: Option<JoinHandle<()>>,
}

impl WriteBehind {
    fn new(file: &std::fs::File) -> WriteBehind {
        WriteBehind {
            file: file.try_clone().ok().map(std::sync::Arc::new),
            since: 0,
            running: None,
        }
    }

    fn wrote(&mut self, n: usize) {
        self.since += n as u64;
        if self.since < WRITE_BEHIND || self.running.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        self.since = 0;
        if let Some(file) = &self.file {
            let file = file.clone();
            self.running = Some(tokio::task::spawn_blocking(move || start_write_back(&file)));
        }
    }
}

/// Asks the kernel to start writing the file's dirty pages, without waiting for them. Errors
/// are left to the sync at `finish`, which reports them.
#[cfg(target_os = "linux")]
fn start_write_back(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open (the caller holds the file); offset 0 and length 0 mean
    // the whole file.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_write_back(_file: &std::fs::File) {}

/// A file being written under the local transport.
pub(super) struct LocalWriter {
    mode: Mode,
    written: u64,
    site: String,
    path: String,
}

fn not_writable() -> std::io::Error {
    std::io::Error::other("the file is not writable")
}

impl LocalWriter {
    pub(super) fn new(open: Opener, site: &str, path: &str) -> LocalWriter {
        LocalWriter {
            mode: Mode::Gathering(open, Vec::new()),
            written: 0,
            site: site.to_string(),
            path: path.to_string(),
        }
    }

    /// Moves to streaming: opens the file (once), then hands it what was gathered. A failure to
    /// open travels as an I/O error carrying the transport error.
    fn poll_stream(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        loop {
            match &mut self.mode {
                Mode::Gathering(..) => {
                    if let Mode::Gathering(open, pending) = std::mem::replace(&mut self.mode, Mode::Broken) {
                        self.mode = Mode::Opening(tokio::task::spawn_blocking(open), pending);
                    }
                }
                Mode::Opening(task, _) => {
                    let opened = ready!(Pin::new(task).poll(cx));
                    let Mode::Opening(_, pending) = std::mem::replace(&mut self.mode, Mode::Broken) else {
                        return Poll::Ready(Err(not_writable()));
                    };
                    let file = match opened {
                        Ok(Ok(file)) => file,
                        Ok(Err(e)) => return Poll::Ready(Err(std::io::Error::other(e))),
                        Err(e) => {
                            return Poll::Ready(Err(std::io::Error::other(format!(
                                "the file-system task failed: {e}"
                            ))));
                        }
                    };
                    self.mode = Mode::Streaming {
                        behind: WriteBehind::new(&file),
                        file: tokio::fs::File::from_std(file),
                        pending,
                        done: 0,
                    };
                }
                Mode::Streaming {
                    file, pending, done, ..
                } => {
                    while *done < pending.len() {
                        let n = ready!(Pin::new(&mut *file).poll_write(cx, &pending[*done..]))?;
                        if n == 0 {
                            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                        }
                        *done += n;
                    }
                    *pending = Vec::new();
                    *done = 0;
                    return Poll::Ready(Ok(()));
                }
                Mode::Broken => return Poll::Ready(Err(not_writable())),
            }
        }
    }
}

#[async_trait]
impl FileWriter for LocalWriter {
    async fn finish(mut self: Box<Self>) -> TransportResult<Finished> {
        let (site, path) = (self.site.clone(), self.path.clone());
        let err = |e: std::io::Error| carried_error(e).unwrap_or_else(|e| io_error(&site, "write", &path, e));
        // The size is read off the open file, which spares the engine a stat. A large file's
        // data is synced here, while it streams from the network anyway; a small one's is
        // synced by the rename into place (or `make_durable`), with other files' syncs.
        let size = match std::mem::replace(&mut self.mode, Mode::Broken) {
            Mode::Gathering(open, buf) => {
                let (site_name, file_path) = (site.clone(), path.clone());
                tokio::task::spawn_blocking(move || {
                    let mut file = open()?;
                    let err = |e| io_error(&site_name, "write", &file_path, e);
                    file.write_all(&buf).map_err(err)?;
                    Ok(file.metadata().map_err(err)?.len())
                })
                .await
                .map_err(|e| TransportError::Protocol {
                    site: site.clone(),
                    operation: "write".into(),
                    path: path.clone(),
                    reason: format!("the file-system task failed: {e}"),
                    transient: false,
                    source: None,
                })??
            }
            mode => {
                self.mode = mode;
                std::future::poll_fn(|cx| self.poll_stream(cx)).await.map_err(err)?;
                let Mode::Streaming { file, .. } = &mut self.mode else {
                    return Err(err(not_writable()));
                };
                file.flush().await.map_err(err)?;
                file.sync_all().await.map_err(err)?;
                file.metadata().await.map_err(err)?.len()
            }
        };
        Ok(Finished {
            written: self.written,
            size: Some(size),
        })
    }
}

impl AsyncWrite for LocalWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        if let Mode::Gathering(_, buf) = &mut self.mode
            && buf.len() + data.len() <= BUFFER
        {
            buf.extend_from_slice(data);
            self.written += data.len() as u64;
            return Poll::Ready(Ok(data.len()));
        }
        // Too big to gather: stream from here on, starting with what was gathered.
        ready!(self.poll_stream(cx))?;
        let n = match &mut self.mode {
            Mode::Streaming { file, behind, .. } => {
                let n = ready!(Pin::new(file).poll_write(cx, data))?;
                behind.wrote(n);
                n
            }
            _ => return Poll::Ready(Err(not_writable())),
        };
        self.written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        // A flush before finish (the engine never asks) opens the file and makes it stream.
        ready!(self.poll_stream(cx))?;
        match &mut self.mode {
            Mode::Streaming { file, .. } => Pin::new(file).poll_flush(cx),
            _ => Poll::Ready(Err(not_writable())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;

    fn opener(file: std::io::Result<std::fs::File>) -> Opener {
        Box::new(move || file.map_err(|e| io_error("local", "write", "/f.bin", e)))
    }

    /// Creates `p` when called, as the transport's opener does.
    fn creates(p: PathBuf) -> Opener {
        Box::new(move || std::fs::File::create(&p).map_err(|e| io_error("local", "write", "/f.bin", e)))
    }

    #[tokio::test]
    async fn a_small_file_gathers_and_a_large_one_streams() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0, 1000, BUFFER, BUFFER + 1, 3 * BUFFER + 12_345] {
            let p = dir.path().join(format!("f{size}.bin"));
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let mut w = LocalWriter::new(creates(p.clone()), "local", "/f.bin");
            for chunk in data.chunks(100_000) {
                w.write_all(chunk).await.unwrap();
            }
            if size <= BUFFER {
                assert!(!p.exists(), "{size}: gathered until finish");
            } else {
                assert!(std::fs::metadata(&p).unwrap().len() > 0, "{size}: streaming");
            }
            let finished = Box::new(w).finish().await.unwrap();
            assert_eq!(
                finished,
                Finished {
                    written: size as u64,
                    size: Some(size as u64)
                }
            );
            assert_eq!(std::fs::read(&p).unwrap(), data, "{size}");
        }
    }

    #[tokio::test]
    async fn a_large_file_is_written_back_while_it_streams() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("large.bin");
        let data: Vec<u8> = (0..20 * 1024 * 1024 + 7).map(|i| (i % 253) as u8).collect();
        let mut w = LocalWriter::new(creates(p.clone()), "local", "/large.bin");
        let mut starts = 0;
        for chunk in data.chunks(256 * 1024) {
            w.write_all(chunk).await.unwrap();
            if let Mode::Streaming { behind, .. } = &mut w.mode
                && let Some(running) = behind.running.take()
            {
                running.await.unwrap();
                starts += 1;
            }
        }
        // Every 8 MiB past the first gathered MiB: twice in 20 MiB.
        assert_eq!(starts, 2);
        assert_eq!(Box::new(w).finish().await.unwrap().size, Some(data.len() as u64));
        assert_eq!(std::fs::read(&p).unwrap(), data);
    }

    #[tokio::test]
    async fn the_file_is_opened_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("late.bin");
        let opened = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open: Opener = {
            let (p, opened) = (p.clone(), opened.clone());
            Box::new(move || {
                opened.store(true, std::sync::atomic::Ordering::SeqCst);
                std::fs::File::create(&p).map_err(|e| io_error("local", "write", "/late.bin", e))
            })
        };
        let mut w = LocalWriter::new(open, "local", "/late.bin");
        w.write_all(&[1u8; 1000]).await.unwrap();
        assert!(!opened.load(std::sync::atomic::Ordering::SeqCst) && !p.exists());
        assert_eq!(Box::new(w).finish().await.unwrap().size, Some(1000));
        assert!(opened.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_file_that_cannot_be_opened_fails_with_the_opening_error() {
        // Small: at finish.
        let refused = || opener(Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied)));
        let mut w = LocalWriter::new(refused(), "local", "/f.bin");
        w.write_all(b"data").await.unwrap();
        let err = Box::new(w).finish().await.unwrap_err();
        assert!(matches!(err, TransportError::PermissionDenied { .. }), "{err}");
        // Large: when it outgrows the buffer, as the transport error itself.
        let mut w = LocalWriter::new(refused(), "local", "/f.bin");
        let io = w.write_all(&vec![0u8; BUFFER + 1]).await.unwrap_err();
        let err = crate::transport::io::stream_error("local", "write", "/f.bin", io);
        assert!(matches!(err, TransportError::PermissionDenied { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_full_disk_fails_the_write_with_its_reason() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        let mut w = LocalWriter::new(opener(full), "local", "/big.bin");
        let chunk = vec![7u8; 256 * 1024];
        let mut failed = None;
        for _ in 0..16 {
            if let Err(e) = w.write_all(&chunk).await {
                failed = Some(e.to_string());
                break;
            }
        }
        let error = match failed {
            Some(e) => e,
            None => Box::new(w).finish().await.unwrap_err().to_string(),
        };
        assert!(error.contains("No space left"), "{error}");
    }

    #[tokio::test]
    async fn flush_writes_what_is_gathered() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        let mut w = LocalWriter::new(creates(p.clone()), "local", "/f.txt");
        w.write_all(b"hello").await.unwrap();
        assert!(!p.exists());
        w.flush().await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
    }
}
