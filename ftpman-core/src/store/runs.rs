//! Runs of jobs, their files, leases, claims and the daily figures. [`RunStore`] is one of the
//! traits [`super::Store`] is made of; `impl_runs_store!` writes its SQL once for both backends,
//! given the row type and the claim statement.

use super::{StoreError, StoreResult};
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Runs of jobs, their files, leases, claims and the daily figures.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Creates a run. Returns `None` when a run for the same job and `scheduled_for` exists
    /// already: that uniqueness makes each fire happen once, across nodes.
    async fn create_run(&self, new: &NewRun) -> StoreResult<Option<Run>>;
    /// Creates many runs in one transaction (the fires of one instant); each entry is `None`
    /// where the fire had a run already.
    async fn create_runs(&self, new: &[NewRun]) -> StoreResult<Vec<Option<Run>>>;
    /// How many runs are in `status`.
    async fn count_runs(&self, status: RunStatus) -> StoreResult<i64>;
    /// Ids of the jobs that have a running run.
    async fn running_job_ids(&self) -> StoreResult<Vec<i64>>;
    /// A run by id.
    async fn run(&self, id: i64) -> StoreResult<Run>;
    /// Runs, newest first, filtered and paged.
    async fn runs(&self, query: &RunQuery) -> StoreResult<Vec<Run>>;
    /// Claims the oldest queued run whose job has no running run, for `node_id`, holding a lease
    /// until `now + lease`. Each queued run is claimed by exactly one caller.
    async fn claim_run(&self, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<Run>>;
    /// Starts a given queued run on `node_id` (a run started by hand on this node); `None` when
    /// it is no longer queued.
    async fn start_run(
        &self,
        run_id: i64,
        node_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<Run>>;
    /// Creates a run already `running` on `node_id` (a run started by hand, or through the
    /// API), in one statement, so no scheduler can claim it first; `None` when the job has a
    /// running run.
    async fn start_new_run(
        &self,
        new: &NewRun,
        node_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<Run>>;
    /// The latest `scheduled_for` among a job's runs: the last fire that was recorded.
    async fn last_fire(&self, job_id: i64) -> StoreResult<Option<DateTime<Utc>>>;
    /// The last scheduled fire of every job that has one: a node seeing many jobs for the
    /// first time (at start) asks once, not once per job.
    async fn last_fires(&self) -> StoreResult<std::collections::HashMap<i64, DateTime<Utc>>>;
    /// Extends the lease of a run this node holds; `false` when it no longer holds it.
    async fn renew_lease(&self, run_id: i64, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<bool>;
    /// Marks running runs whose lease expired before `now` as `interrupted`; returns their ids.
    async fn expire_leases(&self, now: DateTime<Utc>) -> StoreResult<Vec<i64>>;
    /// Whether the job has a run in `running` state.
    async fn job_running(&self, job_id: i64) -> StoreResult<bool>;
    /// Stores the counts (progress) of a run `node_id` holds, and the files it is moving now;
    /// [`StoreError::NotHeld`] when it holds it no longer. Returns whether a cancel was
    /// requested.
    async fn update_run_counts(
        &self,
        run_id: i64,
        node_id: &str,
        counts: &RunCounts,
        active: &[ActiveFile],
    ) -> StoreResult<bool>;
    /// Asks for a run to be cancelled, from any process or node: a queued run is cancelled at
    /// once, a running one flagged for its node to stop. Returns the run as it is now (a
    /// finished run is left as it was).
    async fn request_cancel(&self, run_id: i64, now: DateTime<Utc>) -> StoreResult<Run>;
    /// Records the date window a running run resolved to, on the node that holds it.
    async fn set_run_window(&self, run_id: i64, node_id: &str, window: &str) -> StoreResult<()>;
    /// Ends a run with its final status, counts and error summary: a running run only on the
    /// node that holds it (`node_id`; [`StoreError::NotHeld`] otherwise), one that never ran
    /// with `None`.
    #[allow(clippy::too_many_arguments)]
    async fn finish_run(
        &self,
        run_id: i64,
        node_id: Option<&str>,
        status: RunStatus,
        counts: &RunCounts,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Records a finished file of a run `node_id` holds and, for a delivered file, its ledger
    /// entry, in one transaction: [`RunStore::record_files`] of one.
    async fn record_file(
        &self,
        node_id: &str,
        file: &RunFile,
        delivered: Option<&LedgerEntry>,
    ) -> StoreResult<RunFile> {
        let saved = self
            .record_files(node_id, &[(file.clone(), delivered.cloned())])
            .await?;
        saved.into_iter().next().ok_or_else(|| StoreError::Corrupt {
            what: "run file".into(),
            reason: "the insert returned no row".into(),
        })
    }
    /// Records finished files, each with its ledger entry when delivered, in one transaction:
    /// the engine's group commit. Returns them saved, in the order given. Their runs must be
    /// held by `node_id` ([`StoreError::NotHeld`] otherwise, and nothing is written).
    async fn record_files(&self, node_id: &str, files: &[(RunFile, Option<LedgerEntry>)]) -> StoreResult<Vec<RunFile>>;
    /// Saves a run file's outcome (matched by id), while `node_id` holds its run.
    async fn update_run_file(&self, node_id: &str, file: &RunFile) -> StoreResult<()>;
    /// A run's files, in the order they were added.
    async fn run_files(&self, run_id: i64) -> StoreResult<Vec<RunFile>>;
    /// A page of a run's files: up to `limit` recorded after the one with id `after_id` (0
    /// for the first page), in the order they were recorded.
    async fn run_files_after(&self, run_id: i64, after_id: i64, limit: i64) -> StoreResult<Vec<RunFile>>;

    /// Runs, successes, failures and bytes per UTC day since `since`.
    async fn daily_stats(&self, since: DateTime<Utc>) -> StoreResult<Vec<DayStats>>;
}

/// Implements [`RunStore`] for `$store` (holding `pool` and `cipher`) with rows of `$row`.
macro_rules! impl_runs_store {
    ($store:ty, $row:ty, $claim:expr) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            #[async_trait::async_trait]
            impl $crate::store::RunStore for $store {
            async fn create_run(&self, new: &NewRun) -> StoreResult<Option<Run>> {
                Ok(self.create_runs(std::slice::from_ref(new)).await?.pop().flatten())
            }

            async fn create_runs(&self, news: &[NewRun]) -> StoreResult<Vec<Option<Run>>> {
                let now = to_ms(Utc::now());
                let mut tx = self.pool.begin().await.map_err(db("queueing runs"))?;
                let mut out = Vec::with_capacity(news.len());
                for new in news {
                    let finished = new.status.is_final().then_some(now);
                    let row = sqlx::query(concat!(
                        "INSERT INTO runs (job_id, run_trigger, scheduled_for, created_at, finished_at, status, dry_run, \
                         reference_at, again, group_run_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job_id, scheduled_for) DO NOTHING RETURNING ", run_cols!()))
                        .bind(new.job_id)
                        .bind(new.trigger.as_str())
                        .bind(new.scheduled_for.map(to_ms))
                        .bind(now)
                        .bind(finished)
                        .bind(new.status.as_str())
                        .bind(new.dry_run)
                        .bind(new.as_of.map(to_ms))
                        .bind(new.again)
                        .bind(new.group_run_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db(format!("queueing a run of job #{}", new.job_id)))?;
                    out.push(row.as_ref().map(Self::run_from_row).transpose()?);
                }
                tx.commit().await.map_err(db("queueing runs"))?;
                Ok(out)
            }

            async fn count_runs(&self, status: RunStatus) -> StoreResult<i64> {
                sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE status = $1")
                    .bind(status.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("counting runs"))?
                    .try_get("n")
                    .map_err(db("counting runs"))
            }

            async fn running_job_ids(&self) -> StoreResult<Vec<i64>> {
                let rows = sqlx::query("SELECT DISTINCT job_id FROM runs WHERE status = 'running'")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing running jobs"))?;
                rows.iter().map(|r| r.try_get::<i64, _>("job_id").map_err(db("listing running jobs"))).collect()
            }

            async fn run(&self, id: i64) -> StoreResult<Run> {
                let row = sqlx::query(concat!("SELECT ", run_cols!(), " FROM runs WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading run {id}")))?
                    .ok_or_else(|| StoreError::NotFound { kind: "run", name: id.to_string() })?;
                Self::run_from_row(&row)
            }

            async fn runs(&self, query: &RunQuery) -> StoreResult<Vec<Run>> {
                type Db = <$row as sqlx::Row>::Database;
                // Only the filters given, so each page is one walk down an index (runs_job,
                // runs_status or the primary key), newest first.
                let mut q = sqlx::QueryBuilder::<Db>::new(concat!("SELECT ", run_cols!(), " FROM runs WHERE TRUE"));
                if let Some(job) = query.job_id {
                    q.push(" AND job_id = ").push_bind(job);
                }
                if let Some(status) = query.status {
                    q.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(group_run) = query.group_run_id {
                    q.push(" AND group_run_id = ").push_bind(group_run);
                }
                if let Some(since) = query.since {
                    q.push(" AND created_at >= ").push_bind(to_ms(since));
                }
                if let Some(until) = query.until {
                    q.push(" AND created_at < ").push_bind(to_ms(until));
                }
                if let Some(before) = query.before_id {
                    q.push(" AND id < ").push_bind(before);
                }
                q.push(" ORDER BY id DESC LIMIT ").push_bind(query.limit.unwrap_or(50).clamp(1, 10_000));
                q.push(" OFFSET ").push_bind(query.offset.max(0));
                let rows = q.build().fetch_all(&self.pool).await.map_err(db("listing runs"))?;
                rows.iter().map(Self::run_from_row).collect()
            }

            async fn claim_run(&self, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<Run>> {
                let row = sqlx::query($claim)
                    .bind(node_id)
                    .bind(to_ms(now))
                    .bind(lease_until(now, lease))
                    .fetch_optional(&self.pool)
                    .await;
                // Two nodes claimed queued runs of one job at the same instant: the index that
                // keeps a job to one running run refused the second. Nothing is claimed now;
                // the caller polls again.
                unless_taken(row, Self::run_from_row, "claiming a queued run")
            }

            async fn start_run(&self, run_id: i64, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<Run>> {
                let row = sqlx::query(concat!(
                    "UPDATE runs SET status = 'running', node_id = $2, started_at = $3, lease_expires_at = $4 \
                     WHERE id = $1 AND status = 'queued' RETURNING ", run_cols!()))
                    .bind(run_id)
                    .bind(node_id)
                    .bind(to_ms(now))
                    .bind(lease_until(now, lease))
                    .fetch_optional(&self.pool)
                    .await;
                // Its job started running elsewhere in the meantime.
                unless_taken(row, Self::run_from_row, format!("starting run {run_id}"))
            }

            async fn start_new_run(&self, new: &NewRun, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<Run>> {
                let row = sqlx::query(concat!(
                    "INSERT INTO runs (job_id, run_trigger, scheduled_for, created_at, started_at, status, dry_run, node_id, \
                     lease_expires_at, reference_at, again, group_run_id) VALUES ($1, $2, $3, $4, $4, 'running', $5, $6, $7, \
                     $8, $9, $10) \
                     RETURNING ", run_cols!()))
                    .bind(new.job_id)
                    .bind(new.trigger.as_str())
                    .bind(new.scheduled_for.map(to_ms))
                    .bind(to_ms(now))
                    .bind(new.dry_run)
                    .bind(node_id)
                    .bind(lease_until(now, lease))
                    .bind(new.as_of.map(to_ms))
                    .bind(new.again)
                    .bind(new.group_run_id)
                    .fetch_optional(&self.pool)
                    .await;
                // The job has a running run (one job runs once at a time), or the fire has one.
                unless_taken(row, Self::run_from_row, format!("starting a run of job #{}", new.job_id))
            }

            async fn request_cancel(&self, run_id: i64, now: DateTime<Utc>) -> StoreResult<Run> {
                let what = || format!("cancelling run {run_id}");
                // A queued run never started: it is cancelled at once. A running one is stopped
                // by its node, which sees the request with its next progress write.
                sqlx::query(
                    "UPDATE runs SET cancel_requested = TRUE, \
                     status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
                     finished_at = CASE WHEN status = 'queued' THEN $2 ELSE finished_at END, \
                     error = CASE WHEN status = 'queued' THEN 'cancelled' ELSE error END \
                     WHERE id = $1 AND status IN ('queued', 'running')",
                )
                .bind(run_id)
                .bind(to_ms(now))
                .execute(&self.pool)
                .await
                .map_err(db(what()))?;
                self.run(run_id).await
            }

            async fn run_files_after(&self, run_id: i64, after_id: i64, limit: i64) -> StoreResult<Vec<RunFile>> {
                let rows = sqlx::query(concat!(
                    "SELECT ", run_file_cols!(), " FROM run_files WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
                    .bind(run_id)
                    .bind(after_id)
                    .bind(limit.clamp(1, 10_000))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(format!("listing files of run {run_id}")))?;
                rows.iter().map(Self::run_file_from_row).collect()
            }

            async fn last_fire(&self, job_id: i64) -> StoreResult<Option<DateTime<Utc>>> {
                let v: Option<i64> = sqlx::query("SELECT MAX(scheduled_for) AS last FROM runs WHERE job_id = $1")
                    .bind(job_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("reading the last fire"))?
                    .try_get("last")
                    .map_err(db("reading the last fire"))?;
                Ok(v.map(from_ms))
            }

            async fn last_fires(&self) -> StoreResult<std::collections::HashMap<i64, DateTime<Utc>>> {
                let what = "reading the last fires";
                let rows = sqlx::query(
                    "SELECT job_id, MAX(scheduled_for) AS last FROM runs WHERE scheduled_for IS NOT NULL GROUP BY job_id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db(what))?;
                rows.iter()
                    .map(|r| {
                        let last: i64 = r.try_get("last").map_err(db(what))?;
                        Ok((r.try_get("job_id").map_err(db(what))?, from_ms(last)))
                    })
                    .collect()
            }

            async fn renew_lease(&self, run_id: i64, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<bool> {
                renew_lease_in!(&self.pool, "runs", run_id, node_id, lease_until(now, lease), format!("renewing the lease of run {run_id}"))
            }

            async fn expire_leases(&self, now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
                let rows = sqlx::query(
                    "UPDATE runs SET status = 'interrupted', finished_at = $1, lease_expires_at = NULL, active_files = NULL, \
                     error = COALESCE(error, 'interrupted: node ' || COALESCE(node_id, '?') || ' stopped renewing its lease') \
                     WHERE status = 'running' AND lease_expires_at < $1 RETURNING id",
                )
                .bind(to_ms(now))
                .fetch_all(&self.pool)
                .await
                .map_err(db("expiring leases"))?;
                rows.iter().map(|r| r.try_get::<i64, _>("id").map_err(db("expiring leases"))).collect()
            }

            async fn job_running(&self, job_id: i64) -> StoreResult<bool> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE job_id = $1 AND status = 'running'")
                    .bind(job_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("checking running runs"))?
                    .try_get("n")
                    .map_err(db("checking running runs"))?;
                Ok(n > 0)
            }

            async fn update_run_counts(&self, run_id: i64, node_id: &str, c: &RunCounts, active: &[ActiveFile]) -> StoreResult<bool> {
                let active = serde_json::to_string(active).map_err(|err| corrupt("run's active files", err))?;
                let row = sqlx::query(
                    "UPDATE runs SET found = $2, transferred = $3, skipped = $4, failed = $5, bytes = $6, active_files = $8, \
                     undated = $9 WHERE id = $1 AND node_id = $7 AND status = 'running' RETURNING cancel_requested",
                )
                    .bind(run_id)
                    .bind(c.found)
                    .bind(c.transferred)
                    .bind(c.skipped)
                    .bind(c.failed)
                    .bind(c.bytes)
                    .bind(node_id)
                    .bind(active)
                    .bind(c.undated)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("saving progress of run {run_id}")))?;
                match row {
                    Some(row) => row.try_get("cancel_requested").map_err(db(format!("saving progress of run {run_id}"))),
                    None => Err(StoreError::NotHeld { run_id }),
                }
            }

            async fn set_run_window(&self, run_id: i64, node_id: &str, window: &str) -> StoreResult<()> {
                let done = sqlx::query("UPDATE runs SET date_window = $3 WHERE id = $1 AND node_id = $2 AND status = 'running'")
                    .bind(run_id)
                    .bind(node_id)
                    .bind(window)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("recording the window of run {run_id}")))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotHeld { run_id });
                }
                Ok(())
            }

            async fn finish_run(
                &self,
                run_id: i64,
                node_id: Option<&str>,
                status: RunStatus,
                c: &RunCounts,
                error: Option<&str>,
                now: DateTime<Utc>,
            ) -> StoreResult<()> {
                // A running run is finished only by the node that holds it; one that never ran
                // (queued, skipped) by anyone.
                let done = sqlx::query(
                    "UPDATE runs SET status = $2, found = $3, transferred = $4, skipped = $5, failed = $6, bytes = $7, \
                     error = $8, finished_at = $9, lease_expires_at = NULL, active_files = NULL, undated = $11 WHERE id = $1 \
                     AND ((status = 'running' AND node_id = $10) OR ($10 IS NULL AND status <> 'running'))",
                )
                .bind(run_id)
                .bind(status.as_str())
                .bind(c.found)
                .bind(c.transferred)
                .bind(c.skipped)
                .bind(c.failed)
                .bind(c.bytes)
                .bind(error)
                .bind(to_ms(now))
                .bind(node_id)
                .bind(c.undated)
                .execute(&self.pool)
                .await
                .map_err(db(format!("finishing run {run_id}")))?;
                if done.rows_affected() == 0 {
                    // Gone, or held by another node now.
                    self.run(run_id).await?;
                    return Err(StoreError::NotHeld { run_id });
                }
                Ok(())
            }

            async fn record_files(&self, node_id: &str, files: &[(RunFile, Option<LedgerEntry>)]) -> StoreResult<Vec<RunFile>> {
                type Db = <$row as sqlx::Row>::Database;
                // Rows per statement: far below SQLite's 32,766 parameters at 9 a row.
                const ROWS: usize = 500;
                let mut saved = Vec::with_capacity(files.len());
                if files.is_empty() {
                    return Ok(saved);
                }
                let what = || format!("recording {} files of run {}", files.len(), files[0].0.run_id);
                let mut tx = self.pool.begin().await.map_err(db(what()))?;
                let mut runs: Vec<i64> = files.iter().map(|(f, _)| f.run_id).collect();
                runs.sort_unstable();
                runs.dedup();
                for run_id in runs {
                    let held = sqlx::query(hold_sql!())
                        .bind(run_id)
                        .bind(node_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(what()))?;
                    if held.rows_affected() != 1 {
                        return Err(StoreError::NotHeld { run_id });
                    }
                }
                for chunk in files.chunks(ROWS) {
                    let mut insert = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO run_files (run_id, source_path, target_path, size, bytes, duration_ms, status, error) ",
                    );
                    insert.push_values(chunk, |mut row, (f, _)| {
                        row.push_bind(f.run_id)
                            .push_bind(f.source_path.as_str())
                            .push_bind(f.target_path.as_str())
                            .push_bind(f.size)
                            .push_bind(f.bytes)
                            .push_bind(f.duration.as_millis().min(i64::MAX as u128) as i64)
                            .push_bind(f.status.as_str())
                            .push_bind(f.error.as_deref());
                    });
                    insert.push(concat!(" RETURNING ", run_file_cols!()));
                    let rows = insert.build().fetch_all(&mut *tx).await.map_err(db(what()))?;
                    // RETURNING's order is not promised; ids follow the VALUES order.
                    let mut rows = rows.iter().map(Self::run_file_from_row).collect::<StoreResult<Vec<_>>>()?;
                    rows.sort_by_key(|r| r.id);
                    if rows.len() != chunk.len()
                        || rows.iter().zip(chunk).any(|(r, (f, _))| r.source_path != f.source_path)
                    {
                        return Err(StoreError::Corrupt {
                            what: "run files".into(),
                            reason: "the inserted rows do not match the files recorded".into(),
                        });
                    }
                    saved.extend(rows);
                    // One upsert per key: a statement may not update the same ledger row twice.
                    let mut delivered: Vec<&LedgerEntry> = Vec::new();
                    for e in chunk.iter().filter_map(|(_, e)| e.as_ref()) {
                        match delivered.iter_mut().find(|d| d.job_id == e.job_id && d.source_path == e.source_path) {
                            Some(d) => *d = e,
                            None => delivered.push(e),
                        }
                    }
                    if delivered.is_empty() {
                        continue;
                    }
                    let mut upsert = sqlx::QueryBuilder::<Db>::new(concat!("INSERT INTO ledger (", ledger_cols!(), ") "));
                    upsert.push_values(delivered, |mut row, e| {
                        row.push_bind(e.job_id)
                            .push_bind(e.source_path.as_str())
                            .push_bind(e.size)
                            .push_bind(e.mtime)
                            .push_bind(to_ms(e.delivered_at))
                            .push_bind(e.run_id)
                            .push_bind(e.target_path.as_deref())
                            .push_bind(i64::from(e.mtime_granularity))
                            .push_bind(e.after_pending)
                            .push_bind(i64::from(e.mtime_nanos));
                    });
                    upsert.push(
                        " ON CONFLICT (job_id, source_path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, \
                         delivered_at = excluded.delivered_at, run_id = excluded.run_id, target_path = excluded.target_path, \
                         mtime_granularity = excluded.mtime_granularity, after_pending = excluded.after_pending, \
                         mtime_nanos = excluded.mtime_nanos",
                    );
                    upsert.build().execute(&mut *tx).await.map_err(db(what()))?;
                }
                tx.commit().await.map_err(db(what()))?;
                Ok(saved)
            }

            async fn update_run_file(&self, node_id: &str, f: &RunFile) -> StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE run_files SET target_path = $2, size = $3, bytes = $4, duration_ms = $5, status = $6, error = $7 \
                     WHERE id = $1 AND EXISTS (SELECT 1 FROM runs WHERE runs.id = run_files.run_id AND runs.node_id = $8 \
                     AND runs.status = 'running')",
                )
                .bind(f.id)
                .bind(&f.target_path)
                .bind(f.size)
                .bind(f.bytes)
                .bind(f.duration.as_millis().min(i64::MAX as u128) as i64)
                .bind(f.status.as_str())
                .bind(&f.error)
                .bind(node_id)
                .execute(&self.pool)
                .await
                .map_err(db(format!("recording file {} of run {}", f.source_path, f.run_id)))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotHeld { run_id: f.run_id });
                }
                Ok(())
            }

            async fn run_files(&self, run_id: i64) -> StoreResult<Vec<RunFile>> {
                let rows = sqlx::query(concat!("SELECT ", run_file_cols!(), " FROM run_files WHERE run_id = $1 ORDER BY id"))
                    .bind(run_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(format!("listing files of run {run_id}")))?;
                rows.iter().map(Self::run_file_from_row).collect()
            }

            async fn daily_stats(&self, since: DateTime<Utc>) -> StoreResult<Vec<DayStats>> {
                let rows = sqlx::query(
                    "SELECT CAST(created_at / 86400000 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS runs, \
                     CAST(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS BIGINT) AS succeeded, \
                     CAST(SUM(CASE WHEN status IN ('failed', 'partial') THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
                     CAST(SUM(bytes) AS BIGINT) AS bytes \
                     FROM runs WHERE created_at >= $1 AND NOT dry_run \
                     GROUP BY CAST(created_at / 86400000 AS BIGINT) ORDER BY day",
                )
                .bind(to_ms(since))
                .fetch_all(&self.pool)
                .await
                .map_err(db("computing daily statistics"))?;
                rows.iter()
                    .map(|r| {
                        let e = || db("computing daily statistics");
                        let day: i64 = r.try_get("day").map_err(e())?;
                        Ok(DayStats {
                            day: from_ms(day * 86_400_000).date_naive(),
                            runs: r.try_get("runs").map_err(e())?,
                            succeeded: r.try_get("succeeded").map_err(e())?,
                            failed: r.try_get("failed").map_err(e())?,
                            bytes: r.try_get("bytes").map_err(e())?,
                        })
                    })
                    .collect()
            }
            }
        };
    };
}

pub(crate) use impl_runs_store;
