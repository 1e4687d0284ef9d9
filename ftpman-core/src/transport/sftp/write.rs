//! Writing a file with its write requests pipelined at the link's pace (`pace.rs`): each
//! write is answered once the server has the bytes, and as many are in flight as the link
//! answers well within the timeout, up to 2 MiB. russh-sftp's writer kept 64 of 32 KiB in
//! flight whatever the link, so an upload slower than 2 MiB per timeout (70 KB/s with the
//! default 30 s) failed with data on its way.

use super::pace::{MAX_WRITES_IN_FLIGHT, Pace};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWrite;

/// The length of each write request: 32 KiB, the packet every SFTP server must take (larger
/// writes are refused by some servers, where a read is merely answered short).
const CHUNK: usize = 32 * 1024;

/// Bytes past the end of what a server has confirmed that a broken upload may have left
/// unwritten: everything in flight, which a resume starts that far before.
pub(super) const RESUME_MARGIN: u64 = MAX_WRITES_IN_FLIGHT + CHUNK as u64;

/// One write: its length, the bytes in flight when it was sent (its own included), when it
/// was sent, and the server's answer.
type Ack = Pin<Box<dyn Future<Output = (u64, u64, Instant, Result<(), SftpError>)> + Send>>;

/// The handle's close, under way.
type Closing = Pin<Box<dyn Future<Output = Result<(), SftpError>> + Send>>;

/// Writes an open handle from an offset on, pipelined at the link's pace. `poll_shutdown`
/// waits for every write's acknowledgement and closes the handle; dropping the writer without
/// it closes the handle without waiting.
pub(super) struct PacedWriter {
    raw: Arc<RawSftpSession>,
    handle: String,
    /// Where the next request writes.
    offset: u64,
    /// Bytes gathered for the next request.
    gathered: Vec<u8>,
    in_flight: FuturesUnordered<Ack>,
    /// Bytes sent and not yet acknowledged.
    unacked: u64,
    pace: Pace,
    closing: Option<Closing>,
    closed: bool,
}

impl PacedWriter {
    /// Writes `handle`, a file opened for writing on `raw`, from `offset`; each request has
    /// `timeout` for its acknowledgement.
    pub(super) fn new(raw: Arc<RawSftpSession>, handle: String, offset: u64, timeout: Duration) -> PacedWriter {
        PacedWriter {
            raw,
            handle,
            offset,
            gathered: Vec::with_capacity(CHUNK),
            in_flight: FuturesUnordered::new(),
            unacked: 0,
            pace: Pace::new(timeout, MAX_WRITES_IN_FLIGHT),
            closing: None,
            closed: false,
        }
    }

    /// Sends what has been gathered as one write request.
    fn send(&mut self) {
        if self.gathered.is_empty() {
            return;
        }
        let data = std::mem::replace(&mut self.gathered, Vec::with_capacity(CHUNK));
        let len = data.len() as u64;
        let (raw, handle, at) = (self.raw.clone(), self.handle.clone(), self.offset);
        self.offset += len;
        self.unacked += len;
        let (ahead, sent) = (self.unacked, Instant::now());
        self.in_flight.push(Box::pin(async move {
            let result = raw.write(handle, at, data).await.map(|_| ());
            (len, ahead, sent, result)
        }));
    }

    /// Takes in the acknowledgements that have come; a failed write fails the writer.
    fn poll_acks(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while let Poll::Ready(Some((len, ahead, sent, result))) = self.in_flight.poll_next_unpin(cx) {
            self.unacked -= len;
            self.pace.replied(ahead, sent.elapsed());
            result.map_err(std::io::Error::from)?;
        }
        if self.in_flight.is_empty() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

impl AsyncWrite for PacedWriter {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if let Poll::Ready(Err(e)) = this.poll_acks(cx) {
            return Poll::Ready(Err(e));
        }
        // The budget spent: wait for an acknowledgement before taking more (the acks polled
        // above left the waker registered).
        if this.unacked >= this.pace.budget() && !this.in_flight.is_empty() {
            return Poll::Pending;
        }
        let n = data.len().min(CHUNK - this.gathered.len());
        this.gathered.extend_from_slice(&data[..n]);
        if this.gathered.len() == CHUNK {
            this.send();
            // Polled once so that the request goes out now, not at the next write.
            if let Poll::Ready(Err(e)) = this.poll_acks(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        this.send();
        this.poll_acks(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        if this.closing.is_none() {
            this.send();
            std::task::ready!(this.poll_acks(cx))?;
            let (raw, handle) = (this.raw.clone(), this.handle.clone());
            this.closing = Some(Box::pin(async move { raw.close(handle).await.map(|_| ()) }));
        }
        let closing = this.closing.as_mut().map(|c| c.as_mut().poll(cx));
        match closing {
            Some(Poll::Ready(result)) => {
                this.closing = None;
                this.closed = true;
                Poll::Ready(result.map_err(std::io::Error::from))
            }
            _ => Poll::Pending,
        }
    }
}

impl Drop for PacedWriter {
    fn drop(&mut self) {
        if self.closed || self.closing.is_some() {
            return;
        }
        // Abandoned (a failed transfer): the close is not waited for.
        super::close_unawaited(self.raw.clone(), std::mem::take(&mut self.handle));
    }
}
