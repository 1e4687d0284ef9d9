//! The job engine (docs/architecture.md, "Delivering one file"): runs a job as a Run with one
//! RunFile per file. It lists and filters the source, moves files in parallel (bounded by the
//! job and by each site's pool), verifies and renames them into place, keeps the ledger, applies
//! the after-delivery action, publishes live progress, and notifies. This file is its public
//! side (creating, executing, stopping and recovering runs; pools; notifications); the run loop
//! is `run_loop.rs`, one file's delivery `deliver.rs`, a group's jobs in order `group.rs`.

mod deliver;
pub mod events;
mod group;
mod hold;
pub mod plan;
mod recorder;
mod run_loop;
mod target;

pub use events::RunEvent;
pub use group::GroupRequest;

use crate::model::{Job, NewRun, NotifyPolicy, Run, RunCounts, RunRequest, RunStatus, Site, Trigger};
use crate::notifier::{Notification, Notifier};
use crate::scheduler::{Clock, SystemClock};
use crate::store::{Store, StoreError};
use crate::transport::Connector;
use crate::transport::pool::SitePool;
use chrono::{DateTime, Utc};
use run_loop::RunOutcome;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Why a run is being stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A user cancelled it.
    Cancelled,
    /// The process is shutting down, or another node took the run over.
    Interrupted,
}

/// Why the engine could not start or finish a run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How an engine behaves on this node.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// This node's id (host name and a random suffix by default).
    pub node_id: String,
    /// How long a claim on a run holds without renewal.
    pub lease: Duration,
    /// Base URL of the web UI, for links in notifications.
    pub base_url: Option<String>,
}

/// The lease when `FTPMAN_LEASE` does not set another.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// The lease `FTPMAN_LEASE` sets (a duration such as `30s`, at least 3 s), else
/// [`DEFAULT_LEASE`]: how long a run stays held by a process that stopped renewing it (one
/// killed, or cut off from the database) before another marks it interrupted.
pub fn lease_from_env() -> Duration {
    std::env::var("FTPMAN_LEASE")
        .ok()
        .and_then(|v| crate::validate::parse_duration("FTPMAN_LEASE", &v).ok())
        .filter(|d| *d >= Duration::from_secs(3))
        .unwrap_or(DEFAULT_LEASE)
}

impl Default for EngineConfig {
    fn default() -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "node".into());
        let suffix = getrandom::u64().unwrap_or(0) % 0x100_0000;
        EngineConfig {
            node_id: format!("{host}-{suffix:06x}"),
            lease: lease_from_env(),
            base_url: None,
        }
    }
}

/// Connection pools by site id, with the site version they were made for.
type SitePools = HashMap<i64, (DateTime<Utc>, Arc<SitePool>)>;

/// How a job retries a file's transfer or a folder's listing: `retries` more attempts, the
/// delay starting at `retry_backoff` and doubling, at most 10 minutes (with a little jitter, so
/// parallel files do not return to a server in step).
pub(crate) fn retry_policy(job: &Job) -> crate::transport::retry::RetryPolicy {
    crate::transport::retry::RetryPolicy {
        attempts: job.retries.saturating_add(1),
        initial_backoff: job.retry_backoff,
        max_backoff: Duration::from_secs(600),
    }
}

/// A run being executed: dropped before [`RunGuard::disarm`] (its future panicked or was
/// dropped), it stops the lease renewal and marks the run failed.
struct RunGuard {
    engine: Engine,
    run_id: i64,
    _renewal: hold::Renewal,
    slots: Option<AbortOnDrop>,
    armed: bool,
}

impl RunGuard {
    /// The run's execution ended normally: stop renewing, forget its stop switch.
    fn disarm(mut self) {
        self.armed = false;
        if let Ok(mut stops) = self.engine.inner.stops.lock() {
            stops.remove(&self.run_id);
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.slots.take();
        if self.armed {
            self.engine.abandon(self.run_id);
        }
    }
}

/// A background task that ends when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Inner {
    store: Arc<dyn Store>,
    connector: Arc<dyn Connector>,
    notifiers: Mutex<Vec<Arc<dyn Notifier>>>,
    events: broadcast::Sender<RunEvent>,
    config: EngineConfig,
    clock: Arc<dyn Clock>,
    pools: Mutex<SitePools>,
    stops: Mutex<HashMap<i64, watch::Sender<Option<StopReason>>>>,
}

/// Runs jobs. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// An engine over `store`, connecting to sites through `connector`.
    pub fn new(store: Arc<dyn Store>, connector: Arc<dyn Connector>, config: EngineConfig) -> Engine {
        Self::with_clock(store, connector, config, Arc::new(SystemClock))
    }

    /// An engine reading time from `clock` (tests use a controllable one).
    pub fn with_clock(
        store: Arc<dyn Store>,
        connector: Arc<dyn Connector>,
        config: EngineConfig,
        clock: Arc<dyn Clock>,
    ) -> Engine {
        let (events, _) = broadcast::channel(4_096);
        Engine {
            inner: Arc::new(Inner {
                store,
                connector,
                notifiers: Mutex::new(Vec::new()),
                events,
                config,
                clock,
                pools: Mutex::new(HashMap::new()),
                stops: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Adds a notifier (SMTP, webhook, or one of the embedding program's own).
    pub fn add_notifier(&self, notifier: Arc<dyn Notifier>) {
        if let Ok(mut n) = self.inner.notifiers.lock() {
            n.push(notifier);
        }
    }

    /// Live events of every run on this node.
    pub fn subscribe(&self) -> broadcast::Receiver<RunEvent> {
        self.inner.events.subscribe()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// This node's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Runs currently executing on this node.
    pub fn active_runs(&self) -> Vec<i64> {
        self.inner
            .stops
            .lock()
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Asks a run on this node to stop; `false` if it is not running here.
    pub fn stop(&self, run_id: i64, reason: StopReason) -> bool {
        match self.inner.stops.lock() {
            Ok(stops) => match stops.get(&run_id) {
                Some(tx) => {
                    let _ = tx.send(Some(reason));
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }

    /// Marks runs whose lease has expired (the process running them died, or lost the
    /// database) as `interrupted`. A run of a live process, on this node or another, a `serve`
    /// or a `job run`, renews its lease and is left alone. The ledger makes the next run
    /// continue where an interrupted one stopped.
    pub async fn recover(&self) -> Result<Vec<i64>, EngineError> {
        let ids = self.inner.store.expire_leases(self.inner.clock.now()).await?;
        for id in &ids {
            tracing::warn!(target: "ftpman::engine", run = id, "run was left running by a stopped process: marked interrupted");
        }
        self.recover_groups().await?;
        Ok(ids)
    }

    /// Runs a job now, on this node, and returns the finished run. A job whose previous run is
    /// still going gets a `skipped` run.
    pub async fn run_job(&self, job: &Job, trigger: Trigger, dry_run: bool) -> Result<Run, EngineError> {
        let run = self.begin(job, trigger, dry_run).await?;
        if run.status == RunStatus::Running {
            self.execute(run).await
        } else {
            Ok(run)
        }
    }

    /// Creates a run of `job` on this node: `running`, held by this node, for
    /// [`Engine::execute`] to execute, or `skipped` when the job's previous run is still going.
    pub async fn begin(&self, job: &Job, trigger: Trigger, dry_run: bool) -> Result<Run, EngineError> {
        self.begin_with(job, RunRequest::now(trigger, dry_run)).await
    }

    /// [`Engine::begin`] with everything a run can be asked for: a backfill's reference time,
    /// sending again what the ledger has.
    pub async fn begin_with(&self, job: &Job, request: RunRequest) -> Result<Run, EngineError> {
        let store = &self.inner.store;
        let mut new = NewRun {
            status: RunStatus::Running,
            dry_run: request.dry_run,
            as_of: request.as_of,
            again: request.again,
            group_run_id: request.group_run_id,
            ..NewRun::new(job.id, request.trigger)
        };
        let now = self.inner.clock.now();
        // Created running, held by this node: never queued, so no scheduler claims it first.
        if let Some(run) = store
            .start_new_run(&new, &self.inner.config.node_id, now, self.inner.config.lease)
            .await?
        {
            return Ok(run);
        }
        new.status = RunStatus::Skipped;
        let skipped = store.create_run(&new).await?.ok_or_else(|| StoreError::Corrupt {
            what: "run".into(),
            reason: "a manual run was refused as a duplicate fire".into(),
        })?;
        store
            .finish_run(
                skipped.id,
                None,
                RunStatus::Skipped,
                &RunCounts::default(),
                Some("the previous run of this job is still going"),
                now,
            )
            .await?;
        Ok(store.run(skipped.id).await?)
    }

    /// The cluster slots this node's pools hold, as (site id, slot).
    fn held_slots(&self) -> Vec<(i64, u32)> {
        let pools = match self.inner.pools.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        pools.values().flat_map(|(_, pool)| pool.held_slots()).collect()
    }

    /// Extends the cluster slots this node's pools hold (and only those: a slot whose release
    /// failed expires).
    pub async fn renew_site_slots(&self) -> Result<u64, EngineError> {
        let held = self.held_slots();
        if held.is_empty() {
            return Ok(0);
        }
        let config = &self.inner.config;
        Ok(self
            .inner
            .store
            .renew_site_slots(&config.node_id, &held, self.inner.clock.now(), config.lease)
            .await?)
    }

    /// A connection to `site` from its pool: within the site's `max_connections` on this node
    /// and, on PostgreSQL, across the cluster, as the connections of jobs are. It goes back to
    /// the pool when dropped.
    pub async fn connection(
        &self,
        site: &Site,
    ) -> crate::transport::TransportResult<crate::transport::pool::PooledTransport> {
        self.pool(site).get().await
    }

    fn pool(&self, site: &Site) -> Arc<SitePool> {
        let mut pools = match self.inner.pools.lock() {
            Ok(p) => p,
            Err(poisoned) => poisoned.into_inner(),
        };
        match pools.get(&site.id) {
            Some((updated, pool)) if *updated == site.updated_at => pool.clone(),
            _ => {
                let pool = if crate::transport::declared_capabilities(site.protocol).remote
                    && self.inner.store.backend() == crate::store::Backend::Postgres
                {
                    // Several nodes may share this database: hold cluster-wide slots (a local
                    // folder is each node's own, so it has none).
                    SitePool::with_cluster(
                        site.clone(),
                        self.inner.connector.clone(),
                        crate::transport::pool::ClusterSlots::new(
                            self.inner.store.clone(),
                            self.inner.config.node_id.clone(),
                            self.inner.config.lease,
                            self.inner.clock.clone(),
                        ),
                    )
                } else {
                    SitePool::new(site.clone(), self.inner.connector.clone())
                };
                if let Some((_, old)) = pools.get(&site.id) {
                    let old = old.clone();
                    tokio::spawn(async move { old.close_idle().await });
                }
                pools.insert(site.id, (site.updated_at, pool.clone()));
                pool
            }
        }
    }

    /// Closes pooled connections idle for longer than `age`, so their cluster slots go to nodes
    /// that need them.
    pub async fn close_idle(&self, age: Duration) {
        let pools: Vec<Arc<SitePool>> = match self.inner.pools.lock() {
            Ok(p) => p.values().map(|(_, pool)| pool.clone()).collect(),
            Err(_) => return,
        };
        for pool in pools {
            pool.close_idle_older_than(age).await;
        }
    }

    /// Executes a run this node holds (status `running`), renewing its lease until it ends.
    /// A run whose lease this node cannot renew for the lease's length stops, and records
    /// nothing more: another node may have taken it over.
    pub async fn execute(&self, run: Run) -> Result<Run, EngineError> {
        let store = self.inner.store.clone();
        let node = self.inner.config.node_id.clone();
        let (stop_tx, stop_rx) = watch::channel(None);
        if let Ok(mut stops) = self.inner.stops.lock() {
            stops.insert(run.id, stop_tx.clone());
        }
        let hold = hold::Hold::new(self.inner.config.lease);
        // Ends the run if its future is dropped or panics before it is finished below.
        let guard = RunGuard {
            engine: self.clone(),
            run_id: run.id,
            _renewal: hold::Renewal::start(
                store.clone(),
                self.inner.clock.clone(),
                run.id,
                node.clone(),
                hold.clone(),
                stop_tx,
            ),
            slots: self.keep_slots(),
            armed: true,
        };
        let outcome = self.run_files(&run, stop_rx.clone(), hold.clone()).await;
        guard.disarm();
        let RunOutcome {
            status,
            counts,
            error,
            first_errors,
            job,
        } = match outcome {
            Ok(o) => o,
            Err(e) => RunOutcome {
                status: RunStatus::Failed,
                counts: RunCounts::default(),
                error: Some(e.to_string()),
                first_errors: vec![e.to_string()],
                job: None,
            },
        };
        if hold.check("finishing the run").is_err() {
            // Another node may have the run now: its record is left as the store has it (marked
            // interrupted by whichever node finds its lease expired).
            tracing::warn!(target: "ftpman::engine", run = run.id, "the run stopped without a lease; its record is left to the node that holds it");
            return Ok(store.run(run.id).await?);
        }
        match store
            .finish_run(
                run.id,
                Some(&node),
                status,
                &counts,
                error.as_deref(),
                self.inner.clock.now(),
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotHeld { .. }) => {
                tracing::warn!(target: "ftpman::engine", run = run.id, "another node holds this run now: its outcome is left to that node");
                return Ok(store.run(run.id).await?);
            }
            Err(e) => return Err(e.into()),
        }
        let finished = store.run(run.id).await?;
        let job_name = job.as_ref().map(|j| j.name.clone()).unwrap_or_default();
        let secs = finished.duration_secs().unwrap_or(0.0);
        tracing::info!(
            target: "ftpman::engine",
            run = run.id,
            job = %job_name,
            status = %status,
            transferred = counts.transferred,
            skipped = counts.skipped,
            failed = counts.failed,
            bytes = counts.bytes,
            "run {} of job {job_name} {status}: {} files, {} in {secs:.1} s{}{}",
            run.id,
            counts.transferred,
            crate::validate::format_bytes(counts.bytes.max(0) as u64),
            match (counts.skipped, counts.failed) {
                (0, 0) => String::new(),
                (s, 0) => format!(", {s} skipped"),
                (0, f) => format!(", {f} failed"),
                (s, f) => format!(", {s} skipped, {f} failed"),
            },
            if run.dry_run { " (dry run: nothing moved)" } else { "" }
        );
        let _ = self.inner.events.send(RunEvent::Finished {
            run: Box::new(finished.clone()),
            job: job_name,
        });
        if let Some(job) = job {
            self.notify(&job, &finished, first_errors).await;
        }
        Ok(finished)
    }

    /// Renews the cluster slots this node's pools hold while a run goes on (a third of the
    /// lease apart), until the returned task is dropped.
    fn keep_slots(&self) -> Option<AbortOnDrop> {
        if self.inner.store.backend() != crate::store::Backend::Postgres {
            return None;
        }
        let engine = self.clone();
        let every = self.inner.config.lease / 3;
        Some(AbortOnDrop(tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = engine.renew_site_slots().await {
                    tracing::warn!(target: "ftpman::engine", "could not renew connection slots: {e}");
                }
            }
        })))
    }

    /// Ends a run whose execution ended without finishing it (a panic, a dropped future):
    /// marked failed on this node, so it is not left running (its lease already stopped).
    fn abandon(&self, run_id: i64) {
        if let Ok(mut stops) = self.inner.stops.lock() {
            stops.remove(&run_id);
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, node, now) = (
            self.inner.store.clone(),
            self.inner.config.node_id.clone(),
            self.inner.clock.now(),
        );
        handle.spawn(async move {
            let message =
                "internal error: the run ended unexpectedly (see ftpman's log); delivered files stay recorded";
            tracing::error!(target: "ftpman::engine", run = run_id, "{message}");
            if let Err(e) = store
                .finish_run(
                    run_id,
                    Some(&node),
                    RunStatus::Failed,
                    &RunCounts::default(),
                    Some(message),
                    now,
                )
                .await
            {
                tracing::error!(target: "ftpman::engine", run = run_id, "could not mark the run failed: {e}");
            }
        });
    }

    async fn notify(&self, job: &Job, run: &Run, first_errors: Vec<String>) {
        let wanted = match job.notify {
            NotifyPolicy::Never => false,
            NotifyPolicy::Always => true,
            NotifyPolicy::Failure => matches!(
                run.status,
                RunStatus::Failed | RunStatus::Partial | RunStatus::Interrupted
            ),
        };
        let notifiers: Vec<_> = self.inner.notifiers.lock().map(|n| n.clone()).unwrap_or_default();
        if !wanted || notifiers.is_empty() {
            return;
        }
        let note = Notification {
            job: job.clone(),
            run: run.clone(),
            first_errors,
            link: self
                .inner
                .config
                .base_url
                .as_ref()
                .map(|b| format!("{}/runs/{}", b.trim_end_matches('/'), run.id)),
        };
        for n in notifiers {
            if let Err(e) = n.notify(&note, &job.recipients).await {
                // A failing notifier never changes the run's outcome; it is kept in the system log.
                let entry = crate::model::LogEntry {
                    id: 0,
                    time: self.inner.clock.now(),
                    level: crate::model::LogLevel::Error,
                    component: "notify".into(),
                    message: format!("could not notify about run {} of job '{}': {e}", run.id, job.name),
                    context: serde_json::json!({"run": run.id, "job": job.name, "notifier": n.name()}),
                };
                if let Err(le) = self.inner.store.append_log(&entry).await {
                    tracing::error!(target: "ftpman::notify", "{}; and the system log failed too: {le}", entry.message);
                }
            }
        }
    }
}
