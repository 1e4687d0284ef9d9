//! The [`Manager`]: the one value every frontend starts from. It opens the store, checks the
//! encryption key, and offers the operations the CLI, web and Python layers share.

use crate::secrets::KeySource;
use crate::store::{self, Backend, Store, StoreError};
use crate::validate::ValidationError;
use std::sync::Arc;

/// Why a manager operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The store failed (database, key, not found, in use...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A value was refused.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// A summary of what a database holds, for `ftpman status` and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Which database.
    pub backend: Backend,
    /// The database URL with any password hidden.
    pub database: String,
    /// Sites defined.
    pub sites: usize,
    /// Jobs defined.
    pub jobs: usize,
    /// Of which enabled.
    pub enabled_jobs: usize,
    /// Runs queued or running now.
    pub active_runs: usize,
    /// Nodes that ever beat.
    pub nodes: usize,
}

/// Opens the store and hands out the engine's parts.
#[derive(Clone)]
pub struct Manager {
    store: Arc<dyn Store>,
    database: String,
}

impl Manager {
    /// Opens the database at `db_url` with the key from the environment (`ENCRYPTION_KEY`,
    /// `ENCRYPTION_PASSWORD`, or a key file beside an embedded SQLite database).
    pub async fn open(db_url: &str) -> Result<Manager, ManagerError> {
        Self::open_with_key(db_url, None).await
    }

    /// Opens the database with an explicit key source (`None`: from the environment).
    pub async fn open_with_key(db_url: &str, key: Option<KeySource>) -> Result<Manager, ManagerError> {
        let store = store::open(db_url, key).await?;
        Ok(Manager {
            store,
            database: store::redact_url(db_url),
        })
    }

    /// A manager over a store opened elsewhere.
    pub fn from_store(store: Arc<dyn Store>, database: &str) -> Manager {
        Manager {
            store,
            database: store::redact_url(database),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// What the database holds.
    pub async fn status(&self) -> Result<Status, ManagerError> {
        use crate::model::{RunQuery, RunStatus};
        let jobs = self.store.jobs().await?;
        let mut active = 0;
        for status in [RunStatus::Queued, RunStatus::Running] {
            active += self
                .store
                .runs(&RunQuery {
                    status: Some(status),
                    limit: Some(10_000),
                    ..RunQuery::default()
                })
                .await?
                .len();
        }
        Ok(Status {
            backend: self.store.backend(),
            database: self.database.clone(),
            sites: self.store.sites().await?.len(),
            enabled_jobs: jobs.iter().filter(|j| j.enabled).count(),
            jobs: jobs.len(),
            active_runs: active,
            nodes: self.store.nodes().await?.len(),
        })
    }
}
