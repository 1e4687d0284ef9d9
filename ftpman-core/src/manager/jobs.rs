//! Jobs: add, edit, enable, disable, remove; options given as the user typed them.

use super::{Manager, ManagerError, ManagerResult, nearest};
use crate::model::{AfterAction, ConflictPolicy, DateWindow, Job, NameDate, NotifyPolicy, Schedule, Site};
use crate::validate::{
    ValidationError, check_email, check_glob, parse_cron, parse_duration, parse_rate, parse_time_zone, parse_timestamp,
    printable,
};
use chrono::Utc;
use std::str::FromStr;

/// What `job add` and `job edit` take, as typed; `None` leaves a field as it is (or default).
/// Field names are the CLI's flags; the web API and Python take the same, validated the same.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobOptions {
    /// `SITE:PATH` files come from (required to add).
    pub from: Option<String>,
    /// `SITE:PATH` (a template) files go to (required to add).
    pub to: Option<String>,
    /// Include globs (replace the list).
    pub include: Option<Vec<String>>,
    /// Exclude globs (replace the list).
    pub exclude: Option<Vec<String>>,
    /// Walk sub-folders.
    pub recursive: Option<bool>,
    /// `5m`: a file must be unchanged this long.
    pub min_age: Option<String>,
    /// `7d`: ignore older files; `none` clears it.
    pub max_age: Option<String>,
    /// Only the files of a period, resolved from each run's reference time: `previous-day`,
    /// `previous-week`, `previous-month`, `cycle:DAY`, `cycle:FROM..TO`, `last:DURATION`,
    /// `DATE..DATE` or `YYYY-MM`; `none` clears it.
    pub window: Option<String>,
    /// Read each file's date for the window from its name (`{yyyy}{mm}{dd}`, `D{yy}{mm}{dd}`)
    /// instead of its modification time; `none` clears it.
    pub name_date: Option<String>,
    /// A cron expression (5 or 6 fields).
    pub schedule: Option<String>,
    /// The job's time zone (default UTC): its cron expression, `at`, date windows, path
    /// templates and backfill times are read in it, with or without a schedule.
    pub tz: Option<String>,
    /// One time: an RFC 3339 timestamp or `YYYY-MM-DD HH:MM` in `tz`.
    pub at: Option<String>,
    /// Manual only (clears a schedule).
    pub manual: bool,
    /// `keep`, `delete` or `move:DIR`.
    pub after: Option<String>,
    /// `replace-own` (the default), `overwrite`, `skip`, `rename` or `fail`.
    pub on_conflict: Option<String>,
    /// Atomic delivery (default on).
    pub atomic: Option<bool>,
    /// Files at once.
    pub parallel: Option<u32>,
    /// Retries per file.
    pub retries: Option<u32>,
    /// Delay before a file's first retry, doubling for each next one (`5s`).
    pub retry_backoff: Option<String>,
    /// `10M` bytes per second; `none` clears it.
    pub bwlimit: Option<String>,
    /// Per-file timeout, `1h`.
    pub file_timeout: Option<String>,
    /// `never`, `failure` or `always`.
    pub notify: Option<String>,
    /// E-mail recipients (replace the list).
    pub email: Option<Vec<String>>,
    /// Enabled or not.
    pub enabled: Option<bool>,
}

fn split_endpoint(field: &str, spec: &str) -> Result<(String, String), ValidationError> {
    match spec.split_once(':') {
        Some((site, path)) if !site.is_empty() => {
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            };
            Ok((site.to_string(), path))
        }
        _ => Err(ValidationError::new(
            field,
            format!("'{}' is not SITE:PATH; write e.g. partner:/outbound", printable(spec)),
        )),
    }
}

fn is_none(v: &str) -> bool {
    matches!(v.trim(), "" | "none" | "off")
}

/// Applies `--schedule`/`--at`/`--manual` and `--tz` as typed to `schedule` and `zone` (a
/// job's or a group's): one of the three at most. `--tz` is the zone everything of it is read
/// in: a cron expression, `--at`, and, without a cron schedule, its windows and backfill times
/// (kept in `zone`); alone, it moves the schedule to another zone. A new schedule without
/// `--tz` keeps the zone it had.
pub(super) fn apply_schedule(
    schedule: &mut Schedule,
    zone: &mut Option<chrono_tz::Tz>,
    cron: &Option<String>,
    at: &Option<String>,
    manual: bool,
    tz: &Option<String>,
) -> ManagerResult<()> {
    let given = match tz {
        Some(tz) => Some(parse_time_zone("tz", tz)?),
        None => None,
    };
    let current = match &*schedule {
        Schedule::Cron { tz, .. } => Some(*tz),
        _ => *zone,
    };
    let tz = given.or(current);
    match (cron, at, manual) {
        (Some(_), Some(_), _) | (Some(_), _, true) | (_, Some(_), true) => {
            return Err(ValidationError::new("schedule", "give one of --schedule, --at or --manual").into());
        }
        (Some(expr), None, false) => {
            let tz = tz.unwrap_or(chrono_tz::UTC);
            parse_cron("schedule", expr, tz, Utc::now())?;
            *schedule = Schedule::Cron {
                expr: expr.trim().to_string(),
                tz,
            };
        }
        (None, Some(at), false) => {
            let at = parse_timestamp("at", at, tz.unwrap_or(chrono_tz::UTC))?;
            *schedule = Schedule::Once { at };
        }
        (None, None, true) => *schedule = Schedule::Manual,
        (None, None, false) => {
            if let (Some(tz), Schedule::Cron { expr, .. }) = (tz, &*schedule) {
                *schedule = Schedule::Cron { expr: expr.clone(), tz };
            }
        }
    }
    // A cron schedule carries its zone; anything else keeps it beside the schedule.
    *zone = match schedule {
        Schedule::Cron { .. } => None,
        _ => tz,
    };
    Ok(())
}

impl Manager {
    /// A job by name, or a not-found error naming the nearest job.
    pub async fn job(&self, name: &str) -> ManagerResult<Job> {
        match self.store.job(name).await {
            Ok(j) => Ok(j),
            Err(crate::store::StoreError::NotFound { .. }) => Err(ManagerError::NotFound {
                kind: "job",
                name: name.to_string(),
                suggestion: nearest(name, self.store.jobs().await?.into_iter().map(|j| j.name)),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Every job, by name.
    pub async fn jobs(&self) -> ManagerResult<Vec<Job>> {
        Ok(self.store.jobs().await?)
    }

    async fn endpoint(&self, field: &str, spec: &str) -> ManagerResult<(Site, String)> {
        let (site, path) = split_endpoint(field, spec)?;
        Ok((self.site(&site).await?, path))
    }

    async fn apply_job(&self, job: &mut Job, o: &JobOptions) -> ManagerResult<()> {
        if let Some(from) = &o.from {
            let (site, path) = self.endpoint("from", from).await?;
            job.source_site_id = site.id;
            job.source_path = path;
        }
        if let Some(to) = &o.to {
            let (site, path) = self.endpoint("to", to).await?;
            job.target_site_id = site.id;
            job.target_path = path;
        }
        if let Some(globs) = &o.include {
            for g in globs {
                check_glob("include", g)?;
            }
            job.include = globs.clone();
        }
        if let Some(globs) = &o.exclude {
            for g in globs {
                check_glob("exclude", g)?;
            }
            job.exclude = globs.clone();
        }
        if let Some(r) = o.recursive {
            job.recursive = r;
        }
        if let Some(v) = &o.min_age {
            job.min_age = parse_duration("min_age", v)?;
        }
        if let Some(v) = &o.max_age {
            job.max_age = if is_none(v) {
                None
            } else {
                Some(parse_duration("max_age", v)?)
            };
        }
        if let Some(v) = &o.window {
            job.window = if is_none(v) { None } else { Some(DateWindow::parse(v)?) };
        }
        if let Some(v) = &o.name_date {
            job.name_date = if is_none(v) { None } else { Some(NameDate::parse(v)?) };
        }
        apply_schedule(&mut job.schedule, &mut job.zone, &o.schedule, &o.at, o.manual, &o.tz)?;
        if let Some(v) = &o.after {
            job.after = AfterAction::parse(v)?;
        }
        if let Some(v) = &o.on_conflict {
            job.conflict = ConflictPolicy::from_str(v)?;
        }
        if let Some(v) = o.atomic {
            job.atomic = v;
        }
        if let Some(v) = o.parallel {
            job.parallel = v;
        }
        if let Some(v) = &o.retry_backoff {
            job.retry_backoff = parse_duration("retry_backoff", v)?;
        }
        if let Some(v) = o.retries {
            job.retries = v;
        }
        if let Some(v) = &o.bwlimit {
            job.bwlimit = if is_none(v) {
                None
            } else {
                Some(parse_rate("bwlimit", v)?)
            };
        }
        if let Some(v) = &o.file_timeout {
            job.file_timeout = parse_duration("file_timeout", v)?;
        }
        if let Some(v) = &o.notify {
            job.notify = NotifyPolicy::from_str(v)?;
        }
        if let Some(list) = &o.email {
            for a in list {
                check_email("email", a)?;
            }
            job.recipients = list.clone();
        }
        if let Some(e) = o.enabled {
            job.enabled = e;
        }
        job.validate()?;
        Ok(())
    }

    /// Adds a job.
    pub async fn add_job(&self, name: &str, opts: &JobOptions) -> ManagerResult<Job> {
        crate::validate::check_name("name", name)?;
        let (from, to) = match (&opts.from, &opts.to) {
            (Some(f), Some(t)) => (f, t),
            (None, _) => return Err(ValidationError::new("from", "a job needs --from SITE:PATH").into()),
            (_, None) => return Err(ValidationError::new("to", "a job needs --to SITE:PATH").into()),
        };
        let (src, src_path) = self.endpoint("from", from).await?;
        let (dst, dst_path) = self.endpoint("to", to).await?;
        let mut job = Job::new(name, src.id, &src_path, dst.id, &dst_path);
        self.apply_job(&mut job, opts).await?;
        let saved = self.store.create_job(&job).await?;
        self.audit(format!("job '{name}' added"), serde_json::json!({"job": name}))
            .await;
        Ok(saved)
    }

    /// Changes a job.
    pub async fn edit_job(&self, name: &str, opts: &JobOptions) -> ManagerResult<Job> {
        let mut job = self.job(name).await?;
        self.apply_job(&mut job, opts).await?;
        let saved = self.store.update_job(&job).await?;
        self.audit(format!("job '{name}' changed"), serde_json::json!({"job": name}))
            .await;
        Ok(saved)
    }

    /// Enables or disables a job.
    pub async fn set_job_enabled(&self, name: &str, enabled: bool) -> ManagerResult<Job> {
        let opts = JobOptions {
            enabled: Some(enabled),
            ..JobOptions::default()
        };
        self.edit_job(name, &opts).await
    }

    /// Removes a job with its runs and ledger.
    pub async fn remove_job(&self, name: &str) -> ManagerResult<()> {
        let job = self.job(name).await?;
        let groups = self.groups_of_job(job.id).await?;
        if !groups.is_empty() {
            return Err(ManagerError::Conflict(format!(
                "job '{name}' is in group {}: take it out of the group (group edit --jobs) or remove the group first",
                groups.iter().map(|g| format!("'{g}'")).collect::<Vec<_>>().join(", ")
            )));
        }
        self.store.delete_job(name).await?;
        self.audit(format!("job '{name}' removed"), serde_json::json!({"job": name}))
            .await;
        Ok(())
    }

    /// Clears a job's ledger, all of it or the source paths given (relative to the source
    /// site's root, as `run show` lists them): those files are sent again by its next run.
    /// Returns how many entries went.
    pub async fn forget(&self, name: &str, paths: &[String]) -> ManagerResult<u64> {
        let job = self.job(name).await?;
        let forgotten = if paths.is_empty() {
            self.store.forget_ledger(job.id).await?
        } else {
            let paths = paths
                .iter()
                .map(|p| crate::transport::path::normalize(p).map_err(|reason| ValidationError::new("path", reason)))
                .collect::<Result<Vec<_>, _>>()?;
            self.store.forget_ledger_paths(job.id, &paths).await?
        };
        self.audit(
            format!("job '{name}': {forgotten} ledger entries cleared"),
            serde_json::json!({"job": name, "paths": paths}),
        )
        .await;
        Ok(forgotten)
    }

    /// A cron expression (read in `tz`, default UTC) in words and its next `count` fires, or
    /// why it is refused (field `schedule` or `tz`): what a form shows as the user types.
    pub fn describe_schedule(
        &self,
        expr: &str,
        tz: Option<&str>,
        count: usize,
    ) -> ManagerResult<(String, Vec<chrono::DateTime<Utc>>)> {
        let tz = match tz.filter(|t| !t.is_empty()) {
            Some(t) => crate::validate::parse_time_zone("tz", t)?,
            None => chrono_tz::UTC,
        };
        let now = Utc::now();
        let cron = parse_cron("schedule", expr, tz, now)?;
        let schedule = Schedule::Cron {
            expr: expr.trim().to_string(),
            tz,
        };
        let fires = cron
            .iter_after(now.with_timezone(&tz))
            .take(count)
            .map(|t| t.with_timezone(&Utc))
            .collect();
        Ok((schedule.describe(), fires))
    }

    /// The next `count` fires of job `name`.
    pub async fn next_fires(&self, name: &str, count: usize) -> ManagerResult<Vec<chrono::DateTime<Utc>>> {
        let job = self.job(name).await?;
        Ok(crate::scheduler::next_fires(&job, Utc::now(), count)?)
    }
}
