//! Delivering one file (design §3, steps 3 to 6): stream under a temporary name, verify, rename
//! into place under the conflict policy, record the ledger and the run file, and only then apply
//! the after-delivery action to the source. A failure at any step leaves no file under its final
//! name and never touches the source.

use super::events::RunEvent;
use super::plan::Candidate;
use super::recorder::Recorder;
use crate::model::{AfterAction, ConflictPolicy, Job, LedgerEntry, RunFile, RunFileStatus};
use crate::store::Store;
use crate::transport::copy::copy_file;
use crate::transport::layer::RateLimiter;
use crate::transport::pool::{PooledTransport, SitePool};
use crate::transport::{EntryKind, TransportError, path};
use crate::validate::{PathTemplate, TemplateContext};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// The run's start in the job's time zone (for path templates).
    pub started: DateTime<Tz>,
    pub cancel: watch::Receiver<Option<super::StopReason>>,
    pub dry_run: bool,
    /// Bytes moved by the run so far.
    pub bytes: AtomicU64,
    /// Commits finished files in groups.
    pub recorder: Recorder,
    /// Target folders this run has made or found, so each is made once, not once a file.
    pub target_dirs: Mutex<HashSet<String>>,
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
}

/// Why one attempt failed, and whether another may succeed.
struct AttemptError {
    message: String,
    transient: bool,
    /// A skip decided by the conflict policy, not a failure.
    skipped: bool,
}

impl From<TransportError> for AttemptError {
    fn from(e: TransportError) -> Self {
        AttemptError {
            transient: e.is_transient(),
            message: e.to_string(),
            skipped: false,
        }
    }
}

impl AttemptError {
    fn permanent(message: impl Into<String>) -> Self {
        AttemptError {
            message: message.into(),
            transient: false,
            skipped: false,
        }
    }

    /// The final name exists at the target: a skip under `skip`, else a failure.
    fn name_taken(policy: ConflictPolicy, final_path: &str) -> Self {
        AttemptError {
            message: format!("{final_path} exists at the target (on-conflict {policy})"),
            transient: false,
            skipped: policy == ConflictPolicy::Skip,
        }
    }
}

/// The final path of a candidate at the target: the job's target template rendered, with the
/// candidate's sub-folders kept below it.
pub(crate) fn target_path(job: &Job, cand: &Candidate, run_id: i64, started: &DateTime<Tz>) -> String {
    let template = PathTemplate::parse("target_path", &job.target_path)
        .unwrap_or_else(|_| PathTemplate::parse("target_path", "/").expect("'/' is a valid template"));
    let file_name = path::file_name(&cand.rel);
    let rel_dir = match cand.rel.rfind('/') {
        Some(i) => &cand.rel[..i],
        None => "",
    };
    let ctx = TemplateContext {
        time: *started,
        job: &job.name,
        file_name,
        run_id,
    };
    let rendered = template.render(&ctx);
    let joined = if template.names_file() {
        format!("{}/{rel_dir}/{}", path::parent(&rendered), path::file_name(&rendered))
    } else {
        format!("{rendered}/{}", cand.rel)
    };
    path::normalize(&joined).unwrap_or(joined)
}

/// The temporary name a file is written under before it is renamed into place. It is the same
/// for every run of a job (a job never runs twice at once), so a run after a failure overwrites
/// the partial file instead of leaving it behind; the job id keeps two jobs apart.
fn temp_path(final_path: &str, job_id: i64) -> String {
    path::child(
        &path::parent(final_path),
        &format!(".{}.j{job_id}.ftpman-part", path::file_name(final_path)),
    )
}

/// `a.csv` -> `a_1.csv`, `a_2.csv`, ...
fn numbered(final_path: &str, n: u32) -> String {
    let name = path::file_name(final_path);
    let numbered = match name.rfind('.') {
        Some(i) if i > 0 => format!("{}_{n}{}", &name[..i], &name[i..]),
        _ => format!("{name}_{n}"),
    };
    path::child(&path::parent(final_path), &numbered)
}

/// Where the final file goes given what is already there; `Err` for skip and fail.
async fn resolve_conflict(
    job: &Job,
    tgt: &mut PooledTransport,
    final_path: &str,
) -> Result<(String, bool), AttemptError> {
    match tgt.stat(final_path).await {
        Err(TransportError::NotFound { .. }) => Ok((final_path.to_string(), false)),
        Err(e) => Err(e.into()),
        Ok(existing) if existing.kind == EntryKind::Dir => {
            Err(AttemptError::permanent(format!("the target {final_path} is a folder")))
        }
        Ok(_) => match job.conflict {
            ConflictPolicy::Overwrite => Ok((final_path.to_string(), true)),
            ConflictPolicy::Skip | ConflictPolicy::Fail => Err(AttemptError::name_taken(job.conflict, final_path)),
            ConflictPolicy::Rename => {
                for n in 1..=10_000 {
                    let candidate = numbered(final_path, n);
                    match tgt.stat(&candidate).await {
                        Err(TransportError::NotFound { .. }) => return Ok((candidate, false)),
                        Err(e) => return Err(e.into()),
                        Ok(_) => continue,
                    }
                }
                Err(AttemptError::permanent(format!("no free name next to {final_path}")))
            }
        },
    }
}

/// One attempt at moving the file. Returns the final path.
async fn attempt(
    ctx: &RunContext,
    cand: &Candidate,
    final_path: &str,
    resume: bool,
    file_bytes: &AtomicU64,
    slot: &mut Slot,
) -> Result<String, AttemptError> {
    let size = cand.entry.size;
    // A retry waits for a place again, as a first attempt did.
    slot.take().await;
    let mut tgt = ctx.dst.get().await?;
    let result = async {
        let (mut final_path, mut overwrite) =
            if ctx.job.atomic && !ctx.dry_run && ctx.job.conflict != ConflictPolicy::Skip {
                // The rename into place decides: it refuses a name already taken, atomically (or
                // replaces it, for overwrite), so a new file costs no stat before its transfer.
                // Skip asks first, not to move a file only to throw it away.
                (final_path.to_string(), ctx.job.conflict == ConflictPolicy::Overwrite)
            } else {
                resolve_conflict(&ctx.job, &mut tgt, final_path).await?
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
        let temp = if ctx.job.atomic {
            temp_path(&final_path, ctx.job.id)
        } else {
            final_path.clone()
        };
        let offset = if resume {
            match tgt.stat(&temp).await {
                Ok(e) if e.size <= size => e.size,
                _ => 0,
            }
        } else {
            0
        };
        let mut src = ctx.src.get().await?;
        let compare_checksums = tgt.cheap_checksum() && src.cheap_checksum();
        let copied = {
            let run_id = ctx.run_id;
            let events = ctx.events.clone();
            let bytes = &ctx.bytes;
            let mut progress = move |n: u64| {
                bytes.fetch_add(n, Ordering::Relaxed);
                file_bytes.fetch_add(n, Ordering::Relaxed);
                let _ = events.send(RunEvent::Progress { run_id, bytes: n });
            };
            let copying = copy_file(
                &mut *src,
                &cand.entry.path,
                Some(size),
                &mut *tgt,
                &temp,
                offset,
                ctx.limiter.as_ref(),
                &mut progress,
            );
            match tokio::time::timeout(ctx.job.file_timeout, copying).await {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout {
                    site: ctx.dst.site().name.clone(),
                    operation: format!("moving {}", cand.entry.path),
                    seconds: ctx.job.file_timeout.as_secs(),
                }),
            }
        };
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
            });
        }
        if ctx.job.atomic {
            loop {
                match tgt.rename(&temp, &final_path, overwrite).await {
                    Ok(()) => break,
                    // Someone delivered under that name meanwhile: take the next free one.
                    Err(TransportError::AlreadyExists { .. }) if ctx.job.conflict == ConflictPolicy::Rename => {
                        let (next, ow) = resolve_conflict(&ctx.job, &mut tgt, &final_path).await?;
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

/// Applies the after-delivery action to the source file.
async fn after_delivery(ctx: &RunContext, cand: &Candidate) -> Result<(), TransportError> {
    match &ctx.job.after {
        AfterAction::Keep => Ok(()),
        AfterAction::Delete => ctx.src.get().await?.delete(&cand.entry.path).await,
        AfterAction::Move(dir) => {
            let dest = path::normalize(&format!("{dir}/{}", cand.rel)).map_err(|reason| TransportError::Config {
                site: ctx.src.site().name.clone(),
                reason,
            })?;
            let mut src = ctx.src.get().await?;
            src.mkdir_all(&path::parent(&dest)).await?;
            src.rename(&cand.entry.path, &dest, true).await
        }
    }
}

/// Delivers one file with the job's retries; records its run file, ledger entry and events.
/// `slot` is the file's place among the job's parallel transfers: it is given back once the
/// bytes have moved, so the next file starts while this one is made durable, renamed and
/// recorded.
pub(crate) async fn deliver(ctx: Arc<RunContext>, cand: Candidate, mut slot: Slot) -> FileOutcome {
    let started = Instant::now();
    let planned_path = target_path(&ctx.job, &cand, ctx.run_id, &ctx.started);
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
    let _ = ctx.events.send(RunEvent::FileStarted {
        run_id: ctx.run_id,
        path: cand.entry.path.clone(),
        size: cand.entry.size,
    });
    let file_bytes = AtomicU64::new(0);
    let retry = super::retry_policy(&ctx.job);
    let attempts = retry.attempts;
    let mut cancel = ctx.cancel.clone();
    let mut outcome = Err(AttemptError::permanent("not attempted"));
    // A retry resumes only from a temporary file this run has written over: one into which an
    // earlier attempt moved more than `RESUME_AFTER` bytes (a remote writer truncates it when it
    // opens, a local one once it holds more than that). A temporary file left by an earlier run,
    // perhaps of an older version of the source, is never built on.
    let mut resumable = false;
    for n in 1..=attempts {
        if cancel.borrow().is_some() {
            outcome = Err(AttemptError::permanent("cancelled"));
            break;
        }
        let before = file_bytes.load(Ordering::Relaxed);
        outcome = tokio::select! {
            r = attempt(&ctx, &cand, &planned_path, resumable, &file_bytes, &mut slot) => r,
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
    drop(slot);
    // One record per file: the run file, with the ledger entry when delivered. The ledger is
    // written before the source is touched: a crash between the two leaves the delivered source
    // in place (recorded, so never sent twice), and the action is not retried.
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
            let entry = LedgerEntry {
                job_id: ctx.job.id,
                source_path: cand.entry.path.clone(),
                size: cand.entry.size as i64,
                mtime: cand.entry.mtime.map(|m| m.timestamp()),
                delivered_at: Utc::now(),
                run_id: ctx.run_id,
            };
            match ctx.recorder.record(&record, Some(&entry)).await {
                Err(e) => {
                    let message =
                        format!("delivered to {final_path}, but recording it failed: {e}; the source was kept");
                    tracing::error!(target: "ftpman::engine", run = ctx.run_id, "{message}");
                    (RunFileStatus::Failed, Some(message))
                }
                Ok(mut saved) => match after_delivery(&ctx, &cand).await {
                    Ok(()) => (RunFileStatus::Transferred, None),
                    Err(e) => {
                        let message = format!(
                            "delivered to {final_path}, but the after-delivery action ({}) failed: {e}",
                            ctx.job.after
                        );
                        saved.status = RunFileStatus::Failed;
                        saved.error = Some(message.clone());
                        if let Err(e) = ctx.store.update_run_file(&saved).await {
                            tracing::warn!(target: "ftpman::engine", run = ctx.run_id, "could not record file {}: {e}", saved.source_path);
                        }
                        (RunFileStatus::Failed, Some(message))
                    }
                },
            }
        }
        other => {
            let (status, error, path) = match other {
                Ok(final_path) => (RunFileStatus::WouldTransfer, None, final_path),
                Err(e) if e.skipped => (RunFileStatus::Skipped, Some(e.message), planned_path.clone()),
                Err(e) => {
                    // Best effort: remove the partial temporary file (never the final name).
                    if ctx.job.atomic && !ctx.dry_run {
                        let temp = temp_path(&planned_path, ctx.job.id);
                        if let Ok(Ok(mut t)) = tokio::time::timeout(Duration::from_secs(5), ctx.dst.get()).await {
                            let _ = tokio::time::timeout(Duration::from_secs(5), t.delete(&temp)).await;
                        }
                    }
                    (RunFileStatus::Failed, Some(e.message), planned_path.clone())
                }
            };
            finish(&mut record, status, error.clone(), path);
            if let Err(e) = ctx.recorder.record(&record, None).await {
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
    FileOutcome { status, error }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Entry;
    use chrono::TimeZone;

    fn cand(rel: &str) -> Candidate {
        Candidate {
            entry: Entry {
                name: path::file_name(rel).into(),
                path: format!("/out/{rel}"),
                kind: EntryKind::File,
                size: 1,
                mtime: None,
            },
            rel: rel.into(),
        }
    }

    #[test]
    fn target_paths_keep_the_tree_and_fill_templates() {
        let when = Tz::Europe__Berlin.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let mut job = Job::new("nightly", 1, "/out", 2, "/in/{yyyy}/{mm}");
        assert_eq!(target_path(&job, &cand("a.csv"), 7, &when), "/in/2026/01/a.csv");
        assert_eq!(target_path(&job, &cand("sub/a.csv"), 7, &when), "/in/2026/01/sub/a.csv");
        job.target_path = "/in/{job}-{dd}-{name}".into();
        assert_eq!(
            target_path(&job, &cand("sub/a.csv"), 7, &when),
            "/in/sub/nightly-02-a.csv"
        );
        job.target_path = "/".into();
        assert_eq!(target_path(&job, &cand("a.csv"), 7, &when), "/a.csv");
    }

    #[test]
    fn renamed_and_temporary_names() {
        assert_eq!(numbered("/in/a.csv", 1), "/in/a_1.csv");
        assert_eq!(numbered("/in/a.tar.gz", 2), "/in/a.tar_2.gz");
        assert_eq!(numbered("/in/README", 3), "/in/README_3");
        assert_eq!(numbered("/in/.env", 1), "/in/.env_1");
        assert_eq!(temp_path("/in/a.csv", 42), "/in/.a.csv.j42.ftpman-part");
    }
}
