//! What the SQL of every aggregate shares: the column lists, the claim statement (the one place
//! where SQLite and PostgreSQL need different SQL), conversions and sealing; and
//! `impl_sql_store!`, which gives a store type holding `pool` and `cipher` its row mappers and
//! key check and implements the umbrella [`Store`] (backend, close, single-node claim,
//! retention). Each aggregate's queries are in its own file (`sites.rs`, `runs.rs`...).

macro_rules! site_cols {
    () => {
        "id, name, protocol, host, port, username, password_enc, private_key_enc, key_passphrase_enc, root, passive, \
         host_key, cert_fingerprint, insecure_skip_verify, connect_timeout_secs, max_connections, created_at, updated_at"
    };
}

macro_rules! job_cols {
    () => {
        "id, name, enabled, source_site_id, source_path, target_site_id, target_path, include_globs, exclude_globs, \
         recurse_dirs, min_age_secs, max_age_secs, conflict, after_action, atomic, parallel, retries, retry_backoff_secs, \
         file_timeout_secs, bwlimit, schedule_kind, schedule_expr, schedule_tz, schedule_at, notify, recipients, \
         created_at, updated_at, date_window, name_date, zone"
    };
}

macro_rules! run_cols {
    () => {
        "id, job_id, run_trigger, scheduled_for, created_at, started_at, finished_at, status, found, transferred, \
         skipped, failed, bytes, error, node_id, lease_expires_at, dry_run, cancel_requested, active_files, reference_at, \
         again, date_window, undated, group_run_id"
    };
}

macro_rules! run_file_cols {
    () => {
        "id, run_id, source_path, target_path, size, bytes, duration_ms, status, error"
    };
}

/// Records a delivery in the ledger, or updates the entry of a file delivered before.
macro_rules! ledger_upsert_sql {
    () => {
        "INSERT INTO ledger (job_id, source_path, size, mtime, delivered_at, run_id, target_path, mtime_granularity, \
         after_pending, mtime_nanos) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (job_id, source_path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, \
         delivered_at = excluded.delivered_at, run_id = excluded.run_id, target_path = excluded.target_path, \
         mtime_granularity = excluded.mtime_granularity, after_pending = excluded.after_pending, \
         mtime_nanos = excluded.mtime_nanos"
    };
}

/// What forgetting a delivery leaves of its ledger entry: where the copy went (so that
/// `replace-own` still knows it for this job's), and no size or time any listed file matches.
macro_rules! forget_sql {
    () => {
        "size = -1, mtime = NULL, after_pending = FALSE"
    };
}

macro_rules! ledger_cols {
    () => {
        "job_id, source_path, size, mtime, delivered_at, run_id, target_path, mtime_granularity, after_pending, \
         mtime_nanos"
    };
}

/// Locks a run's row for the transaction it opens, if this node holds the run: every write of
/// a run's outcome passes it, so a node whose lease ran out (and whose run another node may
/// have taken over) writes nothing more.
macro_rules! hold_sql {
    () => {
        "UPDATE runs SET lease_expires_at = lease_expires_at WHERE id = $1 AND node_id = $2 AND status = 'running'"
    };
}

/// The claim statement shared by both backends, with `$lock` after the inner SELECT
/// (`FOR UPDATE SKIP LOCKED` on PostgreSQL, nothing on SQLite).
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "UPDATE runs SET status = 'running', node_id = $1, started_at = $2, lease_expires_at = $3 \
             WHERE id = (SELECT r.id FROM runs r WHERE r.status = 'queued' \
             AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.job_id = r.job_id AND x.status = 'running') \
             ORDER BY r.id LIMIT 1 ",
            $lock,
            ") AND status = 'queued' RETURNING ",
            run_cols!()
        )
    };
}

/// The names every aggregate's SQL uses, brought into the block each `impl_*_store!` expands
/// in (a block of its own, so that the aggregates' names never clash).
macro_rules! sql_prelude {
    () => {
        #[allow(unused_imports)]
        use chrono::{DateTime, Utc};
        #[allow(unused_imports)]
        use sqlx::Row as _;
        #[allow(unused_imports)]
        use std::time::Duration;
        #[allow(unused_imports)]
        use $crate::model::*;
        #[allow(unused_imports)]
        use $crate::secrets::{Cipher, Secret};
        #[allow(unused_imports)]
        use $crate::store::sql::*;
        #[allow(unused_imports)]
        use $crate::store::{
            ClusterStore, GroupStore, JobStore, LedgerStore, RunStore, SettingStore, SiteStore, StoreError,
            StoreResult, UserStore, from_ms, lease_until, to_ms,
        };
    };
}

pub(crate) use {
    claim_sql, forget_sql, hold_sql, job_cols, ledger_cols, ledger_upsert_sql, run_cols, run_file_cols, site_cols,
    sql_prelude,
};

use super::{StoreError, StoreResult, from_ms};
use crate::model::*;
use crate::secrets::{Cipher, Secret};
use chrono_tz::Tz;
use std::time::Duration;

/// Maps a driver error to a [`StoreError`] that says what the store was doing.
pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Database { context, source }
}

/// Whether a driver error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

/// The row a claim or start returned, mapped; `None` when nothing was there to take or a unique
/// index refused it, which means another node or run took it at the same instant (one run of a
/// job, one of a group, one per fire). The caller polls again.
pub(crate) fn unless_taken<R, T>(
    row: Result<Option<R>, sqlx::Error>,
    map: impl FnOnce(&R) -> StoreResult<T>,
    what: impl Into<String>,
) -> StoreResult<Option<T>> {
    match row {
        Ok(row) => row.as_ref().map(map).transpose(),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(db(what)(e)),
    }
}

/// Extends the lease on a running row of `$table` (runs, group runs) held by `$node`:
/// whether the node still held it.
macro_rules! renew_lease_in {
    ($pool:expr, $table:literal, $id:expr, $node:expr, $until:expr, $what:expr) => {
        sqlx::query(concat!(
            "UPDATE ",
            $table,
            " SET lease_expires_at = $3 WHERE id = $1 AND node_id = $2 AND status = 'running'"
        ))
        .bind($id)
        .bind($node)
        .bind($until)
        .execute($pool)
        .await
        .map(|done| done.rows_affected() == 1)
        .map_err(db($what))
    };
}
pub(crate) use renew_lease_in;

/// What a failed save of the `kind` named `name` says: the name taken, or what the database
/// said.
pub(crate) fn saving<'a>(kind: &'static str, name: &'a str) -> impl FnOnce(sqlx::Error) -> StoreError + 'a {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Exists {
                kind,
                name: name.to_string(),
            }
        } else {
            db(format!("saving {kind} '{name}'"))(e)
        }
    }
}

pub(crate) fn corrupt(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

pub(crate) fn parse_stored<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| corrupt(what, e))
}

pub(crate) fn seal_opt(cipher: &Cipher, s: &Option<Secret>) -> Option<String> {
    s.as_ref().map(|s| cipher.seal_secret(s))
}

pub(crate) fn open_opt(cipher: &Cipher, sealed: Option<String>, what: &str) -> Result<Option<Secret>, StoreError> {
    sealed
        .map(|s| cipher.open_secret(&s, what))
        .transpose()
        .map_err(StoreError::from)
}

pub(crate) fn secs(d: Duration) -> i64 {
    d.as_secs().min(i64::MAX as u64) as i64
}

pub(crate) fn from_secs(what: &str, v: i64) -> Result<Duration, StoreError> {
    u64::try_from(v)
        .map(Duration::from_secs)
        .map_err(|_| corrupt(what, "negative duration"))
}

pub(crate) fn to_json(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

pub(crate) fn from_json(what: &str, text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str::<Vec<String>>(text).map_err(|e| corrupt(what, e))
}

/// The stored columns of a schedule: kind, expression, zone, instant.
pub(crate) fn schedule_columns(s: &Schedule) -> (&'static str, Option<String>, Option<String>, Option<i64>) {
    match s {
        Schedule::Manual => ("manual", None, None, None),
        Schedule::Cron { expr, tz } => ("cron", Some(expr.clone()), Some(tz.name().to_string()), None),
        Schedule::Once { at } => ("once", None, None, Some(super::to_ms(*at))),
    }
}

pub(crate) fn schedule_from_columns(
    job: &str,
    kind: &str,
    expr: Option<String>,
    tz: Option<String>,
    at: Option<i64>,
) -> Result<Schedule, StoreError> {
    let what = format!("schedule of job '{job}'");
    match (kind, expr, tz, at) {
        ("manual", ..) => Ok(Schedule::Manual),
        ("cron", Some(expr), Some(tz), _) => Ok(Schedule::Cron {
            expr,
            tz: tz.parse::<Tz>().map_err(|e| corrupt(&what, e))?,
        }),
        ("once", _, _, Some(at)) => Ok(Schedule::Once { at: from_ms(at) }),
        (other, ..) => Err(corrupt(&what, format!("kind '{other}' with missing fields"))),
    }
}

macro_rules! impl_sql_store {
    ($store:ty, $row:ty, $backend:expr, $claim:expr) => {
        use chrono::{DateTime, Utc};
        use sqlx::Row as _;
        use std::time::Duration;
        use $crate::model::*;
        use $crate::secrets::{Cipher, KEY_CHECK_PLAINTEXT, KeySource, SecretError};
        use $crate::store::sql::*;
        use $crate::store::{Backend, PurgeReport, Store, StoreResult, from_ms, to_ms};

        impl $store {
            /// Creates the per-database salt and key check value on first use, derives the key,
            /// and proves it against the key check value.
            async fn init_cipher(
                pool: &sqlx::Pool<<$row as sqlx::Row>::Database>,
                source: &KeySource,
            ) -> StoreResult<Cipher> {
                let mut salt = [0u8; 16];
                getrandom::fill(&mut salt).map_err(|e| corrupt("salt", e))?;
                let salt_hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
                sqlx::query("INSERT INTO meta (key, value) VALUES ('kdf_salt', $1) ON CONFLICT (key) DO NOTHING")
                    .bind(salt_hex)
                    .execute(pool)
                    .await
                    .map_err(db("creating the key salt"))?;
                let salt: String = sqlx::query("SELECT value FROM meta WHERE key = 'kdf_salt'")
                    .fetch_one(pool)
                    .await
                    .map_err(db("reading the key salt"))?
                    .try_get("value")
                    .map_err(db("reading the key salt"))?;
                let key = $crate::secrets::resolve_key(source, salt.as_bytes())?;
                let cipher = Cipher::new(&key);
                sqlx::query("INSERT INTO meta (key, value) VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING")
                    .bind(cipher.seal(KEY_CHECK_PLAINTEXT))
                    .execute(pool)
                    .await
                    .map_err(db("creating the key check value"))?;
                let check: String = sqlx::query("SELECT value FROM meta WHERE key = 'key_check'")
                    .fetch_one(pool)
                    .await
                    .map_err(db("reading the key check value"))?
                    .try_get("value")
                    .map_err(db("reading the key check value"))?;
                match cipher.open(&check, "key check value") {
                    Ok(plain) if plain == KEY_CHECK_PLAINTEXT => Ok(cipher),
                    _ => Err(SecretError::WrongKey {
                        variable: source.describe(),
                    }
                    .into()),
                }
            }

            fn site_from_row(&self, r: &$row) -> StoreResult<Site> {
                let name: String = r.try_get("name").map_err(db("reading a site"))?;
                let what = |field: &str| format!("site '{name}' {field}");
                Ok(Site {
                    id: r.try_get("id").map_err(db("reading a site"))?,
                    protocol: parse_stored(
                        &what("protocol"),
                        &r.try_get::<String, _>("protocol").map_err(db("reading a site"))?,
                    )?,
                    host: r.try_get("host").map_err(db("reading a site"))?,
                    port: u16::try_from(r.try_get::<i64, _>("port").map_err(db("reading a site"))?)
                        .map_err(|e| corrupt(&what("port"), e))?,
                    username: r.try_get("username").map_err(db("reading a site"))?,
                    password: open_opt(
                        &self.cipher,
                        r.try_get("password_enc").map_err(db("reading a site"))?,
                        &what("password"),
                    )?,
                    private_key: open_opt(
                        &self.cipher,
                        r.try_get("private_key_enc").map_err(db("reading a site"))?,
                        &what("private key"),
                    )?,
                    key_passphrase: open_opt(
                        &self.cipher,
                        r.try_get("key_passphrase_enc").map_err(db("reading a site"))?,
                        &what("key passphrase"),
                    )?,
                    root: r.try_get("root").map_err(db("reading a site"))?,
                    passive: r.try_get("passive").map_err(db("reading a site"))?,
                    host_key: r.try_get("host_key").map_err(db("reading a site"))?,
                    cert_fingerprint: r.try_get("cert_fingerprint").map_err(db("reading a site"))?,
                    insecure_skip_verify: r.try_get("insecure_skip_verify").map_err(db("reading a site"))?,
                    connect_timeout: from_secs(
                        &what("timeout"),
                        r.try_get("connect_timeout_secs").map_err(db("reading a site"))?,
                    )?,
                    max_connections: u32::try_from(
                        r.try_get::<i64, _>("max_connections")
                            .map_err(db("reading a site"))?,
                    )
                    .map_err(|e| corrupt(&what("max_connections"), e))?,
                    created_at: from_ms(r.try_get("created_at").map_err(db("reading a site"))?),
                    updated_at: from_ms(r.try_get("updated_at").map_err(db("reading a site"))?),
                    name,
                })
            }

            fn job_from_row(r: &$row) -> StoreResult<Job> {
                let e = || db("reading a job");
                let name: String = r.try_get("name").map_err(e())?;
                let what = |field: &str| format!("job '{name}' {field}");
                let max_age: Option<i64> = r.try_get("max_age_secs").map_err(e())?;
                let bwlimit: Option<i64> = r.try_get("bwlimit").map_err(e())?;
                let schedule = schedule_from_columns(
                    &name,
                    &r.try_get::<String, _>("schedule_kind").map_err(e())?,
                    r.try_get("schedule_expr").map_err(e())?,
                    r.try_get("schedule_tz").map_err(e())?,
                    r.try_get("schedule_at").map_err(e())?,
                )?;
                Ok(Job {
                    id: r.try_get("id").map_err(e())?,
                    enabled: r.try_get("enabled").map_err(e())?,
                    source_site_id: r.try_get("source_site_id").map_err(e())?,
                    source_path: r.try_get("source_path").map_err(e())?,
                    target_site_id: r.try_get("target_site_id").map_err(e())?,
                    target_path: r.try_get("target_path").map_err(e())?,
                    include: from_json(
                        &what("include"),
                        &r.try_get::<String, _>("include_globs").map_err(e())?,
                    )?,
                    exclude: from_json(
                        &what("exclude"),
                        &r.try_get::<String, _>("exclude_globs").map_err(e())?,
                    )?,
                    recursive: r.try_get("recurse_dirs").map_err(e())?,
                    min_age: from_secs(&what("min_age"), r.try_get("min_age_secs").map_err(e())?)?,
                    max_age: max_age.map(|v| from_secs(&what("max_age"), v)).transpose()?,
                    conflict: parse_stored(
                        &what("on_conflict"),
                        &r.try_get::<String, _>("conflict").map_err(e())?,
                    )?,
                    after: AfterAction::parse(&r.try_get::<String, _>("after_action").map_err(e())?)
                        .map_err(|err| corrupt(&what("after"), err))?,
                    atomic: r.try_get("atomic").map_err(e())?,
                    parallel: u32::try_from(r.try_get::<i64, _>("parallel").map_err(e())?)
                        .map_err(|x| corrupt(&what("parallel"), x))?,
                    retries: u32::try_from(r.try_get::<i64, _>("retries").map_err(e())?)
                        .map_err(|x| corrupt(&what("retries"), x))?,
                    retry_backoff: from_secs(
                        &what("retry_backoff"),
                        r.try_get("retry_backoff_secs").map_err(e())?,
                    )?,
                    file_timeout: from_secs(
                        &what("file_timeout"),
                        r.try_get("file_timeout_secs").map_err(e())?,
                    )?,
                    bwlimit: bwlimit
                        .map(|v| u64::try_from(v).map_err(|x| corrupt(&what("bwlimit"), x)))
                        .transpose()?,
                    schedule,
                    notify: parse_stored(&what("notify"), &r.try_get::<String, _>("notify").map_err(e())?)?,
                    recipients: from_json(
                        &what("recipients"),
                        &r.try_get::<String, _>("recipients").map_err(e())?,
                    )?,
                    created_at: from_ms(r.try_get("created_at").map_err(e())?),
                    updated_at: from_ms(r.try_get("updated_at").map_err(e())?),
                    window: r
                        .try_get::<Option<String>, _>("date_window")
                        .map_err(e())?
                        .map(|w| DateWindow::parse(&w).map_err(|err| corrupt(&what("window"), err)))
                        .transpose()?,
                    zone: r
                        .try_get::<Option<String>, _>("zone")
                        .map_err(e())?
                        .map(|z| parse_stored::<chrono_tz::Tz>(&what("zone"), &z))
                        .transpose()?,
                    name_date: r
                        .try_get::<Option<String>, _>("name_date")
                        .map_err(e())?
                        .map(|p| NameDate::parse(&p).map_err(|err| corrupt(&what("name_date"), err)))
                        .transpose()?,
                    name,
                })
            }

            fn run_from_row(r: &$row) -> StoreResult<Run> {
                let e = || db("reading a run");
                let opt_time = |col: &str| -> StoreResult<Option<DateTime<Utc>>> {
                    Ok(r.try_get::<Option<i64>, _>(col).map_err(e())?.map(from_ms))
                };
                Ok(Run {
                    id: r.try_get("id").map_err(e())?,
                    job_id: r.try_get("job_id").map_err(e())?,
                    trigger: parse_stored(
                        "run trigger",
                        &r.try_get::<String, _>("run_trigger").map_err(e())?,
                    )?,
                    scheduled_for: opt_time("scheduled_for")?,
                    created_at: from_ms(r.try_get("created_at").map_err(e())?),
                    started_at: opt_time("started_at")?,
                    finished_at: opt_time("finished_at")?,
                    status: parse_stored("run status", &r.try_get::<String, _>("status").map_err(e())?)?,
                    counts: RunCounts {
                        found: r.try_get("found").map_err(e())?,
                        transferred: r.try_get("transferred").map_err(e())?,
                        skipped: r.try_get("skipped").map_err(e())?,
                        failed: r.try_get("failed").map_err(e())?,
                        bytes: r.try_get("bytes").map_err(e())?,
                        undated: r.try_get("undated").map_err(e())?,
                    },
                    as_of: opt_time("reference_at")?,
                    again: r.try_get("again").map_err(e())?,
                    window: r.try_get("date_window").map_err(e())?,
                    group_run_id: r.try_get("group_run_id").map_err(e())?,
                    error: r.try_get("error").map_err(e())?,
                    node_id: r.try_get("node_id").map_err(e())?,
                    lease_expires_at: opt_time("lease_expires_at")?,
                    dry_run: r.try_get("dry_run").map_err(e())?,
                    cancel_requested: r.try_get("cancel_requested").map_err(e())?,
                    active_files: match r.try_get::<Option<String>, _>("active_files").map_err(e())? {
                        Some(text) => serde_json::from_str(&text).map_err(|err| corrupt("run's active files", err))?,
                        None => Vec::new(),
                    },
                })
            }

            fn run_file_from_row(r: &$row) -> StoreResult<RunFile> {
                let e = || db("reading a run file");
                Ok(RunFile {
                    id: r.try_get("id").map_err(e())?,
                    run_id: r.try_get("run_id").map_err(e())?,
                    source_path: r.try_get("source_path").map_err(e())?,
                    target_path: r.try_get("target_path").map_err(e())?,
                    size: r.try_get("size").map_err(e())?,
                    bytes: r.try_get("bytes").map_err(e())?,
                    duration: Duration::from_millis(
                        u64::try_from(r.try_get::<i64, _>("duration_ms").map_err(e())?).unwrap_or(0),
                    ),
                    status: parse_stored("run file status", &r.try_get::<String, _>("status").map_err(e())?)?,
                    error: r.try_get("error").map_err(e())?,
                })
            }

            fn ledger_from_row(r: &$row) -> StoreResult<LedgerEntry> {
                let e = || db("reading the ledger");
                Ok(LedgerEntry {
                    job_id: r.try_get("job_id").map_err(e())?,
                    source_path: r.try_get("source_path").map_err(e())?,
                    size: r.try_get("size").map_err(e())?,
                    mtime: r.try_get("mtime").map_err(e())?,
                    delivered_at: from_ms(r.try_get("delivered_at").map_err(e())?),
                    run_id: r.try_get("run_id").map_err(e())?,
                    target_path: r.try_get("target_path").map_err(e())?,
                    mtime_granularity: u32::try_from(r.try_get::<i64, _>("mtime_granularity").map_err(e())?)
                        .unwrap_or(1),
                    after_pending: r.try_get("after_pending").map_err(e())?,
                    mtime_nanos: u32::try_from(r.try_get::<i64, _>("mtime_nanos").map_err(e())?).unwrap_or(0),
                })
            }

            fn setting_from_row(&self, r: &$row) -> StoreResult<Setting> {
                let e = || db("reading a setting");
                let key: String = r.try_get("key").map_err(e())?;
                let secret: bool = r.try_get("secret").map_err(e())?;
                let stored: String = r.try_get("value").map_err(e())?;
                let value = if secret {
                    self.cipher.open_secret(&stored, &format!("setting {key}"))?
                } else {
                    $crate::secrets::Secret::new(stored)
                };
                Ok(Setting { key, value, secret })
            }

            fn log_from_row(r: &$row) -> StoreResult<LogEntry> {
                let e = || db("reading the system log");
                let context: String = r.try_get("context").map_err(e())?;
                Ok(LogEntry {
                    id: r.try_get("id").map_err(e())?,
                    time: from_ms(r.try_get("time").map_err(e())?),
                    level: parse_stored("log level", &r.try_get::<String, _>("level").map_err(e())?)?,
                    component: r.try_get("component").map_err(e())?,
                    message: r.try_get("message").map_err(e())?,
                    context: serde_json::from_str(&context).unwrap_or(serde_json::Value::Null),
                })
            }

            fn token_from_row(r: &$row) -> StoreResult<ApiToken> {
                let e = || db("reading an API token");
                Ok(ApiToken {
                    id: r.try_get("id").map_err(e())?,
                    username: r.try_get("username").map_err(e())?,
                    name: r.try_get("name").map_err(e())?,
                    role: parse_stored("token role", &r.try_get::<String, _>("role").map_err(e())?)?,
                    created_at: from_ms(r.try_get("created_at").map_err(e())?),
                    last_used_at: r
                        .try_get::<Option<i64>, _>("last_used_at")
                        .map_err(e())?
                        .map(from_ms),
                })
            }

            fn user_from_row(r: &$row) -> StoreResult<User> {
                let e = || db("reading a user");
                Ok(User {
                    id: r.try_get("id").map_err(e())?,
                    username: r.try_get("username").map_err(e())?,
                    password_hash: r.try_get("password_hash").map_err(e())?,
                    role: parse_stored("user role", &r.try_get::<String, _>("role").map_err(e())?)?,
                    created_at: from_ms(r.try_get("created_at").map_err(e())?),
                })
            }
        }

        #[async_trait::async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            fn claim_single_node(&self) -> StoreResult<()> {
                self.claim_node_lock()
            }

            async fn purge_older_than(&self, cutoff: DateTime<Utc>) -> StoreResult<PurgeReport> {
                // Each job's last fire stays: the scheduler continues from it, and a one-time job
                // whose fire was purged would otherwise run again.
                let runs = sqlx::query(
                    "DELETE FROM runs WHERE created_at < $1 AND status NOT IN ('queued', 'running') \
                     AND (scheduled_for IS NULL OR scheduled_for < \
                     (SELECT MAX(last.scheduled_for) FROM runs last WHERE last.job_id = runs.job_id))",
                )
                .bind(to_ms(cutoff))
                .execute(&self.pool)
                .await
                .map_err(db("removing old runs"))?
                .rows_affected();
                let logs = sqlx::query("DELETE FROM system_log WHERE time < $1")
                    .bind(to_ms(cutoff))
                    .execute(&self.pool)
                    .await
                    .map_err(db("removing old log entries"))?
                    .rows_affected();
                Ok(PurgeReport { runs, logs })
            }
        }
    };
}

pub(crate) use impl_sql_store;
