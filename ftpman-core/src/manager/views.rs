//! The views every frontend shows (one idea, the shape of what leaves the core): the CLI's
//! `--json`, the web API's bodies, Python's result objects. Stable field names, times in RFC 3339
//! (UTC), sizes in bytes, and never a secret: only whether one is set.

use crate::model::{ApiToken, Job, LogEntry, Node, Run, RunFile, Schedule, Setting, Site, User};
use crate::transport::site_test::{SiteTestFailure, SiteTestReport};
use crate::transport::{Entry, EntryKind};
use crate::validate::{format_duration, format_rate};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub(super) fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

pub(super) fn opt_time(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(time)
}

/// The outcome of a site's last connection test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SiteTestSummary {
    /// When it was tested.
    pub tested_at: String,
    /// Whether it connected, logged in and listed its root.
    pub ok: bool,
    /// What went wrong.
    pub message: Option<String>,
}

impl From<&crate::model::SiteTestRecord> for SiteTestSummary {
    fn from(t: &crate::model::SiteTestRecord) -> Self {
        SiteTestSummary {
            tested_at: time(t.tested_at),
            ok: t.ok,
            message: t.message.clone(),
        }
    }
}

/// A site, without its secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SiteView {
    pub name: String,
    pub protocol: String,
    pub url: String,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub root: String,
    pub passive: bool,
    pub host_key: Option<String>,
    pub cert_fingerprint: Option<String>,
    pub insecure_skip_verify: bool,
    pub max_connections: u32,
    pub timeout: String,
    pub has_password: bool,
    pub has_private_key: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The last connection test, where the site was tested (and the view asked for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_test: Option<SiteTestSummary>,
}

impl From<&Site> for SiteView {
    fn from(s: &Site) -> Self {
        SiteView {
            name: s.name.clone(),
            protocol: s.protocol.as_str().into(),
            url: s.url(),
            host: s.host.clone(),
            port: s.port,
            username: s.username.clone(),
            root: s.root.clone(),
            passive: s.passive,
            host_key: s.host_key.clone(),
            cert_fingerprint: s.cert_fingerprint.clone(),
            insecure_skip_verify: s.insecure_skip_verify,
            max_connections: s.max_connections,
            timeout: format_duration(s.connect_timeout),
            has_password: s.password.is_some(),
            has_private_key: s.private_key.is_some(),
            created_at: time(s.created_at),
            updated_at: time(s.updated_at),
            last_test: None,
        }
    }
}

/// When a job runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScheduleView {
    /// `manual`, `cron` or `once`.
    pub kind: String,
    pub cron: Option<String>,
    pub tz: Option<String>,
    pub at: Option<String>,
    /// In words.
    pub text: String,
}

impl ScheduleView {
    /// The view of a job's or a group's schedule.
    pub fn of(schedule: &Schedule) -> ScheduleView {
        let (kind, cron, tz, at) = match schedule {
            Schedule::Manual => ("manual", None, None, None),
            Schedule::Cron { expr, tz } => ("cron", Some(expr.clone()), Some(tz.name().to_string()), None),
            Schedule::Once { at } => ("once", None, None, Some(time(*at))),
        };
        ScheduleView {
            kind: kind.into(),
            cron,
            tz,
            at,
            text: schedule.describe(),
        }
    }
}

/// A job, its sites by name (`from`/`to` as the CLI takes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JobView {
    pub name: String,
    pub enabled: bool,
    pub from: String,
    pub to: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub recursive: bool,
    pub min_age: String,
    pub max_age: Option<String>,
    /// The date window (`previous-day`, `cycle:26`, ...): only the files of that period.
    pub window: Option<String>,
    /// The pattern a file's date is read from its name with (`D{yy}{mm}{dd}`).
    pub name_date: Option<String>,
    pub schedule: ScheduleView,
    /// The zone its windows, path templates and backfill times are read in (its cron
    /// schedule's, else the one given with `--tz`, else UTC).
    pub zone: String,
    pub after: String,
    pub on_conflict: String,
    pub atomic: bool,
    pub parallel: u32,
    pub retries: u32,
    pub retry_backoff: String,
    pub bwlimit: Option<String>,
    pub file_timeout: String,
    pub notify: String,
    pub email: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The next fires (when asked for, as `job show` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fires: Option<Vec<String>>,
    /// The window its next run takes files from, resolved (when asked for, as `job show` does;
    /// for a job without a next fire, a run started now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_window: Option<String>,
}

impl JobView {
    /// The view of `j`, whose source and target sites are named `from_site` and `to_site`.
    pub fn new(j: &Job, from_site: &str, to_site: &str) -> JobView {
        JobView {
            name: j.name.clone(),
            enabled: j.enabled,
            from: format!("{from_site}:{}", j.source_path),
            to: format!("{to_site}:{}", j.target_path),
            include: j.include.clone(),
            exclude: j.exclude.clone(),
            recursive: j.recursive,
            min_age: format_duration(j.min_age),
            max_age: j.max_age.map(format_duration),
            window: j.window.as_ref().map(|w| w.to_string()),
            name_date: j.name_date.as_ref().map(|p| p.to_string()),
            schedule: ScheduleView::of(&j.schedule),
            zone: j.zone().name().to_string(),
            after: j.after.to_string(),
            on_conflict: j.conflict.as_str().into(),
            atomic: j.atomic,
            parallel: j.parallel,
            retries: j.retries,
            retry_backoff: format_duration(j.retry_backoff),
            bwlimit: j.bwlimit.map(format_rate),
            file_timeout: format_duration(j.file_timeout),
            notify: j.notify.as_str().into(),
            email: j.recipients.clone(),
            created_at: time(j.created_at),
            updated_at: time(j.updated_at),
            next_fires: None,
            next_window: None,
        }
    }
}

/// A file of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunFileView {
    pub source: String,
    pub target: String,
    pub size: i64,
    pub bytes: i64,
    pub duration_s: f64,
    pub status: String,
    pub error: Option<String>,
}

impl From<&RunFile> for RunFileView {
    fn from(f: &RunFile) -> Self {
        RunFileView {
            source: f.source_path.clone(),
            target: f.target_path.clone(),
            size: f.size,
            bytes: f.bytes,
            duration_s: f.duration.as_secs_f64(),
            status: f.status.as_str().into(),
            error: f.error.clone(),
        }
    }
}

/// A run, with its job's name (and its files, where shown).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunView {
    pub id: i64,
    pub job: String,
    pub trigger: String,
    pub status: String,
    pub scheduled_for: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_s: Option<f64>,
    pub found: i64,
    pub transferred: i64,
    pub skipped: i64,
    pub failed: i64,
    pub bytes: i64,
    pub error: Option<String>,
    pub node: Option<String>,
    pub dry_run: bool,
    pub cancel_requested: bool,
    /// A backfill's reference time (`job run --as-of`).
    pub as_of: Option<String>,
    /// Sent the files of its window even where the ledger had them (`--again`).
    pub again: bool,
    /// The date window it took files from, as resolved.
    pub window: Option<String>,
    /// Files passed over because no date could be read for the window.
    pub undated: i64,
    /// While it runs: the files moving now, with their bytes so far.
    pub active_files: Vec<crate::model::ActiveFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<RunFileView>>,
}

impl RunView {
    /// The view of `r`, a run of the job named `job`.
    pub fn new(r: &Run, job: &str) -> RunView {
        let duration_s = r.duration_secs();
        RunView {
            id: r.id,
            job: job.to_string(),
            trigger: r.trigger.as_str().into(),
            status: r.status.as_str().into(),
            scheduled_for: opt_time(r.scheduled_for),
            created_at: time(r.created_at),
            started_at: opt_time(r.started_at),
            finished_at: opt_time(r.finished_at),
            duration_s,
            found: r.counts.found,
            transferred: r.counts.transferred,
            skipped: r.counts.skipped,
            failed: r.counts.failed,
            bytes: r.counts.bytes,
            error: r.error.clone(),
            node: r.node_id.clone(),
            dry_run: r.dry_run,
            cancel_requested: r.cancel_requested,
            as_of: opt_time(r.as_of),
            again: r.again,
            window: r.window.clone(),
            undated: r.counts.undated,
            active_files: r.active_files.clone(),
            files: None,
        }
    }

    /// With its files.
    pub fn with_files(mut self, files: &[RunFile]) -> RunView {
        self.files = Some(files.iter().map(RunFileView::from).collect());
        self
    }
}

/// A system log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogView {
    pub id: i64,
    pub time: String,
    pub level: String,
    pub component: String,
    pub message: String,
    pub context: serde_json::Value,
}

impl From<&LogEntry> for LogView {
    fn from(e: &LogEntry) -> Self {
        LogView {
            id: e.id,
            time: time(e.time),
            level: e.level.as_str().into(),
            component: e.component.clone(),
            message: e.message.clone(),
            context: e.context.clone(),
        }
    }
}

/// An entry of a site's folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntryView {
    pub name: String,
    pub path: String,
    /// `file`, `dir`, `link` or `other` (a FIFO, socket or device: never moved).
    pub kind: String,
    pub size: u64,
    pub mtime: Option<String>,
}

impl From<&Entry> for EntryView {
    fn from(e: &Entry) -> Self {
        EntryView {
            name: e.name.clone(),
            path: e.path.clone(),
            kind: match e.kind {
                EntryKind::File => "file",
                EntryKind::Dir => "dir",
                EntryKind::Symlink => "link",
                EntryKind::Other => "other",
            }
            .into(),
            size: e.size,
            mtime: opt_time(e.mtime),
        }
    }
}

/// The outcome of a site's connection test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SiteTestView {
    /// Whether ftpman connected, logged in and listed the root.
    pub ok: bool,
    /// Time to connect and log in, in milliseconds.
    pub connect_ms: Option<u64>,
    /// Time to list the root, in milliseconds.
    pub list_ms: Option<u64>,
    /// Entries in the root folder.
    pub root_entries: Option<usize>,
    /// What failed, for people.
    pub message: Option<String>,
    /// What to do about it.
    pub advice: Option<String>,
    /// The SSH host key the server offered, when none is pinned or it differs from the pin.
    pub offered_host_key: Option<String>,
}

impl From<&Result<SiteTestReport, SiteTestFailure>> for SiteTestView {
    fn from(r: &Result<SiteTestReport, SiteTestFailure>) -> Self {
        match r {
            Ok(r) => SiteTestView {
                ok: true,
                connect_ms: Some(r.connect_time.as_millis() as u64),
                list_ms: Some(r.list_time.as_millis() as u64),
                root_entries: Some(r.root_entries),
                message: None,
                advice: None,
                offered_host_key: None,
            },
            Err(f) => SiteTestView {
                ok: false,
                connect_ms: None,
                list_ms: None,
                root_entries: None,
                message: Some(f.error.to_string()),
                advice: Some(f.problem.advice().to_string()),
                offered_host_key: f.error.offered_host_key().map(str::to_string),
            },
        }
    }
}

/// A setting ftpman knows, with what it is for and whether it is set (a secret's value never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingInfoView {
    /// The key (`smtp.host`).
    pub key: String,
    /// What it is for.
    pub help: String,
    /// Whether its value is secret (never shown).
    pub secret: bool,
    /// The value, if set and not secret.
    pub value: Option<String>,
    /// Whether it is set.
    pub set: bool,
}

/// A web user, without the password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserView {
    pub username: String,
    pub role: String,
    pub created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        UserView {
            username: u.username.clone(),
            role: u.role.as_str().into(),
            created_at: time(u.created_at),
        }
    }
}

/// An API token; never its secret (it is not kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenView {
    pub id: i64,
    pub username: String,
    pub name: String,
    pub role: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> Self {
        TokenView {
            id: t.id,
            username: t.username.clone(),
            name: t.name.clone(),
            role: t.role.as_str().into(),
            created_at: time(t.created_at),
            last_used_at: opt_time(t.last_used_at),
        }
    }
}

/// A setting: a secret one's value is never shown, only that it is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SettingView {
    pub key: String,
    /// The value; `None` for a secret.
    pub value: Option<String>,
    pub secret: bool,
}

impl From<&Setting> for SettingView {
    fn from(s: &Setting) -> Self {
        SettingView {
            key: s.key.clone(),
            value: (!s.secret).then(|| s.value.expose().to_string()),
            secret: s.secret,
        }
    }
}

/// A node of the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NodeView {
    pub id: String,
    pub started_at: String,
    pub heartbeat_at: String,
}

impl From<&Node> for NodeView {
    fn from(n: &Node) -> Self {
        NodeView {
            id: n.id.clone(),
            started_at: time(n.started_at),
            heartbeat_at: time(n.heartbeat_at),
        }
    }
}

/// What `ftpman status` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusView {
    pub database: String,
    pub backend: String,
    pub sites: usize,
    pub jobs: usize,
    pub enabled_jobs: usize,
    pub active_runs: usize,
    pub nodes: usize,
}

impl From<&super::Status> for StatusView {
    fn from(s: &super::Status) -> Self {
        StatusView {
            database: s.database.clone(),
            backend: match s.backend {
                crate::store::Backend::Sqlite => "sqlite",
                crate::store::Backend::Postgres => "postgres",
            }
            .into(),
            sites: s.sites,
            jobs: s.jobs,
            enabled_jobs: s.enabled_jobs,
            active_runs: s.active_runs,
            nodes: s.nodes,
        }
    }
}

impl super::Manager {
    /// Site names by id, for views that name a job's sites or a run's job.
    async fn site_names(&self) -> super::ManagerResult<std::collections::HashMap<i64, String>> {
        Ok(self.store.sites().await?.into_iter().map(|s| (s.id, s.name)).collect())
    }

    /// The views of `jobs`, their sites named.
    pub async fn job_views(&self, jobs: &[Job]) -> super::ManagerResult<Vec<JobView>> {
        let names = self.site_names().await?;
        let name = |id: i64| names.get(&id).cloned().unwrap_or_else(|| format!("#{id}"));
        Ok(jobs
            .iter()
            .map(|j| JobView::new(j, &name(j.source_site_id), &name(j.target_site_id)))
            .collect())
    }

    /// The views of `runs`, their jobs named.
    pub async fn run_views(&self, runs: &[Run]) -> super::ManagerResult<Vec<RunView>> {
        let names: std::collections::HashMap<i64, String> =
            self.store.jobs().await?.into_iter().map(|j| (j.id, j.name)).collect();
        Ok(runs
            .iter()
            .map(|r| {
                RunView::new(
                    r,
                    &names
                        .get(&r.job_id)
                        .cloned()
                        .unwrap_or_else(|| format!("#{}", r.job_id)),
                )
            })
            .collect())
    }

    /// Every setting ftpman knows, set or not.
    pub async fn setting_infos(&self) -> super::ManagerResult<Vec<SettingInfoView>> {
        let stored = self.store.settings().await?;
        Ok(super::settings::SETTINGS
            .iter()
            .map(|k| {
                let current = stored.iter().find(|v| v.key == k.key);
                SettingInfoView {
                    key: k.key.to_string(),
                    help: k.help.to_string(),
                    secret: k.secret,
                    value: current.filter(|v| !v.secret).map(|v| v.value.expose().to_string()),
                    set: current.is_some(),
                }
            })
            .collect())
    }

    /// The view of job `name` with its next `count` fires (`job show`, the API, Python).
    pub async fn job_view_with_fires(&self, name: &str, count: usize) -> super::ManagerResult<JobView> {
        let job = self.job(name).await?;
        let mut view = self.job_views(std::slice::from_ref(&job)).await?.remove(0);
        let now = chrono::Utc::now();
        let fires = crate::scheduler::next_fires(&job, now, count)?;
        view.next_fires = Some(fires.iter().map(|t| t.to_rfc3339()).collect());
        view.next_window = job
            .window
            .as_ref()
            .map(|w| w.resolve(fires.first().copied().unwrap_or(now), job.zone()).to_string());
        Ok(view)
    }

    /// The view of run `id` with every one of its files.
    pub async fn run_view_with_files(&self, id: i64) -> super::ManagerResult<RunView> {
        let (run, files) = self.run(id).await?;
        Ok(self.run_view(&run).await?.with_files(&files))
    }

    /// The view of one run, its job named.
    pub async fn run_view(&self, run: &Run) -> super::ManagerResult<RunView> {
        let job = self.store.job_by_id(run.job_id).await?;
        Ok(RunView::new(run, &job.name))
    }
}
