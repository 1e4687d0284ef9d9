//! The PostgreSQL store: production, and several nodes sharing one database.

use super::sql::{claim_sql, impl_sql_store};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr as _;

/// A [`Store`] on PostgreSQL.
pub struct PgStore {
    pool: sqlx::PgPool,
    cipher: Cipher,
}

impl PgStore {
    /// Connects to `url`, applies migrations and checks the key.
    pub async fn open(url: &str, key: KeySource) -> StoreResult<PgStore> {
        let options = PgConnectOptions::from_str(url)
            .map_err(db(format!("reading the database URL {}", super::redact_url(url))))?;
        Self::open_with(options, key).await
    }

    /// Connects with prepared options (e.g. a `search_path` per test), applies migrations and
    /// checks the key.
    pub async fn open_with(options: PgConnectOptions, key: KeySource) -> StoreResult<PgStore> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(db("connecting to PostgreSQL"))?;
        super::migrations::migrator(super::migrations::Dialect::Postgres)
            .run(&pool)
            .await?;
        let cipher = Self::init_cipher(&pool, &key).await?;
        Ok(PgStore { pool, cipher })
    }

    /// The connection pool, for tests that read raw rows.
    pub fn pool(&self) -> &sqlx::PgPool {
        &self.pool
    }

    /// Any number of nodes may share PostgreSQL.
    fn claim_node_lock(&self) -> StoreResult<()> {
        Ok(())
    }
}

impl_sql_store!(
    PgStore,
    sqlx::postgres::PgRow,
    Backend::Postgres,
    claim_sql!("FOR UPDATE SKIP LOCKED")
);
super::sites::impl_sites_store!(PgStore, sqlx::postgres::PgRow);
super::jobs::impl_jobs_store!(PgStore, sqlx::postgres::PgRow);
super::runs::impl_runs_store!(PgStore, sqlx::postgres::PgRow, claim_sql!("FOR UPDATE SKIP LOCKED"));
super::ledger::impl_ledger_store!(PgStore, sqlx::postgres::PgRow);
super::settings::impl_settings_store!(PgStore, sqlx::postgres::PgRow);
super::cluster::impl_cluster_store!(PgStore, sqlx::postgres::PgRow);
super::users::impl_users_store!(PgStore, sqlx::postgres::PgRow);
super::groups::impl_group_store!(PgStore, sqlx::postgres::PgRow, "FOR UPDATE SKIP LOCKED");
