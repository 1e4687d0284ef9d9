//! Retry with exponential backoff on transient errors (timeouts, dropped connections, 4xx
//! replies). Permanent errors (wrong password, host key mismatch, not found) fail at once.

use crate::model::Site;
use crate::transport::{
    Checksum, Connector, Entry, FileReader, FileWriter, Transport, TransportError, TransportResult,
};
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
    /// Delay before the second attempt; doubles each time.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based), with up to 20% jitter so many
    /// workers do not return to a server in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let base = base.min(self.max_backoff);
        let jitter = getrandom::u64().unwrap_or(0) % 1000;
        base + base.mul_f64(jitter as f64 / 5000.0)
    }

    /// Runs `op` until it succeeds, fails permanently, or attempts run out.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> TransportResult<T>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = TransportResult<T>>,
    {
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) if e.is_transient() && attempt < self.attempts.max(1) => {
                    let delay = self.backoff(attempt);
                    tracing::info!(target: "ftpman::transport", attempt, delay_ms = delay.as_millis() as u64, "retrying after: {e}");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A connector that retries transient connect failures.
pub struct RetryConnector {
    inner: Arc<dyn Connector>,
    policy: RetryPolicy,
}

impl RetryConnector {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Connector>, policy: RetryPolicy) -> Self {
        RetryConnector { inner, policy }
    }
}

#[async_trait]
impl Connector for RetryConnector {
    async fn connect(&self, site: &Site) -> TransportResult<Box<dyn Transport>> {
        self.policy.run(|_| self.inner.connect(site)).await
    }
}

/// A transport that reconnects and retries an operation after a transient failure. Opening a
/// stream is retried the same way; a stream that breaks midway is resumed by the caller from
/// its offset (see [`crate::transport::copy`]), since only the caller knows how far it got.
pub struct RetryingTransport {
    site: Site,
    inner: Option<Box<dyn Transport>>,
    connector: Arc<dyn Connector>,
    policy: RetryPolicy,
}

impl RetryingTransport {
    /// Wraps an open connection; `connector` makes new ones after a failure.
    pub fn new(inner: Box<dyn Transport>, connector: Arc<dyn Connector>, policy: RetryPolicy) -> Self {
        RetryingTransport {
            site: inner.site().clone(),
            inner: Some(inner),
            connector,
            policy,
        }
    }

    async fn conn(&mut self) -> TransportResult<&mut Box<dyn Transport>> {
        if self.inner.is_none() {
            self.inner = Some(self.connector.connect(&self.site).await?);
        }
        self.inner.as_mut().ok_or_else(|| TransportError::Config {
            site: self.site.name.clone(),
            reason: "no connection".into(),
        })
    }

    /// Drops the connection after a transient error, so the next attempt starts afresh.
    fn on_error(&mut self, e: &TransportError) {
        if e.is_transient() {
            self.inner = None;
        }
    }
}

macro_rules! with_retry {
    ($self:ident, |$conn:ident| $call:expr) => {{
        let attempts = $self.policy.attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = match $self.conn().await {
                Ok($conn) => $call.await,
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => break Ok(v),
                Err(e) => {
                    $self.on_error(&e);
                    if !e.is_transient() || attempt >= attempts {
                        break Err(e);
                    }
                    let delay = $self.policy.backoff(attempt);
                    tracing::info!(target: "ftpman::transport", site = %$self.site.name, attempt, "retrying after: {e}");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }};
}

#[async_trait]
impl Transport for RetryingTransport {
    fn site(&self) -> &Site {
        &self.site
    }

    async fn list(&mut self, path: &str) -> TransportResult<Vec<Entry>> {
        with_retry!(self, |c| c.list(path))
    }

    async fn stat(&mut self, path: &str) -> TransportResult<Entry> {
        with_retry!(self, |c| c.stat(path))
    }

    async fn read(&mut self, path: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        // Opens on a live connection (a fresh one if the last operation broke it); a stream that
        // fails is resumed by the caller, who knows the offset.
        self.conn().await?.read(path, offset).await
    }

    async fn read_sized(&mut self, path: &str, offset: u64, size: u64) -> TransportResult<FileReader<'_>> {
        self.conn().await?.read_sized(path, offset, size).await
    }

    async fn write(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        self.conn().await?.write(path, offset).await
    }

    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        with_retry!(self, |c| c.rename(from, to, overwrite))
    }

    async fn make_durable(&mut self, path: &str) -> TransportResult<()> {
        with_retry!(self, |c| c.make_durable(path))
    }

    async fn delete(&mut self, path: &str) -> TransportResult<()> {
        with_retry!(self, |c| c.delete(path))
    }

    async fn mkdir_all(&mut self, path: &str) -> TransportResult<()> {
        with_retry!(self, |c| c.mkdir_all(path))
    }

    async fn rmdir(&mut self, path: &str) -> TransportResult<()> {
        with_retry!(self, |c| c.rmdir(path))
    }

    async fn checksum(&mut self, path: &str) -> TransportResult<Option<Checksum>> {
        with_retry!(self, |c| c.checksum(path))
    }

    fn precise_listing_times(&self) -> bool {
        self.inner.as_ref().is_some_and(|c| c.precise_listing_times())
    }

    fn cheap_checksum(&self) -> bool {
        self.inner.as_ref().is_some_and(|c| c.cheap_checksum())
    }

    fn resume_margin(&self) -> u64 {
        self.inner.as_ref().map_or(0, |c| c.resume_margin())
    }

    async fn check(&mut self) -> TransportResult<()> {
        with_retry!(self, |c| c.check())
    }

    async fn close(self: Box<Self>) -> TransportResult<()> {
        match self.inner {
            Some(c) => c.close().await,
            None => Ok(()),
        }
    }
}
