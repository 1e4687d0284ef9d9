//! What several nodes share: connection slots per site, and the nodes' heartbeats. [`ClusterStore`]
//! is one of the traits [`super::Store`] is made of; `impl_cluster_store!` writes its SQL once for
//! both backends, given the row type.

use super::StoreResult;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What several nodes share: connection slots per site, and the nodes' heartbeats.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Takes a free connection slot of a site for `node_id` (one of `0..max`, or one whose
    /// holder's lease expired); `None` when all `max` are held. This is what makes a site's
    /// max_connections a cap across every node.
    async fn acquire_site_slot(
        &self,
        site_id: i64,
        max: u32,
        node_id: &str,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<Option<u32>>;
    /// Gives a slot back.
    async fn release_site_slot(&self, site_id: i64, slot: u32, node_id: &str) -> StoreResult<()>;
    /// Extends the slots `held` (site id, slot) of `node_id`; returns how many it still held.
    /// Only slots a pool holds are renewed: one whose release failed expires.
    async fn renew_site_slots(
        &self,
        node_id: &str,
        held: &[(i64, u32)],
        now: DateTime<Utc>,
        lease: Duration,
    ) -> StoreResult<u64>;
    /// Slots held now (not expired) for a site.
    async fn site_slots_held(&self, site_id: i64, now: DateTime<Utc>) -> StoreResult<u64>;

    /// Records a node's heartbeat (creating the node on its first beat).
    async fn heartbeat(&self, node_id: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Every node that ever beat, newest heartbeat first.
    async fn nodes(&self) -> StoreResult<Vec<Node>>;
}

/// Implements [`ClusterStore`] for `$store` (holding `pool` and `cipher`) with rows of `$row`.
macro_rules! impl_cluster_store {
    ($store:ty, $row:ty) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            #[async_trait::async_trait]
            impl $crate::store::ClusterStore for $store {
            async fn acquire_site_slot(
                &self,
                site_id: i64,
                max: u32,
                node_id: &str,
                now: DateTime<Utc>,
                lease: Duration,
            ) -> StoreResult<Option<u32>> {
                for slot in 0..max.max(1) {
                    // Insert the slot, or take it over when its holder's lease has run out: one
                    // statement, so two nodes can never both win the same slot.
                    let row = sqlx::query(
                        "INSERT INTO site_slots (site_id, slot, node_id, expires_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (site_id, slot) DO UPDATE SET node_id = excluded.node_id, expires_at = excluded.expires_at \
                         WHERE site_slots.expires_at < $5 RETURNING slot",
                    )
                    .bind(site_id)
                    .bind(slot as i64)
                    .bind(node_id)
                    .bind(lease_until(now, lease))
                    .bind(to_ms(now))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db("taking a connection slot"))?;
                    if row.is_some() {
                        return Ok(Some(slot));
                    }
                }
                Ok(None)
            }

            async fn release_site_slot(&self, site_id: i64, slot: u32, node_id: &str) -> StoreResult<()> {
                sqlx::query("DELETE FROM site_slots WHERE site_id = $1 AND slot = $2 AND node_id = $3")
                    .bind(site_id)
                    .bind(slot as i64)
                    .bind(node_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db("releasing a connection slot"))?;
                Ok(())
            }

            async fn renew_site_slots(&self, node_id: &str, held: &[(i64, u32)], now: DateTime<Utc>, lease: Duration) -> StoreResult<u64> {
                type Db = <$row as sqlx::Row>::Database;
                let mut renewed = 0;
                for chunk in held.chunks(200) {
                    let mut q = sqlx::QueryBuilder::<Db>::new("UPDATE site_slots SET expires_at = ");
                    q.push_bind(lease_until(now, lease)).push(" WHERE node_id = ").push_bind(node_id).push(" AND (");
                    let mut any = q.separated(" OR ");
                    for (site_id, slot) in chunk {
                        any.push("(site_id = ").push_bind_unseparated(*site_id).push_unseparated(" AND slot = ")
                            .push_bind_unseparated(i64::from(*slot)).push_unseparated(")");
                    }
                    q.push(")");
                    renewed += q.build().execute(&self.pool).await.map_err(db("renewing connection slots"))?.rows_affected();
                }
                Ok(renewed)
            }

            async fn site_slots_held(&self, site_id: i64, now: DateTime<Utc>) -> StoreResult<u64> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM site_slots WHERE site_id = $1 AND expires_at >= $2")
                    .bind(site_id)
                    .bind(to_ms(now))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("counting connection slots"))?
                    .try_get("n")
                    .map_err(db("counting connection slots"))?;
                Ok(n as u64)
            }

            async fn heartbeat(&self, node_id: &str, now: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $2) \
                     ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
                )
                .bind(node_id)
                .bind(to_ms(now))
                .execute(&self.pool)
                .await
                .map_err(db(format!("recording the heartbeat of node {node_id}")))?;
                Ok(())
            }

            async fn nodes(&self) -> StoreResult<Vec<Node>> {
                let rows = sqlx::query("SELECT id, started_at, heartbeat_at FROM nodes ORDER BY heartbeat_at DESC, id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing nodes"))?;
                rows.iter()
                    .map(|r| {
                        let e = || db("listing nodes");
                        Ok(Node {
                            id: r.try_get("id").map_err(e())?,
                            started_at: from_ms(r.try_get("started_at").map_err(e())?),
                            heartbeat_at: from_ms(r.try_get("heartbeat_at").map_err(e())?),
                        })
                    })
                    .collect()
            }
            }
        };
    };
}

pub(crate) use impl_cluster_store;
