//! The [`Store`] trait and its two sqlx implementations: SQLite (the embedded default) and
//! PostgreSQL (production, and several nodes sharing one database).
//!
//! Both backends run the same SQL (written once in `sql.rs`; `$1` placeholders work in both)
//! except where the databases really differ: the DDL, and claiming a run (`FOR UPDATE SKIP
//! LOCKED` on PostgreSQL; SQLite serialises writers). Times are stored as Unix milliseconds.
//! Secrets are sealed by the store itself, so no caller can write one in clear by mistake.

mod groups;
mod postgres;
mod sql;
mod sqlite;

#[cfg(test)]
mod tests;

pub use groups::GroupStore;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use crate::model::*;
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

/// Persistent state of ftpman. Every frontend and the engine go through this trait; the
/// aggregates split off so far ([`GroupStore`]) are part of it.
#[async_trait]
pub trait Store: GroupStore + Send + Sync + 'static {
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// Closes the connection pool.
    async fn close(&self);
    /// Claims the database for this node's scheduler. An embedded SQLite database serves one
    /// node: a second process pointed at it is refused with a clear error. PostgreSQL takes any
    /// number of nodes.
    fn claim_single_node(&self) -> StoreResult<()>;

    /// Saves a new site; its name must be free.
    async fn create_site(&self, site: &Site) -> StoreResult<Site>;
    /// Saves changes to a site (matched by id).
    async fn update_site(&self, site: &Site) -> StoreResult<Site>;
    /// A site by name.
    async fn site(&self, name: &str) -> StoreResult<Site>;
    /// A site by id.
    async fn site_by_id(&self, id: i64) -> StoreResult<Site>;
    /// Every site, by name.
    async fn sites(&self) -> StoreResult<Vec<Site>>;
    /// Removes a site no job uses.
    async fn delete_site(&self, name: &str) -> StoreResult<()>;

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
    /// A cheap summary that changes whenever a job is added, changed or removed (count and
    /// latest change), so a scheduler can keep its job list until it does.
    async fn jobs_fingerprint(&self) -> StoreResult<(i64, i64)>;

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
    /// entry, in one transaction: [`Store::record_files`] of one.
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

    /// A setting by key.
    async fn setting(&self, key: &str) -> StoreResult<Option<Setting>>;
    /// Creates or replaces a setting (sealed when secret).
    async fn set_setting(&self, setting: &Setting) -> StoreResult<()>;
    /// Every setting, by key.
    async fn settings(&self) -> StoreResult<Vec<Setting>>;
    /// Removes a setting; `false` when there was none.
    async fn delete_setting(&self, key: &str) -> StoreResult<bool>;

    /// Appends to the system log; returns the entry's id.
    async fn append_log(&self, entry: &LogEntry) -> StoreResult<i64>;
    /// System log entries, newest first, filtered and paged.
    async fn logs(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>>;

    /// Runs, successes, failures and bytes per UTC day since `since`.
    async fn daily_stats(&self, since: DateTime<Utc>) -> StoreResult<Vec<DayStats>>;
    /// Removes finished runs and log entries older than `cutoff`, but for each job's last fire
    /// (what the scheduler continues from).
    async fn purge_older_than(&self, cutoff: DateTime<Utc>) -> StoreResult<PurgeReport>;

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

    /// Records a site's connection test, replacing the one before.
    async fn record_site_test(&self, test: &SiteTestRecord) -> StoreResult<()>;
    /// The last connection test of every site tested.
    async fn site_tests(&self) -> StoreResult<Vec<SiteTestRecord>>;

    /// Saves a new web user.
    async fn create_user(&self, user: &User) -> StoreResult<User>;
    /// A user by name.
    async fn user(&self, username: &str) -> StoreResult<User>;
    /// Every user, by name.
    async fn users(&self) -> StoreResult<Vec<User>>;
    /// Removes a user (their tokens and sessions go with them).
    async fn delete_user(&self, username: &str) -> StoreResult<()>;
    /// Saves a user's role and password hash; with `end_sessions`, their web sessions end.
    async fn update_user(&self, user: &User, end_sessions: bool) -> StoreResult<User>;

    /// Saves a new API token of `user_id`, by the hash of its secret.
    async fn create_token(
        &self,
        user_id: i64,
        name: &str,
        role: UserRole,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<ApiToken>;
    /// Every API token (never a secret: those are not stored).
    async fn tokens(&self) -> StoreResult<Vec<ApiToken>>;
    /// Removes a token; `false` when there was none with that id.
    async fn delete_token(&self, id: i64) -> StoreResult<bool>;
    /// The token whose secret hashes to `token_hash` (noting its use at `now`).
    async fn use_token(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<ApiToken>>;
    /// Saves a web session of `user_id`, by the hash of its secret, ending at `expires_at`
    /// whatever its use.
    async fn create_session(
        &self,
        user_id: i64,
        token_hash: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The user of the session whose secret hashes to `token_hash`, if it has not expired and
    /// was used within `idle`; its use at `now` is noted.
    async fn use_session(&self, token_hash: &str, now: DateTime<Utc>, idle: Duration) -> StoreResult<Option<User>>;
    /// Ends a session; `false` when there was none.
    async fn delete_session(&self, token_hash: &str) -> StoreResult<bool>;
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
