//! Job groups: add, edit, enable, disable, remove, run; and the views every frontend shows of
//! them and of their runs.

use super::jobs::apply_schedule;
use super::runs::RunOptions;
use super::views::{RunView, ScheduleView, opt_time, time};
use super::{Manager, ManagerError, ManagerResult, nearest};
use crate::engine::GroupRequest;
use crate::model::{Group, GroupRun, Run, RunQuery, RunStatus, Trigger};
use crate::validate::{ValidationError, check_name, printable};
use serde::{Deserialize, Serialize};

/// What `group add` and `group edit` take, as typed; `None` leaves a field as it is (or
/// default). The web API and Python take the same.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupOptions {
    /// The jobs, by name, in the order they run (replaces the list; required to add).
    pub jobs: Option<Vec<String>>,
    /// A cron expression (5 or 6 fields).
    pub schedule: Option<String>,
    /// The group's time zone (default UTC): its cron expression, `at` and backfill times are
    /// read in it, with or without a schedule.
    pub tz: Option<String>,
    /// One time: an RFC 3339 timestamp or `YYYY-MM-DD HH:MM` in `tz`.
    pub at: Option<String>,
    /// Manual only (clears a schedule).
    pub manual: bool,
    /// Go on with the next job after one failed (default: stop there).
    pub continue_on_failure: Option<bool>,
    /// Enabled or not.
    pub enabled: Option<bool>,
}

/// A group, its jobs by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupView {
    pub name: String,
    pub enabled: bool,
    /// Its jobs, in the order they run.
    pub jobs: Vec<String>,
    pub schedule: ScheduleView,
    /// The zone its backfill times are read in (its cron schedule's, else `--tz`, else UTC).
    pub zone: String,
    pub continue_on_failure: bool,
    pub created_at: String,
    pub updated_at: String,
    /// The next fires (when asked for, as `group show` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_fires: Option<Vec<String>>,
    /// Its latest runs, newest first (when asked for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<GroupRunView>>,
}

/// A run of a group (and, where shown, its jobs' runs, in order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupRunView {
    pub id: i64,
    pub group: String,
    pub trigger: String,
    /// `queued`, `running`, `succeeded`, `partial`, `failed`, `skipped` or `interrupted`.
    pub status: String,
    pub scheduled_for: Option<String>,
    pub as_of: Option<String>,
    pub again: bool,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Which job failed and what was not run.
    pub error: Option<String>,
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runs: Option<Vec<RunView>>,
}

impl GroupRunView {
    /// The view of `r`, a run of the group named `group`.
    pub fn new(r: &GroupRun, group: &str) -> GroupRunView {
        GroupRunView {
            id: r.id,
            group: group.to_string(),
            trigger: r.trigger.as_str().into(),
            status: r.status.as_str().into(),
            scheduled_for: opt_time(r.scheduled_for),
            as_of: opt_time(r.as_of),
            again: r.again,
            created_at: time(r.created_at),
            started_at: opt_time(r.started_at),
            finished_at: opt_time(r.finished_at),
            error: r.error.clone(),
            node: r.node_id.clone(),
            runs: None,
        }
    }
}

impl Manager {
    /// A group by name, or a not-found error naming the nearest group.
    pub async fn group(&self, name: &str) -> ManagerResult<Group> {
        match self.store.group(name).await {
            Ok(g) => Ok(g),
            Err(crate::store::StoreError::NotFound { .. }) => Err(ManagerError::NotFound {
                kind: "group",
                name: name.to_string(),
                suggestion: nearest(name, self.store.groups().await?.into_iter().map(|g| g.name)),
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Every group, by name.
    pub async fn groups(&self) -> ManagerResult<Vec<Group>> {
        Ok(self.store.groups().await?)
    }

    async fn apply_group(&self, group: &mut Group, o: &GroupOptions) -> ManagerResult<()> {
        if let Some(names) = &o.jobs {
            let mut ids = Vec::with_capacity(names.len());
            for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                let job = self.job(name).await.map_err(|e| match e {
                    ManagerError::NotFound { suggestion, .. } => ValidationError::new(
                        "jobs",
                        format!(
                            "there is no job '{}'{}",
                            printable(name),
                            suggestion.map(|s| format!("; did you mean '{s}'?")).unwrap_or_default()
                        ),
                    )
                    .into(),
                    other => other,
                })?;
                if ids.contains(&job.id) {
                    return Err(ValidationError::new(
                        "jobs",
                        format!(
                            "job '{}' is listed twice; a group runs each of its jobs once",
                            printable(name)
                        ),
                    )
                    .into());
                }
                ids.push(job.id);
            }
            group.job_ids = ids;
        }
        apply_schedule(
            &mut group.schedule,
            &mut group.zone,
            &o.schedule,
            &o.at,
            o.manual,
            &o.tz,
        )?;
        if let Some(v) = o.continue_on_failure {
            group.continue_on_failure = v;
        }
        if let Some(v) = o.enabled {
            group.enabled = v;
        }
        group.validate()?;
        Ok(())
    }

    /// Adds a group.
    pub async fn add_group(&self, name: &str, opts: &GroupOptions) -> ManagerResult<Group> {
        check_name("name", name)?;
        if opts.jobs.as_ref().is_none_or(|j| j.is_empty()) {
            return Err(
                ValidationError::new("jobs", "a group needs --jobs, e.g. --jobs collect-a,collect-b,upload").into(),
            );
        }
        let mut group = Group::new(name, Vec::new());
        self.apply_group(&mut group, opts).await?;
        let saved = self.store.create_group(&group).await?;
        self.audit(format!("group '{name}' added"), serde_json::json!({"group": name}))
            .await;
        Ok(saved)
    }

    /// Changes a group.
    pub async fn edit_group(&self, name: &str, opts: &GroupOptions) -> ManagerResult<Group> {
        let mut group = self.group(name).await?;
        self.apply_group(&mut group, opts).await?;
        let saved = self.store.update_group(&group).await?;
        self.audit(format!("group '{name}' changed"), serde_json::json!({"group": name}))
            .await;
        Ok(saved)
    }

    /// Enables or disables a group's schedule.
    pub async fn set_group_enabled(&self, name: &str, enabled: bool) -> ManagerResult<Group> {
        let opts = GroupOptions {
            enabled: Some(enabled),
            ..GroupOptions::default()
        };
        self.edit_group(name, &opts).await
    }

    /// Removes a group with its runs; its jobs and their runs stay.
    pub async fn remove_group(&self, name: &str) -> ManagerResult<()> {
        self.group(name).await?;
        self.store.delete_group(name).await?;
        self.audit(format!("group '{name}' removed"), serde_json::json!({"group": name}))
            .await;
        Ok(())
    }

    /// The groups a job belongs to, by name: a job in a group cannot be removed.
    pub(super) async fn groups_of_job(&self, job_id: i64) -> ManagerResult<Vec<String>> {
        Ok(self
            .store
            .groups()
            .await?
            .into_iter()
            .filter(|g| g.job_ids.contains(&job_id))
            .map(|g| g.name)
            .collect())
    }

    fn group_request(&self, group: &Group, options: &RunOptions, trigger: Trigger) -> ManagerResult<GroupRequest> {
        if options.dry_run {
            return Err(ValidationError::new(
                "dry_run",
                "a group is not dry-run as a whole; dry-run its jobs one by one (job run NAME --dry-run)",
            )
            .into());
        }
        let as_of = match options.as_of.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => Some(crate::validate::parse_timestamp("as_of", text, group.zone())?),
            None => None,
        };
        Ok(GroupRequest {
            trigger,
            as_of,
            again: options.again,
        })
    }

    /// Starts a run of group `name` now on this process and returns at once with the group
    /// run (`running`, or `skipped` when the group is still running); its jobs run one after
    /// another in the background.
    pub async fn start_group_run(&self, name: &str, options: &RunOptions, trigger: Trigger) -> ManagerResult<GroupRun> {
        let group = self.group(name).await?;
        let request = self.group_request(&group, options, trigger)?;
        let engine = self.engine().clone();
        let run = engine.begin_group(group.id, request).await?;
        if run.status == RunStatus::Running {
            let started = run.clone();
            tokio::spawn(async move {
                if let Err(e) = engine.execute_group(started).await {
                    tracing::error!(target: "ftpman::engine", "group run could not be recorded: {e}");
                }
            });
        }
        Ok(run)
    }

    /// Runs group `name` now on this process and waits for its end: the group run and its
    /// jobs' runs, in order.
    pub async fn run_group(
        &self,
        name: &str,
        options: &RunOptions,
        trigger: Trigger,
    ) -> ManagerResult<(GroupRun, Vec<Run>)> {
        let group = self.group(name).await?;
        let request = self.group_request(&group, options, trigger)?;
        let engine = self.engine().clone();
        let run = engine.begin_group(group.id, request).await?;
        if run.status != RunStatus::Running {
            return Ok((run, Vec::new()));
        }
        Ok(engine.execute_group(run).await?)
    }

    /// The views of `groups`, their jobs named.
    pub async fn group_views(&self, groups: &[Group]) -> ManagerResult<Vec<GroupView>> {
        let names: std::collections::HashMap<i64, String> =
            self.store.jobs().await?.into_iter().map(|j| (j.id, j.name)).collect();
        Ok(groups
            .iter()
            .map(|g| GroupView {
                name: g.name.clone(),
                enabled: g.enabled,
                jobs: g
                    .job_ids
                    .iter()
                    .map(|id| names.get(id).cloned().unwrap_or_else(|| format!("#{id}")))
                    .collect(),
                schedule: ScheduleView::of(&g.schedule),
                zone: g.zone().name().to_string(),
                continue_on_failure: g.continue_on_failure,
                created_at: time(g.created_at),
                updated_at: time(g.updated_at),
                next_fires: None,
                runs: None,
            })
            .collect())
    }

    /// The view of group `name` with its next `fires` and latest `runs` runs (`group show`,
    /// the API, Python).
    pub async fn group_view_with_runs(&self, name: &str, fires: usize, runs: i64) -> ManagerResult<GroupView> {
        let group = self.group(name).await?;
        let mut view = self.group_views(std::slice::from_ref(&group)).await?.remove(0);
        let next = crate::scheduler::next_fires_of(&group.schedule, chrono::Utc::now(), fires)?;
        view.next_fires = Some(next.iter().map(|t| t.to_rfc3339()).collect());
        let recent = self.store.group_runs(group.id, runs).await?;
        view.runs = Some(recent.iter().map(|r| GroupRunView::new(r, &group.name)).collect());
        Ok(view)
    }

    /// The view of group run `id` with its jobs' runs, in the order they ran.
    pub async fn group_run_view(&self, id: i64) -> ManagerResult<GroupRunView> {
        let run = self.store.group_run(id).await?;
        let group = self.store.group_by_id(run.group_id).await?;
        let mut runs = self
            .store
            .runs(&RunQuery {
                group_run_id: Some(id),
                limit: Some(1_000),
                ..Default::default()
            })
            .await?;
        runs.reverse();
        let mut view = GroupRunView::new(&run, &group.name);
        view.runs = Some(self.run_views(&runs).await?);
        Ok(view)
    }
}
