//! The one retry rule: exponential backoff with jitter on transient errors (timeouts, dropped
//! connections, 4xx replies); permanent errors (wrong password, host key mismatch, not found)
//! fail at once. A listing runs through [`RetryPolicy::run`]; a copy's resumable attempts
//! (`copy`) and a delivery's attempts (the engine) keep their own state between attempts and
//! wait [`RetryPolicy::backoff`] between them.

use crate::transport::TransportResult;
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
