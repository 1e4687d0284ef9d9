//! Jobs. [`JobStore`] is one of the traits [`super::Store`] is made of; `impl_jobs_store!` writes
//! its SQL once for both backends, given the row type.

use super::StoreResult;
use crate::model::*;
use async_trait::async_trait;

/// Jobs.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Saves a new job; its name must be free and its sites must exist.
    async fn create_job(&self, job: &Job) -> StoreResult<Job>;
    /// Saves changes to a job (matched by id).
    async fn update_job(&self, job: &Job) -> StoreResult<Job>;
    /// A job by name.
    async fn job(&self, name: &str) -> StoreResult<Job>;
    /// A job by id.
    async fn job_by_id(&self, id: i64) -> StoreResult<Job>;
    /// Every job, by name.
    async fn jobs(&self) -> StoreResult<Vec<Job>>;
    /// Removes a job with its runs and ledger.
    async fn delete_job(&self, name: &str) -> StoreResult<()>;
    /// The enabled jobs that have a schedule, as much of them as the scheduler needs.
    async fn scheduled_jobs(&self) -> StoreResult<Vec<ScheduledJob>>;
    /// A cheap summary that changes whenever a job is added, changed or removed (the count, and
    /// the sum of every job's last change: a change stamped by a node whose clock lags still
    /// changes it), so a scheduler can keep its job list until it does.
    async fn jobs_fingerprint(&self) -> StoreResult<(i64, i64)>;
}

/// A job's stored fields, as [`impl_jobs_store!`] binds them (`id` and the times apart).
macro_rules! job_field_cols {
    () => {
        "name, enabled, source_site_id, source_path, target_site_id, target_path, include_globs, exclude_globs, \
         recurse_dirs, min_age_secs, max_age_secs, conflict, after_action, atomic, parallel, retries, retry_backoff_secs, \
         file_timeout_secs, bwlimit, schedule_kind, schedule_expr, schedule_tz, schedule_at, notify, recipients, \
         date_window, name_date, zone"
    };
}

/// Implements [`JobStore`] for `$store` (holding `pool` and `cipher`) with rows of `$row`.
macro_rules! impl_jobs_store {
    ($store:ty, $row:ty) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            type Db = <$row as sqlx::Row>::Database;
            type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

            /// Binds a job's stored fields, in the order of `job_field_cols!`.
            fn bind_fields<'q>(query: Query<'q>, job: &'q Job) -> Query<'q> {
                let (kind, expr, tz, at) = schedule_columns(&job.schedule);
                query
                    .bind(&job.name)
                    .bind(job.enabled)
                    .bind(job.source_site_id)
                    .bind(&job.source_path)
                    .bind(job.target_site_id)
                    .bind(&job.target_path)
                    .bind(to_json(&job.include))
                    .bind(to_json(&job.exclude))
                    .bind(job.recursive)
                    .bind(secs(job.min_age))
                    .bind(job.max_age.map(secs))
                    .bind(job.conflict.as_str())
                    .bind(job.after.to_string())
                    .bind(job.atomic)
                    .bind(job.parallel as i64)
                    .bind(job.retries as i64)
                    .bind(secs(job.retry_backoff))
                    .bind(secs(job.file_timeout))
                    .bind(job.bwlimit.map(|b| b.min(i64::MAX as u64) as i64))
                    .bind(kind)
                    .bind(expr)
                    .bind(tz)
                    .bind(at)
                    .bind(job.notify.as_str())
                    .bind(to_json(&job.recipients))
                    .bind(job.window.as_ref().map(|w| w.to_string()))
                    .bind(job.name_date.as_ref().map(|p| p.to_string()))
                    .bind(job.zone.map(|z| z.name().to_string()))
            }

            #[async_trait::async_trait]
            impl $crate::store::JobStore for $store {
            async fn create_job(&self, job: &Job) -> StoreResult<Job> {
                job.validate()?;
                self.site_by_id(job.source_site_id).await?;
                self.site_by_id(job.target_site_id).await?;
                let query = sqlx::query(concat!(
                    "INSERT INTO jobs (", $crate::store::jobs::job_field_cols!(), ", created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, \
                     $29, $29) RETURNING ", job_cols!()));
                let row = bind_fields(query, job)
                    .bind(to_ms(Utc::now()))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(saving("job", &job.name))?;
                Self::job_from_row(&row)
            }

            async fn update_job(&self, job: &Job) -> StoreResult<Job> {
                job.validate()?;
                self.site_by_id(job.source_site_id).await?;
                self.site_by_id(job.target_site_id).await?;
                let query = sqlx::query(concat!(
                    "UPDATE jobs SET (", $crate::store::jobs::job_field_cols!(), ", updated_at) = ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                     $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29) WHERE id = $30 \
                     RETURNING ", job_cols!()));
                let row = bind_fields(query, job)
                    .bind(to_ms(Utc::now()))
                    .bind(job.id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(saving("job", &job.name))?
                    .ok_or_else(|| StoreError::NotFound { kind: "job", name: job.name.clone() })?;
                Self::job_from_row(&row)
            }


            async fn job(&self, name: &str) -> StoreResult<Job> {
                let row = sqlx::query(concat!("SELECT ", job_cols!(), " FROM jobs WHERE name = $1"))
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading job '{name}'")))?
                    .ok_or_else(|| StoreError::NotFound { kind: "job", name: name.to_string() })?;
                Self::job_from_row(&row)
            }

            async fn job_by_id(&self, id: i64) -> StoreResult<Job> {
                let row = sqlx::query(concat!("SELECT ", job_cols!(), " FROM jobs WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading job #{id}")))?
                    .ok_or_else(|| StoreError::NotFound { kind: "job", name: format!("#{id}") })?;
                Self::job_from_row(&row)
            }

            async fn jobs(&self) -> StoreResult<Vec<Job>> {
                let rows = sqlx::query(concat!("SELECT ", job_cols!(), " FROM jobs ORDER BY name"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing jobs"))?;
                rows.iter().map(Self::job_from_row).collect()
            }

            async fn scheduled_jobs(&self) -> StoreResult<Vec<ScheduledJob>> {
                let what = "listing the scheduled jobs";
                let rows = sqlx::query(
                    "SELECT id, name, updated_at, schedule_kind, schedule_expr, schedule_tz, schedule_at FROM jobs \
                     WHERE enabled = TRUE AND schedule_kind <> 'manual' ORDER BY id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db(what))?;
                rows.iter()
                    .map(|r| {
                        let name: String = r.try_get("name").map_err(db(what))?;
                        let schedule = schedule_from_columns(
                            &name,
                            &r.try_get::<String, _>("schedule_kind").map_err(db(what))?,
                            r.try_get("schedule_expr").map_err(db(what))?,
                            r.try_get("schedule_tz").map_err(db(what))?,
                            r.try_get("schedule_at").map_err(db(what))?,
                        )?;
                        Ok(ScheduledJob {
                            id: r.try_get("id").map_err(db(what))?,
                            name: name.into_boxed_str(),
                            updated_at: from_ms(r.try_get("updated_at").map_err(db(what))?),
                            schedule,
                        })
                    })
                    .collect()
            }

            async fn jobs_fingerprint(&self) -> StoreResult<(i64, i64)> {
                let row = sqlx::query("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(updated_at), 0) AS BIGINT) AS latest FROM jobs")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("checking for job changes"))?;
                let n: i64 = row.try_get("n").map_err(db("checking for job changes"))?;
                let latest: i64 = row.try_get("latest").map_err(db("checking for job changes"))?;
                Ok((n, latest))
            }

            async fn delete_job(&self, name: &str) -> StoreResult<()> {
                let done = sqlx::query("DELETE FROM jobs WHERE name = $1")
                    .bind(name)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("removing job '{name}'")))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { kind: "job", name: name.to_string() });
                }
                Ok(())
            }
            }
        };
    };
}

pub(crate) use {impl_jobs_store, job_field_cols};
