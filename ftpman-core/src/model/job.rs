//! Jobs: what moves where, when, and what happens around each file.

use super::{DateWindow, NameDate, string_enum};
use crate::validate::{
    PathTemplate, Valid, ValidationError, check_email, check_glob, check_name, check_path, check_range, parse_cron,
    printable,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::time::Duration;

/// What to do when the target already has a file under the final name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictPolicy {
    /// Replace it if this job delivered it (its ledger says so); fail the file if anything
    /// else is in the way. The default: a changed source replaces its earlier copy, and
    /// nobody else's file is ever replaced.
    ReplaceOwn,
    /// Replace it.
    Overwrite,
    /// Leave it and skip this file.
    Skip,
    /// Deliver as `name_1.ext`, `name_2.ext`, ...
    Rename,
    /// Fail this file.
    Fail,
}

string_enum!(ConflictPolicy, "on_conflict", {
    ReplaceOwn => "replace-own",
    Overwrite => "overwrite",
    Skip => "skip",
    Rename => "rename",
    Fail => "fail",
});

impl ConflictPolicy {
    /// What the policy does when the target name is taken, in words.
    pub fn meaning(&self) -> &'static str {
        match self {
            ConflictPolicy::ReplaceOwn => "replace what this job delivered there, fail on anything else",
            ConflictPolicy::Overwrite => "replace whatever is there",
            ConflictPolicy::Skip => "leave what is there, skip the file",
            ConflictPolicy::Rename => "deliver as name_1.ext, name_2.ext, ...",
            ConflictPolicy::Fail => "fail the file, leave what is there",
        }
    }
}

/// When to send a notification about a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifyPolicy {
    /// Never.
    Never,
    /// When a run is `failed` or `partial`.
    Failure,
    /// After every run.
    Always,
}

string_enum!(NotifyPolicy, "notify", {
    Never => "never",
    Failure => "failure",
    Always => "always",
});

/// What happens to a source file once its copy is delivered and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterAction {
    /// Leave it.
    Keep,
    /// Delete it.
    Delete,
    /// Move it into this folder (relative to the source site's root).
    Move(String),
}

/// Whether folder `path` is `folder` or lies beneath it (both relative to one site's root).
fn beneath(path: &str, folder: &str) -> bool {
    let (path, folder) = (path.trim_end_matches('/'), folder.trim_end_matches('/'));
    folder.is_empty() || path == folder || path.strip_prefix(folder).is_some_and(|rest| rest.starts_with('/'))
}

impl AfterAction {
    /// Parses `keep`, `delete` or `move:DIR`.
    pub fn parse(input: &str) -> Valid<AfterAction> {
        match input.trim() {
            "keep" => Ok(AfterAction::Keep),
            "delete" => Ok(AfterAction::Delete),
            other => match other.strip_prefix("move:") {
                Some(dir) if !dir.trim().is_empty() => {
                    check_path("after", dir)?;
                    Ok(AfterAction::Move(dir.to_string()))
                }
                Some(_) => Err(ValidationError::new("after", "move: needs a folder, e.g. move:/done")),
                None => Err(ValidationError::new(
                    "after",
                    format!("'{}' is not one of: keep, delete, move:DIR", printable(other)),
                )),
            },
        }
    }
}

impl std::fmt::Display for AfterAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AfterAction::Keep => f.write_str("keep"),
            AfterAction::Delete => f.write_str("delete"),
            AfterAction::Move(d) => write!(f, "move:{d}"),
        }
    }
}

/// When a job runs by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Only when started by hand or through the API.
    Manual,
    /// A cron expression (5 or 6 fields) read in a time zone.
    Cron {
        /// The expression as the user wrote it.
        expr: String,
        /// The zone the expression is read in.
        tz: Tz,
    },
    /// Once, at this instant.
    Once {
        /// When.
        at: DateTime<Utc>,
    },
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Manual => f.write_str("manual"),
            Schedule::Cron { expr, tz } => write!(f, "cron '{expr}' ({tz})"),
            Schedule::Once { at } => write!(f, "once at {}", at.to_rfc3339()),
        }
    }
}

/// What the scheduler keeps of an enabled, scheduled job: a few dozen bytes beside the whole
/// [`Job`], so that a node holds a hundred thousand of them in a few MiB.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledJob {
    /// Store id.
    pub id: i64,
    /// Unique name (for the log).
    pub name: Box<str>,
    /// The last change: a change restarts the job's fires from that moment.
    pub updated_at: DateTime<Utc>,
    /// When it runs (never [`Schedule::Manual`]).
    pub schedule: Schedule,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Store id (0 until saved).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Whether the scheduler fires it.
    pub enabled: bool,
    /// Id of the site files come from.
    pub source_site_id: i64,
    /// Folder (or file) on the source site, relative to its root.
    pub source_path: String,
    /// Id of the site files go to.
    pub target_site_id: i64,
    /// Target folder template, relative to the target site's root.
    pub target_path: String,
    /// Only files matching one of these globs (all files when empty).
    pub include: Vec<String>,
    /// Never files matching one of these globs.
    pub exclude: Vec<String>,
    /// Walk sub-folders.
    pub recursive: bool,
    /// A file must be unchanged this long before it is picked up.
    pub min_age: Duration,
    /// Ignore files older than this.
    pub max_age: Option<Duration>,
    /// Only the files of this period (by modification time, or by `name_date`), resolved from
    /// each run's reference time.
    pub window: Option<DateWindow>,
    /// Read each file's date for `window` from its name with this pattern.
    pub name_date: Option<NameDate>,
    /// What to do when the target name is taken.
    pub conflict: ConflictPolicy,
    /// What to do with the source after verified delivery.
    pub after: AfterAction,
    /// Deliver under a temporary name and rename at the end.
    pub atomic: bool,
    /// Files moved at once.
    pub parallel: u32,
    /// Retries per file after the first attempt.
    pub retries: u32,
    /// Delay before the first retry; doubles each time.
    pub retry_backoff: Duration,
    /// Longest a single file may take.
    pub file_timeout: Duration,
    /// Bandwidth limit in bytes per second.
    pub bwlimit: Option<u64>,
    /// When the job runs.
    pub schedule: Schedule,
    /// The job's time zone where its schedule is not a cron expression (a cron schedule
    /// carries its own): what its date windows, path templates and backfill times are read in.
    pub zone: Option<Tz>,
    /// When to notify.
    pub notify: NotifyPolicy,
    /// Who to notify by e-mail.
    pub recipients: Vec<String>,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When the job was last changed.
    pub updated_at: DateTime<Utc>,
}

impl Job {
    /// A new, unsaved job with the defaults a careful user would choose: atomic delivery, keep the
    /// source, replace only what this job delivered, 3 retries, manual schedule.
    pub fn new(name: &str, source_site_id: i64, source_path: &str, target_site_id: i64, target_path: &str) -> Job {
        let now = Utc::now();
        Job {
            id: 0,
            name: name.to_string(),
            enabled: true,
            source_site_id,
            source_path: source_path.to_string(),
            target_site_id,
            target_path: target_path.to_string(),
            include: Vec::new(),
            exclude: Vec::new(),
            recursive: false,
            min_age: Duration::ZERO,
            max_age: None,
            window: None,
            name_date: None,
            conflict: ConflictPolicy::ReplaceOwn,
            after: AfterAction::Keep,
            atomic: true,
            parallel: 4,
            retries: 3,
            retry_backoff: Duration::from_secs(5),
            file_timeout: Duration::from_secs(3_600),
            bwlimit: None,
            schedule: Schedule::Manual,
            zone: None,
            notify: NotifyPolicy::Failure,
            recipients: Vec::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The job's time zone: its cron schedule's, else the one given with `--tz`, else UTC.
    /// Date windows are resolved, path templates filled and its fires shown in it.
    pub fn zone(&self) -> Tz {
        match &self.schedule {
            Schedule::Cron { tz, .. } => *tz,
            _ => self.zone.unwrap_or(chrono_tz::UTC),
        }
    }

    /// Checks every field; the store calls this before each save.
    pub fn validate(&self) -> Valid<()> {
        check_name("name", &self.name)?;
        check_path("source_path", &self.source_path)?;
        let target = PathTemplate::parse("target_path", &self.target_path)?;
        if self.source_site_id == self.target_site_id
            && (self.source_path.trim_end_matches('/') == self.target_path.trim_end_matches('/')
                || (target.folder_is_fixed()
                    && target.fixed_folder().trim_end_matches('/') == self.source_path.trim_end_matches('/')))
        {
            return Err(ValidationError::new(
                "target_path",
                "source and target are the same folder on the same site",
            ));
        }
        // A job that walks its source recursively must not deliver into it, nor move what it
        // delivered into it: each run would pick up the last one's files.
        if self.recursive
            && self.source_site_id == self.target_site_id
            && beneath(&target.fixed_folder(), &self.source_path)
        {
            return Err(ValidationError::new(
                "target_path",
                format!(
                    "{} is inside the source folder {}, which the job walks with its sub-folders: each run would pick up what the last one delivered; choose a target outside it, or do not walk sub-folders",
                    printable(&self.target_path),
                    printable(&self.source_path)
                ),
            ));
        }
        if let AfterAction::Move(dir) = &self.after {
            let same = dir.trim_end_matches('/') == self.source_path.trim_end_matches('/');
            if same || (self.recursive && beneath(dir, &self.source_path)) {
                return Err(ValidationError::new(
                    "after",
                    format!(
                        "move:{} is {} {}: moved files would be listed again; move them to a folder outside it",
                        printable(dir),
                        if same {
                            "the source folder"
                        } else {
                            "inside the source folder"
                        },
                        printable(&self.source_path)
                    ),
                ));
            }
        }
        for g in &self.include {
            check_glob("include", g)?;
        }
        for g in &self.exclude {
            check_glob("exclude", g)?;
        }
        if let Some(max) = self.max_age
            && max <= self.min_age
        {
            return Err(ValidationError::new(
                "max_age",
                "must be longer than min_age, or no file could ever qualify",
            ));
        }
        if let AfterAction::Move(dir) = &self.after {
            check_path("after", dir)?;
        }
        if self.name_date.is_some() && self.window.is_none() {
            return Err(ValidationError::new(
                "name_date",
                "a date in the names is read to pick the files of a window: give a window too, e.g. --window previous-day",
            ));
        }
        check_range("parallel", self.parallel as i64, 1, 64)?;
        check_range("retries", self.retries as i64, 0, 100)?;
        if self.file_timeout.is_zero() {
            return Err(ValidationError::new("file_timeout", "must be longer than 0s"));
        }
        if self.bwlimit == Some(0) {
            return Err(ValidationError::new(
                "bwlimit",
                "must be at least 1 byte per second; leave it unset for no limit",
            ));
        }
        if let Schedule::Cron { expr, tz } = &self.schedule {
            parse_cron("schedule", expr, *tz, Utc::now())?;
        }
        for r in &self.recipients {
            check_email("email", r)?;
        }
        Ok(())
    }
}
