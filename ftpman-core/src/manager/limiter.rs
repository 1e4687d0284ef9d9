//! Sign-in throttling: after too many failed attempts for one user name, or from one address,
//! further attempts are refused for a while, before the password is even checked, so that
//! guessing passwords costs hours rather than seconds.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per user name within [`WINDOW`].
pub const PER_USER: usize = 5;
/// Failed sign-ins allowed per client address within [`WINDOW`] (several users behind one
/// proxy or office address share it, so it is larger).
pub const PER_ADDRESS: usize = 20;
/// How long a failed attempt counts.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts recent failed sign-ins by key (`user:alice`, `addr:10.0.0.5`); kept in this process
/// (each node counts its own attempts).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    /// `Some(seconds to wait)` when `key` has used up its `allowed` failures.
    pub fn blocked(&self, key: &str, allowed: usize, now: Instant) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = map.get_mut(key)?;
        while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            times.pop_front();
        }
        if times.len() < allowed {
            return None;
        }
        let oldest = *times.front()?;
        Some((WINDOW.saturating_sub(now.duration_since(oldest))).as_secs().max(1))
    }

    /// Counts a failed attempt for `key`.
    pub fn fail(&self, key: &str, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bounded: an attacker cycling names cannot grow the map without limit.
        if map.len() > 100_000 {
            map.retain(|_, t| t.back().is_some_and(|last| now.duration_since(*last) < WINDOW));
        }
        let times = map.entry(key.to_string()).or_default();
        times.push_back(now);
        while times.len() > PER_ADDRESS {
            times.pop_front();
        }
    }

    /// Forgets `key`'s failures (after a successful sign-in).
    pub fn clear(&self, key: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_allowed_failures_until_the_window_passes() {
        let l = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..PER_USER {
            assert_eq!(l.blocked("user:a", PER_USER, t0), None);
            l.fail("user:a", t0);
        }
        let wait = l.blocked("user:a", PER_USER, t0 + Duration::from_secs(60));
        assert_eq!(wait, Some(WINDOW.as_secs() - 60));
        assert_eq!(l.blocked("user:b", PER_USER, t0), None, "other names are not affected");
        assert_eq!(l.blocked("user:a", PER_USER, t0 + WINDOW), None, "failures age out");
        l.fail("user:a", t0);
        l.clear("user:a");
        assert_eq!(l.blocked("user:a", PER_USER, t0), None);
    }
}
