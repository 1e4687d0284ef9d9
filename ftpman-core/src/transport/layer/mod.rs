//! Behaviour that wraps any transport, written once for every protocol: retry with backoff,
//! bandwidth throttling, and byte/time metrics.

pub mod metrics;
pub mod retry;
pub mod throttle;

pub use metrics::{MeteredTransport, TransportMetrics};
pub use retry::{RetryConnector, RetryPolicy, RetryingTransport};
pub use throttle::{RateLimiter, ThrottledTransport};

use super::{FileReader, FileWriter};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A reader that passes through another reader; the layers' readers build on it.
pub(crate) struct MapReader<'a, F> {
    pub(crate) inner: FileReader<'a>,
    pub(crate) on_read: F,
}

impl<F: FnMut(usize) + Unpin + Send> AsyncRead for MapReader<'_, F> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let n = buf.filled().len() - before;
            (self.on_read)(n);
        }
        poll
    }
}

/// A writer that passes through another writer, calling `on_write` with each byte count.
pub(crate) struct MapWriter<'a, F> {
    pub(crate) inner: Box<dyn FileWriter + 'a>,
    pub(crate) on_write: F,
}

#[async_trait::async_trait]
impl<F: FnMut(usize) + Unpin + Send> FileWriter for MapWriter<'_, F> {
    async fn finish(self: Box<Self>) -> super::TransportResult<super::Finished> {
        self.inner.finish().await
    }
}

impl<F: FnMut(usize) + Unpin + Send> AsyncWrite for MapWriter<'_, F> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &poll {
            (self.on_write)(*n);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
