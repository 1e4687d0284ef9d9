//! Listing and filtering the source: which files a run moves.

use crate::model::{Job, LedgerEntry};
use crate::store::Store;
use crate::transport::layer::RetryPolicy;
use crate::transport::pool::SitePool;
use crate::transport::{Entry, EntryKind, TransportError, path};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::HashMap;

/// One file the run will deliver.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The file as listed (path relative to the source site's root).
    pub entry: Entry,
    /// Its path relative to the job's source folder (`sub/a.csv`): what globs match and what the
    /// target keeps of the tree.
    pub rel: String,
}

/// The outcome of planning.
#[derive(Debug, Default)]
pub struct Plan {
    /// Files to deliver.
    pub deliver: Vec<Candidate>,
    /// Files that passed the filters but are in the ledger unchanged.
    pub already_delivered: u64,
    /// Files left for later: still being written (younger than `min_age`).
    pub too_young: u64,
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
/// as a file's transfer is: one blip while listing must not fail the whole run.
async fn list_folder(
    source: &SitePool,
    retry: RetryPolicy,
    dir: String,
    rel_dir: String,
) -> Result<(Vec<Entry>, String), TransportError> {
    let entries = retry
        .run(|attempt| {
            let dir = &dir;
            async move {
                if attempt > 1 {
                    tracing::info!(target: "ftpman::engine", site = %source.site().name, folder = %dir, attempt, "listing again");
                }
                let mut conn = source.get().await?;
                let listed = conn.list(dir).await;
                if listed.as_ref().is_err_and(|e| e.is_transient()) {
                    conn.mark_broken();
                }
                listed
            }
        })
        .await?;
    Ok((entries, rel_dir))
}

/// Lists the job's source (recursively when asked) and keeps the files that pass the globs, the
/// age window and the ledger. `now` is the run's start. Folders are listed several at once, on
/// as many of the pool's connections as it allows.
pub async fn plan(job: &Job, source: &SitePool, store: &dyn Store, now: DateTime<Utc>) -> Result<Plan, PlanError> {
    let include = globset(&job.include)?;
    let exclude = globset(&job.exclude)?;
    let root = path::normalize(&job.source_path).map_err(|reason| {
        PlanError::List(TransportError::Config {
            site: source.site().name.clone(),
            reason,
        })
    })?;
    let retry = super::retry_policy(job);
    let mut files = Vec::new();
    let mut listings = FuturesUnordered::new();
    listings.push(list_folder(source, retry, root, String::new()));
    while let Some(listed) = listings.next().await {
        let (entries, rel_dir) = listed?;
        for entry in entries {
            let rel = if rel_dir.is_empty() {
                entry.name.clone()
            } else {
                format!("{rel_dir}/{}", entry.name)
            };
            match entry.kind {
                EntryKind::Dir if job.recursive => listings.push(list_folder(source, retry, entry.path.clone(), rel)),
                EntryKind::File => files.push(Candidate { entry, rel }),
                // Links are not followed: they could lead anywhere, and loops.
                _ => {}
            }
        }
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));

    let mut plan = Plan::default();
    let mut kept = Vec::new();
    let mut conn = None;
    for c in files {
        if include.as_ref().is_some_and(|g| !g.is_match(&c.rel)) || exclude.as_ref().is_some_and(|g| g.is_match(&c.rel))
        {
            continue;
        }
        let Candidate { mut entry, rel } = c;
        if !job.min_age.is_zero() || job.max_age.is_some() {
            let source = match conn.take() {
                Some(c) => conn.insert(c),
                None => conn.insert(source.get().await?),
            };
            // A listing's time may be coarse (FTP LIST shows minutes): then ask for the exact one.
            if (entry.mtime.is_none() || !source.precise_listing_times())
                && let Ok(exact) = source.stat(&entry.path).await
            {
                entry.mtime = exact.mtime.or(entry.mtime);
                entry.size = exact.size;
            }
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
        kept.push(Candidate { entry, rel });
    }
    // The ledger is read in batches, not a query per file.
    let paths: Vec<String> = kept.iter().map(|c| c.entry.path.clone()).collect();
    let delivered: HashMap<String, LedgerEntry> = store
        .ledger_entries(job.id, &paths)
        .await?
        .into_iter()
        .map(|e| (e.source_path.clone(), e))
        .collect();
    for c in kept {
        if let Some(done) = delivered.get(&c.entry.path)
            && done.size == c.entry.size as i64
            && done.mtime == c.entry.mtime.map(|m| m.timestamp())
        {
            plan.already_delivered += 1;
            continue;
        }
        plan.deliver.push(c);
    }
    Ok(plan)
}
