//! The run loop: one run's files listed, filtered and delivered, the listing and the deliveries
//! overlapping, progress saved every second, the outcome summed up. [`Engine::execute`] (the
//! public side, in `mod.rs`) holds the lease around it and records what it returns.

use super::deliver::{self, RunContext, deliver};
use super::{Engine, EngineError, RunEvent, StopReason, hold, plan, recorder};
use crate::model::{Job, Run, RunCounts, RunFileStatus, RunStatus};
use crate::transport::throttle::RateLimiter;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// How a run's files went.
pub(super) struct RunOutcome {
    pub(super) status: RunStatus,
    pub(super) counts: RunCounts,
    pub(super) error: Option<String>,
    pub(super) first_errors: Vec<String>,
    pub(super) job: Option<Job>,
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

/// What a stopped run's error says.
fn stop_message(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Cancelled => "cancelled",
        StopReason::Interrupted => "interrupted: ftpman stopped or lost the run's lease",
    }
}

impl Engine {
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

    /// Lists, filters and delivers; returns the run's status, counts, error summary and job.
    pub(super) async fn run_files(
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
}
