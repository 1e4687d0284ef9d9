//! The [`Manager`]: the one value every frontend starts from. It opens the store, checks the
//! encryption key, and offers the operations the CLI, the web API and Python share, so that
//! no business rule lives in a frontend: sites, jobs, runs, logs, settings, users, transfers.

pub mod access;
mod errors;
mod files;
mod groups;
mod jobs;
pub mod limiter;
mod runs;
pub mod settings;
mod sites;
mod summary;
pub mod users;
pub mod views;

pub use errors::ErrorKind;
pub use files::{DownloadStream, TransferReport};
pub use groups::{GroupOptions, GroupRunView, GroupView};
pub use jobs::JobOptions;
pub use runs::{LogFilter, Page, RunFilter, RunHandle, RunOptions, RunUpdate, RunWatch};
pub use sites::SiteOptions;
pub use summary::{DayView, FireView, SUMMARY_DAYS, SummaryView};

use crate::engine::{Engine, EngineConfig, EngineError};
use crate::model::{LogEntry, LogLevel};
use crate::notifier::NotifyError;
use crate::secrets::KeySource;
use crate::store::{self, Backend, Store, StoreError};
use crate::transport::{ProtocolConnector, TransportError};
use crate::validate::ValidationError;
use chrono::Utc;
use std::sync::{Arc, OnceLock};

/// Why a manager operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    /// The store failed (database, key, in use...).
    #[error(transparent)]
    Store(StoreError),
    /// A value was refused: bad usage.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No such site, job, run or user; with the nearest name when there is one.
    #[error("{kind} '{name}' not found{}", .suggestion.as_ref().map(|s| format!("; did you mean '{s}'?")).unwrap_or_default())]
    NotFound {
        /// Kind of record.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The closest existing name.
        suggestion: Option<String>,
    },
    /// An SFTP server's host key is not pinned yet.
    #[error(
        "site '{site}': the server's host key is {offered}; check it with the server's administrator, then pin it with --host-key {offered} (or pass --accept-new-host-key)"
    )]
    HostKeyUnknown {
        /// Site name.
        site: String,
        /// The offered fingerprint.
        offered: String,
    },
    /// A connection or transfer failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A notification (test e-mail) could not be sent.
    #[error(transparent)]
    Notify(#[from] NotifyError),
    /// A local file could not be read or written.
    /// The operation clashes with the state of what it acts on (a run that already ended).
    #[error("{0}")]
    Conflict(String),
    /// No valid sign-in, session or token.
    #[error("{0}")]
    Unauthorized(String),
    /// Signed in, but the role in force does not allow the operation.
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts in a short time.
    #[error("{what}: too many attempts; try again in {retry_after_secs} s")]
    RateLimited {
        /// What was attempted (`sign-in as 'alice'`).
        what: String,
        /// Seconds until the next attempt is allowed.
        retry_after_secs: u64,
    },
    /// More data than the limit allows.
    #[error("{what}: larger than the limit of {limit} bytes")]
    TooLarge {
        /// What was too large (`upload of report.csv`).
        what: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A run was cancelled (by a user, from any process) before it ended.
    #[error("run {} was cancelled", .run.id)]
    Cancelled {
        /// The run, as it ended.
        run: Box<crate::model::Run>,
    },
    /// A bug or an unexpected state inside ftpman.
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{path}: {source}")]
    Io {
        /// The local path.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl From<StoreError> for ManagerError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(v) => ManagerError::Invalid(v),
            StoreError::NotFound { kind, name } => ManagerError::NotFound {
                kind,
                name,
                suggestion: None,
            },
            other => ManagerError::Store(other),
        }
    }
}

impl ManagerError {
    /// Whether the error is bad usage (a value the user typed) rather than a failed operation.
    pub fn is_usage(&self) -> bool {
        matches!(self, ManagerError::Invalid(_))
    }
}

/// Result of manager operations.
pub type ManagerResult<T> = Result<T, ManagerError>;

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

/// Opens the store and hands out the engine.
#[derive(Clone)]
pub struct Manager {
    store: Arc<dyn Store>,
    database: String,
    engine: Arc<OnceLock<Engine>>,
    engine_config: EngineConfig,
    logins: Arc<limiter::LoginLimiter>,
}

/// The closest of `names` to `name`, if it is close enough to be a likely typo.
fn nearest(name: &str, names: impl IntoIterator<Item = String>) -> Option<String> {
    names
        .into_iter()
        .map(|n| (strsim::damerau_levenshtein(name, &n), n))
        .filter(|(d, n)| *d <= 2.max(n.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

impl Manager {
    /// Opens the database at `db_url` with the key from the environment (`ENCRYPTION_KEY`,
    /// `ENCRYPTION_PASSWORD`, or a key file beside an embedded SQLite database).
    pub async fn open(db_url: &str) -> ManagerResult<Manager> {
        Self::open_with_key(db_url, None).await
    }

    /// Opens the database with an explicit key source (`None`: from the environment).
    pub async fn open_with_key(db_url: &str, key: Option<KeySource>) -> ManagerResult<Manager> {
        crate::install_crypto_provider();
        let store = store::open(db_url, key).await?;
        // A run left running by a process that died (killed, crashed, cut off) is interrupted
        // once its lease has run out, by whichever ftpman opens the database next, with or
        // without `serve`; a live one renews its lease and is left alone.
        match store.expire_leases(Utc::now()).await {
            Ok(ids) => {
                for id in ids {
                    tracing::warn!(target: "ftpman::engine", run = id, "run was left running by a stopped process: marked interrupted");
                }
            }
            Err(e) => tracing::warn!(target: "ftpman::engine", "could not check for runs left running: {e}"),
        }
        Ok(Self::from_store(store, db_url))
    }

    /// A manager over a store opened elsewhere.
    pub fn from_store(store: Arc<dyn Store>, database: &str) -> Manager {
        Manager {
            store,
            database: store::redact_url(database),
            engine: Arc::new(OnceLock::new()),
            engine_config: EngineConfig::default(),
            logins: Arc::default(),
        }
    }

    /// Sets the engine's configuration (node id, lease, base URL) before its first use.
    pub fn with_engine_config(mut self, config: EngineConfig) -> Manager {
        self.engine_config = config;
        self
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The engine, made on first use with the SMTP and webhook notifiers.
    pub fn engine(&self) -> &Engine {
        self.engine.get_or_init(|| {
            let engine = Engine::new(
                self.store.clone(),
                Arc::new(ProtocolConnector),
                self.engine_config.clone(),
            );
            engine.add_notifier(Arc::new(crate::notifier::smtp::SmtpNotifier::new(self.store.clone())));
            match crate::notifier::webhook::WebhookNotifier::new(self.store.clone()) {
                Ok(w) => engine.add_notifier(Arc::new(w)),
                Err(e) => tracing::warn!(target: "ftpman::notify", "webhooks are off: {e}"),
            }
            engine
        })
    }

    /// Writes an audit entry (config changes, logins) into the system log.
    pub(crate) async fn audit(&self, message: String, context: serde_json::Value) {
        let entry = LogEntry {
            id: 0,
            time: Utc::now(),
            level: LogLevel::Info,
            component: "audit".into(),
            message,
            context,
        };
        if let Err(e) = self.store.append_log(&entry).await {
            tracing::warn!(target: "ftpman::audit", "could not write the audit log: {e}");
        }
    }

    /// What the database holds.
    pub async fn status(&self) -> ManagerResult<Status> {
        use crate::model::RunStatus;
        let jobs = self.store.jobs().await?;
        let active =
            self.store.count_runs(RunStatus::Queued).await? + self.store.count_runs(RunStatus::Running).await?;
        Ok(Status {
            backend: self.store.backend(),
            database: self.database.clone(),
            sites: self.store.sites().await?.len(),
            enabled_jobs: jobs.iter().filter(|j| j.enabled).count(),
            jobs: jobs.len(),
            active_runs: active as usize,
            nodes: self.store.nodes().await?.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_names_for_typos() {
        let names = || {
            [
                "partner".to_string(),
                "archive".to_string(),
                "nightly-export".to_string(),
            ]
        };
        assert_eq!(super::nearest("partnr", names()).as_deref(), Some("partner"));
        assert_eq!(
            super::nearest("nightly-exprot", names()).as_deref(),
            Some("nightly-export")
        );
        assert_eq!(super::nearest("zzz", names()), None);
    }
}
