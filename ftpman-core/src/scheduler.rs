//! The [`Scheduler`] trait and the clock it reads. The scheduler turns each fire of an enabled
//! job into exactly one queued run (the store's unique (job, scheduled_for) makes that hold across
//! nodes). Its implementation comes with the engine issue.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::model::{Job, Schedule};
use crate::validate::{Valid, parse_cron};

/// A source of "now", so schedules can be tested on a controllable clock.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The next `count` fires of a job strictly after `after` (empty for manual jobs and for one-time
/// jobs whose instant has passed). Cron fires are computed in the job's time zone, so
/// daylight-saving changes are handled by the calendar rules of that zone.
pub fn next_fires(job: &Job, after: DateTime<Utc>, count: usize) -> Valid<Vec<DateTime<Utc>>> {
    match &job.schedule {
        Schedule::Manual => Ok(Vec::new()),
        Schedule::Once { at } => Ok(if *at > after { vec![*at] } else { Vec::new() }),
        Schedule::Cron { expr, tz } => {
            let cron = parse_cron("schedule", expr, *tz, after)?;
            Ok(cron
                .iter_after(after.with_timezone(tz))
                .take(count)
                .map(|t| t.with_timezone(&Utc))
                .collect())
        }
    }
}

/// Drives fires until told to stop.
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Queues the runs of every fire due up to now; returns how many were queued.
    async fn tick(&self) -> Result<usize, crate::store::StoreError>;
    /// Runs until `shutdown` resolves, then returns after releasing what it holds.
    async fn run_until(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<(), crate::store::StoreError>;
}
