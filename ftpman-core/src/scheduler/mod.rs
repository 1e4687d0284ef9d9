//! The [`Scheduler`] trait and the clock it reads. The scheduler turns each fire of an enabled
//! job into exactly one queued run (the store's unique (job, scheduled_for) makes that hold across
//! nodes); workers claim queued runs and execute them. [`service::Service`] is the
//! implementation `ftpman serve` runs.

mod group_fires;
pub mod service;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Mutex;

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

/// A clock that moves only when told to: for tests, and for programs that replay a schedule.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock { now: Mutex::new(start) }
    }

    /// Moves the clock to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        if let Ok(mut now) = self.now.lock() {
            *now = t;
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += d;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.lock().map(|n| *n).unwrap_or_else(|p| *p.into_inner())
    }
}

/// The next `count` fires of a job strictly after `after` (empty for manual jobs and for one-time
/// jobs whose instant has passed). Cron fires are computed in the job's time zone, so
/// daylight-saving changes are handled by the calendar rules of that zone.
pub fn next_fires(job: &Job, after: DateTime<Utc>, count: usize) -> Valid<Vec<DateTime<Utc>>> {
    next_fires_of(&job.schedule, after, count)
}

/// The next `count` fires of `schedule` (a job's or a group's) after `after`.
pub fn next_fires_of(schedule: &Schedule, after: DateTime<Utc>, count: usize) -> Valid<Vec<DateTime<Utc>>> {
    match schedule {
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

/// The latest fire of a job at or before `at` (None for manual jobs and for one-time jobs not yet
/// due).
pub fn latest_fire(job: &Job, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match &job.schedule {
        Schedule::Manual => None,
        Schedule::Once { at: once } => (*once <= at).then_some(*once),
        Schedule::Cron { expr, tz } => {
            let cron = parse_cron("schedule", expr, *tz, at).ok()?;
            cron.find_previous_occurrence(&at.with_timezone(tz), true)
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

/// A job's schedule with its cron expression parsed once, for computing many fires cheaply.
#[derive(Debug, Clone)]
pub enum CompiledSchedule {
    /// No fires.
    Manual,
    /// One fire.
    Once(DateTime<Utc>),
    /// A parsed cron expression (shared by every schedule with the same text) and its zone.
    Cron(std::sync::Arc<croner::Cron>, chrono_tz::Tz),
}

impl CompiledSchedule {
    /// A schedule (a job's or a group's), parsed once.
    pub fn of(schedule: &Schedule) -> CompiledSchedule {
        match schedule {
            Schedule::Manual => CompiledSchedule::Manual,
            Schedule::Once { at } => CompiledSchedule::Once(*at),
            Schedule::Cron { expr, tz } => match parse_cron("schedule", expr, *tz, Utc::now()) {
                Ok(c) => CompiledSchedule::Cron(std::sync::Arc::new(c), *tz),
                Err(_) => CompiledSchedule::Manual,
            },
        }
    }

    /// The first fire strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            CompiledSchedule::Manual => None,
            CompiledSchedule::Once(at) => (*at > after).then_some(*at),
            CompiledSchedule::Cron(cron, tz) => cron
                .find_next_occurrence(&after.with_timezone(tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }

    /// The latest fire at or before `at`.
    pub fn latest_at(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            CompiledSchedule::Manual => None,
            CompiledSchedule::Once(once) => (*once <= at).then_some(*once),
            CompiledSchedule::Cron(cron, tz) => cron
                .find_previous_occurrence(&at.with_timezone(tz), true)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
        }
    }
}

/// Compiled schedules by their text, so that jobs sharing a schedule (most of a large
/// installation's do) share one parsed cron.
#[derive(Default)]
pub(crate) struct CompiledSchedules(std::collections::HashMap<(String, chrono_tz::Tz), CompiledSchedule>);

impl CompiledSchedules {
    /// `schedule`, compiled once per distinct cron text and zone.
    pub(crate) fn of(&mut self, schedule: &Schedule) -> CompiledSchedule {
        match schedule {
            Schedule::Cron { expr, tz } => self
                .0
                .entry((expr.clone(), *tz))
                .or_insert_with(|| CompiledSchedule::of(schedule))
                .clone(),
            other => CompiledSchedule::of(other),
        }
    }

    /// Forgets the schedules no job uses any more (kept: those `used` names).
    pub(crate) fn retain_used<'a>(&mut self, used: impl Iterator<Item = &'a Schedule>) {
        let used: std::collections::HashSet<(&str, chrono_tz::Tz)> = used
            .filter_map(|s| match s {
                Schedule::Cron { expr, tz } => Some((expr.as_str(), *tz)),
                _ => None,
            })
            .collect();
        self.0.retain(|(expr, tz), _| used.contains(&(expr.as_str(), *tz)));
    }
}

/// Drives fires until told to stop.
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Queues the runs of every fire due up to now; returns how many runs were created.
    async fn tick(&self) -> Result<usize, crate::store::StoreError>;
    /// Runs until `shutdown` turns true, then returns after letting running files finish within
    /// the grace period and releasing what it holds.
    async fn run_until(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> Result<(), crate::store::StoreError>;
}
