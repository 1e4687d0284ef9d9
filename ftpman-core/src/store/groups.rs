//! The group aggregate of the store: job groups and their runs. [`GroupStore`] is one of the
//! traits [`super::Store`] is made of; `impl_group_store!` writes its SQL once for both backends,
//! given the row type and the lock clause of the claim (`FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, nothing on SQLite).

use super::StoreResult;
use crate::model::{Group, GroupRun, NewGroupRun, RunStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Job groups and their runs.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Saves a new group; its name must be free.
    async fn create_group(&self, group: &Group) -> StoreResult<Group>;
    /// Saves changes to a group (matched by id).
    async fn update_group(&self, group: &Group) -> StoreResult<Group>;
    /// A group by name.
    async fn group(&self, name: &str) -> StoreResult<Group>;
    /// A group by id.
    async fn group_by_id(&self, id: i64) -> StoreResult<Group>;
    /// Every group, by name.
    async fn groups(&self) -> StoreResult<Vec<Group>>;
    /// (count, latest change) of the groups: the scheduler reloads them only when it changes.
    async fn groups_fingerprint(&self) -> StoreResult<(i64, i64)>;
    /// Removes a group with its runs (its jobs' runs stay).
    async fn delete_group(&self, name: &str) -> StoreResult<()>;
    /// Creates a group run; `None` when its fire already has one (another node made it).
    async fn create_group_run(&self, new: &NewGroupRun) -> StoreResult<Option<GroupRun>>;
    /// Creates a group run `running` on `node_id` at once; `None` when the group is running.
    async fn start_new_group_run(
        &self,
        new: &NewGroupRun,
        node_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<GroupRun>>;
    /// Takes the oldest queued group run of a group that is not running, for `node_id`.
    async fn claim_group_run(
        &self,
        node_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<GroupRun>>;
    /// Extends the lease of a group run `node_id` holds; false when it no longer holds it.
    async fn renew_group_lease(&self, id: i64, node_id: &str, now: DateTime<Utc>, lease: Duration)
    -> StoreResult<bool>;
    /// Ends a group run: a running one only on the node that holds it (`node_id`), one that
    /// never ran with `None`.
    async fn finish_group_run(
        &self,
        id: i64,
        node_id: Option<&str>,
        status: RunStatus,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Marks the running group runs whose lease ran out `interrupted`; their ids.
    async fn expire_group_leases(&self, now: DateTime<Utc>) -> StoreResult<Vec<i64>>;
    /// One group run.
    async fn group_run(&self, id: i64) -> StoreResult<GroupRun>;
    /// A group's runs, newest first.
    async fn group_runs(&self, group_id: i64, limit: i64) -> StoreResult<Vec<GroupRun>>;
    /// The latest fire recorded for a group.
    async fn last_group_fire(&self, group_id: i64) -> StoreResult<Option<DateTime<Utc>>>;
    /// Removes finished group runs created before `cutoff`, keeping each group's last fire.
    async fn purge_group_runs(&self, cutoff: DateTime<Utc>) -> StoreResult<u64>;
}

macro_rules! group_cols {
    () => {
        "id, name, enabled, job_ids, schedule_kind, schedule_expr, schedule_tz, schedule_at, continue_on_failure, \
         created_at, updated_at, zone"
    };
}

macro_rules! group_run_cols {
    () => {
        "id, group_id, run_trigger, scheduled_for, reference_at, again, created_at, started_at, finished_at, status, \
         error, node_id, lease_expires_at"
    };
}

/// A group's stored fields, as [`impl_group_store!`] binds them (`id` and the times apart).
macro_rules! group_field_cols {
    () => {
        "name, enabled, job_ids, schedule_kind, schedule_expr, schedule_tz, schedule_at, continue_on_failure, zone"
    };
}

/// Implements [`GroupStore`] for `$store` (holding `pool`) with rows of `$row`.
macro_rules! impl_group_store {
    ($store:ty, $row:ty, $lock:literal) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            fn group_from_row(r: &$row) -> StoreResult<Group> {
                let e = || db("reading a group");
                let name: String = r.try_get("name").map_err(e())?;
                let ids: String = r.try_get("job_ids").map_err(e())?;
                Ok(Group {
                    id: r.try_get("id").map_err(e())?,
                    enabled: r.try_get("enabled").map_err(e())?,
                    job_ids: serde_json::from_str(&ids).map_err(|err| corrupt(&format!("group '{name}' jobs"), err))?,
                    schedule: schedule_from_columns(
                        &name,
                        &r.try_get::<String, _>("schedule_kind").map_err(e())?,
                        r.try_get("schedule_expr").map_err(e())?,
                        r.try_get("schedule_tz").map_err(e())?,
                        r.try_get("schedule_at").map_err(e())?,
                    )?,
                    continue_on_failure: r.try_get("continue_on_failure").map_err(e())?,
                    zone: r.try_get::<Option<String>, _>("zone").map_err(e())?
                        .map(|z| parse_stored::<chrono_tz::Tz>(&format!("group '{name}' zone"), &z))
                        .transpose()?,
                    created_at: from_ms(r.try_get("created_at").map_err(e())?),
                    updated_at: from_ms(r.try_get("updated_at").map_err(e())?),
                    name,
                })
            }

            fn group_run_from_row(r: &$row) -> StoreResult<GroupRun> {
                let e = || db("reading a group run");
                let time = |col: &str| -> StoreResult<Option<DateTime<Utc>>> {
                    Ok(r.try_get::<Option<i64>, _>(col).map_err(e())?.map(from_ms))
                };
                Ok(GroupRun {
                    id: r.try_get("id").map_err(e())?,
                    group_id: r.try_get("group_id").map_err(e())?,
                    trigger: parse_stored("group run trigger", &r.try_get::<String, _>("run_trigger").map_err(e())?)?,
                    scheduled_for: time("scheduled_for")?,
                    as_of: time("reference_at")?,
                    again: r.try_get("again").map_err(e())?,
                    created_at: from_ms(r.try_get("created_at").map_err(e())?),
                    started_at: time("started_at")?,
                    finished_at: time("finished_at")?,
                    status: parse_stored("group run status", &r.try_get::<String, _>("status").map_err(e())?)?,
                    error: r.try_get("error").map_err(e())?,
                    node_id: r.try_get("node_id").map_err(e())?,
                    lease_expires_at: time("lease_expires_at")?,
                })
            }

            type Db = <$row as sqlx::Row>::Database;
            type Query<'q> = sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments>;

            /// Binds a group's stored fields, in the order of `group_field_cols!`.
            fn bind_fields<'q>(query: Query<'q>, g: &'q Group) -> StoreResult<Query<'q>> {
                let (kind, expr, tz, at) = schedule_columns(&g.schedule);
                let ids = serde_json::to_string(&g.job_ids).map_err(|e| corrupt("group jobs", e))?;
                Ok(query
                    .bind(&g.name)
                    .bind(g.enabled)
                    .bind(ids)
                    .bind(kind)
                    .bind(expr)
                    .bind(tz)
                    .bind(at)
                    .bind(g.continue_on_failure)
                    .bind(g.zone.map(|z| z.name().to_string())))
            }

            #[async_trait::async_trait]
            impl GroupStore for $store {
                async fn create_group(&self, g: &Group) -> StoreResult<Group> {
                    g.validate()?;
                    let query = sqlx::query(concat!(
                        "INSERT INTO job_groups (", $crate::store::groups::group_field_cols!(), ", created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING ", $crate::store::groups::group_cols!()));
                    let row = bind_fields(query, g)?
                        .bind(to_ms(Utc::now()))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(saving("group", &g.name))?;
                    group_from_row(&row)
                }

                async fn update_group(&self, g: &Group) -> StoreResult<Group> {
                    g.validate()?;
                    let query = sqlx::query(concat!(
                        "UPDATE job_groups SET (", $crate::store::groups::group_field_cols!(), ", updated_at) = ($1, $2, $3, \
                         $4, $5, $6, $7, $8, $9, $10) WHERE id = $11 RETURNING ", $crate::store::groups::group_cols!()));
                    let row = bind_fields(query, g)?
                        // Strictly later than the last change, so the scheduler sees every edit.
                        .bind(to_ms(Utc::now()).max(to_ms(g.updated_at) + 1))
                        .bind(g.id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(saving("group", &g.name))?
                        .ok_or_else(|| StoreError::NotFound { kind: "group", name: g.name.clone() })?;
                    group_from_row(&row)
                }

                async fn group(&self, name: &str) -> StoreResult<Group> {
                    let row = sqlx::query(concat!("SELECT ", $crate::store::groups::group_cols!(), " FROM job_groups WHERE name = $1"))
                        .bind(name)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db(format!("reading group '{name}'")))?
                        .ok_or_else(|| StoreError::NotFound { kind: "group", name: name.to_string() })?;
                    group_from_row(&row)
                }

                async fn group_by_id(&self, id: i64) -> StoreResult<Group> {
                    let row = sqlx::query(concat!("SELECT ", $crate::store::groups::group_cols!(), " FROM job_groups WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db(format!("reading group #{id}")))?
                        .ok_or_else(|| StoreError::NotFound { kind: "group", name: format!("#{id}") })?;
                    group_from_row(&row)
                }

                async fn groups(&self) -> StoreResult<Vec<Group>> {
                    let rows = sqlx::query(concat!("SELECT ", $crate::store::groups::group_cols!(), " FROM job_groups ORDER BY name"))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("listing groups"))?;
                    rows.iter().map(group_from_row).collect()
                }

                async fn groups_fingerprint(&self) -> StoreResult<(i64, i64)> {
                    let row = sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS latest FROM job_groups")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db("checking for changed groups"))?;
                    Ok((
                        row.try_get("n").map_err(db("checking for changed groups"))?,
                        row.try_get("latest").map_err(db("checking for changed groups"))?,
                    ))
                }

                async fn delete_group(&self, name: &str) -> StoreResult<()> {
                    let done = sqlx::query("DELETE FROM job_groups WHERE name = $1")
                        .bind(name)
                        .execute(&self.pool)
                        .await
                        .map_err(db(format!("removing group '{name}'")))?;
                    if done.rows_affected() == 0 {
                        return Err(StoreError::NotFound { kind: "group", name: name.to_string() });
                    }
                    Ok(())
                }

                async fn create_group_run(&self, new: &NewGroupRun) -> StoreResult<Option<GroupRun>> {
                    let now = to_ms(Utc::now());
                    let finished = new.status.is_final().then_some(now);
                    let row = sqlx::query(concat!(
                        "INSERT INTO group_runs (group_id, run_trigger, scheduled_for, reference_at, again, created_at, \
                         finished_at, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (group_id, scheduled_for) DO NOTHING RETURNING ", $crate::store::groups::group_run_cols!()))
                        .bind(new.group_id)
                        .bind(new.trigger.as_str())
                        .bind(new.scheduled_for.map(to_ms))
                        .bind(new.as_of.map(to_ms))
                        .bind(new.again)
                        .bind(now)
                        .bind(finished)
                        .bind(new.status.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db(format!("queueing a run of group #{}", new.group_id)))?;
                    row.as_ref().map(group_run_from_row).transpose()
                }

                async fn start_new_group_run(
                    &self,
                    new: &NewGroupRun,
                    node_id: &str,
                    now: DateTime<Utc>,
                    lease: Duration,
                ) -> StoreResult<Option<GroupRun>> {
                    let row = sqlx::query(concat!(
                        "INSERT INTO group_runs (group_id, run_trigger, scheduled_for, reference_at, again, created_at, \
                         started_at, status, node_id, lease_expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $6, 'running', $7, $8) RETURNING ", $crate::store::groups::group_run_cols!()))
                        .bind(new.group_id)
                        .bind(new.trigger.as_str())
                        .bind(new.scheduled_for.map(to_ms))
                        .bind(new.as_of.map(to_ms))
                        .bind(new.again)
                        .bind(to_ms(now))
                        .bind(node_id)
                        .bind(lease_until(now, lease))
                        .fetch_optional(&self.pool)
                        .await;
                    // The group is running (it runs once at a time).
                    unless_taken(row, group_run_from_row, format!("starting a run of group #{}", new.group_id))
                }

                async fn claim_group_run(&self, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<GroupRun>> {
                    let row = sqlx::query(concat!(
                        "UPDATE group_runs SET status = 'running', node_id = $1, started_at = $2, lease_expires_at = $3 \
                         WHERE id = (SELECT g.id FROM group_runs g WHERE g.status = 'queued' \
                         AND NOT EXISTS (SELECT 1 FROM group_runs x WHERE x.group_id = g.group_id AND x.status = 'running') \
                         ORDER BY g.id LIMIT 1 ", $lock, ") AND status = 'queued' RETURNING ", $crate::store::groups::group_run_cols!()))
                        .bind(node_id)
                        .bind(to_ms(now))
                        .bind(lease_until(now, lease))
                        .fetch_optional(&self.pool)
                        .await;
                    // Two nodes claimed runs of one group at once: the index refused one.
                    unless_taken(row, group_run_from_row, "claiming a queued group run")
                }

                async fn renew_group_lease(&self, id: i64, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<bool> {
                    renew_lease_in!(&self.pool, "group_runs", id, node_id, lease_until(now, lease), format!("renewing the lease of group run {id}"))
                }

                async fn finish_group_run(
                    &self,
                    id: i64,
                    node_id: Option<&str>,
                    status: RunStatus,
                    error: Option<&str>,
                    now: DateTime<Utc>,
                ) -> StoreResult<()> {
                    let done = sqlx::query(
                        "UPDATE group_runs SET status = $2, error = $3, finished_at = $4, lease_expires_at = NULL \
                         WHERE id = $1 AND ((status = 'running' AND node_id = $5) OR ($5 IS NULL AND status <> 'running'))",
                    )
                    .bind(id)
                    .bind(status.as_str())
                    .bind(error)
                    .bind(to_ms(now))
                    .bind(node_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("finishing group run {id}")))?;
                    if done.rows_affected() == 0 {
                        self.group_run(id).await?;
                        return Err(StoreError::NotHeld { run_id: id });
                    }
                    Ok(())
                }

                async fn expire_group_leases(&self, now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
                    let rows = sqlx::query(
                        "UPDATE group_runs SET status = 'interrupted', finished_at = $1, lease_expires_at = NULL, \
                         error = COALESCE(error, 'interrupted: node ' || COALESCE(node_id, '?') || ' stopped renewing its lease') \
                         WHERE status = 'running' AND lease_expires_at < $1 RETURNING id",
                    )
                    .bind(to_ms(now))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("expiring group leases"))?;
                    rows.iter().map(|r| r.try_get::<i64, _>("id").map_err(db("expiring group leases"))).collect()
                }

                async fn group_run(&self, id: i64) -> StoreResult<GroupRun> {
                    let row = sqlx::query(concat!("SELECT ", $crate::store::groups::group_run_cols!(), " FROM group_runs WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db(format!("reading group run {id}")))?
                        .ok_or_else(|| StoreError::NotFound { kind: "group run", name: id.to_string() })?;
                    group_run_from_row(&row)
                }

                async fn group_runs(&self, group_id: i64, limit: i64) -> StoreResult<Vec<GroupRun>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", $crate::store::groups::group_run_cols!(), " FROM group_runs WHERE group_id = $1 ORDER BY id DESC LIMIT $2"))
                        .bind(group_id)
                        .bind(limit.clamp(1, 10_000))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("listing group runs"))?;
                    rows.iter().map(group_run_from_row).collect()
                }

                async fn last_group_fire(&self, group_id: i64) -> StoreResult<Option<DateTime<Utc>>> {
                    let v: Option<i64> = sqlx::query("SELECT MAX(scheduled_for) AS last FROM group_runs WHERE group_id = $1")
                        .bind(group_id)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db("reading a group's last fire"))?
                        .try_get("last")
                        .map_err(db("reading a group's last fire"))?;
                    Ok(v.map(from_ms))
                }

                async fn purge_group_runs(&self, cutoff: DateTime<Utc>) -> StoreResult<u64> {
                    Ok(sqlx::query(
                        "DELETE FROM group_runs WHERE created_at < $1 AND status NOT IN ('queued', 'running') \
                         AND (scheduled_for IS NULL OR scheduled_for < \
                         (SELECT MAX(last.scheduled_for) FROM group_runs last WHERE last.group_id = group_runs.group_id))",
                    )
                    .bind(to_ms(cutoff))
                    .execute(&self.pool)
                    .await
                    .map_err(db("removing old group runs"))?
                    .rows_affected())
                }
            }
        };
    };
}

pub(crate) use {group_cols, group_field_cols, group_run_cols, impl_group_store};
