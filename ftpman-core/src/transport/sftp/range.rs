//! Reading a file, or one range of it (a segment), with read requests pipelined at the link's
//! pace (`pace.rs`) and none past the range's end: russh-sftp's reader kept 16 MiB of requests
//! in flight whatever the link, and a segment that stopped where the next one began had that
//! much read, encrypted and decrypted for nothing.

use super::pace::{MAX_READS_IN_FLIGHT, Pace};
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
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, ReadBuf};

/// The length of each read request: the most OpenSSH's server answers in one reply.
const CHUNK: u32 = 255 * 1024;

/// One read request: where it starts, how much it asked for, the bytes in flight when it was
/// sent (its own included), when it was sent, and the server's answer.
type Reply = Pin<Box<dyn Future<Output = (u64, u32, u64, Instant, Result<Vec<u8>, SftpError>)> + Send>>;

/// Reads `range` of an open handle in order, with requests in flight at the link's pace and
/// none past the end. The reader ends at the range's end, or where the file ends before it.
/// Dropping it closes the handle.
pub(super) struct RangeReader {
    raw: Arc<RawSftpSession>,
    handle: String,
    /// Where the next request starts.
    next: u64,
    end: u64,
    in_flight: FuturesOrdered<Reply>,
    /// Bytes asked for and not yet answered, and how many may be.
    asked: u64,
    pace: Pace,
    /// The reply being handed out, and how much of it has been.
    chunk: Vec<u8>,
    pos: usize,
}

impl RangeReader {
    /// Reads `range` through `handle`, a file opened for reading on `raw`, whose requests
    /// each have `timeout` for their reply.
    pub(super) fn new(raw: Arc<RawSftpSession>, handle: String, range: Range<u64>, timeout: Duration) -> RangeReader {
        RangeReader {
            raw,
            handle,
            next: range.start,
            end: range.end.max(range.start),
            in_flight: FuturesOrdered::new(),
            asked: 0,
            pace: Pace::new(timeout, MAX_READS_IN_FLIGHT),
            chunk: Vec::new(),
            pos: 0,
        }
    }

    fn request(&mut self, at: u64, len: u32) -> Reply {
        self.asked += u64::from(len);
        let (raw, handle) = (self.raw.clone(), self.handle.clone());
        let (ahead, sent) = (self.asked, Instant::now());
        Box::pin(async move {
            let reply = raw.read(handle, at, len).await.map(|d| d.data);
            (at, len, ahead, sent, reply)
        })
    }

    /// Asks for more of the range while the budget allows (one request at least).
    fn top_up(&mut self) {
        let budget = self.pace.budget();
        while self.next < self.end && (self.in_flight.is_empty() || self.asked < budget) {
            let len = (self.end - self.next).min(u64::from(CHUNK)).min(budget) as u32;
            let reply = self.request(self.next, len);
            self.in_flight.push_back(reply);
            self.next += u64::from(len);
        }
    }

    /// The file ended before the range did: nothing more is asked for, and the reader ends
    /// (the caller counts the bytes it got and says the file shrank).
    fn stop(&mut self) {
        self.in_flight = FuturesOrdered::new();
        self.asked = 0;
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
            let Some((at, len, ahead, sent, reply)) = std::task::ready!(this.in_flight.poll_next_unpin(cx)) else {
                return Poll::Ready(Ok(()));
            };
            this.asked -= u64::from(len);
            this.pace.replied(ahead, sent.elapsed());
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
        super::close_unawaited(self.raw.clone(), std::mem::take(&mut self.handle));
    }
}
