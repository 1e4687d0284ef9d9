//! Each job's ledger: what it delivered, where, and what is still to do after delivery.
//! [`LedgerStore`] is one of the traits [`super::Store`] is made of; `impl_ledger_store!` writes
//! its SQL once for both backends, given the row type.

use super::StoreResult;
use crate::model::*;
use async_trait::async_trait;

/// Each job's ledger: what it delivered, where, and what is still to do after delivery.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// The ledger entry of a source path, if it was delivered before.
    async fn ledger_entry(&self, job_id: i64, source_path: &str) -> StoreResult<Option<LedgerEntry>>;
    /// The ledger entries of those of `source_paths` delivered before (in no particular order).
    async fn ledger_entries(&self, job_id: i64, source_paths: &[String]) -> StoreResult<Vec<LedgerEntry>>;
    /// Records (or updates) a delivery in the job's ledger.
    async fn record_delivery(&self, entry: &LedgerEntry) -> StoreResult<()>;
    /// A job's ledger, newest delivery first.
    async fn ledger(&self, job_id: i64, limit: i64) -> StoreResult<Vec<LedgerEntry>>;
    /// Notes that the after-delivery action of a file `run_id` delivered has been applied.
    async fn after_applied(&self, job_id: i64, source_path: &str, run_id: i64) -> StoreResult<()>;
    /// Forgets what a job delivered, so every file is sent again (where each copy went is
    /// kept: `replace-own` may replace this job's own copies); returns how many entries.
    async fn forget_ledger(&self, job_id: i64) -> StoreResult<u64>;
    /// Forgets the deliveries of `source_paths` only, likewise; returns how many there were.
    async fn forget_ledger_paths(&self, job_id: i64, source_paths: &[String]) -> StoreResult<u64>;
}

/// Implements [`LedgerStore`] for `$store` (holding `pool` and `cipher`) with rows of `$row`.
macro_rules! impl_ledger_store {
    ($store:ty, $row:ty) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            #[async_trait::async_trait]
            impl $crate::store::LedgerStore for $store {
            async fn after_applied(&self, job_id: i64, source_path: &str, run_id: i64) -> StoreResult<()> {
                sqlx::query("UPDATE ledger SET after_pending = FALSE WHERE job_id = $1 AND source_path = $2 AND run_id = $3")
                    .bind(job_id)
                    .bind(source_path)
                    .bind(run_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("recording the after-delivery action on {source_path}")))?;
                Ok(())
            }

            async fn ledger_entry(&self, job_id: i64, source_path: &str) -> StoreResult<Option<LedgerEntry>> {
                let row = sqlx::query(
                    concat!("SELECT ", ledger_cols!(), " FROM ledger WHERE job_id = $1 AND source_path = $2"),
                )
                .bind(job_id)
                .bind(source_path)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("reading the ledger"))?;
                row.as_ref().map(Self::ledger_from_row).transpose()
            }

            async fn ledger_entries(&self, job_id: i64, source_paths: &[String]) -> StoreResult<Vec<LedgerEntry>> {
                type Db = <$row as sqlx::Row>::Database;
                let mut found = Vec::new();
                for chunk in source_paths.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<Db>::new(
                        concat!("SELECT ", ledger_cols!(), " FROM ledger WHERE job_id = "),
                    );
                    q.push_bind(job_id).push(" AND source_path IN (");
                    let mut paths = q.separated(", ");
                    for p in chunk {
                        paths.push_bind(p.as_str());
                    }
                    q.push(")");
                    let rows = q.build().fetch_all(&self.pool).await.map_err(db("reading the ledger"))?;
                    for row in &rows {
                        found.push(Self::ledger_from_row(row)?);
                    }
                }
                Ok(found)
            }

            async fn record_delivery(&self, e: &LedgerEntry) -> StoreResult<()> {
                sqlx::query(
                    ledger_upsert_sql!(),
                )
                .bind(e.job_id)
                .bind(&e.source_path)
                .bind(e.size)
                .bind(e.mtime)
                .bind(to_ms(e.delivered_at))
                .bind(e.run_id)
                .bind(e.target_path.as_deref())
                .bind(i64::from(e.mtime_granularity))
                .bind(e.after_pending)
                .bind(i64::from(e.mtime_nanos))
                .execute(&self.pool)
                .await
                .map_err(db(format!("recording delivery of {}", e.source_path)))?;
                Ok(())
            }

            async fn ledger(&self, job_id: i64, limit: i64) -> StoreResult<Vec<LedgerEntry>> {
                let rows = sqlx::query(
                    concat!("SELECT ", ledger_cols!(), " FROM ledger WHERE job_id = $1 \
                     ORDER BY delivered_at DESC, source_path LIMIT $2"),
                )
                .bind(job_id)
                .bind(limit.max(1))
                .fetch_all(&self.pool)
                .await
                .map_err(db("reading the ledger"))?;
                rows.iter().map(Self::ledger_from_row).collect()
            }

            async fn forget_ledger_paths(&self, job_id: i64, source_paths: &[String]) -> StoreResult<u64> {
                type Db = <$row as sqlx::Row>::Database;
                let mut forgotten = 0;
                for chunk in source_paths.chunks(500) {
                    let mut q = sqlx::QueryBuilder::<Db>::new(concat!("UPDATE ledger SET ", forget_sql!(), " WHERE job_id = "));
                    q.push_bind(job_id).push(" AND size >= 0 AND source_path IN (");
                    let mut paths = q.separated(", ");
                    for p in chunk {
                        paths.push_bind(p.as_str());
                    }
                    q.push(")");
                    forgotten += q.build().execute(&self.pool).await.map_err(db("clearing ledger entries"))?.rows_affected();
                }
                Ok(forgotten)
            }

            async fn forget_ledger(&self, job_id: i64) -> StoreResult<u64> {
                let done = sqlx::query(concat!("UPDATE ledger SET ", forget_sql!(), " WHERE job_id = $1 AND size >= 0"))
                    .bind(job_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db("clearing the ledger"))?;
                Ok(done.rows_affected())
            }
            }
        };
    };
}

pub(crate) use impl_ledger_store;
