//! Runs (one execution of a job) and run files (one file within a run).

use super::string_enum;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A schedule fire.
    Schedule,
    /// A person, from the CLI or the web page.
    Manual,
    /// A program, through the API or Python.
    Api,
}

string_enum!(Trigger, "trigger", {
    Schedule => "schedule",
    Manual => "manual",
    Api => "api",
});

/// Where a run is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Waiting for a worker.
    Queued,
    /// A worker holds its lease.
    Running,
    /// Every file delivered, or nothing to do.
    Succeeded,
    /// Some files failed.
    Partial,
    /// Connect or list failed, or every file failed.
    Failed,
    /// The previous run of the job was still going.
    Skipped,
    /// Its worker died (lease expired) or the process stopped.
    Interrupted,
    /// Cancelled by a user.
    Cancelled,
}

string_enum!(RunStatus, "status", {
    Queued => "queued",
    Running => "running",
    Succeeded => "succeeded",
    Partial => "partial",
    Failed => "failed",
    Skipped => "skipped",
    Interrupted => "interrupted",
    Cancelled => "cancelled",
});

impl RunStatus {
    /// Whether the run has ended.
    pub fn is_final(&self) -> bool {
        !matches!(self, RunStatus::Queued | RunStatus::Running)
    }
}

/// File counts and bytes of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Files listed that passed the filters.
    pub found: i64,
    /// Files delivered.
    pub transferred: i64,
    /// Files skipped (ledger, conflict policy).
    pub skipped: i64,
    /// Files that failed.
    pub failed: i64,
    /// Bytes moved.
    pub bytes: i64,
    /// Files passed over because no date could be read for the job's window (no date in the
    /// name, or no modification time listed).
    pub undated: i64,
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Store id.
    pub id: i64,
    /// The job.
    pub job_id: i64,
    /// What started it.
    pub trigger: Trigger,
    /// The fire it stands for (schedule runs); unique per job.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Status.
    pub status: RunStatus,
    /// Counts and bytes.
    pub counts: RunCounts,
    /// Why it failed, in a user's words (first errors).
    pub error: Option<String>,
    /// The node that runs (or ran) it.
    pub node_id: Option<String>,
    /// Until when that node's claim holds.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// A dry run moves nothing.
    pub dry_run: bool,
    /// Someone asked to cancel it (from any process or node); the node running it stops it.
    pub cancel_requested: bool,
    /// The instant a backfill runs as if fired at (`--as-of`).
    pub as_of: Option<DateTime<Utc>>,
    /// Sends the files of its window even when the ledger has them.
    pub again: bool,
    /// The group run it is part of.
    pub group_run_id: Option<i64>,
    /// The date window it took files from, as resolved (`2026-10-26 00:00 .. 2026-11-25
    /// 23:59:59 Europe/Berlin`), once it has started.
    pub window: Option<String>,
    /// While it runs: the files being moved now, with their bytes so far (as of the last
    /// progress write, at most a second old).
    pub active_files: Vec<ActiveFile>,
}

impl Run {
    /// How long it ran, in seconds, once it has started and finished.
    pub fn duration_secs(&self) -> Option<f64> {
        match (self.started_at, self.finished_at) {
            (Some(s), Some(f)) => Some((f - s).num_milliseconds() as f64 / 1000.0),
            _ => None,
        }
    }

    /// The instant the run stands for: what its date window and its target path template are
    /// resolved from. A backfill's `--as-of`; else the fire it stands for (so a late or catch-up
    /// run takes what an on-time one would have); else when it was started.
    pub fn reference_time(&self) -> DateTime<Utc> {
        self.as_of.or(self.scheduled_for).unwrap_or(self.created_at)
    }
}

/// A file a running run is moving.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ActiveFile {
    /// Its path at the source.
    pub path: String,
    /// Its size.
    pub size: u64,
    /// Bytes moved so far.
    pub bytes: u64,
}

/// A run to be created.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// The job.
    pub job_id: i64,
    /// What started it.
    pub trigger: Trigger,
    /// The fire it stands for, if any.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Initial status: `queued`, or `skipped` for a fire that found its job still running.
    pub status: RunStatus,
    /// A dry run moves nothing.
    pub dry_run: bool,
    /// A backfill: run as if fired at this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Send the files of the window even when the ledger has them.
    pub again: bool,
    /// The group run it is part of.
    pub group_run_id: Option<i64>,
}

impl NewRun {
    /// A run of `job_id` started by `trigger`, queued, for no particular fire.
    pub fn new(job_id: i64, trigger: Trigger) -> NewRun {
        NewRun {
            job_id,
            trigger,
            scheduled_for: None,
            status: RunStatus::Queued,
            dry_run: false,
            as_of: None,
            again: false,
            group_run_id: None,
        }
    }
}

/// How a run is asked for, beyond its job: what `job run` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRequest {
    /// What starts it.
    pub trigger: Trigger,
    /// Move nothing; show what would be moved.
    pub dry_run: bool,
    /// A backfill: as if fired at this instant (its window and target path resolved from it).
    pub as_of: Option<DateTime<Utc>>,
    /// Send the files of its window even when the ledger has them.
    pub again: bool,
    /// The group run it is part of.
    pub group_run_id: Option<i64>,
}

impl RunRequest {
    /// A run now, by `trigger`.
    pub fn now(trigger: Trigger, dry_run: bool) -> RunRequest {
        RunRequest {
            trigger,
            dry_run,
            as_of: None,
            again: false,
            group_run_id: None,
        }
    }
}

/// Filter and page for listing runs (newest first).
#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    /// Only this job's runs.
    pub job_id: Option<i64>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs created at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only runs created before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only the runs of this group run.
    pub group_run_id: Option<i64>,
    /// Only runs with an id below this: the cursor of the next page (the last id of this one).
    pub before_id: Option<i64>,
    /// Page size (default 50).
    pub limit: Option<i64>,
    /// Rows to skip (prefer `before_id`: a cursor stays one indexed query however deep).
    pub offset: i64,
}

/// Where one file of a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFileStatus {
    /// Being moved.
    Transferring,
    /// Delivered and verified.
    Transferred,
    /// Not moved (ledger or conflict policy).
    Skipped,
    /// Failed after its retries.
    Failed,
    /// Dry run: would have been moved.
    WouldTransfer,
}

string_enum!(RunFileStatus, "status", {
    Transferring => "transferring",
    Transferred => "transferred",
    Skipped => "skipped",
    Failed => "failed",
    WouldTransfer => "would-transfer",
});

/// One file within a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFile {
    /// Store id (0 until saved).
    pub id: i64,
    /// The run.
    pub run_id: i64,
    /// Path at the source, relative to the source site's root.
    pub source_path: String,
    /// Final path at the target, relative to the target site's root.
    pub target_path: String,
    /// Size at the source.
    pub size: i64,
    /// Bytes moved so far.
    pub bytes: i64,
    /// Time spent.
    pub duration: Duration,
    /// Status.
    pub status: RunFileStatus,
    /// Why it failed or was skipped.
    pub error: Option<String>,
}
