//! The service `ftpman serve` runs: it turns fires into queued runs, claims queued runs and
//! executes them on the engine, beats the node's heartbeat, takes over runs of dead nodes, and
//! stops gracefully.
//!
//! Missed fires (ftpman was down, or the job's previous run was still going) follow one rule:
//! at most one catch-up run, for the latest fire that was missed, never a burst. A job's fires
//! are computed from its last recorded fire, so a restart picks up where the last process left
//! off; an edited or re-enabled job starts from the moment of the change.

use super::{Scheduler, latest_fire, next_fires};
use crate::engine::{Engine, StopReason};
use crate::model::{Job, NewRun, RunStatus, Schedule, Trigger};
use crate::store::{Backend, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How the service behaves.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Runs executed at once on this node.
    pub max_concurrent_runs: usize,
    /// Longest sleep between checks (job changes are seen within this).
    pub poll: Duration,
    /// On shutdown, how long running files get to finish before their runs are interrupted.
    pub grace: Duration,
    /// How often the node's heartbeat is written.
    pub heartbeat: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            max_concurrent_runs: 4,
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(30),
            heartbeat: Duration::from_secs(10),
        }
    }
}

struct JobState {
    /// The schedule as last seen; a change restarts the job's fires from that moment.
    key: String,
    next: Option<DateTime<Utc>>,
}

/// Fires schedules and executes runs on one node.
pub struct Service {
    engine: Engine,
    config: ServiceConfig,
    jobs: Mutex<HashMap<i64, JobState>>,
    running: Mutex<JoinSet<()>>,
}

impl Service {
    /// A service driving `engine`.
    pub fn new(engine: Engine, config: ServiceConfig) -> Service {
        Service {
            engine,
            config,
            jobs: Mutex::new(HashMap::new()),
            running: Mutex::new(JoinSet::new()),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.engine.clock().now()
    }

    /// The next fire of every scheduled job, as the service sees them now.
    pub fn next_fires(&self) -> Vec<(i64, DateTime<Utc>)> {
        let jobs = match self.jobs.lock() {
            Ok(j) => j,
            Err(p) => p.into_inner(),
        };
        let mut out: Vec<_> = jobs.iter().filter_map(|(id, s)| s.next.map(|n| (*id, n))).collect();
        out.sort_by_key(|(_, n)| *n);
        out
    }

    /// The first fire of `job` strictly after `base`.
    fn first_after(job: &Job, base: DateTime<Utc>) -> Option<DateTime<Utc>> {
        next_fires(job, base, 1).ok().and_then(|v| v.into_iter().next())
    }

    /// Creates the runs of every fire due up to now: one per job at most (the latest missed one).
    pub async fn fire_due(&self) -> Result<usize, StoreError> {
        let store = self.engine.store();
        let now = self.now();
        let jobs = store.jobs().await?;
        let mut created = 0;
        let mut due: Vec<(Job, DateTime<Utc>)> = Vec::new();
        {
            let mut known_ids = Vec::new();
            for job in &jobs {
                if !job.enabled || job.schedule == Schedule::Manual {
                    continue;
                }
                known_ids.push(job.id);
                let key = job.schedule.to_string();
                let state = self
                    .jobs
                    .lock()
                    .ok()
                    .and_then(|j| j.get(&job.id).map(|s| (s.key.clone(), s.next)));
                let next = match state {
                    Some((k, next)) if k == key => next,
                    // Seen before with another schedule, or just enabled: start from now.
                    Some(_) => Self::first_after(job, now),
                    // First sight (the process started): continue from the last recorded fire.
                    None => match store.last_fire(job.id).await? {
                        Some(last) => Self::first_after(job, last),
                        None => Self::first_after(job, now),
                    },
                };
                let next = match next {
                    Some(fire) if fire <= now => {
                        // Catch up with the latest missed fire only.
                        let fire = latest_fire(job, now).filter(|l| *l >= fire).unwrap_or(fire);
                        due.push((job.clone(), fire));
                        Self::first_after(job, now)
                    }
                    other => other,
                };
                if let Ok(mut states) = self.jobs.lock() {
                    states.insert(job.id, JobState { key, next });
                }
            }
            if let Ok(mut states) = self.jobs.lock() {
                states.retain(|id, _| known_ids.contains(id));
            }
        }
        for (job, fire) in due {
            let running = store.job_running(job.id).await?;
            let new = NewRun {
                job_id: job.id,
                trigger: Trigger::Schedule,
                scheduled_for: Some(fire),
                status: if running { RunStatus::Skipped } else { RunStatus::Queued },
                dry_run: false,
            };
            if let Some(run) = store.create_run(&new).await? {
                created += 1;
                if running {
                    let counts = crate::model::RunCounts::default();
                    store
                        .finish_run(
                            run.id,
                            RunStatus::Skipped,
                            &counts,
                            Some("the previous run of this job was still going"),
                            now,
                        )
                        .await?;
                    tracing::info!(target: "ftpman::scheduler", job = %job.name, fire = %fire, "fire skipped: the previous run is still going");
                } else {
                    let late_ms = (now - fire).num_milliseconds();
                    tracing::debug!(target: "ftpman::scheduler", job = %job.name, fire = %fire, late_ms, "fire queued");
                }
            }
        }
        Ok(created)
    }

    /// Claims queued runs while this node has room, and starts them.
    pub async fn claim_and_start(&self) -> Result<usize, StoreError> {
        let mut started = 0;
        loop {
            let busy = self.running.lock().map(|r| r.len()).unwrap_or(usize::MAX);
            if busy >= self.config.max_concurrent_runs {
                break;
            }
            let cfg = self.engine.config();
            let Some(run) = self
                .engine
                .store()
                .claim_run(&cfg.node_id, self.now(), cfg.lease)
                .await?
            else {
                break;
            };
            let engine = self.engine.clone();
            if let Ok(mut running) = self.running.lock() {
                running.spawn(async move {
                    let id = run.id;
                    if let Err(e) = engine.execute(run).await {
                        tracing::error!(target: "ftpman::engine", run = id, "run could not be recorded: {e}");
                    }
                });
            }
            started += 1;
        }
        // Reap finished runs.
        if let Ok(mut running) = self.running.lock() {
            while running.try_join_next().is_some() {}
        }
        Ok(started)
    }

    /// Runs executing on this node.
    pub fn running(&self) -> usize {
        self.running.lock().map(|r| r.len()).unwrap_or(0)
    }

    async fn sleep_until_next(&self, shutdown: &mut watch::Receiver<bool>) {
        let now = self.now();
        let next = self.next_fires().first().map(|(_, t)| *t);
        let mut wait = self.config.poll;
        if let Some(next) = next
            && let Ok(d) = (next - now).to_std()
        {
            wait = wait.min(d + Duration::from_millis(1));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
        }
    }

    async fn drain(&self) {
        let mut running = match self.running.lock() {
            Ok(mut r) => std::mem::take(&mut *r),
            Err(_) => return,
        };
        if running.is_empty() {
            return;
        }
        tracing::info!(target: "ftpman::scheduler", runs = running.len(), grace_s = self.config.grace.as_secs(), "stopping: letting running files finish");
        let deadline = tokio::time::sleep(self.config.grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = running.join_next() => if next.is_none() { return },
                _ = &mut deadline => break,
            }
        }
        for id in self.engine.active_runs() {
            self.engine.stop(id, StopReason::Interrupted);
        }
        while running.join_next().await.is_some() {}
    }
}

#[async_trait]
impl Scheduler for Service {
    async fn tick(&self) -> Result<usize, StoreError> {
        let created = self.fire_due().await?;
        self.claim_and_start().await?;
        // Idle connections give their cluster slots back well before the slots' lease runs out.
        self.engine
            .close_idle((self.engine.config().lease / 4).min(Duration::from_secs(5)))
            .await;
        Ok(created)
    }

    async fn run_until(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), StoreError> {
        let store = self.engine.store().clone();
        let node = self.engine.config().node_id.clone();
        store.claim_single_node()?;
        // On an embedded database no other node can hold a run: whatever is marked running was
        // left by a process that died.
        self.engine
            .recover(store.backend() == Backend::Sqlite)
            .await
            .map_err(|crate::engine::EngineError::Store(e)| e)?;
        store.heartbeat(&node, self.now()).await?;
        let mut last_beat = tokio::time::Instant::now();
        tracing::info!(target: "ftpman::scheduler", node = %node, "scheduler started");
        while !*shutdown.borrow() {
            if let Err(e) = self.tick().await {
                tracing::error!(target: "ftpman::scheduler", "scheduler tick failed: {e}");
            }
            if last_beat.elapsed() >= self.config.heartbeat {
                last_beat = tokio::time::Instant::now();
                if let Err(e) = store.heartbeat(&node, self.now()).await {
                    tracing::warn!(target: "ftpman::scheduler", "heartbeat failed: {e}");
                }
                let _ = store
                    .renew_site_slots(&node, self.now(), self.engine.config().lease)
                    .await;
                if let Err(e) = self.engine.recover(false).await {
                    tracing::warn!(target: "ftpman::scheduler", "checking for dead nodes' runs failed: {e}");
                }
            }
            self.sleep_until_next(&mut shutdown).await;
        }
        self.drain().await;
        self.engine.close_idle(Duration::ZERO).await;
        tracing::info!(target: "ftpman::scheduler", node = %node, "scheduler stopped");
        Ok(())
    }
}
