//! The service `ftpman serve` runs: it turns fires into queued runs, claims queued runs and
//! executes them on the engine, beats the node's heartbeat, takes over runs of dead nodes, and
//! stops gracefully.
//!
//! Missed fires (ftpman was down, or the job's previous run was still going) follow one rule:
//! at most one catch-up run, for the latest fire that was missed, never a burst. A job's fires
//! are computed from its last recorded fire, so a restart picks up where the last process left
//! off; a job edited or re-enabled after its last fire starts from the moment of the change; a
//! one-time job whose moment passed while nothing was running runs once when a scheduler starts.

use super::{CompiledSchedule, Scheduler};
use crate::engine::{Engine, StopReason};
use crate::model::{NewRun, RunStatus, Schedule, ScheduledJob, Trigger};
use crate::store::StoreError;
use crate::validate::ValidationError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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

impl ServiceConfig {
    /// The configuration of a `serve` node from what its user sets: `lease` (how long its
    /// claims hold unrenewed, at least 3 s), `grace` and how many runs at once. Its heartbeat
    /// (which also renews its connection slots and finds dead nodes' runs) beats three times a
    /// lease, and at least every 10 s.
    pub fn for_node(
        lease: Duration,
        grace: Duration,
        max_concurrent_runs: usize,
    ) -> Result<ServiceConfig, ValidationError> {
        if lease < Duration::from_secs(3) {
            return Err(ValidationError::new("lease", "must be at least 3s"));
        }
        Ok(ServiceConfig {
            max_concurrent_runs: max_concurrent_runs.max(1),
            heartbeat: (lease / 3).min(Duration::from_secs(10)),
            grace,
            ..ServiceConfig::default()
        })
    }
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
    /// The job's version (its last change); a change restarts its fires from that moment.
    version: DateTime<Utc>,
    /// The schedule, parsed once per version.
    schedule: CompiledSchedule,
    next: Option<DateTime<Utc>>,
}

/// How long a job list is kept at most, even while the store's fingerprint stays the same.
const RELOAD_AT_LEAST_EVERY: Duration = Duration::from_secs(300);

/// The job list as last loaded: the store's fingerprint of it, when, and the jobs.
type JobCache = Option<((i64, i64), std::time::Instant, Arc<Vec<ScheduledJob>>)>;

/// Fires schedules and executes runs on one node.
pub struct Service {
    engine: Engine,
    config: ServiceConfig,
    jobs: Mutex<HashMap<i64, JobState>>,
    /// The parsed schedules, one per distinct cron text.
    compiled: Mutex<super::CompiledSchedules>,
    cache: Mutex<JobCache>,
    running: Mutex<JoinSet<()>>,
    /// Woken when a run ends, so the next queued run is claimed at once, not at the next tick.
    wake: Arc<tokio::sync::Notify>,
    /// The scheduled groups' fires.
    groups: super::group_fires::GroupFires,
    /// The earliest next fire of any job, as of the last walk over them.
    earliest: Mutex<Option<DateTime<Utc>>>,
    /// The job list the last walk went over.
    walked: Mutex<Option<Arc<Vec<ScheduledJob>>>>,
    /// When fires were last looked for: a tick woken by a finished run looks again only when
    /// one is due or a poll interval has passed, not over every job after every run.
    checked: Mutex<Option<std::time::Instant>>,
}

impl Service {
    /// A service driving `engine`.
    pub fn new(engine: Engine, config: ServiceConfig) -> Service {
        Service {
            engine,
            config,
            jobs: Mutex::new(HashMap::new()),
            compiled: Mutex::new(Default::default()),
            cache: Mutex::new(None),
            running: Mutex::new(JoinSet::new()),
            wake: Arc::new(tokio::sync::Notify::new()),
            groups: Default::default(),
            earliest: Mutex::new(None),
            walked: Mutex::new(None),
            checked: Mutex::new(None),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.engine.clock().now()
    }

    fn compile(&self, schedule: &Schedule) -> CompiledSchedule {
        match self.compiled.lock() {
            Ok(mut compiled) => compiled.of(schedule),
            Err(_) => CompiledSchedule::of(schedule),
        }
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

    /// When `next` is due, records the latest missed fire (one catch-up, never a burst) in
    /// `due` and returns the first fire after now; else returns `next`.
    fn advance<'a>(
        job: &'a ScheduledJob,
        schedule: &CompiledSchedule,
        next: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        due: &mut Vec<(&'a ScheduledJob, DateTime<Utc>)>,
    ) -> Option<DateTime<Utc>> {
        match next {
            Some(fire) if fire <= now => {
                let fire = schedule.latest_at(now).filter(|l| *l >= fire).unwrap_or(fire);
                due.push((job, fire));
                schedule.next_after(now)
            }
            other => other,
        }
    }

    /// The enabled, scheduled jobs; reloaded only when the store's fingerprint of them changed
    /// (and every five minutes, should a change ever leave it as it was), so a hundred thousand
    /// idle jobs cost next to nothing.
    async fn scheduled_jobs(&self) -> Result<Arc<Vec<ScheduledJob>>, StoreError> {
        let store = self.engine.store();
        let fingerprint = store.jobs_fingerprint().await?;
        {
            let cache = match self.cache.lock() {
                Ok(c) => c,
                Err(p) => p.into_inner(),
            };
            if let Some((fp, loaded, jobs)) = cache.as_ref()
                && *fp == fingerprint
                && loaded.elapsed() < RELOAD_AT_LEAST_EVERY
            {
                return Ok(jobs.clone());
            }
        }
        let jobs = Arc::new(store.scheduled_jobs().await?);
        if let Ok(mut compiled) = self.compiled.lock() {
            compiled.retain_used(jobs.iter().map(|j| &j.schedule));
        }
        if let Ok(mut cache) = self.cache.lock() {
            *cache = Some((fingerprint, std::time::Instant::now(), jobs.clone()));
        }
        Ok(jobs)
    }

    /// Creates the runs of every fire due up to now: one per job at most (the latest missed one).
    pub async fn fire_due(&self) -> Result<usize, StoreError> {
        let store = self.engine.store();
        let now = self.now();
        let jobs = self.scheduled_jobs().await?;
        // The same job list as the last walk, and no fire due by it: every job's next fire is
        // known and later, so none is looked at (a hundred thousand idle jobs cost one query).
        let walked = self
            .walked
            .lock()
            .ok()
            .is_some_and(|w| w.as_ref().is_some_and(|w| Arc::ptr_eq(w, &jobs)));
        let due_by_walk = self.earliest.lock().ok().and_then(|e| *e).is_some_and(|t| t <= now);
        if walked && !due_by_walk {
            return Ok(0);
        }
        let mut due: Vec<(&ScheduledJob, DateTime<Utc>)> = Vec::new();
        let mut first_sight = Vec::new();
        let mut earliest = None;
        {
            let mut states = match self.jobs.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            if states.len() != jobs.len() {
                let ids: std::collections::HashSet<i64> = jobs.iter().map(|j| j.id).collect();
                states.retain(|id, _| ids.contains(id));
            }
            for job in jobs.iter() {
                let state = match states.get_mut(&job.id) {
                    Some(state) if state.version == job.updated_at => state,
                    // Seen before, then changed (edited, re-enabled): start from now.
                    Some(state) => {
                        state.version = job.updated_at;
                        state.schedule = self.compile(&job.schedule);
                        state.next = state.schedule.next_after(now);
                        state
                    }
                    // First sight: continue from the last recorded fire (looked up below).
                    None => {
                        first_sight.push(job);
                        continue;
                    }
                };
                state.next = Self::advance(job, &state.schedule, state.next, now, &mut due);
                earliest = earlier(earliest, state.next);
            }
        }
        // Many jobs seen at once (a node starting) ask for their last fires in one query.
        let last_fires = if first_sight.len() > 8 {
            Some(store.last_fires().await?)
        } else {
            None
        };
        for job in first_sight {
            let schedule = self.compile(&job.schedule);
            let last = match &last_fires {
                Some(all) => all.get(&job.id).copied(),
                None => store.last_fire(job.id).await?,
            };
            let next = match (last, &job.schedule) {
                // Changed after its last fire (edited, re-enabled): from the change on.
                (Some(last), _) if job.updated_at > last => schedule.next_after(job.updated_at.min(now)),
                (Some(last), _) => schedule.next_after(last),
                // A one-time job whose moment passed while no scheduler ran still runs, once.
                (None, Schedule::Once { at }) => Some(*at),
                (None, _) => schedule.next_after(now),
            };
            let next = Self::advance(job, &schedule, next, now, &mut due);
            earliest = earlier(earliest, next);
            if let Ok(mut states) = self.jobs.lock() {
                states.insert(
                    job.id,
                    JobState {
                        version: job.updated_at,
                        schedule,
                        next,
                    },
                );
            }
        }
        if let Ok(mut next) = self.earliest.lock() {
            *next = earliest;
        }
        if let Ok(mut walked) = self.walked.lock() {
            *walked = Some(jobs.clone());
        }
        if due.is_empty() {
            return Ok(0);
        }
        // One query for what is running, one transaction for all the fires of this instant.
        let running: std::collections::HashSet<i64> = store.running_job_ids().await?.into_iter().collect();
        let news: Vec<NewRun> = due
            .iter()
            .map(|(job, fire)| NewRun {
                job_id: job.id,
                trigger: Trigger::Schedule,
                scheduled_for: Some(*fire),
                status: if running.contains(&job.id) {
                    RunStatus::Skipped
                } else {
                    RunStatus::Queued
                },
                dry_run: false,
                as_of: None,
                again: false,
                group_run_id: None,
            })
            .collect();
        let created = match store.create_runs(&news).await {
            Ok(c) => c,
            Err(e) => {
                // Nothing was queued: put the fires back, so the next tick tries them again.
                if let Ok(mut states) = self.jobs.lock() {
                    for (job, fire) in &due {
                        if let Some(state) = states.get_mut(&job.id) {
                            state.next = Some(*fire);
                        }
                    }
                }
                if let Ok(mut earliest) = self.earliest.lock() {
                    for (_, fire) in &due {
                        *earliest = earlier(*earliest, Some(*fire));
                    }
                }
                return Err(e);
            }
        };
        let mut count = 0;
        for ((job, fire), run) in due.iter().zip(created) {
            let Some(run) = run else { continue };
            count += 1;
            if run.status == RunStatus::Skipped {
                let counts = crate::model::RunCounts::default();
                store
                    .finish_run(
                        run.id,
                        None,
                        RunStatus::Skipped,
                        &counts,
                        Some("the previous run of this job was still going"),
                        now,
                    )
                    .await?;
                tracing::info!(target: "ftpman::scheduler", job = %job.name, fire = %fire, "fire skipped: the previous run is still going");
            }
        }
        Ok(count)
    }

    /// Creates the group runs of every group fire due up to now: one per group at most.
    pub async fn fire_due_groups(&self) -> Result<usize, StoreError> {
        self.groups.fire_due(self.engine.store().as_ref(), self.now()).await
    }

    /// Whether this node runs as many runs as it may.
    fn full(&self) -> bool {
        self.running.lock().map(|r| r.len()).unwrap_or(usize::MAX) >= self.config.max_concurrent_runs
    }

    /// Starts a claimed run's execution on this node; when it ends, the loop is woken to claim
    /// the next.
    fn start(&self, execution: impl Future<Output = ()> + Send + 'static) {
        let wake = self.wake.clone();
        if let Ok(mut running) = self.running.lock() {
            running.spawn(async move {
                execution.await;
                wake.notify_one();
            });
        }
    }

    /// Whether a tick should look for fires: one is due by the last walk, or a poll interval
    /// passed since (to see jobs changed meanwhile, by this node or another).
    fn fires_may_be_due(&self) -> bool {
        let now = self.now();
        let due = earlier(self.earliest.lock().ok().and_then(|e| *e), self.groups.next()).is_some_and(|t| t <= now);
        let stale = self
            .checked
            .lock()
            .ok()
            .and_then(|c| *c)
            .is_none_or(|c| c.elapsed() >= self.config.poll);
        due || stale
    }

    /// Claims queued runs (of jobs and of groups) while this node has room, and starts them.
    /// A group run takes one place while its jobs run one after another on this node.
    pub async fn claim_and_start(&self) -> Result<usize, StoreError> {
        let mut started = 0;
        let (store, cfg) = (self.engine.store(), self.engine.config());
        while !self.full() {
            let Some(group_run) = store.claim_group_run(&cfg.node_id, self.now(), cfg.lease).await? else {
                break;
            };
            let engine = self.engine.clone();
            self.start(async move {
                let id = group_run.id;
                if let Err(e) = engine.execute_group(group_run).await {
                    tracing::error!(target: "ftpman::engine", group_run = id, "group run could not be recorded: {e}");
                }
            });
            started += 1;
        }
        while !self.full() {
            let Some(run) = store.claim_run(&cfg.node_id, self.now(), cfg.lease).await? else {
                break;
            };
            let engine = self.engine.clone();
            self.start(async move {
                let id = run.id;
                if let Err(e) = engine.execute(run).await {
                    tracing::error!(target: "ftpman::engine", run = id, "run could not be recorded: {e}");
                }
            });
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
        let next = earlier(self.earliest.lock().ok().and_then(|e| *e), self.groups.next());
        let mut wait = self.config.poll;
        if let Some(next) = next
            && let Ok(d) = (next - now).to_std()
        {
            wait = wait.min(d + Duration::from_millis(1));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => {}
            _ = self.wake.notified() => {}
        }
    }

    /// Removes finished runs and log entries older than the `retention.days` setting.
    async fn apply_retention(&self) {
        let store = self.engine.store();
        let days = match store.setting("retention.days").await {
            Ok(Some(s)) => s.value.expose().parse::<i64>().ok(),
            _ => None,
        };
        let Some(days) = days.filter(|d| *d > 0) else { return };
        match store.purge_older_than(self.now() - chrono::Duration::days(days)).await {
            Ok(r) if r.runs + r.logs > 0 => {
                tracing::info!(target: "ftpman::scheduler", runs = r.runs, logs = r.logs, days, "retention: removed old runs and log entries")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(target: "ftpman::scheduler", "retention sweep failed: {e}"),
        }
        match store.purge_group_runs(self.now() - chrono::Duration::days(days)).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(target: "ftpman::scheduler", group_runs = n, days, "retention: removed old group runs")
            }
            Err(e) => tracing::warn!(target: "ftpman::scheduler", "retention sweep of group runs failed: {e}"),
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
        let created = if self.fires_may_be_due() {
            if let Ok(mut checked) = self.checked.lock() {
                *checked = Some(std::time::Instant::now());
            }
            self.fire_due().await? + self.fire_due_groups().await?
        } else {
            0
        };
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
        // Runs left by a process that died are interrupted once their lease has run out; a live
        // `ftpman job run` renews its own and is left alone.
        self.engine
            .recover()
            .await
            .map_err(|crate::engine::EngineError::Store(e)| e)?;
        store.heartbeat(&node, self.now()).await?;
        let mut last_beat = tokio::time::Instant::now();
        let mut last_purge = tokio::time::Instant::now();
        self.apply_retention().await;
        tracing::info!(target: "ftpman::scheduler", node = %node, "scheduler started");
        while !*shutdown.borrow() {
            if let Err(e) = self.tick().await {
                tracing::error!(target: "ftpman::scheduler", "scheduler tick failed: {e}");
            }
            if last_purge.elapsed() >= Duration::from_secs(3600) {
                last_purge = tokio::time::Instant::now();
                self.apply_retention().await;
            }
            if last_beat.elapsed() >= self.config.heartbeat {
                last_beat = tokio::time::Instant::now();
                if let Err(e) = store.heartbeat(&node, self.now()).await {
                    tracing::warn!(target: "ftpman::scheduler", "heartbeat failed: {e}");
                }
                if let Err(e) = self.engine.renew_site_slots().await {
                    tracing::warn!(target: "ftpman::scheduler", "could not renew connection slots: {e}");
                }
                if let Err(e) = self.engine.recover().await {
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

/// The earlier of two instants, either of which may be missing.
fn earlier(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
