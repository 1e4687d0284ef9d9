//! Runs and logs: run a job now, list runs, show one with its files, read the system log.

use super::{Manager, ManagerError, ManagerResult};
use crate::engine::{EngineError, RunEvent, StopReason};
use crate::model::{LogEntry, LogLevel, LogQuery, Run, RunFile, RunQuery, RunRequest, RunStatus, Trigger};
use std::time::Duration;
use tokio::sync::broadcast;

/// A run started by [`Manager::start_run`]: its id at once, its live events, and its end.
pub struct RunHandle {
    run: Run,
    events: broadcast::Receiver<RunEvent>,
    done: Option<tokio::task::JoinHandle<Result<Run, EngineError>>>,
    manager: Manager,
}

impl RunHandle {
    /// The run's id.
    pub fn id(&self) -> i64 {
        self.run.id
    }

    /// The run as it was created (`running`, or `skipped` when the job was still running).
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// The run's next live event; `None` once the run has finished (its `Finished` event is
    /// the last one given, unless a consumer too slow to keep up missed it: then `None` once
    /// the run has ended).
    pub async fn next_event(&mut self) -> Option<RunEvent> {
        // A run that never started (skipped) has no events.
        let done = self.done.as_ref()?;
        loop {
            match tokio::time::timeout(Duration::from_millis(500), self.events.recv()).await {
                Ok(Ok(e)) if e.run_id() == self.run.id => return Some(e),
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                // Nothing for a while: the run may have ended with its last events missed.
                Err(_) if done.is_finished() && self.events.is_empty() => return None,
                Err(_) => continue,
            }
        }
    }

    /// Asks the run to stop (as [`Manager::cancel_run`] does from anywhere).
    pub async fn cancel(&self) -> ManagerResult<Run> {
        self.manager.cancel_run(self.run.id).await
    }

    /// Waits for the run to end and returns it finished; a run that was cancelled is
    /// [`ManagerError::Cancelled`] (carrying the run).
    pub async fn wait(mut self) -> ManagerResult<Run> {
        let run = match self.done.take() {
            None => self.run,
            Some(task) => match task.await {
                Ok(result) => result?,
                Err(e) => return Err(ManagerError::Internal(format!("the run's task ended: {e}"))),
            },
        };
        if run.status == RunStatus::Cancelled {
            return Err(ManagerError::Cancelled { run: Box::new(run) });
        }
        Ok(run)
    }
}

/// Which runs to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this job's runs (by name).
    pub job: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs created at or after this instant.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only runs created before this instant.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// The cursor: runs older than the run with this id ([`Page::next`] of the page before).
    pub before: Option<i64>,
    /// Page size (default 50, at most 1,000).
    pub limit: Option<i64>,
}

/// Which system log entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    /// Only entries at least this severe.
    pub level: Option<LogLevel>,
    /// Only this component (`engine`, `audit`, `notify`, ...).
    pub component: Option<String>,
    /// Only entries about this job.
    pub job: Option<String>,
    /// Only entries at or after this instant.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// Only entries before this instant.
    pub until: Option<chrono::DateTime<chrono::Utc>>,
    /// The cursor: entries older than the one with this id.
    pub before: Option<i64>,
    /// Page size (default 100, at most 1,000).
    pub limit: Option<i64>,
}

/// One page of a list, and the cursor of the next page (`None` on the last one).
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass this as the filter's cursor for the next page.
    pub next: Option<i64>,
}

impl<T> Page<T> {
    /// A page of `limit` items from `items`, read with one more than `limit` so that a page
    /// filled exactly is known to be the last (no `next` leading to an empty page); `key`
    /// gives an item's cursor value.
    fn of(mut items: Vec<T>, limit: i64, key: impl Fn(&T) -> i64) -> Page<T> {
        let more = items.len() as i64 > limit;
        items.truncate(limit.max(0) as usize);
        let next = more.then(|| items.last().map(&key)).flatten();
        Page { items, next }
    }
}

/// What [`Manager::watch_run`] reports: the run as it is now and the files recorded since the
/// last update.
#[derive(Debug, Clone)]
pub struct RunUpdate {
    /// The run, with its counts and bytes so far.
    pub run: Run,
    /// Files finished since the previous update.
    pub files: Vec<RunFile>,
}

/// Follows a run executed anywhere (this process, another one, another node) through the
/// store: the run's progress row, written every second by the node running it, and its files
/// as they are recorded. See [`Manager::watch_run`].
pub struct RunWatch {
    manager: Manager,
    run_id: i64,
    last: Option<Run>,
    last_file: i64,
    ended: bool,
}

impl RunWatch {
    /// The next change (waiting for one, polling twice a second); `None` after the update that
    /// showed the run finished.
    pub async fn next(&mut self) -> ManagerResult<Option<RunUpdate>> {
        loop {
            if self.ended {
                return Ok(None);
            }
            let run = self.manager.store.run(self.run_id).await?;
            let files = self
                .manager
                .store
                .run_files_after(self.run_id, self.last_file, 1_000)
                .await?;
            if let Some(f) = files.last() {
                self.last_file = f.id;
            }
            let changed = self.last.as_ref() != Some(&run) || !files.is_empty();
            if run.status.is_final() {
                // The files of a finished run are all recorded: the last pages first.
                let mut files = files;
                loop {
                    let more = self
                        .manager
                        .store
                        .run_files_after(self.run_id, self.last_file, 1_000)
                        .await?;
                    match more.last() {
                        Some(f) => self.last_file = f.id,
                        None => break,
                    }
                    files.extend(more);
                }
                self.ended = true;
                return Ok(Some(RunUpdate { run, files }));
            }
            if changed {
                self.last = Some(run.clone());
                return Ok(Some(RunUpdate { run, files }));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// How `job run` is asked for, as typed; the web API and Python take the same.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunOptions {
    /// Move nothing; show what would be moved.
    pub dry_run: bool,
    /// A backfill: run as if fired at this instant (RFC 3339, or `YYYY-MM-DD HH:MM` in the
    /// job's time zone); its date window and target path are resolved from it.
    pub as_of: Option<String>,
    /// Send the files of the window even when the ledger has them.
    pub again: bool,
}

impl RunOptions {
    /// The request for a run of `job`, `as_of` read in the job's zone.
    pub fn request(&self, job: &crate::model::Job, trigger: Trigger) -> ManagerResult<RunRequest> {
        let as_of = match self.as_of.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => Some(crate::validate::parse_timestamp("as_of", text, job.zone())?),
            None => None,
        };
        Ok(RunRequest {
            trigger,
            dry_run: self.dry_run,
            as_of,
            again: self.again,
            group_run_id: None,
        })
    }
}

impl Manager {
    /// Runs a job now on this process and returns the finished run ([`ManagerError::Cancelled`]
    /// if it was cancelled). Use [`Manager::start_run`] for its id and live progress while it
    /// runs.
    pub async fn run_job(&self, name: &str, dry_run: bool, trigger: Trigger) -> ManagerResult<Run> {
        self.start_run(name, dry_run, trigger).await?.wait().await
    }

    /// Starts a job now on this process and returns at once with the run's handle: its id,
    /// its live events, a way to cancel it and to wait for its end.
    pub async fn start_run(&self, name: &str, dry_run: bool, trigger: Trigger) -> ManagerResult<RunHandle> {
        self.start_run_with(
            name,
            &RunOptions {
                dry_run,
                ..RunOptions::default()
            },
            trigger,
        )
        .await
    }

    /// [`Manager::start_run`] with every option of `job run`: a backfill (`as_of`), sending
    /// again what the ledger has (`again`).
    pub async fn start_run_with(&self, name: &str, options: &RunOptions, trigger: Trigger) -> ManagerResult<RunHandle> {
        let job = self.job(name).await?;
        let request = options.request(&job, trigger)?;
        let engine = self.engine().clone();
        let events = engine.subscribe();
        let run = engine.begin_with(&job, request).await?;
        let done = (run.status == RunStatus::Running).then(|| {
            let run = run.clone();
            tokio::spawn(async move { engine.execute(run).await })
        });
        Ok(RunHandle {
            run,
            events,
            done,
            manager: self.clone(),
        })
    }

    /// Cancels a run wherever it runs: recorded in the store, where the node running it sees
    /// it within a second or two and stops it cleanly (no partial file under a final name; the
    /// files already delivered stay recorded; status `cancelled`). A queued run is cancelled
    /// at once. Returns the run as it is now; a run that already ended is a conflict.
    pub async fn cancel_run(&self, id: i64) -> ManagerResult<Run> {
        let run = self.store.request_cancel(id, chrono::Utc::now()).await?;
        if run.status.is_final() && !(run.status == RunStatus::Cancelled && run.cancel_requested) {
            return Err(ManagerError::Conflict(format!(
                "run {id} already ended ({})",
                run.status
            )));
        }
        if let Some(engine) = self.engine.get() {
            engine.stop(id, StopReason::Cancelled);
        }
        self.audit(format!("run {id} cancel requested"), serde_json::json!({"run": id}))
            .await;
        Ok(run)
    }

    /// Follows a run from any process: see [`RunWatch`].
    pub async fn watch_run(&self, id: i64) -> ManagerResult<RunWatch> {
        self.run_record(id).await?;
        Ok(RunWatch {
            manager: self.clone(),
            run_id: id,
            last: None,
            last_file: 0,
            ended: false,
        })
    }

    /// Runs, newest first; of one job when `job` is given.
    pub async fn runs(&self, job: Option<&str>, limit: i64) -> ManagerResult<Vec<Run>> {
        let filter = RunFilter {
            job: job.map(str::to_string),
            limit: Some(limit),
            ..RunFilter::default()
        };
        Ok(self.runs_page(&filter).await?.items)
    }

    /// A page of runs, newest first, filtered: one indexed query however deep the page.
    pub async fn runs_page(&self, filter: &RunFilter) -> ManagerResult<Page<Run>> {
        let job_id = match &filter.job {
            Some(name) => Some(self.job(name).await?.id),
            None => None,
        };
        let limit = filter.limit.unwrap_or(50).clamp(1, 1_000);
        let runs = self
            .store
            .runs(&RunQuery {
                job_id,
                status: filter.status,
                since: filter.since,
                until: filter.until,
                before_id: filter.before,
                limit: Some(limit + 1),
                offset: 0,
                group_run_id: None,
            })
            .await?;
        Ok(Page::of(runs, limit, |r| r.id))
    }

    /// A page of a run's files, in the order they were recorded, after the file with id
    /// `after` (0 for the first page).
    pub async fn run_files_page(&self, run_id: i64, after: i64, limit: i64) -> ManagerResult<Page<RunFile>> {
        self.run(run_id).await?;
        let limit = limit.clamp(1, 1_000);
        let files = self.store.run_files_after(run_id, after, limit + 1).await?;
        Ok(Page::of(files, limit, |f| f.id))
    }

    /// A page of the system log, newest first, filtered.
    pub async fn logs_page(&self, filter: &LogFilter) -> ManagerResult<Page<LogEntry>> {
        let limit = filter.limit.unwrap_or(100).clamp(1, 1_000);
        let entries = self
            .store
            .logs(&LogQuery {
                min_level: filter.level,
                component: filter.component.clone(),
                job: filter.job.clone(),
                before_id: filter.before,
                since: filter.since,
                until: filter.until,
                limit: Some(limit + 1),
                ..LogQuery::default()
            })
            .await?;
        Ok(Page::of(entries, limit, |e| e.id))
    }

    /// One run with its files.
    pub async fn run(&self, id: i64) -> ManagerResult<(Run, Vec<RunFile>)> {
        let run = self.run_record(id).await?;
        let files = self.store.run_files(id).await?;
        Ok((run, files))
    }

    /// One run, without its files (page through those with [`Manager::run_files_page`]).
    pub async fn run_record(&self, id: i64) -> ManagerResult<Run> {
        Ok(self.store.run(id).await?)
    }

    /// System log entries, newest first, at least `level` severe.
    pub async fn logs(&self, level: Option<LogLevel>, limit: i64) -> ManagerResult<Vec<LogEntry>> {
        Ok(self
            .store
            .logs(&LogQuery {
                min_level: level,
                limit: Some(limit),
                ..LogQuery::default()
            })
            .await?)
    }

    /// System log entries newer than `after_id` that pass `filter`, oldest first (for
    /// following the log).
    pub async fn logs_after(&self, filter: &LogFilter, after_id: i64) -> ManagerResult<Vec<LogEntry>> {
        let mut entries = self
            .store
            .logs(&LogQuery {
                min_level: filter.level,
                component: filter.component.clone(),
                job: filter.job.clone(),
                after_id: Some(after_id),
                limit: Some(1_000),
                ..LogQuery::default()
            })
            .await?;
        entries.reverse();
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn a_page_filled_exactly_is_the_last() {
        // The store is asked for one more than the page holds: a fourth item means more.
        let last = Page::of(vec![5, 4, 3], 3, |v| *v);
        assert_eq!((last.items, last.next), (vec![5, 4, 3], None));
        let more = Page::of(vec![5, 4, 3, 2], 3, |v| *v);
        assert_eq!((more.items, more.next), (vec![5, 4, 3], Some(3)));
        let empty = Page::of(Vec::<i64>::new(), 3, |v| *v);
        assert_eq!((empty.items.len(), empty.next), (0, None));
    }
}
