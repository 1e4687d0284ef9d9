//! How many bytes of SFTP requests may be in flight on one link. Each request's timeout runs
//! from when it is sent, and a request waits behind those sent before it, so a fixed window
//! that a slow link cannot answer within the timeout fails requests whose data is on its way
//! (russh-sftp's 64 reads of 255 KiB timed out below 0.5 MB/s with the default 30 s). The
//! budget follows the link instead: a reply that came `waited` after its request, which had
//! `ahead` bytes in flight before and with it, says the link moves about `ahead / waited`; the
//! budget is what it moves in a quarter of the timeout, at most twice the last budget.

use std::time::Duration;

/// The most bytes of reads in flight: 8 MiB keeps a connection busy over a link of a few
/// milliseconds, and four segments together hold about what one russh-sftp reader did.
pub(super) const MAX_READS_IN_FLIGHT: u64 = 8 << 20;

/// The most bytes of writes in flight: 2 MiB, as russh-sftp's writer kept. More would speed
/// an upload over a long round trip, and would make every resume start that much earlier
/// (`write::RESUME_MARGIN`).
pub(super) const MAX_WRITES_IN_FLIGHT: u64 = 2 << 20;

/// The least: one small request at a time, for a link of a few KB/s.
const MIN_IN_FLIGHT: u64 = 32 * 1024;

/// Where a transfer starts: 64 KiB, doubled while replies come back quickly (on a fast link
/// the budget is full within a few replies; on a slow one, nothing has been sent that cannot
/// arrive in time).
const FIRST_IN_FLIGHT: u64 = 64 * 1024;

/// The bytes one transfer may have in flight, following the link.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pace {
    budget: u64,
    most: u64,
    timeout: Duration,
}

impl Pace {
    /// A transfer whose requests each have `timeout` for their reply, with at most `most`
    /// bytes in flight.
    pub(super) fn new(timeout: Duration, most: u64) -> Pace {
        Pace {
            budget: FIRST_IN_FLIGHT,
            most,
            timeout,
        }
    }

    /// How many bytes may be in flight now.
    pub(super) fn budget(&self) -> u64 {
        self.budget
    }

    /// A reply came `waited` after its request was sent with `ahead` bytes in flight (its
    /// own and those sent before it).
    pub(super) fn replied(&mut self, ahead: u64, waited: Duration) {
        let rate = ahead as f64 / waited.as_secs_f64().max(1e-4);
        let target = (rate * self.timeout.as_secs_f64() / 4.0) as u64;
        self.budget = target.clamp(MIN_IN_FLIGHT, self.most).min(self.budget * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_what_the_link_moves_in_a_quarter_of_the_timeout() {
        let mut pace = Pace::new(Duration::from_secs(8), MAX_READS_IN_FLIGHT);
        assert_eq!(pace.budget(), 64 * 1024);
        // A fast link: the budget doubles reply by reply up to its bound, no further.
        for _ in 0..20 {
            pace.replied(pace.budget(), Duration::from_millis(5));
        }
        assert_eq!(pace.budget(), MAX_READS_IN_FLIGHT);
        // 1 MiB/s: 2 MiB answers within the quarter of 8 s.
        pace.replied(4 << 20, Duration::from_secs(4));
        assert_eq!(pace.budget(), 2 << 20);
        // A crawling link keeps one small request.
        pace.replied(32 * 1024, Duration::from_secs(7));
        assert_eq!(pace.budget(), MIN_IN_FLIGHT);
    }
}
