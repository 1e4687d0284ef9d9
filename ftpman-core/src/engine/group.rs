//! Running a group: its jobs one after another on this node, each as a normal run linked to the
//! group run and resolved from the group run's reference time; by default it stops at the first
//! job that does not succeed.

use super::{AbortOnDrop, Engine, EngineError};
use crate::model::{GroupRun, NewGroupRun, Run, RunRequest, RunStatus, Trigger};
use crate::store::StoreError;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a group run is asked for: what `group run` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRequest {
    /// What starts it.
    pub trigger: Trigger,
    /// A backfill: as if fired at this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Its jobs send the files of their windows even when the ledger has them.
    pub again: bool,
}

impl Engine {
    /// Creates a run of group `group_id` on this node, `running` and held by it, for
    /// [`Engine::execute_group`]; `skipped` when the group's previous run is still going.
    pub async fn begin_group(&self, group_id: i64, request: GroupRequest) -> Result<GroupRun, EngineError> {
        let store = &self.inner.store;
        let now = self.inner.clock.now();
        let mut new = NewGroupRun {
            group_id,
            trigger: request.trigger,
            scheduled_for: None,
            status: RunStatus::Running,
            as_of: request.as_of,
            again: request.again,
        };
        if let Some(run) = store
            .start_new_group_run(&new, &self.inner.config.node_id, now, self.inner.config.lease)
            .await?
        {
            return Ok(run);
        }
        new.status = RunStatus::Skipped;
        let skipped = store.create_group_run(&new).await?.ok_or_else(|| StoreError::Corrupt {
            what: "group run".into(),
            reason: "a manual group run was refused as a duplicate fire".into(),
        })?;
        store
            .finish_group_run(
                skipped.id,
                None,
                RunStatus::Skipped,
                Some("the previous run of this group is still going"),
                now,
            )
            .await?;
        Ok(store.group_run(skipped.id).await?)
    }

    /// Executes a group run this node holds: each job in order, each run to its end before the
    /// next starts. Returns the group run as recorded and its jobs' runs. While it goes on its
    /// lease is renewed; once it cannot be, no further job is started.
    pub async fn execute_group(&self, group_run: GroupRun) -> Result<(GroupRun, Vec<Run>), EngineError> {
        let store = self.inner.store.clone();
        let node = self.inner.config.node_id.clone();
        let lease = self.inner.config.lease;
        let held = Arc::new(AtomicBool::new(true));
        let _renewal = {
            let (store, clock, node, held, id) = (
                store.clone(),
                self.inner.clock.clone(),
                node.clone(),
                held.clone(),
                group_run.id,
            );
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    match store.renew_group_lease(id, &node, clock.now(), lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            held.store(false, Ordering::Release);
                            return;
                        }
                        Err(e) => {
                            tracing::warn!(target: "ftpman::engine", group_run = id, "could not renew the group run's lease: {e}")
                        }
                    }
                }
            }))
        };
        // Whatever stops the jobs (the store failing), the group run is ended here, not left
        // running until its lease runs out.
        let (status, error, runs) = match self.group_jobs(&group_run, &held).await {
            Ok(done) => done,
            Err(e) => (
                RunStatus::Failed,
                Some(format!("the group run could not go on: {e}")),
                Vec::new(),
            ),
        };
        if !held.load(Ordering::Acquire) {
            tracing::warn!(target: "ftpman::engine", group_run = group_run.id, "the group run's lease was lost; its record is left to the node that holds it");
            return Ok((store.group_run(group_run.id).await?, runs));
        }
        store
            .finish_group_run(
                group_run.id,
                Some(&node),
                status,
                error.as_deref(),
                self.inner.clock.now(),
            )
            .await?;
        Ok((store.group_run(group_run.id).await?, runs))
    }

    /// Runs a group run's jobs in order: its status, its error (which job failed, what was not
    /// run) and the jobs' runs. Stops before the next job once `held` says the lease is lost.
    async fn group_jobs(
        &self,
        group_run: &GroupRun,
        held: &AtomicBool,
    ) -> Result<(RunStatus, Option<String>, Vec<Run>), EngineError> {
        let store = &self.inner.store;
        let group = store.group_by_id(group_run.group_id).await?;
        let reference = group_run.reference_time();
        let mut runs = Vec::new();
        let mut failures = Vec::new();
        let mut stopped: Option<(RunStatus, Vec<String>)> = None;
        for (i, job_id) in group.job_ids.iter().enumerate() {
            if !held.load(Ordering::Acquire) {
                stopped = Some((RunStatus::Interrupted, self.job_names(&group.job_ids[i..]).await));
                failures.push("this node lost the group run's lease".to_string());
                break;
            }
            let job = match store.job_by_id(*job_id).await {
                Ok(job) => job,
                Err(StoreError::NotFound { .. }) => {
                    failures.push(format!("job #{job_id} no longer exists"));
                    if !group.continue_on_failure {
                        stopped = Some((RunStatus::Failed, self.job_names(&group.job_ids[i + 1..]).await));
                        break;
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let request = RunRequest {
                trigger: group_run.trigger,
                dry_run: false,
                as_of: Some(reference),
                again: group_run.again,
                group_run_id: Some(group_run.id),
            };
            let run = self.begin_with(&job, request).await?;
            let run = if run.status == RunStatus::Running {
                self.execute(run).await?
            } else {
                run
            };
            let status = run.status;
            if status != RunStatus::Succeeded {
                failures.push(format!(
                    "job '{}' {status} (run {}){}",
                    job.name,
                    run.id,
                    run.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                ));
            }
            runs.push(run);
            let interrupted = matches!(status, RunStatus::Interrupted | RunStatus::Cancelled);
            if status != RunStatus::Succeeded && (interrupted || !group.continue_on_failure) {
                let names = self.job_names(&group.job_ids[i + 1..]).await;
                stopped = Some((if interrupted { status } else { RunStatus::Failed }, names));
                break;
            }
        }
        let succeeded = runs.iter().filter(|r| r.status == RunStatus::Succeeded).count();
        let (status, error) = match stopped {
            Some((status, not_run)) => {
                let mut error = failures.join("; ");
                if !not_run.is_empty() {
                    error.push_str(&format!("; not run: {}", not_run.join(", ")));
                }
                (status, Some(error))
            }
            None if failures.is_empty() => (RunStatus::Succeeded, None),
            None if succeeded == 0 => (RunStatus::Failed, Some(failures.join("; "))),
            None => (RunStatus::Partial, Some(failures.join("; "))),
        };
        tracing::info!(target: "ftpman::engine", group = %group.name, group_run = group_run.id, status = %status, jobs = runs.len(), "group run of '{}' {status}: {succeeded} of {} jobs succeeded", group.name, group.job_ids.len());
        Ok((status, error, runs))
    }

    /// The names of the jobs with these ids, in order (`#ID` for one that no longer exists).
    async fn job_names(&self, ids: &[i64]) -> Vec<String> {
        let mut names = Vec::with_capacity(ids.len());
        for id in ids {
            names.push(match self.inner.store.job_by_id(*id).await {
                Ok(job) => job.name,
                Err(_) => format!("#{id}"),
            });
        }
        names
    }

    /// Marks group runs left running by a stopped process `interrupted` once their lease ran out.
    pub async fn recover_groups(&self) -> Result<Vec<i64>, EngineError> {
        let ids = self.inner.store.expire_group_leases(self.inner.clock.now()).await?;
        for id in &ids {
            tracing::warn!(target: "ftpman::engine", group_run = id, "group run was left running by a stopped process: marked interrupted");
        }
        Ok(ids)
    }
}
