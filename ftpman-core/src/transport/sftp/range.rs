//! Reading one range of a file (a segment) with its read requests pipelined and none past the
//! range's end. russh-sftp's streaming reader keeps 64 requests of 255 KiB in flight whatever
//! is left to read: a segment that stops where the next one begins would have up to 16 MiB
//! read, encrypted and decrypted for nothing, and held in memory until it arrived.

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::StatusCode;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// The length of each read request: the most OpenSSH's server answers in one reply.
const CHUNK: u32 = 255 * 1024;

/// Requests in flight per range: 8 MiB, enough to keep a connection busy over a link of a few
/// milliseconds, while four segments together hold no more than one whole-file reader does.
const WINDOW: usize = 32;

/// One read request: where it starts, how much it asked for, and the server's answer.
type Reply = Pin<Box<dyn Future<Output = (u64, u32, Result<Vec<u8>, SftpError>)> + Send>>;

/// Reads `range` of an open handle in order, with up to [`WINDOW`] requests in flight and
/// none past the end. The reader ends at the range's end, or where the file ends before it.
/// Dropping it closes the handle.
pub(super) struct RangeReader {
    raw: Arc<RawSftpSession>,
    handle: String,
    /// Where the next request starts.
    next: u64,
    end: u64,
    in_flight: FuturesOrdered<Reply>,
    /// The reply being handed out, and how much of it has been.
    chunk: Vec<u8>,
    pos: usize,
}

impl RangeReader {
    /// Reads `range` through `handle`, a file opened for reading on `raw`.
    pub(super) fn new(raw: Arc<RawSftpSession>, handle: String, range: Range<u64>) -> RangeReader {
        RangeReader {
            raw,
            handle,
            next: range.start,
            end: range.end.max(range.start),
            in_flight: FuturesOrdered::new(),
            chunk: Vec::new(),
            pos: 0,
        }
    }

    fn request(&self, at: u64, len: u32) -> Reply {
        let (raw, handle) = (self.raw.clone(), self.handle.clone());
        Box::pin(async move {
            let reply = raw.read(handle, at, len).await.map(|d| d.data);
            (at, len, reply)
        })
    }

    /// Keeps [`WINDOW`] requests in flight while any of the range is unasked for.
    fn top_up(&mut self) {
        while self.in_flight.len() < WINDOW && self.next < self.end {
            let len = (self.end - self.next).min(u64::from(CHUNK)) as u32;
            let reply = self.request(self.next, len);
            self.in_flight.push_back(reply);
            self.next += u64::from(len);
        }
    }

    /// The file ended before the range did: nothing more is asked for, and the reader ends
    /// (the caller counts the bytes it got and says the file shrank).
    fn stop(&mut self) {
        self.in_flight = FuturesOrdered::new();
        self.next = self.end;
    }
}

impl AsyncRead for RangeReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.pos < this.chunk.len() {
                let n = buf.remaining().min(this.chunk.len() - this.pos);
                buf.put_slice(&this.chunk[this.pos..this.pos + n]);
                this.pos += n;
                return Poll::Ready(Ok(()));
            }
            this.top_up();
            let Some((at, len, reply)) = std::task::ready!(this.in_flight.poll_next_unpin(cx)) else {
                return Poll::Ready(Ok(()));
            };
            match reply {
                Ok(data) if data.is_empty() => {
                    this.stop();
                    return Poll::Ready(Ok(()));
                }
                Ok(mut data) => {
                    let got = data.len().min(len as usize);
                    data.truncate(got);
                    if got < len as usize {
                        // A server may answer with less than asked: the gap is asked for
                        // next, ahead of the requests already in flight.
                        let gap = this.request(at + got as u64, len - got as u32);
                        this.in_flight.push_front(gap);
                    }
                    this.chunk = data;
                    this.pos = 0;
                }
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => {
                    this.stop();
                    return Poll::Ready(Ok(()));
                }
                Err(e) => {
                    this.stop();
                    return Poll::Ready(Err(std::io::Error::from(e)));
                }
            }
        }
    }
}

impl Drop for RangeReader {
    fn drop(&mut self) {
        // The close goes out without waiting for its reply, as russh-sftp's own files do.
        let (raw, handle) = (self.raw.clone(), std::mem::take(&mut self.handle));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = raw.close(handle).await {
                    tracing::debug!(target: "ftpman::transport", "closing a read handle: {e}");
                }
            });
        }
    }
}
