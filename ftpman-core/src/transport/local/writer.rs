//! Writing a local file: bytes gather in a buffer that goes to a blocking thread when full, and
//! `finish` writes the rest and syncs in one hop, so a small file costs one hop, not three.

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

type Flushed = (std::fs::File, Vec<u8>, std::io::Result<()>);

enum State {
    /// Gathering bytes; the file is here.
    Idle(std::fs::File, Vec<u8>),
    /// A full buffer is being written.
    Writing(JoinHandle<Flushed>),
    /// Broken by a failed write or a lost task.
    Failed,
}

/// A file being written under the local transport.
pub(super) struct LocalWriter {
    state: State,
    written: u64,
    site: String,
    path: String,
}

impl LocalWriter {
    pub(super) fn new(file: std::fs::File, site: &str, path: &str) -> LocalWriter {
        LocalWriter {
            state: State::Idle(file, Vec::with_capacity(64 * 1024)),
            written: 0,
            site: site.to_string(),
            path: path.to_string(),
        }
    }

    /// Starts writing the buffer when there is something in it.
    fn start_write(&mut self) {
        if let State::Idle(_, buf) = &self.state
            && buf.is_empty()
        {
            return;
        }
        if let State::Idle(mut file, buf) = std::mem::replace(&mut self.state, State::Failed) {
            self.state = State::Writing(tokio::task::spawn_blocking(move || {
                let result = file.write_all(&buf);
                (file, buf, result)
            }));
        }
    }

    /// Waits for a write under way, if any.
    fn poll_written(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.state {
            State::Idle(..) => Poll::Ready(Ok(())),
            State::Failed => Poll::Ready(Err(std::io::Error::other("an earlier write failed"))),
            State::Writing(task) => {
                let done = ready!(Pin::new(task).poll(cx));
                match done {
                    Ok((file, mut buf, Ok(()))) => {
                        buf.clear();
                        self.state = State::Idle(file, buf);
                        Poll::Ready(Ok(()))
                    }
                    Ok((_, _, Err(e))) => {
                        self.state = State::Failed;
                        Poll::Ready(Err(e))
                    }
                    Err(e) => {
                        self.state = State::Failed;
                        Poll::Ready(Err(std::io::Error::other(e)))
                    }
                }
            }
        }
    }
}

#[async_trait]
impl FileWriter for LocalWriter {
    async fn finish(mut self: Box<Self>) -> TransportResult<u64> {
        let (site, path) = (self.site.clone(), self.path.clone());
        let err = |e| io_error(&site, "write", &path, e);
        std::future::poll_fn(|cx| self.poll_written(cx)).await.map_err(err)?;
        let State::Idle(mut file, buf) = std::mem::replace(&mut self.state, State::Failed) else {
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
            ready!(self.poll_written(cx))?;
            let State::Idle(_, buf) = &mut self.state else {
                continue;
            };
            if buf.len() < BUFFER {
                let n = data.len().min(BUFFER - buf.len());
                buf.extend_from_slice(&data[..n]);
                self.written += n as u64;
                return Poll::Ready(Ok(n));
            }
            self.start_write();
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        ready!(self.poll_written(cx))?;
        self.start_write();
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
        // Whole buffers reach the disk before the end; the rest waits for finish.
        assert_eq!(std::fs::metadata(&p).unwrap().len() % BUFFER as u64, 0);
        assert_eq!(Box::new(w).finish().await.unwrap(), data.len() as u64);
        assert_eq!(std::fs::read(&p).unwrap(), data);
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
