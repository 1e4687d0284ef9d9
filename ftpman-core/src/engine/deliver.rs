//! Delivering one file (docs/architecture.md, "Delivering one file", steps 3 to 6), one idea
//! in one file: stream under a temporary name, verify, rename into place under the conflict
//! policy, record the ledger and the run file, and only then apply the after-delivery action to
//! the source. A failure at any step leaves no file under its final name and never touches the
//! source.

use super::events::RunEvent;
use super::hold::Hold;
use super::plan::Candidate;
use super::recorder::Recorder;
use super::target::{
    TargetClaim, claim_target, dry_run_target, may_replace, resolve_conflict, same_file, target_path, temp_path,
};
use crate::model::{AfterAction, ConflictPolicy, Job, LedgerEntry, RunFile, RunFileStatus};
use crate::store::Store;
use crate::transport::copy::copy_file;
use crate::transport::pool::SitePool;
use crate::transport::segmented;
use crate::transport::throttle::RateLimiter;
use crate::transport::{EntryKind, Finished, TransportError, path};
use chrono::DateTime;
use chrono_tz::Tz;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};

/// Everything the deliveries of one run share.
pub(crate) struct RunContext {
    pub store: Arc<dyn Store>,
    pub job: Job,
    pub run_id: i64,
    pub src: Arc<SitePool>,
    pub dst: Arc<SitePool>,
    pub limiter: Option<Arc<RateLimiter>>,
    pub events: broadcast::Sender<RunEvent>,
    /// The run's reference time in the job's time zone (for path templates): the fire it
    /// stands for, a backfill's `--as-of`, else its start.
    pub reference: DateTime<Tz>,
    /// The group whose run this run is part of (for `{group}`), or empty.
    pub group: String,
    pub cancel: watch::Receiver<Option<super::StopReason>>,
    pub dry_run: bool,
    /// Bytes moved by the run so far.
    pub bytes: AtomicU64,
    /// Commits finished files in groups.
    pub recorder: Recorder,
    /// Target folders this run has made or found, so each is made once, not once a file.
    pub target_dirs: Mutex<HashSet<String>>,
    /// This node's hold on the run: checked before every step with a lasting effect.
    pub hold: Arc<Hold>,
    /// The engine's clock.
    pub clock: Arc<dyn crate::scheduler::Clock>,
    /// This node.
    pub node_id: String,
    /// The job's runs since its last successful one (a few): the temporary files they may have
    /// left are removed as this run delivers the same files.
    pub earlier_runs: Vec<i64>,
    /// Final paths (case folded) this run delivers to: see [`claim_target`].
    pub targets: Mutex<HashMap<String, TargetClaim>>,
    /// The files moving now: their size and bytes so far, by source path.
    pub active: Mutex<HashMap<String, (u64, Arc<AtomicU64>)>>,
}

impl RunContext {
    /// The files moving now (at most `max`, by path), for the run's progress row.
    pub(crate) fn active_files(&self, max: usize) -> Vec<crate::model::ActiveFile> {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let mut files: Vec<crate::model::ActiveFile> = active
            .iter()
            .map(|(path, (size, bytes))| crate::model::ActiveFile {
                path: path.clone(),
                size: *size,
                bytes: bytes.load(Ordering::Relaxed),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        files.truncate(max);
        files
    }
}

/// Files that may be finishing (verified, made durable, renamed) per transfer slot: enough for
/// the syncs of a local disk to batch, few enough that a slow disk holds the transfers back.
pub(crate) const FINISHING_PER_SLOT: usize = 8;

/// A file's place among the job's parallel transfers. It is held while the file's bytes move
/// and traded for a place among the finishing files before the target verifies, makes durable,
/// renames and records them: the next file's transfer starts meanwhile, and the files waiting
/// on the target's disk share its syncs (many small files to a local folder).
pub(crate) struct Slot {
    slots: Arc<Semaphore>,
    finishing: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl Slot {
    /// A place among `slots`, not yet taken; `finishing` bounds the files past their transfer.
    pub(crate) fn new(slots: Arc<Semaphore>, finishing: Arc<Semaphore>) -> Slot {
        Slot {
            slots,
            finishing,
            held: None,
        }
    }

    /// Waits for the place, unless it is held.
    pub(crate) async fn take(&mut self) {
        if self.held.is_none() {
            // The semaphore is never closed; were it, the file would go without a place.
            self.held = self.slots.clone().acquire_owned().await.ok();
        }
    }

    fn give_back(&mut self) {
        self.held = None;
    }

    /// Trades the transfer place for a finishing one (waiting for it while still holding the
    /// transfer place, so a slow target holds the transfers back).
    async fn hand_over(&mut self) -> Option<OwnedSemaphorePermit> {
        let finishing = self.finishing.clone().acquire_owned().await.ok();
        self.give_back();
        finishing
    }
}

/// How one file ended.
#[derive(Debug, Clone)]
pub(crate) struct FileOutcome {
    pub status: RunFileStatus,
    pub error: Option<String>,
    /// Counted already, as found in the ledger (an after-delivery action left pending).
    pub counted: bool,
}

/// Why one attempt failed, and whether another may succeed.
pub(super) struct AttemptError {
    pub(super) message: String,
    pub(super) transient: bool,
    /// A skip decided by the conflict policy, not a failure.
    pub(super) skipped: bool,
    /// A connection's or server's error (not a decision of the policy).
    pub(super) from_transport: bool,
}

impl From<TransportError> for AttemptError {
    fn from(e: TransportError) -> Self {
        AttemptError {
            transient: e.is_transient(),
            message: e.to_string(),
            skipped: false,
            from_transport: true,
        }
    }
}

impl AttemptError {
    pub(super) fn permanent(message: impl Into<String>) -> Self {
        AttemptError {
            message: message.into(),
            transient: false,
            skipped: false,
            from_transport: false,
        }
    }

    /// The final name exists at the target: a skip under `skip`, else a failure.
    pub(super) fn name_taken(policy: ConflictPolicy, final_path: &str) -> Self {
        let message = match policy {
            ConflictPolicy::ReplaceOwn => format!(
                "{final_path} exists at the target and this job did not deliver it (on-conflict replace-own replaces only this job's own files; overwrite would replace it)"
            ),
            _ => format!("{final_path} exists at the target (on-conflict {policy})"),
        };
        AttemptError {
            message,
            transient: false,
            skipped: policy == ConflictPolicy::Skip,
            from_transport: false,
        }
    }
}

/// How often a file's progress is told at most: the bytes moved in between are summed, so a
/// fast transfer sends a few events a second, not one per chunk.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// A file's progress events, rate-limited to one per [`PROGRESS_EVERY`].
struct ProgressEvents {
    run_id: i64,
    path: String,
    events: broadcast::Sender<RunEvent>,
    last: Instant,
    unsent: u64,
}

impl ProgressEvents {
    fn new(ctx: &RunContext, cand: &Candidate) -> ProgressEvents {
        ProgressEvents {
            run_id: ctx.run_id,
            path: cand.entry.path.clone(),
            events: ctx.events.clone(),
            last: Instant::now(),
            unsent: 0,
        }
    }

    fn moved(&mut self, n: u64) {
        self.unsent += n;
        if self.last.elapsed() >= PROGRESS_EVERY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.unsent > 0 {
            let _ = self.events.send(RunEvent::Progress {
                run_id: self.run_id,
                path: self.path.clone(),
                bytes: self.unsent,
            });
            self.unsent = 0;
            self.last = Instant::now();
        }
    }
}

/// One attempt at moving the file through `temp` (the final path itself when not atomic).
/// Returns the final path.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    ctx: &RunContext,
    cand: &Candidate,
    final_path: &str,
    temp: &str,
    resume: bool,
    file_bytes: &AtomicU64,
    wrote: &AtomicBool,
    slot: &mut Slot,
) -> Result<String, AttemptError> {
    let size = cand.entry.size;
    // A retry waits for a place again, as a first attempt did.
    slot.take().await;
    if ctx.dry_run {
        return dry_run_target(ctx, cand, final_path).await;
    }
    let mut tgt = ctx.dst.get().await?;
    let result = async {
        let (mut final_path, mut overwrite) =
            if ctx.job.atomic && !ctx.dry_run && ctx.job.conflict != ConflictPolicy::Skip {
                // The rename into place decides: it refuses a name already taken, atomically (or
                // replaces it, where the policy allows), so a new file costs no stat before its
                // transfer. Skip asks first, not to move a file only to throw it away.
                (final_path.to_string(), may_replace(&ctx.job, cand, final_path))
            } else {
                resolve_conflict(&ctx.job, cand, &mut tgt, final_path).await?
            };
        if ctx.dry_run {
            return Ok(final_path);
        }
        let dir = path::parent(&final_path);
        let known = ctx.target_dirs.lock().map(|d| d.contains(&dir)).unwrap_or(false);
        if !known {
            tgt.mkdir_all(&dir).await?;
            if let Ok(mut d) = ctx.target_dirs.lock() {
                d.insert(dir);
            }
        }
        let temp = if ctx.job.atomic { temp.to_string() } else { final_path.clone() };
        let mut src = ctx.src.get().await?;
        // A large file moves in segments over several connections, into the temporary file
        // only (never with holes under its final name). Its segments resume on their own; the
        // attempt never builds on the size its temporary file has.
        let segmented = ctx.job.atomic && segmented::wanted(size, &*src, &*tgt);
        let offset = if resume && !segmented {
            match tgt.stat(&temp).await {
                // Where the writes before a break may have left holes (pipelined writes), only
                // what lies before them is built on.
                Ok(e) if e.size <= size => e.size.saturating_sub(tgt.capabilities().resume_margin),
                _ => 0,
            }
        } else {
            0
        };
        // A retry builds on what an earlier attempt moved only from the file that was listed; a
        // segmented file starts again, but not from another version of the source either.
        if (offset > 0 || (resume && segmented)) && !same_file(&cand.entry, &src.stat(&cand.entry.path).await?) {
            return Err(AttemptError::permanent(
                "the source changed while it was being moved (it no longer has the size or time it was listed with); the next run moves the new version",
            ));
        }
        let compare_checksums = tgt.capabilities().cheap_checksum && src.capabilities().cheap_checksum;
        wrote.store(true, Ordering::Relaxed);
        let mut events = ProgressEvents::new(ctx, cand);
        let copied = {
            let bytes = &ctx.bytes;
            let events = &mut events;
            let mut progress = move |n: u64| {
                bytes.fetch_add(n, Ordering::Relaxed);
                file_bytes.fetch_add(n, Ordering::Relaxed);
                events.moved(n);
            };
            let copying = async {
                if segmented {
                    let copied = segmented::copy_segmented(
                        (&mut *src, &ctx.src),
                        (&mut *tgt, &ctx.dst),
                        &cand.entry.path,
                        &temp,
                        size,
                        super::retry_policy(&ctx.job),
                        ctx.limiter.as_ref(),
                        &mut progress,
                        &|now| same_file(&cand.entry, now),
                    )
                    .await;
                    copied.map(|segments| {
                        tracing::info!(target: "ftpman::engine", job = %ctx.job.name, file = %cand.entry.path, segments, "moved in segments");
                        Finished { written: size, size: None }
                    })
                } else {
                    copy_file(
                        &mut *src,
                        &cand.entry.path,
                        Some(size),
                        &mut *tgt,
                        &temp,
                        offset,
                        ctx.limiter.as_ref(),
                        &mut progress,
                    )
                    .await
                }
            };
            match tokio::time::timeout(ctx.job.file_timeout, copying).await {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout {
                    site: ctx.dst.site().name.clone(),
                    operation: format!("moving {}", cand.entry.path),
                    seconds: ctx.job.file_timeout.as_secs(),
                }),
            }
        };
        events.flush();
        let copied = match copied {
            Ok(c) => c,
            Err(e) => {
                src.mark_broken();
                return Err(e.into());
            }
        };
        // The bytes have moved: the source connection and the transfer slot go to the next
        // file, unless the source is still needed for its checksum.
        let (mut src, _finishing) = if compare_checksums {
            (Some(src), None)
        } else {
            drop(src);
            (None, slot.hand_over().await)
        };
        // Verify before anything is renamed or deleted: the byte count as the target reports
        // it (on closing, or asked), and a checksum where both ends compute one cheaply (never
        // by reading the file back).
        let at_target = match copied.size {
            Some(s) => s,
            None => tgt.stat(&temp).await?.size,
        };
        if at_target != size {
            return Err(AttemptError {
                message: format!("verification failed: the source has {size} bytes, the target {at_target}"),
                transient: true,
                skipped: false,
                from_transport: false,
            });
        }
        if let Some(src) = src.as_mut()
            && let Some(theirs) = tgt.checksum(&temp).await?
            && let Some(ours) = src.checksum(&cand.entry.path).await?
            && ours.algorithm == theirs.algorithm
            && ours.hex != theirs.hex
        {
            return Err(AttemptError {
                message: format!("verification failed: {} checksums differ", ours.algorithm),
                transient: true,
                skipped: false,
                from_transport: false,
            });
        }
        ctx.hold.check("renaming it into place").map_err(|e| AttemptError::permanent(e.to_string()))?;
        if ctx.job.atomic {
            loop {
                match tgt.rename(&temp, &final_path, overwrite).await {
                    Ok(()) => break,
                    // Someone delivered under that name meanwhile: take the next free one.
                    Err(TransportError::AlreadyExists { .. }) if ctx.job.conflict == ConflictPolicy::Rename => {
                        let (next, ow) = resolve_conflict(&ctx.job, cand, &mut tgt, &final_path).await?;
                        final_path = next;
                        overwrite = ow;
                    }
                    Err(e) => {
                        // Say why in the user's words: a folder, or a file, in the way.
                        return match tgt.stat(&final_path).await {
                            Ok(there) if there.kind == EntryKind::Dir => {
                                Err(AttemptError::permanent(format!("the target {final_path} is a folder")))
                            }
                            Ok(_) if !overwrite && matches!(e, TransportError::AlreadyExists { .. }) => {
                                // The moved copy is not wanted under another name.
                                let _ = tgt.delete(&temp).await;
                                Err(AttemptError::name_taken(ctx.job.conflict, &final_path))
                            }
                            _ => Err(e.into()),
                        };
                    }
                }
            }
        } else {
            // Written in place: durable before it is recorded as delivered.
            tgt.make_durable(&final_path).await?;
        }
        Ok(final_path)
    }
    .await;
    if let Err(e) = &result {
        if e.transient {
            tgt.mark_broken();
        }
        // The folder may be what went missing: the next attempt makes it again.
        if let Ok(mut dirs) = ctx.target_dirs.lock() {
            dirs.remove(&path::parent(final_path));
        }
    }
    result
}

/// Applies the after-delivery action to the source file, once this node is known to still hold
/// the run and the source is known to be the file that was delivered (same size and time as
/// listed); a source that changed meanwhile is kept.
async fn after_delivery(ctx: &RunContext, cand: &Candidate) -> Result<(), String> {
    if ctx.job.after == AfterAction::Keep {
        return Ok(());
    }
    ctx.hold.check("the after-delivery action").map_err(|e| e.to_string())?;
    let mut src = ctx.src.get().await.map_err(|e| e.to_string())?;
    let now = src.stat(&cand.entry.path).await.map_err(|e| e.to_string())?;
    if !same_file(&cand.entry, &now) {
        return Err(format!(
            "the source changed since it was listed ({} bytes now, {} then): it was kept; the next run delivers the new version",
            now.size, cand.entry.size
        ));
    }
    match &ctx.job.after {
        AfterAction::Keep => Ok(()),
        AfterAction::Delete => src.delete(&cand.entry.path).await.map_err(|e| e.to_string()),
        AfterAction::Move(dir) => {
            let dest = path::normalize(&format!("{dir}/{}", cand.rel))?;
            src.mkdir_all(&path::parent(&dest)).await.map_err(|e| e.to_string())?;
            src.rename(&cand.entry.path, &dest, true)
                .await
                .map_err(|e| e.to_string())
        }
    }
}

/// Applies the after-delivery action that an earlier run recorded as pending for a file it
/// delivered (it stopped between recording the delivery and the action).
pub(crate) async fn finish_pending_after(ctx: Arc<RunContext>, cand: Candidate) -> FileOutcome {
    let delivered_by = cand.delivered.as_ref().map_or(0, |e| e.run_id);
    let error = match after_delivery(&ctx, &cand).await {
        Ok(()) => {
            tracing::info!(target: "ftpman::engine", job = %ctx.job.name, file = %cand.entry.path, run = delivered_by, "applied the after-delivery action ({}) left pending by run {delivered_by}", ctx.job.after);
            if let Err(e) = ctx
                .store
                .after_applied(ctx.job.id, &cand.entry.path, delivered_by)
                .await
            {
                tracing::warn!(target: "ftpman::engine", file = %cand.entry.path, "could not record the after-delivery action: {e}");
            }
            None
        }
        Err(e) => Some(format!(
            "{}: delivered by run {delivered_by}, but its after-delivery action ({}) failed: {e}",
            cand.entry.path, ctx.job.after
        )),
    };
    FileOutcome {
        status: if error.is_some() {
            RunFileStatus::Failed
        } else {
            RunFileStatus::Skipped
        },
        error,
        counted: true,
    }
}

/// Delivers one file with the job's retries; records its run file, ledger entry and events.
/// `slot` is the file's place among the job's parallel transfers: it is given back once the
/// bytes have moved, so the next file starts while this one is made durable, renamed and
/// recorded.
pub(crate) async fn deliver(ctx: Arc<RunContext>, cand: Candidate, mut slot: Slot) -> FileOutcome {
    let (planned_path, no_name) = match target_path(&ctx.job, &cand, ctx.run_id, &ctx.reference, &ctx.group) {
        Ok(p) => (p, None),
        Err((shown, why)) => (shown, Some(why)),
    };
    let temp = temp_path(&planned_path, ctx.run_id);
    let mut record = RunFile {
        id: 0,
        run_id: ctx.run_id,
        source_path: cand.entry.path.clone(),
        target_path: planned_path.clone(),
        size: cand.entry.size as i64,
        bytes: 0,
        duration: Duration::ZERO,
        status: RunFileStatus::Transferring,
        error: None,
    };
    let file_bytes = Arc::new(AtomicU64::new(0));
    let wrote = AtomicBool::new(false);
    let mut cancel = ctx.cancel.clone();
    // Deliveries to one name take turns; the turn is taken before a transfer place, so a file
    // waiting for its turn never holds a place the one ahead of it needs for a retry.
    let claimed = match no_name {
        Some(why) => Err(why),
        None => claim_target(&ctx, &cand, &planned_path),
    };
    let (outcome, started) = match claimed {
        Err(refused) => (Err(AttemptError::permanent(refused)), Instant::now()),
        Ok(turn) => {
            let my_turn = tokio::select! {
                t = turn.lock_owned() => Some(t),
                _ = cancel.wait_for(|c| c.is_some()) => None,
            };
            slot.take().await;
            let started = Instant::now();
            if let Ok(mut active) = ctx.active.lock() {
                active.insert(cand.entry.path.clone(), (cand.entry.size, file_bytes.clone()));
            }
            let _ = ctx.events.send(RunEvent::FileStarted {
                run_id: ctx.run_id,
                path: cand.entry.path.clone(),
                size: cand.entry.size,
            });
            let outcome = if my_turn.is_none() {
                Err(AttemptError::permanent("cancelled"))
            } else {
                attempts(&ctx, &cand, &planned_path, &temp, &file_bytes, &wrote, &mut slot).await
            };
            (outcome, started)
        }
    };
    drop(slot);
    if let Ok(mut active) = ctx.active.lock() {
        active.remove(&cand.entry.path);
    }
    let finish = |record: &mut RunFile, status: RunFileStatus, error: Option<String>, path: String| {
        record.status = status;
        record.error = error;
        record.target_path = path;
        record.bytes = file_bytes.load(Ordering::Relaxed) as i64;
        record.duration = started.elapsed();
    };
    let (status, error) = match outcome {
        Ok(final_path) if !ctx.dry_run => {
            finish(&mut record, RunFileStatus::Transferred, None, final_path.clone());
            remove_earlier_temps(&ctx, &planned_path).await;
            delivered(&ctx, &cand, record, final_path).await
        }
        other => {
            let (status, error, path) = match other {
                Ok(final_path) => (RunFileStatus::WouldTransfer, None, final_path),
                Err(e) if e.skipped => (RunFileStatus::Skipped, Some(e.message), planned_path.clone()),
                Err(e) => {
                    // Best effort: remove what this delivery wrote (its temporary file, or, written
                    // in place, its partial file under the final name: never another's).
                    if wrote.load(Ordering::Relaxed) && !ctx.dry_run {
                        remove_partial(&ctx, if ctx.job.atomic { &temp } else { &planned_path }).await;
                    }
                    (RunFileStatus::Failed, Some(e.message), planned_path.clone())
                }
            };
            finish(&mut record, status, error.clone(), path);
            if ctx.hold.check("recording the file").is_ok()
                && let Err(e) = ctx.recorder.record(&record, None).await
            {
                tracing::warn!(target: "ftpman::engine", run = ctx.run_id, "could not record file {}: {e}", record.source_path);
            }
            (status, error)
        }
    };
    let _ = ctx.events.send(RunEvent::FileFinished {
        run_id: ctx.run_id,
        path: cand.entry.path.clone(),
        status,
        error: error.clone(),
    });
    FileOutcome {
        status,
        error,
        counted: false,
    }
}

/// Removes (best effort) a partial file this delivery wrote, on a second connection if the
/// first one turns out to be broken too.
async fn remove_partial(ctx: &RunContext, partial: &str) {
    for _ in 0..2 {
        let Ok(Ok(mut t)) = tokio::time::timeout(Duration::from_secs(5), ctx.dst.get()).await else {
            return;
        };
        match tokio::time::timeout(Duration::from_secs(5), t.delete(partial)).await {
            Ok(Err(e)) if e.is_transient() => t.mark_broken(),
            Err(_) => t.mark_broken(),
            Ok(_) => return,
        }
    }
}

/// Removes (best effort) the temporary files that the job's unfinished runs just before this
/// one may have left for `planned_path`: a process killed mid-transfer could not.
async fn remove_earlier_temps(ctx: &RunContext, planned_path: &str) {
    if ctx.earlier_runs.is_empty() || !ctx.job.atomic {
        return;
    }
    let Ok(Ok(mut t)) = tokio::time::timeout(Duration::from_secs(5), ctx.dst.get()).await else {
        return;
    };
    for run in &ctx.earlier_runs {
        let _ = tokio::time::timeout(Duration::from_secs(5), t.delete(&temp_path(planned_path, *run))).await;
    }
}

/// The job's attempts at one file, with its retries and backoff.
#[allow(clippy::too_many_arguments)]
async fn attempts(
    ctx: &RunContext,
    cand: &Candidate,
    planned_path: &str,
    temp: &str,
    file_bytes: &AtomicU64,
    wrote: &AtomicBool,
    slot: &mut Slot,
) -> Result<String, AttemptError> {
    let retry = super::retry_policy(&ctx.job);
    let attempts = retry.attempts;
    let mut cancel = ctx.cancel.clone();
    let mut outcome = Err(AttemptError::permanent("not attempted"));
    // A retry resumes only from this delivery's temporary file, once an earlier attempt moved
    // more than `RESUME_AFTER` bytes into it (a remote writer truncates it when it opens, a
    // local one once it holds more than that).
    let mut resumable = false;
    for n in 1..=attempts {
        if cancel.borrow().is_some() {
            return Err(AttemptError::permanent("cancelled"));
        }
        let before = file_bytes.load(Ordering::Relaxed);
        outcome = tokio::select! {
            r = attempt(ctx, cand, planned_path, temp, resumable, file_bytes, wrote, slot) => r,
            _ = cancel.wait_for(|c| c.is_some()) => Err(AttemptError::permanent("cancelled")),
        };
        resumable |= file_bytes.load(Ordering::Relaxed).saturating_sub(before) > crate::transport::copy::RESUME_AFTER;
        match &outcome {
            Err(e) if e.transient && n < attempts => {
                let delay = retry.backoff(n);
                // Other files transfer while this one waits.
                slot.give_back();
                tracing::info!(target: "ftpman::engine", job = %ctx.job.name, file = %cand.entry.path, attempt = n, "retrying: {}", e.message);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.wait_for(|c| c.is_some()) => {}
                }
            }
            _ => break,
        }
    }
    outcome
}

/// Records a delivered file (run file and ledger entry in one commit), then applies the
/// after-delivery action. The ledger is written before the source is touched, with the action
/// marked pending until it is applied: a crash between the two leaves the delivered source in
/// place, recorded (never sent twice), and the next run applies the action.
async fn delivered(
    ctx: &RunContext,
    cand: &Candidate,
    record: RunFile,
    final_path: String,
) -> (RunFileStatus, Option<String>) {
    let entry = LedgerEntry {
        job_id: ctx.job.id,
        source_path: cand.entry.path.clone(),
        size: cand.entry.size as i64,
        mtime: cand.entry.mtime.map(|m| m.timestamp()),
        delivered_at: ctx.clock.now(),
        run_id: ctx.run_id,
        target_path: Some(final_path.clone()),
        mtime_granularity: cand.entry.mtime_granularity,
        after_pending: ctx.job.after != AfterAction::Keep,
        mtime_nanos: cand.entry.mtime.map_or(0, |m| m.timestamp_subsec_nanos()),
    };
    let recorded = match ctx.hold.check("recording the delivery") {
        Ok(()) => ctx
            .recorder
            .record(&record, Some(&entry))
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut saved = match recorded {
        Ok(saved) => saved,
        Err(e) => {
            let message = format!("delivered to {final_path}, but recording it failed: {e}; the source was kept");
            tracing::error!(target: "ftpman::engine", run = ctx.run_id, "{message}");
            return (RunFileStatus::Failed, Some(message));
        }
    };
    match after_delivery(ctx, cand).await {
        Ok(()) => {
            if entry.after_pending
                && let Err(e) = ctx.store.after_applied(ctx.job.id, &cand.entry.path, ctx.run_id).await
            {
                tracing::warn!(target: "ftpman::engine", run = ctx.run_id, file = %cand.entry.path, "the after-delivery action was applied, but recording that failed (the next run checks the source again): {e}");
            }
            (RunFileStatus::Transferred, None)
        }
        Err(e) => {
            let message = format!(
                "delivered to {final_path}, but the after-delivery action ({}) was not applied: {e}",
                ctx.job.after
            );
            saved.status = RunFileStatus::Failed;
            saved.error = Some(message.clone());
            if let Err(e) = ctx.store.update_run_file(&ctx.node_id, &saved).await {
                tracing::warn!(target: "ftpman::engine", run = ctx.run_id, "could not record file {}: {e}", saved.source_path);
            }
            (RunFileStatus::Failed, Some(message))
        }
    }
}
