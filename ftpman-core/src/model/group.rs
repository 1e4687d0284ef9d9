//! Job groups: several jobs run one after another as one unit (collect from five carriers, then
//! upload the bundle), on a schedule of their own or by hand, fired once across nodes.

use super::{RunStatus, Schedule, Trigger};
use crate::validate::{Valid, ValidationError, check_name, parse_cron};
use chrono::{DateTime, Utc};

/// A group as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Store id (0 until saved).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Whether the scheduler fires it.
    pub enabled: bool,
    /// Its jobs' ids, in the order they run.
    pub job_ids: Vec<i64>,
    /// When it runs by itself.
    pub schedule: Schedule,
    /// Its time zone where its schedule is not a cron expression: what backfill times are read in.
    pub zone: Option<chrono_tz::Tz>,
    /// Go on with the next job after one failed (by default the group stops there).
    pub continue_on_failure: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Group {
    /// A new, unsaved group of `job_ids`, run by hand, stopping at the first failed job.
    pub fn new(name: &str, job_ids: Vec<i64>) -> Group {
        let now = Utc::now();
        Group {
            id: 0,
            name: name.to_string(),
            enabled: true,
            job_ids,
            schedule: Schedule::Manual,
            zone: None,
            continue_on_failure: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// The group's time zone: its cron schedule's, else the one given with `--tz`, else UTC.
    pub fn zone(&self) -> chrono_tz::Tz {
        match &self.schedule {
            Schedule::Cron { tz, .. } => *tz,
            _ => self.zone.unwrap_or(chrono_tz::UTC),
        }
    }

    /// Checks every field; the store calls this before each save.
    pub fn validate(&self) -> Valid<()> {
        check_name("name", &self.name)?;
        if self.job_ids.is_empty() {
            return Err(ValidationError::new(
                "jobs",
                "a group needs at least one job, e.g. --jobs collect-a,collect-b,upload",
            ));
        }
        if let Some(twice) = self
            .job_ids
            .iter()
            .enumerate()
            .find(|(i, id)| self.job_ids[..*i].contains(id))
        {
            return Err(ValidationError::new(
                "jobs",
                format!("job #{} is listed twice; a group runs each of its jobs once", twice.1),
            ));
        }
        if self.job_ids.len() > 100 {
            return Err(ValidationError::new("jobs", "a group holds at most 100 jobs"));
        }
        if let Schedule::Cron { expr, tz } = &self.schedule {
            parse_cron("schedule", expr, *tz, Utc::now())?;
        }
        Ok(())
    }
}

/// One run of a group: its jobs' runs link to it.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRun {
    /// Store id.
    pub id: i64,
    /// The group.
    pub group_id: i64,
    /// What started it.
    pub trigger: Trigger,
    /// The fire it stands for (schedule runs); unique per group.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// A backfill's reference time (`group run --as-of`).
    pub as_of: Option<DateTime<Utc>>,
    /// Its jobs send the files of their windows even when the ledger has them.
    pub again: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When a node started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// `queued`, `running`, then `succeeded`, `partial` (some jobs failed, the group went on),
    /// `failed` (stopped at a failed job, or every job failed), `skipped` (the previous run of
    /// the group was still going) or `interrupted` (its node stopped).
    pub status: RunStatus,
    /// Which job failed and what was not run, in a user's words.
    pub error: Option<String>,
    /// The node that runs (or ran) it.
    pub node_id: Option<String>,
    /// Until when that node's claim holds.
    pub lease_expires_at: Option<DateTime<Utc>>,
}

impl GroupRun {
    /// The instant its jobs' windows and target paths are resolved from: a backfill's
    /// `--as-of`, else the fire it stands for, else when it was started.
    pub fn reference_time(&self) -> DateTime<Utc> {
        self.as_of.or(self.scheduled_for).unwrap_or(self.created_at)
    }
}

/// A group run to be created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGroupRun {
    /// The group.
    pub group_id: i64,
    /// What started it.
    pub trigger: Trigger,
    /// The fire it stands for, if any.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// `queued` (a fire), or `skipped` for a fire that found the group still running.
    pub status: RunStatus,
    /// A backfill: as if fired at this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Send again what the ledgers have.
    pub again: bool,
}
