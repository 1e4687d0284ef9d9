//! Byte and time metrics for any transport: bytes read and written, operations, errors, and the
//! time spent in operations. One [`TransportMetrics`] may be shared by many connections (per site).

use super::{MapReader, MapWriter};
use crate::model::Site;
use crate::transport::{Checksum, Entry, FileReader, FileWriter, Transport, TransportResult};
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counters, readable at any time.
#[derive(Debug, Default)]
pub struct TransportMetrics {
    /// Bytes read from files.
    pub bytes_read: AtomicU64,
    /// Bytes written to files.
    pub bytes_written: AtomicU64,
    /// Operations started (list, stat, open, rename...).
    pub operations: AtomicU64,
    /// Operations that failed.
    pub errors: AtomicU64,
    /// Time spent in operations (not in streaming), in microseconds.
    pub operation_micros: AtomicU64,
}

impl TransportMetrics {
    /// A new set of counters.
    pub fn new() -> Arc<TransportMetrics> {
        Arc::new(TransportMetrics::default())
    }

    fn record<T>(&self, started: Instant, result: &TransportResult<T>) {
        self.operations.fetch_add(1, Ordering::Relaxed);
        self.operation_micros
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A transport that counts into [`TransportMetrics`].
pub struct MeteredTransport {
    inner: Box<dyn Transport>,
    metrics: Arc<TransportMetrics>,
}

impl MeteredTransport {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn Transport>, metrics: Arc<TransportMetrics>) -> Self {
        MeteredTransport { inner, metrics }
    }
}

macro_rules! metered {
    ($self:ident, $call:expr) => {{
        let started = Instant::now();
        let result = $call.await;
        $self.metrics.record(started, &result);
        result
    }};
}

/// Records the opening of a reader, and counts the bytes read through it.
fn counted_reader<'a>(
    metrics: Arc<TransportMetrics>,
    started: Instant,
    result: TransportResult<FileReader<'a>>,
) -> TransportResult<FileReader<'a>> {
    metrics.record(started, &result);
    let inner = result?;
    Ok(Box::new(MapReader {
        inner,
        on_read: move |n| {
            metrics.bytes_read.fetch_add(n as u64, Ordering::Relaxed);
        },
    }))
}

#[async_trait]
impl Transport for MeteredTransport {
    fn site(&self) -> &Site {
        self.inner.site()
    }
    async fn list(&mut self, path: &str) -> TransportResult<Vec<Entry>> {
        metered!(self, self.inner.list(path))
    }
    async fn stat(&mut self, path: &str) -> TransportResult<Entry> {
        metered!(self, self.inner.stat(path))
    }
    async fn read(&mut self, path: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        let metrics = self.metrics.clone();
        let started = Instant::now();
        counted_reader(metrics, started, self.inner.read(path, offset).await)
    }
    async fn read_sized(&mut self, path: &str, offset: u64, size: u64) -> TransportResult<FileReader<'_>> {
        let metrics = self.metrics.clone();
        let started = Instant::now();
        counted_reader(metrics, started, self.inner.read_sized(path, offset, size).await)
    }
    async fn write(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        let metrics = self.metrics.clone();
        let started = Instant::now();
        let result = self.inner.write(path, offset).await;
        metrics.record(started, &result);
        let inner = result?;
        let counter = metrics.clone();
        Ok(Box::new(MapWriter {
            inner,
            on_write: move |n| {
                counter.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
            },
        }))
    }
    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        metered!(self, self.inner.rename(from, to, overwrite))
    }
    async fn make_durable(&mut self, path: &str) -> TransportResult<()> {
        metered!(self, self.inner.make_durable(path))
    }
    async fn delete(&mut self, path: &str) -> TransportResult<()> {
        metered!(self, self.inner.delete(path))
    }
    async fn mkdir_all(&mut self, path: &str) -> TransportResult<()> {
        metered!(self, self.inner.mkdir_all(path))
    }
    async fn rmdir(&mut self, path: &str) -> TransportResult<()> {
        metered!(self, self.inner.rmdir(path))
    }
    async fn checksum(&mut self, path: &str) -> TransportResult<Option<Checksum>> {
        metered!(self, self.inner.checksum(path))
    }
    fn precise_listing_times(&self) -> bool {
        self.inner.precise_listing_times()
    }
    fn cheap_checksum(&self) -> bool {
        self.inner.cheap_checksum()
    }

    fn resume_margin(&self) -> u64 {
        self.inner.resume_margin()
    }
    async fn check(&mut self) -> TransportResult<()> {
        metered!(self, self.inner.check())
    }
    async fn close(self: Box<Self>) -> TransportResult<()> {
        self.inner.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SiteUrl;
    use crate::transport::{Connector, ProtocolConnector};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_bytes_operations_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let site = Site::new(
            "local",
            &SiteUrl::parse(&format!("file://{}", dir.path().display())).unwrap(),
        )
        .unwrap();
        let metrics = TransportMetrics::new();
        let mut t = MeteredTransport::new(ProtocolConnector.connect(&site).await.unwrap(), metrics.clone());
        let mut w = t.write("/a.bin", 0).await.unwrap();
        w.write_all(&[1u8; 1000]).await.unwrap();
        w.finish().await.unwrap();
        let mut out = Vec::new();
        t.read("/a.bin", 100)
            .await
            .unwrap()
            .read_to_end(&mut out)
            .await
            .unwrap();
        assert!(t.stat("/missing").await.is_err());
        assert_eq!(metrics.bytes_written.load(Ordering::Relaxed), 1000);
        assert_eq!(metrics.bytes_read.load(Ordering::Relaxed), 900);
        assert_eq!(metrics.operations.load(Ordering::Relaxed), 3);
        assert_eq!(metrics.errors.load(Ordering::Relaxed), 1);
    }
}
