//! Writing a local file: bytes gather in a buffer that goes to a blocking thread when full while
//! the next one fills (so the network keeps flowing while the disk writes), and `finish` writes
//! the rest and syncs in one hop, so a small file costs one hop, not three.

use super::errors::io_error;
use crate::transport::{FileWriter, TransportError, TransportResult};
use async_trait::async_trait;
use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::AsyncWrite;
use tokio::task::JoinHandle;

/// Bytes gathered before a write to disk.
const BUFFER: usize = 1024 * 1024;

/// A buffer written on a blocking thread: the file and the buffer come back with the outcome.
type Written = (std::fs::File, Vec<u8>, std::io::Result<()>);

/// A file being written under the local transport.
pub(super) struct LocalWriter {
    /// The file, here unless a write has it.
    file: Option<std::fs::File>,
    /// The buffer being filled.
    filling: Vec<u8>,
    /// The write under way, if any.
    writing: Option<JoinHandle<Written>>,
    /// A buffer that came back from a write, for the next fill.
    spare: Vec<u8>,
    /// Set once a write failed: nothing more is accepted.
    failed: bool,
    written: u64,
    site: String,
    path: String,
}

impl LocalWriter {
    pub(super) fn new(file: std::fs::File, site: &str, path: &str) -> LocalWriter {
        LocalWriter {
            file: Some(file),
            filling: Vec::with_capacity(64 * 1024),
            writing: None,
            spare: Vec::new(),
            failed: false,
            written: 0,
            site: site.to_string(),
            path: path.to_string(),
        }
    }

    /// Waits for the write under way, if any, and takes the file back.
    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.failed {
            return Poll::Ready(Err(std::io::Error::other("an earlier write failed")));
        }
        let Some(task) = &mut self.writing else {
            return Poll::Ready(Ok(()));
        };
        let done = ready!(Pin::new(task).poll(cx));
        self.writing = None;
        match done {
            Ok((file, mut buf, result)) => {
                self.file = Some(file);
                buf.clear();
                self.spare = buf;
                if result.is_err() {
                    self.failed = true;
                }
                Poll::Ready(result)
            }
            Err(e) => {
                self.failed = true;
                Poll::Ready(Err(std::io::Error::other(e)))
            }
        }
    }

    /// Hands the filled buffer to a blocking thread; call only with no write under way.
    fn start_write(&mut self) -> std::io::Result<()> {
        let Some(mut file) = self.file.take() else {
            self.failed = true;
            return Err(std::io::Error::other("the file is not writable"));
        };
        let buf = std::mem::replace(&mut self.filling, std::mem::take(&mut self.spare));
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let result = file.write_all(&buf);
            (file, buf, result)
        }));
        Ok(())
    }
}

#[async_trait]
impl FileWriter for LocalWriter {
    async fn finish(mut self: Box<Self>) -> TransportResult<u64> {
        let (site, path) = (self.site.clone(), self.path.clone());
        let err = |e| io_error(&site, "write", &path, e);
        std::future::poll_fn(|cx| self.poll_written(cx)).await.map_err(err)?;
        let (Some(mut file), buf) = (self.file.take(), std::mem::take(&mut self.filling)) else {
            return Err(err(std::io::Error::other("the file is not writable")));
        };
        // The data is on disk before the engine renames it into place and trusts it.
        tokio::task::spawn_blocking(move || {
            file.write_all(&buf)?;
            file.sync_all()
        })
        .await
        .map_err(|e| TransportError::Protocol {
            site: site.clone(),
            operation: "write".into(),
            path: path.clone(),
            reason: format!("the file-system task failed: {e}"),
            transient: false,
        })?
        .map_err(err)?;
        Ok(self.written)
    }
}

impl AsyncWrite for LocalWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        loop {
            if self.failed {
                return Poll::Ready(Err(std::io::Error::other("an earlier write failed")));
            }
            if self.filling.len() < BUFFER {
                let n = data.len().min(BUFFER - self.filling.len());
                self.filling.extend_from_slice(&data[..n]);
                self.written += n as u64;
                return Poll::Ready(Ok(n));
            }
            // Full: wait for the previous write (if it still runs), then hand this one over.
            ready!(self.poll_written(cx))?;
            self.start_write()?;
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_written(cx))?;
        if !self.filling.is_empty() {
            self.start_write()?;
        }
        self.poll_written(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn gathers_writes_and_syncs_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.bin");
        let data: Vec<u8> = (0..(3 * BUFFER + 12_345)).map(|i| (i % 251) as u8).collect();
        let mut w = LocalWriter::new(std::fs::File::create(&p).unwrap(), "local", "/f.bin");
        for chunk in data.chunks(100_000) {
            w.write_all(chunk).await.unwrap();
        }
        // Whole buffers go to disk as they fill (the last of them may still be on its way); the
        // rest waits for finish.
        let on_disk = std::fs::metadata(&p).unwrap().len();
        assert_eq!(on_disk % BUFFER as u64, 0);
        assert!(on_disk <= 3 * BUFFER as u64);
        assert_eq!(Box::new(w).finish().await.unwrap(), data.len() as u64);
        assert_eq!(std::fs::read(&p).unwrap(), data);
    }

    #[tokio::test]
    async fn a_full_disk_fails_the_write_with_its_reason() {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let mut w = LocalWriter::new(full, "local", "/big.bin");
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
        let mut w = LocalWriter::new(std::fs::File::create(&p).unwrap(), "local", "/f.txt");
        w.write_all(b"hello").await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        w.flush().await.unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"hello");
    }
}
