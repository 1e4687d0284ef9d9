//! The [`Store`] trait and its two sqlx implementations: SQLite (the embedded default) and
//! PostgreSQL (production, and several nodes sharing one database).
//!
//! Both backends run the same SQL (written once in `sql.rs`; `$1` placeholders work in both)
//! except where the databases really differ: the DDL, and claiming a run (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; SQLite serialises writers). Times are stored as Unix milliseconds.
//! Secrets are sealed by the store itself, so no caller can write one in clear by mistake.

mod cluster;
mod groups;
mod jobs;
mod ledger;
mod migrations;
mod postgres;
mod runs;
mod settings;
mod sites;
mod sql;
mod sqlite;
mod users;

#[cfg(test)]
mod tests;

pub use cluster::ClusterStore;
pub use groups::GroupStore;
pub use jobs::JobStore;
pub use ledger::LedgerStore;
pub use postgres::PgStore;
pub use runs::RunStore;
pub use settings::SettingStore;
pub use sites::SiteStore;
pub use sqlite::SqliteStore;
pub use users::UserStore;

use crate::secrets::{KeySource, SecretError};
use crate::validate::ValidationError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite: one node.
    Sqlite,
    /// PostgreSQL: one or more nodes.
    Postgres,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one ftpman opens.
    #[error(
        "database URL '{0}' is not supported; use sqlite://PATH (e.g. sqlite://ftpman.db) or postgres://user@host/db"
    )]
    UnsupportedUrl(String),
    /// The database could not be reached or answered with an error.
    #[error("database error while {context}: {source}")]
    Database {
        /// What the store was doing.
        context: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("could not bring the database schema up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A record with that name already exists.
    #[error("{kind} '{name}' already exists")]
    Exists {
        /// Kind of record.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// No record with that name or id.
    #[error("{kind} '{name}' not found")]
    NotFound {
        /// Kind of record.
        kind: &'static str,
        /// The name or id looked for.
        name: String,
    },
    /// The record is still used by others.
    #[error("{kind} '{name}' is still used by {users}; remove or change those first")]
    InUse {
        /// Kind of record.
        kind: &'static str,
        /// Its name.
        name: String,
        /// Who uses it.
        users: String,
    },
    /// A value was refused by validation.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// A secret could not be sealed or opened, or the key is wrong.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Another process holds what this one needs (an embedded database serves one node).
    #[error("{0}")]
    Busy(String),
    /// This node no longer holds the run: its lease ran out, and another node may have taken
    /// the run over or marked it interrupted. Nothing of the run was written.
    #[error("run {run_id} is no longer held by this node (its lease ran out); nothing more of it is recorded here")]
    NotHeld {
        /// The run.
        run_id: i64,
    },
    /// A stored row holds a value this version cannot read.
    #[error("stored {what} is unreadable: {reason}")]
    Corrupt {
        /// Which value.
        what: String,
        /// Why.
        reason: String,
    },
}

/// Result of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// What a retention sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Finished runs removed (their run files go with them).
    pub runs: u64,
    /// System log entries removed.
    pub logs: u64,
}

/// Persistent state of ftpman. Every frontend and the engine go through this trait: one trait
/// per aggregate ([`SiteStore`], [`JobStore`], [`RunStore`], [`LedgerStore`], [`GroupStore`],
/// [`SettingStore`], [`ClusterStore`], [`UserStore`]) under this one, which adds what concerns
/// the database as a whole.
#[async_trait]
pub trait Store:
    SiteStore
    + JobStore
    + RunStore
    + LedgerStore
    + GroupStore
    + SettingStore
    + ClusterStore
    + UserStore
    + Send
    + Sync
    + 'static
{
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Closes the connection pool.
    async fn close(&self);
    /// Claims the database for this node's scheduler. An embedded SQLite database serves one
    /// node: a second process pointed at it is refused with a clear error. PostgreSQL takes any
    /// number of nodes.
    fn claim_single_node(&self) -> StoreResult<()>;
    /// Removes finished runs and log entries older than `cutoff`, but for each job's last fire
    /// (what the scheduler continues from).
    async fn purge_older_than(&self, cutoff: DateTime<Utc>) -> StoreResult<PurgeReport>;
}

/// Opens the store a database URL names, applies migrations and checks the encryption key.
/// `key` is taken from the environment when `None` (see [`KeySource::from_env`]).
pub async fn open(url: &str, key: Option<KeySource>) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, key).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let key = match key {
            Some(k) => k,
            None => KeySource::from_env(None)?,
        };
        if let Some(warning) = postgres_tls_warning(url) {
            tracing::warn!("{warning}");
        }
        Ok(Arc::new(PgStore::open(url, key).await?))
    } else {
        Err(StoreError::UnsupportedUrl(redact_url(url)))
    }
}

/// A database URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    /// Query parameters that carry a secret (PostgreSQL takes `password` and `sslpassword`).
    fn secret_key(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        ["password", "passwd", "pwd", "secret", "token", "key"]
            .iter()
            .any(|s| k.ends_with(s))
    }
    let Ok(mut u) = url::Url::parse(url) else {
        // Not a URL the parser reads: hide whatever sits between "://" and "@", if anything.
        return match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
            _ => url.to_string(),
        };
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_key(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// `url` with `password` put in (percent-encoded), for a password kept out of the URL (in a
/// file, say) until the database is opened. A URL that already carries one is refused.
pub fn with_password(url: &str, password: &str) -> StoreResult<String> {
    let mut u = url::Url::parse(url).map_err(|_| StoreError::UnsupportedUrl(redact_url(url)))?;
    if u.password().is_some() {
        return Err(StoreError::Invalid(ValidationError::new(
            "db",
            "the database URL already holds a password; give it in one place only",
        )));
    }
    if !url.starts_with("postgres") || u.set_password(Some(password)).is_err() {
        return Err(StoreError::Invalid(ValidationError::new(
            "db",
            format!("a password file is for a PostgreSQL URL, not {}", redact_url(url)),
        )));
    }
    Ok(u.to_string())
}

/// Whether a database URL holds a password.
pub fn url_has_password(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| u.password().is_some())
}

/// What to say about connecting to PostgreSQL at `url` without verifying the server: a remote
/// host reached with `sslmode` other than `verify-full` (or `verify-ca`) can be impersonated by
/// anyone on the path. `None` for loopback, a Unix socket, or a verified connection.
pub fn postgres_tls_warning(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "postgres" | "postgresql") {
        return None;
    }
    let host = u
        .query_pairs()
        .find(|(k, _)| k == "host")
        .map(|(_, v)| v.into_owned())
        .or_else(|| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let local = host.is_empty()
        || host.starts_with('/')
        || host == "localhost"
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if local {
        return None;
    }
    let mode = u
        .query_pairs()
        .find(|(k, _)| k == "sslmode")
        .map(|(_, v)| v.to_ascii_lowercase())
        .unwrap_or_else(|| "prefer".into());
    if matches!(mode.as_str(), "verify-full" | "verify-ca") {
        return None;
    }
    Some(format!(
        "PostgreSQL at {host} is reached with sslmode={mode}, which does not verify the server: anyone on the network path could pose as it; add ?sslmode=verify-full to the database URL"
    ))
}

pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

pub(crate) fn lease_until(now: DateTime<Utc>, lease: Duration) -> i64 {
    to_ms(now).saturating_add(lease.as_millis().min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod url_tests {
    use super::{postgres_tls_warning, redact_url};

    #[test]
    fn passwords_leave_urls_shown_in_messages() {
        for (url, shown) in [
            ("postgres://ftpman:hunter2@db/ftpman", "postgres://ftpman:***@db/ftpman"),
            (
                "postgres://db/ftpman?user=f&password=hunter2",
                "postgres://db/ftpman?user=f&password=***",
            ),
            (
                "postgres://db/x?sslpassword=hunter2&sslmode=require",
                "postgres://db/x?sslpassword=***&sslmode=require",
            ),
            ("sqlite://ftpman.db", "sqlite://ftpman.db"),
            ("weird://us:hunter2@h o st/", "weird://***@h o st/"),
        ] {
            assert_eq!(redact_url(url), shown);
            assert!(!redact_url(url).contains("hunter2"));
        }
    }

    #[test]
    fn a_password_from_a_file_goes_into_the_url() {
        let url = super::with_password("postgres://ftpman@db/ftpman", "p@ss:w/rd").unwrap();
        assert_eq!(url::Url::parse(&url).unwrap().password(), Some("p%40ss%3Aw%2Frd"));
        assert!(super::url_has_password(&url) && !super::url_has_password("postgres://u@db/x"));
        assert!(super::with_password("postgres://u:x@db/f", "y").is_err());
        assert!(super::with_password("sqlite://ftpman.db", "y").is_err());
    }

    #[test]
    fn an_unverified_remote_postgres_is_warned_about() {
        assert!(
            postgres_tls_warning("postgres://u@db.example.com/ftpman").is_some_and(|w| w.contains("sslmode=prefer"))
        );
        assert!(
            postgres_tls_warning("postgres://u@10.0.0.5/f?sslmode=require").is_some_and(|w| w.contains("verify-full"))
        );
        assert!(postgres_tls_warning("postgres://u@db.example.com/f?sslmode=verify-full").is_none());
        assert!(postgres_tls_warning("postgres://u@127.0.0.1:5432/f").is_none());
        assert!(postgres_tls_warning("postgres://u@[::1]/f").is_none());
        assert!(postgres_tls_warning("postgres://u@localhost/f").is_none());
        assert!(postgres_tls_warning("postgres:///f?host=/run/postgresql").is_none());
        assert!(postgres_tls_warning("sqlite://x.db").is_none());
    }
}
