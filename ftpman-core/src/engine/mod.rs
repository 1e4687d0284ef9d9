//! The job engine (docs/architecture.md, "Delivering one file"): runs a job as a Run with one RunFile per file. It lists and
//! filters the source, moves files in parallel (bounded by the job and by each site's pool),
//! verifies and renames them into place, keeps the ledger, applies the after-delivery action,
//! publishes live progress, and notifies.

mod deliver;
pub mod events;
mod group;
mod hold;
pub mod plan;
mod recorder;
mod target;

pub use events::RunEvent;
pub use group::GroupRequest;

use crate::model::{Job, NewRun, NotifyPolicy, Run, RunCounts, RunFileStatus, RunRequest, RunStatus, Site, Trigger};
use crate::notifier::{Notification, Notifier};
use crate::scheduler::{Clock, SystemClock};
use crate::store::{Store, StoreError};
use crate::transport::Connector;
use crate::transport::pool::SitePool;
use crate::transport::throttle::RateLimiter;
use chrono::{DateTime, Utc};
use deliver::{RunContext, deliver};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, broadcast, watch};
use tokio::task::JoinSet;

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

/// How a run's files went.
struct RunOutcome {
    status: RunStatus,
    counts: RunCounts,
    error: Option<String>,
    first_errors: Vec<String>,
    job: Option<Job>,
}

impl RunOutcome {
    fn failed(message: String, job: &Job) -> RunOutcome {
        RunOutcome {
            status: RunStatus::Failed,
            counts: RunCounts::default(),
            error: Some(message.clone()),
            first_errors: vec![message],
            job: Some(job.clone()),
        }
    }
}

/// How long a run lists before it delivers what it has found while it lists the rest.
const STREAM_AFTER: Duration = Duration::from_millis(250);

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

/// What a stopped run's error says.
fn stop_message(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Cancelled => "cancelled",
        StopReason::Interrupted => "interrupted: ftpman stopped or lost the run's lease",
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

    /// Saves a run's progress (every second while it runs, so any process can follow it), and
    /// stops the run if someone, anywhere, asked to cancel it.
    async fn save_progress(&self, run_id: i64, counts: &RunCounts, ctx: &RunContext) {
        // (A failed write does not end the deliveries; a lost hold is the renewal's to act on.)
        if let Ok(true) = self
            .inner
            .store
            .update_run_counts(run_id, &self.inner.config.node_id, counts, &ctx.active_files(100))
            .await
        {
            self.stop(run_id, StopReason::Cancelled);
        }
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

    /// Lists, filters and delivers; returns the run's status, counts, error summary and job.
    async fn run_files(
        &self,
        run: &Run,
        stop: watch::Receiver<Option<StopReason>>,
        hold: Arc<hold::Hold>,
    ) -> Result<RunOutcome, EngineError> {
        let store = &self.inner.store;
        let job = store.job_by_id(run.job_id).await?;
        let _ = self.inner.events.send(RunEvent::Started {
            run_id: run.id,
            job: job.name.clone(),
        });
        let src_site = store.site_by_id(job.source_site_id).await?;
        let dst_site = store.site_by_id(job.target_site_id).await?;
        let src = self.pool(&src_site);
        let dst = self.pool(&dst_site);
        let now = self.inner.clock.now();
        // The first connection says whether the source is there at all; it goes back to the
        // pool for the listing.
        if let Err(e) = src.get().await {
            return Ok(RunOutcome::failed(
                format!(
                    "the source site '{}' is unreachable; nothing was moved: {e}",
                    src_site.name
                ),
                &job,
            ));
        }
        // So is the target, once for the run, not once a file (a dry run does not need it).
        if !run.dry_run
            && let Err(e) = dst.get().await
        {
            return Ok(RunOutcome::failed(
                format!(
                    "the target site '{}' is unreachable; nothing was moved: {e}",
                    dst_site.name
                ),
                &job,
            ));
        }
        let tz = job.zone();
        // The run's date window and target paths follow its reference time, not the clock.
        let reference = run.reference_time();
        let selection = plan::Selection {
            window: job.window.as_ref().map(|w| w.resolve(reference, tz)),
            again: run.again,
        };
        if let Some(window) = &selection.window {
            store
                .set_run_window(run.id, &self.inner.config.node_id, &window.to_string())
                .await?;
        }
        let group = match run.group_run_id {
            Some(id) => {
                let group_run = store.group_run(id).await?;
                store.group_by_id(group_run.group_id).await?.name
            }
            None => String::new(),
        };
        let ctx = Arc::new(RunContext {
            group,
            store: store.clone(),
            job: job.clone(),
            run_id: run.id,
            src: src.clone(),
            dst,
            limiter: job.bwlimit.map(RateLimiter::new),
            events: self.inner.events.clone(),
            reference: reference.with_timezone(&tz),
            cancel: stop.clone(),
            dry_run: run.dry_run,
            bytes: AtomicU64::new(0),
            recorder: recorder::Recorder::start(store.clone(), self.inner.config.node_id.clone()),
            target_dirs: Default::default(),
            hold,
            clock: self.inner.clock.clone(),
            node_id: self.inner.config.node_id.clone(),
            earlier_runs: self.unfinished_before(run).await,
            targets: Default::default(),
            active: Default::default(),
        });
        let slots = Arc::new(Semaphore::new(job.parallel.max(1) as usize));
        let finishing = Arc::new(Semaphore::new(
            job.parallel.max(1) as usize * deliver::FINISHING_PER_SLOT,
        ));
        // Files are delivered as their folders are listed (see `STREAM_AFTER`). Listing may retry
        // with backoff: a cancel or a lost lease stops it.
        let (found_tx, mut found) = tokio::sync::mpsc::channel(16);
        // Dropped once done or stopped, which closes `found` once what it holds is taken.
        let mut planning = Some(Box::pin(plan::plan(
            &job,
            &src,
            store.as_ref(),
            now,
            selection,
            found_tx,
        )));
        let mut found_open = true;
        let mut listing_error = None;
        let mut plan = plan::Plan::default();
        let mut stop_planning = stop.clone();
        let mut counts = RunCounts::default();
        let mut tasks: JoinSet<deliver::FileOutcome> = JoinSet::new();
        let mut first_errors = Vec::new();
        let mut flush = tokio::time::interval(Duration::from_secs(1));
        // A tree listed quickly is delivered once listed, with every connection free for the
        // transfers (a listing would otherwise wait behind them for a connection); one whose
        // listing takes longer (a large tree, a far server) starts delivering what it found
        // after `STREAM_AFTER`, and goes on as it lists.
        let stream_from = tokio::time::Instant::now() + STREAM_AFTER;
        let mut held = std::collections::VecDeque::new();
        // Deliveries in flight at most: enough to keep every connection busy and every finishing
        // step going, and no more, so a listing of a million files holds a million small entries,
        // not a million tasks.
        let window = job.parallel.max(1) as usize * (deliver::FINISHING_PER_SLOT + 2) + 16;
        // Until everything is listed (or the run stopped), every file found handed out, and
        // every delivery done.
        while planning.is_some() || found_open || !held.is_empty() || !tasks.is_empty() {
            tokio::select! {
                Some(planned) = async { match planning.as_mut() { Some(p) => Some(p.await), None => None } }, if planning.is_some() => {
                    planning = None;
                    match planned {
                        Ok(p) => {
                            plan = p;
                            counts.undated = plan.undated as i64;
                            if plan.undated > 0 {
                                tracing::warn!(target: "ftpman::engine", run = run.id, job = %job.name, files = plan.undated, "files passed over: no date could be read for the job's window (see its name date pattern)");
                            }
                            let _ = self.inner.events.send(RunEvent::Planned {
                                run_id: run.id,
                                files: plan.files,
                                bytes: plan.bytes,
                                already_delivered: plan.already_delivered,
                            });
                            // Deliveries run meanwhile: a failed write here must not end them.
                            self.save_progress(run.id, &counts, &ctx).await;
                        }
                        Err(e) => listing_error = Some(e.to_string()),
                    }
                }
                // (The watch's guard is not held past the wait: the run's future must stay `Send`.)
                true = async { stop_planning.wait_for(|s| s.is_some()).await.is_ok() }, if planning.is_some() => {
                    planning = None;
                }
                batch = found.recv(), if found_open => match batch {
                    Some(batch) => {
                        // Counted as found, so a run stopped or failed while listing says so.
                        counts.found += (batch.files.len() as u64 + batch.already_delivered) as i64;
                        counts.skipped += batch.already_delivered as i64;
                        held.extend(batch.files);
                        if !run.dry_run {
                            for cand in batch.pending_after {
                                tasks.spawn(deliver::finish_pending_after(ctx.clone(), cand));
                            }
                        }
                    }
                    None => found_open = false,
                },
                () = tokio::time::sleep_until(stream_from), if !held.is_empty() && planning.is_some() && tokio::time::Instant::now() < stream_from => {}
                Some(next) = tasks.join_next(), if !tasks.is_empty() => match next {
                    Ok(outcome) if outcome.counted => {
                        if let Some(e) = outcome.error {
                            counts.failed += 1;
                            if first_errors.len() < 5 {
                                first_errors.push(e);
                            }
                        }
                    }
                    Ok(outcome) => {
                        match outcome.status {
                            RunFileStatus::Transferred => counts.transferred += 1,
                            RunFileStatus::Skipped => counts.skipped += 1,
                            RunFileStatus::WouldTransfer => {}
                            RunFileStatus::Failed | RunFileStatus::Transferring => {
                                counts.failed += 1;
                                if first_errors.len() < 5 && let Some(e) = outcome.error {
                                    first_errors.push(e);
                                }
                            }
                        }
                    }
                    Err(e) => {
                        counts.failed += 1;
                        first_errors.push(format!("internal error: {e}"));
                    }
                },
                _ = flush.tick() => {
                    counts.bytes = ctx.bytes.load(Ordering::Relaxed) as i64;
                    self.save_progress(run.id, &counts, &ctx).await;
                }
            }
            let stopped = stop.borrow().is_some();
            if stopped {
                // Files found but not started are left for the next run.
                held.clear();
            } else if planning.is_none() || tokio::time::Instant::now() >= stream_from {
                while tasks.len() < window
                    && let Some(cand) = held.pop_front()
                {
                    let (ctx, slots, finishing) = (ctx.clone(), slots.clone(), finishing.clone());
                    tasks.spawn(async move { deliver(ctx, cand, deliver::Slot::new(slots, finishing)).await });
                }
            }
        }
        drop(planning);
        counts.bytes = ctx.bytes.load(Ordering::Relaxed) as i64;
        let stopped = *stop.borrow();
        if let Some(message) = listing_error {
            // What was found before the listing failed was delivered; the run still failed.
            first_errors.insert(0, message.clone());
            let status = if counts.transferred > 0 {
                RunStatus::Partial
            } else {
                RunStatus::Failed
            };
            return Ok(RunOutcome {
                status,
                counts,
                error: Some(message),
                first_errors,
                job: Some(job),
            });
        }
        let status = match stopped {
            Some(StopReason::Cancelled) => RunStatus::Cancelled,
            Some(StopReason::Interrupted) => RunStatus::Interrupted,
            None if counts.failed == 0 => RunStatus::Succeeded,
            None if counts.transferred == 0 && counts.skipped == plan.already_delivered as i64 && !run.dry_run => {
                RunStatus::Failed
            }
            None => RunStatus::Partial,
        };
        let error = match (stopped, first_errors.first()) {
            (Some(reason), _) => Some(stop_message(reason).to_string()),
            (None, Some(first)) if counts.failed > 1 => Some(format!("{} files failed; first: {first}", counts.failed)),
            (None, Some(first)) => Some(first.clone()),
            (None, None) => None,
        };
        Ok(RunOutcome {
            status,
            counts,
            error,
            first_errors,
            job: Some(job),
        })
    }

    /// The job's runs since its last successful one, before `run` (a few at most): the ones
    /// that may have left temporary files at the target (a process killed mid-transfer, or a
    /// server gone before the partial file could be removed).
    async fn unfinished_before(&self, run: &Run) -> Vec<i64> {
        let query = crate::model::RunQuery {
            job_id: Some(run.job_id),
            limit: Some(5),
            ..Default::default()
        };
        match self.inner.store.runs(&query).await {
            // Interrupted (a process killed) or failed (a server gone before a partial file
            // could be removed); a partial or cancelled run cleaned up after itself.
            Ok(runs) => runs
                .iter()
                .filter(|r| r.id != run.id && !r.dry_run && r.status != RunStatus::Skipped)
                .take_while(|r| r.status != RunStatus::Succeeded)
                .filter(|r| matches!(r.status, RunStatus::Interrupted | RunStatus::Failed))
                .take(3)
                .map(|r| r.id)
                .collect(),
            Err(_) => Vec::new(),
        }
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
