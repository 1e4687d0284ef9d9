//! This node's hold on a run it executes: the lease, renewed in the store while the run goes
//! on, and the fence every step with a lasting effect passes first (a rename into place, a
//! record, an after-delivery action).
//!
//! A node that cannot renew (it lost the database) cannot know whether another node has taken
//! the run over, so it holds the run only until its last renewal's lease runs out, by its own
//! clock: from then on the run stops and writes nothing more. The store checks the same on
//! every write of the run ([`crate::store::StoreError::NotHeld`]), for a node whose clock or
//! scheduling let a write through late.

use super::StopReason;
use crate::scheduler::Clock;
use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a step of a run was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this node no longer holds the run (its lease could not be renewed); stopped before {step}")]
pub(crate) struct NotHeld {
    /// The step that was not taken.
    pub step: &'static str,
}

/// This node's hold on one run.
pub(crate) struct Hold {
    lease: Duration,
    /// When the last renewal that succeeded was asked for (the lease counts from then, or
    /// later, in the store).
    renewed: Mutex<Instant>,
    lost: AtomicBool,
}

impl Hold {
    /// A hold on a run claimed or started just now with `lease`.
    pub fn new(lease: Duration) -> Arc<Hold> {
        Arc::new(Hold {
            lease,
            renewed: Mutex::new(Instant::now()),
            lost: AtomicBool::new(false),
        })
    }

    /// `Ok` while this node still holds the run: no renewal said otherwise, and the last one
    /// is younger than the lease (less a margin for the store's clock and this check's own
    /// latency).
    pub fn check(&self, step: &'static str) -> Result<(), NotHeld> {
        if self.lost.load(Ordering::Acquire) {
            return Err(NotHeld { step });
        }
        let margin = (self.lease / 10).max(Duration::from_millis(100));
        let renewed = *self.renewed.lock().unwrap_or_else(|p| p.into_inner());
        if renewed.elapsed() + margin >= self.lease {
            self.lost.store(true, Ordering::Release);
            return Err(NotHeld { step });
        }
        Ok(())
    }

    fn renewed_at(&self, asked: Instant) {
        let mut renewed = self.renewed.lock().unwrap_or_else(|p| p.into_inner());
        *renewed = (*renewed).max(asked);
    }

    fn lose(&self) {
        self.lost.store(true, Ordering::Release);
    }
}

/// Renews a run's lease in the background until dropped; stops the run when the hold is lost.
pub(crate) struct Renewal {
    task: JoinHandle<()>,
}

impl Renewal {
    /// Starts renewing `run_id` for `node_id` every third of `hold`'s lease; on a lost hold,
    /// `stop` is told to interrupt the run.
    pub fn start(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        run_id: i64,
        node_id: String,
        hold: Arc<Hold>,
        stop: watch::Sender<Option<StopReason>>,
    ) -> Renewal {
        let lease = hold.lease;
        let task = tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                let asked = Instant::now();
                // A database that does not answer must not hold this loop past the lease.
                let renewed =
                    tokio::time::timeout(lease / 3, store.renew_lease(run_id, &node_id, clock.now(), lease)).await;
                match renewed {
                    Ok(Ok(true)) => hold.renewed_at(asked),
                    Ok(Ok(false)) => {
                        tracing::warn!(target: "ftpman::engine", run = run_id, "another node holds this run now; stopping it");
                        hold.lose();
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(target: "ftpman::engine", run = run_id, "could not renew the run's lease: {e}")
                    }
                    Err(_) => {
                        tracing::warn!(target: "ftpman::engine", run = run_id, "could not renew the run's lease: the database did not answer")
                    }
                }
                if hold.check("renewing").is_err() {
                    tracing::warn!(target: "ftpman::engine", run = run_id, "the run's lease ran out unrenewed: stopping it; it writes nothing more");
                    let _ = stop.send(Some(StopReason::Interrupted));
                    break;
                }
            }
        });
        Renewal { task }
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        // Also when the run's future panics or is dropped: a lease nobody renews expires, and
        // the run is then marked interrupted by whichever node looks.
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hold_lapses_with_its_lease_unless_renewed() {
        let hold = Hold::new(Duration::from_millis(300));
        assert!(hold.check("x").is_ok());
        std::thread::sleep(Duration::from_millis(150));
        hold.renewed_at(Instant::now());
        std::thread::sleep(Duration::from_millis(150));
        assert!(hold.check("x").is_ok(), "renewed 150 ms ago, lease 300 ms");
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(hold.check("the rename"), Err(NotHeld { step: "the rename" }));
        // Lost for good: a late renewal does not bring it back.
        hold.renewed_at(Instant::now());
        assert!(hold.check("x").is_err());
    }
}
