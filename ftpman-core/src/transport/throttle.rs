//! Bandwidth limit: a token bucket shared by every stream of a job, applied to the reading side
//! of each transfer (`copy`), so one limit holds however many files move at once.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A token bucket of `rate` bytes per second with one second of burst.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter of `bytes_per_sec` (at least 1).
    pub fn new(bytes_per_sec: u64) -> Arc<RateLimiter> {
        let rate = bytes_per_sec.max(1) as f64;
        Arc::new(RateLimiter {
            rate,
            state: Mutex::new((rate, Instant::now())),
        })
    }

    /// Takes `n` bytes' worth of tokens; returns how long to wait before the next read.
    fn take(&self, n: usize) -> Duration {
        let Ok(mut state) = self.state.lock() else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let (tokens, last) = *state;
        let refilled = (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.rate);
        let left = refilled - n as f64;
        *state = (left, now);
        if left >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-left / self.rate)
        }
    }

    /// The most a single read should ask for, so one read cannot overshoot by much.
    fn chunk(&self) -> usize {
        (self.rate as usize / 8).clamp(1024, 256 * 1024)
    }
}

/// A reader that keeps to a [`RateLimiter`].
pub struct ThrottledReader<R> {
    inner: R,
    limiter: Arc<RateLimiter>,
    pause: Option<Pin<Box<Sleep>>>,
}

impl<R> ThrottledReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R, limiter: Arc<RateLimiter>) -> Self {
        ThrottledReader {
            inner,
            limiter,
            pause: None,
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for ThrottledReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Some(pause) = self.pause.as_mut() {
            if pause.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.pause = None;
        }
        let chunk = self.limiter.chunk().min(buf.remaining());
        let mut limited = buf.take(chunk);
        let poll = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
        let n = limited.filled().len();
        if let Poll::Ready(Ok(())) = &poll {
            // SAFETY: `take` handed the reader the first `n` unfilled bytes of `buf`, and the
            // reader reported them filled, so they are initialised.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            let wait = self.limiter.take(n);
            if !wait.is_zero() {
                self.pause = Some(Box::pin(tokio::time::sleep(wait)));
            }
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test(start_paused = true)]
    async fn reads_keep_to_the_rate() {
        // 1 MiB/s, 4 MiB read: one second of burst, then three seconds at the rate.
        let limiter = RateLimiter::new(1 << 20);
        let mut r = ThrottledReader::new(tokio::io::repeat(7).take(4 << 20), limiter);
        let started = Instant::now();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0;
        loop {
            let n = r.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
        }
        let took = started.elapsed();
        assert_eq!(total, 4 << 20);
        assert!(
            took >= Duration::from_millis(2_900) && took <= Duration::from_millis(3_300),
            "took {took:?} on the virtual clock"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_limiter_is_shared_by_several_streams() {
        let limiter = RateLimiter::new(1 << 20);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let limiter = limiter.clone();
            tasks.push(tokio::spawn(async move {
                let mut r = ThrottledReader::new(tokio::io::repeat(1).take(2 << 20), limiter);
                let mut sink = Vec::new();
                r.read_to_end(&mut sink).await.unwrap();
                sink.len()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 2 << 20);
        }
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(2_900),
            "4 MiB at a shared 1 MiB/s took only {took:?}"
        );
    }
}
