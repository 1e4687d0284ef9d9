//! Listing and filtering the source: which files a run moves.

use crate::model::{Job, LedgerEntry, ResolvedWindow};
use crate::store::Store;
use crate::transport::pool::SitePool;
use crate::transport::retry::RetryPolicy;
use crate::transport::{Entry, EntryKind, TransportError, path};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::HashMap;
use tokio::sync::mpsc;

/// One file the run will deliver.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The file as listed (path relative to the source site's root).
    pub entry: Entry,
    /// Its path relative to the job's source folder (`sub/a.csv`): what globs match and what the
    /// target keeps of the tree.
    pub rel: String,
    /// Its ledger entry, when this job delivered an earlier version of it (or, in
    /// [`Found::pending_after`], this version): where that copy went.
    pub delivered: Option<LedgerEntry>,
}

/// Files found, handed to delivery while the listing goes on.
#[derive(Debug, Default)]
pub struct Found {
    /// Files to deliver.
    pub files: Vec<Candidate>,
    /// Files found with them that are in the ledger unchanged.
    pub already_delivered: u64,
    /// Of those, the ones whose after-delivery action is still to be applied (the process that
    /// delivered them stopped before it could).
    pub pending_after: Vec<Candidate>,
}

/// What planning found, once the whole source is listed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Files to deliver (sent as they were found).
    pub files: u64,
    /// Their bytes, as listed.
    pub bytes: u64,
    /// Files that passed the filters but are in the ledger unchanged.
    pub already_delivered: u64,
    /// Files left for later: still being written (younger than `min_age`).
    pub too_young: u64,
    /// Files that passed the globs but lie outside the run's date window.
    pub outside_window: u64,
    /// Files passed over because no date could be read for the window (none in the name, or no
    /// modification time listed).
    pub undated: u64,
}

/// Which files of the source a run takes beyond the job's globs and ages.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection {
    /// The run's date window, resolved.
    pub window: Option<ResolvedWindow>,
    /// Send the files of the window even when the ledger has them unchanged.
    pub again: bool,
}

/// Why planning failed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The source could not be listed.
    #[error("listing the source: {0}")]
    List(#[from] TransportError),
    /// A glob did not compile (validated at save, so only a corrupt job).
    #[error("job filter: {0}")]
    Glob(String),
    /// The ledger could not be read.
    #[error("reading the ledger: {0}")]
    Store(#[from] crate::store::StoreError),
}

fn globset(patterns: &[String]) -> Result<Option<GlobSet>, PlanError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| PlanError::Glob(format!("{p}: {e}")))?);
    }
    b.build().map(Some).map_err(|e| PlanError::Glob(e.to_string()))
}

/// Lists one folder on a connection from the pool. A transient failure (a dropped or timed-out
/// connection, a 4xx reply) is retried on a fresh connection with the job's retries and backoff,
/// as a file's transfer is: one blip while listing must not fail the whole run. With
/// `exact_times`, the files that pass the globs and whose listed time is coarse (FTP LIST shows
/// minutes) or missing are `stat`ed for the exact one on the same connection, while it is held: taking
/// another from the pool here could wait for ever behind the other folders' listings.
async fn list_folder(
    source: &SitePool,
    retry: RetryPolicy,
    dir: String,
    rel_dir: String,
    filters: &Filters,
    exact_times: bool,
) -> Result<(Vec<Entry>, String), TransportError> {
    let entries = retry
        .run(|attempt| {
            let (dir, rel_dir) = (&dir, &rel_dir);
            async move {
                if attempt > 1 {
                    tracing::info!(target: "ftpman::engine", site = %source.site().name, folder = %dir, attempt, "listing again");
                }
                let mut conn = source.get().await?;
                let mut listed = conn.list(dir).await;
                if listed.as_ref().is_err_and(|e| e.is_transient()) {
                    conn.mark_broken();
                }
                if let Ok(entries) = listed.as_mut()
                    && exact_times
                {
                    let precise = conn.capabilities().exact_listing_times;
                    for entry in entries.iter_mut().filter(|e| e.kind == EntryKind::File) {
                        if (entry.mtime.is_none() || !precise)
                            && filters.pass(&relative(rel_dir, &entry.name))
                            && let Ok(exact) = conn.stat(&entry.path).await
                        {
                            if exact.mtime.is_some() {
                                entry.mtime = exact.mtime;
                                entry.mtime_granularity = exact.mtime_granularity;
                            }
                            entry.size = exact.size;
                        }
                    }
                }
                listed
            }
        })
        .await?;
    Ok((entries, rel_dir))
}

/// A listed name's path relative to the job's source folder.
fn relative(rel_dir: &str, name: &str) -> String {
    if rel_dir.is_empty() {
        name.to_string()
    } else {
        format!("{rel_dir}/{name}")
    }
}

/// Lists the job's source (recursively when asked) and sends the files that pass the globs,
/// the age window and the ledger to `deliver` in groups while it lists (every 500 files, at
/// least every 100 ms, and at the end), so files can move while a tree is still listed. `now` is the run's start.
/// Folders are listed several at once, on as many of the pool's connections as it allows.
/// Returns once everything is listed (or the receiver is gone); an error ends the listing,
/// and what was sent before it stands.
pub async fn plan(
    job: &Job,
    source: &SitePool,
    store: &dyn Store,
    now: DateTime<Utc>,
    selection: Selection,
    deliver: mpsc::Sender<Found>,
) -> Result<Plan, PlanError> {
    let filters = Filters {
        include: globset(&job.include)?,
        exclude: globset(&job.exclude)?,
    };
    let root = path::normalize(&job.source_path).map_err(|reason| {
        PlanError::List(TransportError::Config {
            site: source.site().name.clone(),
            reason,
        })
    })?;
    let retry = super::retry_policy(job);
    let mut plan = Plan::default();
    let mut found = Vec::new();
    let mut handed_on = tokio::time::Instant::now();
    let mut listings = FuturesUnordered::new();
    // A window on modification times needs them to the second, as ages do.
    let exact_times =
        !job.min_age.is_zero() || job.max_age.is_some() || (selection.window.is_some() && job.name_date.is_none());
    listings.push(list_folder(source, retry, root, String::new(), &filters, exact_times));
    // The ledger is read for many folders at once (one query per 500 paths), and what is left
    // handed on: when that many are found, when the listing ends, and at least every
    // `HAND_ON_EVERY` while a long listing goes on.
    loop {
        let listed = if found.is_empty() {
            listings.next().await
        } else {
            tokio::select! {
                listed = listings.next() => listed,
                () = tokio::time::sleep_until(handed_on + HAND_ON_EVERY) => {
                    handed_on = tokio::time::Instant::now();
                    if !hand_on(job, selection, &mut found, store, &mut plan, &deliver).await? {
                        break;
                    }
                    continue;
                }
            }
        };
        let Some(listed) = listed else { break };
        let (entries, rel_dir) = match listed {
            Ok(listed) => listed,
            Err(e) => {
                // What was found before stays found: it is delivered, and the run fails.
                hand_on(job, selection, &mut found, store, &mut plan, &deliver).await?;
                return Err(e.into());
            }
        };
        let mut files = Vec::new();
        for entry in entries {
            let rel = relative(&rel_dir, &entry.name);
            match entry.kind {
                EntryKind::Dir if job.recursive && rel.split('/').count() > MAX_DEPTH => {
                    hand_on(job, selection, &mut found, store, &mut plan, &deliver).await?;
                    return Err(PlanError::List(TransportError::Protocol {
                        site: source.site().name.clone(),
                        operation: "list".into(),
                        path: entry.path.clone(),
                        reason: format!(
                            "folders nested more than {MAX_DEPTH} deep below the job's source: a folder that holds itself (a link the server lists as a folder)?"
                        ),
                        transient: false,
                        source: None,
                    }));
                }
                EntryKind::Dir if job.recursive => listings.push(list_folder(
                    source,
                    retry,
                    entry.path.clone(),
                    rel,
                    &filters,
                    exact_times,
                )),
                EntryKind::File => files.push(Candidate {
                    entry,
                    rel,
                    delivered: None,
                }),
                // Links are not followed: they could lead anywhere, and loops.
                _ => {}
            }
        }
        found.extend(passing(job, &filters, selection, files, now, &mut plan));
        if found.len() >= LEDGER_BATCH || listings.is_empty() {
            handed_on = tokio::time::Instant::now();
            if !hand_on(job, selection, &mut found, store, &mut plan, &deliver).await? {
                break;
            }
        }
    }
    Ok(plan)
}

/// Hands the files found that are not in the ledger unchanged on to delivery; false once
/// nobody delivers any more (the run stopped).
async fn hand_on(
    job: &Job,
    selection: Selection,
    found: &mut Vec<Candidate>,
    store: &dyn Store,
    plan: &mut Plan,
    deliver: &mpsc::Sender<Found>,
) -> Result<bool, PlanError> {
    let before = plan.already_delivered;
    let (files, pending_after) = not_delivered(job, selection.again, std::mem::take(found), store, plan).await?;
    let already_delivered = plan.already_delivered - before;
    if files.is_empty() && already_delivered == 0 {
        return Ok(true);
    }
    Ok(deliver
        .send(Found {
            files,
            already_delivered,
            pending_after,
        })
        .await
        .is_ok())
}

/// How deep below its source a recursive job walks: deeper is taken for a folder that holds
/// itself, which a server listing directory links as folders shows as an endless tree.
const MAX_DEPTH: usize = 64;

/// Files found are handed on in groups of up to this many (the store's ledger batch).
const LEDGER_BATCH: usize = 500;
/// ... or at least this often.
const HAND_ON_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A job's globs.
struct Filters {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl Filters {
    /// Whether a path relative to the job's source folder passes the globs.
    fn pass(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(rel)) && !self.exclude.as_ref().is_some_and(|g| g.is_match(rel))
    }
}

/// The files of one folder that pass the globs and the age window (their times made exact by
/// `list_folder`), in path order; counts the ones too young in `plan`.
fn passing(
    job: &Job,
    filters: &Filters,
    selection: Selection,
    mut files: Vec<Candidate>,
    now: DateTime<Utc>,
    plan: &mut Plan,
) -> Vec<Candidate> {
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    let mut kept = Vec::new();
    for cand in files {
        if !filters.pass(&cand.rel) {
            continue;
        }
        let entry = &cand.entry;
        if !job.min_age.is_zero() || job.max_age.is_some() {
            let age = entry.mtime.map(|m| now.signed_duration_since(m));
            let min_age = chrono::Duration::from_std(job.min_age).unwrap_or(chrono::Duration::MAX);
            match age {
                // Unknown age: treat as still being written, never as old enough.
                None if !job.min_age.is_zero() => {
                    plan.too_young += 1;
                    continue;
                }
                Some(a) if a < min_age => {
                    plan.too_young += 1;
                    continue;
                }
                _ => {}
            }
            if let (Some(max), Some(a)) = (job.max_age, age)
                && a > chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX)
            {
                continue;
            }
        }
        if let Some(window) = &selection.window {
            let dated = match &job.name_date {
                Some(pattern) => pattern
                    .find(&entry.name)
                    .map(|local| crate::model::local_instant(window.tz, local)),
                None => entry.mtime,
            };
            match dated {
                None => {
                    plan.undated += 1;
                    continue;
                }
                Some(t) if !window.contains(t) => {
                    plan.outside_window += 1;
                    continue;
                }
                Some(_) => {}
            }
        }
        kept.push(cand);
    }
    kept
}

/// The files not in the ledger unchanged (each with its earlier entry, if any), and those in
/// it unchanged whose after-delivery action is still pending; counts them, and the others, in
/// `plan`.
async fn not_delivered(
    job: &Job,
    again: bool,
    kept: Vec<Candidate>,
    store: &dyn Store,
    plan: &mut Plan,
) -> Result<(Vec<Candidate>, Vec<Candidate>), PlanError> {
    if kept.is_empty() {
        return Ok((kept, Vec::new()));
    }
    // Their ledger entries in one query (batched by the store), not one per file.
    let paths: Vec<String> = kept.iter().map(|c| c.entry.path.clone()).collect();
    let delivered: HashMap<String, LedgerEntry> = store
        .ledger_entries(job.id, &paths)
        .await?
        .into_iter()
        .map(|e| (e.source_path.clone(), e))
        .collect();
    let mut deliver = Vec::with_capacity(kept.len());
    let mut pending = Vec::new();
    for mut c in kept {
        c.delivered = delivered.get(&c.entry.path).cloned();
        if let Some(done) = &c.delivered
            && !again
            && done.matches(c.entry.size, c.entry.mtime, c.entry.mtime_granularity)
        {
            plan.already_delivered += 1;
            if done.after_pending {
                pending.push(c);
            }
            continue;
        }
        plan.files += 1;
        plan.bytes += c.entry.size;
        deliver.push(c);
    }
    Ok((deliver, pending))
}
