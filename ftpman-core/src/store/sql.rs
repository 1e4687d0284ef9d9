//! The SQL both backends share, written once: `impl_sql_store!` implements [`Store`] for a store
//! type holding `pool` and `cipher`, given its row type and the claim statement (the one place
//! where SQLite and PostgreSQL need different SQL).

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
         created_at, updated_at, date_window, name_date"
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
         after_pending) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (job_id, source_path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, \
         delivered_at = excluded.delivered_at, run_id = excluded.run_id, target_path = excluded.target_path, \
         mtime_granularity = excluded.mtime_granularity, after_pending = excluded.after_pending"
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
        "job_id, source_path, size, mtime, delivered_at, run_id, target_path, mtime_granularity, after_pending"
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

pub(crate) use {
    claim_sql, forget_sql, hold_sql, job_cols, ledger_cols, ledger_upsert_sql, run_cols, run_file_cols, site_cols,
};

use super::{StoreError, from_ms};
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
        use $crate::store::sql::*;
        use $crate::store::{lease_until, to_ms, from_ms, Backend, PurgeReport, Store, StoreError, StoreResult};
        use $crate::model::*;
        use $crate::secrets::{Cipher, KeySource, SecretError, KEY_CHECK_PLAINTEXT};
        use chrono::{DateTime, Utc};
        use sqlx::Row as _;
        use std::time::Duration;

        impl $store {
            /// Creates the per-database salt and key check value on first use, derives the key,
            /// and proves it against the key check value.
            async fn init_cipher(pool: &sqlx::Pool<<$row as sqlx::Row>::Database>, source: &KeySource) -> StoreResult<Cipher> {
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
                    _ => Err(SecretError::WrongKey { variable: source.describe() }.into()),
                }
            }

            fn site_from_row(&self, r: &$row) -> StoreResult<Site> {
                let name: String = r.try_get("name").map_err(db("reading a site"))?;
                let what = |field: &str| format!("site '{name}' {field}");
                Ok(Site {
                    id: r.try_get("id").map_err(db("reading a site"))?,
                    protocol: parse_stored(&what("protocol"), &r.try_get::<String, _>("protocol").map_err(db("reading a site"))?)?,
                    host: r.try_get("host").map_err(db("reading a site"))?,
                    port: u16::try_from(r.try_get::<i64, _>("port").map_err(db("reading a site"))?)
                        .map_err(|e| corrupt(&what("port"), e))?,
                    username: r.try_get("username").map_err(db("reading a site"))?,
                    password: open_opt(&self.cipher, r.try_get("password_enc").map_err(db("reading a site"))?, &what("password"))?,
                    private_key: open_opt(&self.cipher, r.try_get("private_key_enc").map_err(db("reading a site"))?, &what("private key"))?,
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
                    connect_timeout: from_secs(&what("timeout"), r.try_get("connect_timeout_secs").map_err(db("reading a site"))?)?,
                    max_connections: u32::try_from(r.try_get::<i64, _>("max_connections").map_err(db("reading a site"))?)
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
                    include: from_json(&what("include"), &r.try_get::<String, _>("include_globs").map_err(e())?)?,
                    exclude: from_json(&what("exclude"), &r.try_get::<String, _>("exclude_globs").map_err(e())?)?,
                    recursive: r.try_get("recurse_dirs").map_err(e())?,
                    min_age: from_secs(&what("min_age"), r.try_get("min_age_secs").map_err(e())?)?,
                    max_age: max_age.map(|v| from_secs(&what("max_age"), v)).transpose()?,
                    conflict: parse_stored(&what("on_conflict"), &r.try_get::<String, _>("conflict").map_err(e())?)?,
                    after: AfterAction::parse(&r.try_get::<String, _>("after_action").map_err(e())?)
                        .map_err(|err| corrupt(&what("after"), err))?,
                    atomic: r.try_get("atomic").map_err(e())?,
                    parallel: u32::try_from(r.try_get::<i64, _>("parallel").map_err(e())?).map_err(|x| corrupt(&what("parallel"), x))?,
                    retries: u32::try_from(r.try_get::<i64, _>("retries").map_err(e())?).map_err(|x| corrupt(&what("retries"), x))?,
                    retry_backoff: from_secs(&what("retry_backoff"), r.try_get("retry_backoff_secs").map_err(e())?)?,
                    file_timeout: from_secs(&what("file_timeout"), r.try_get("file_timeout_secs").map_err(e())?)?,
                    bwlimit: bwlimit.map(|v| u64::try_from(v).map_err(|x| corrupt(&what("bwlimit"), x))).transpose()?,
                    schedule,
                    notify: parse_stored(&what("notify"), &r.try_get::<String, _>("notify").map_err(e())?)?,
                    recipients: from_json(&what("recipients"), &r.try_get::<String, _>("recipients").map_err(e())?)?,
                    created_at: from_ms(r.try_get("created_at").map_err(e())?),
                    updated_at: from_ms(r.try_get("updated_at").map_err(e())?),
                    window: r.try_get::<Option<String>, _>("date_window").map_err(e())?
                        .map(|w| DateWindow::parse(&w).map_err(|err| corrupt(&what("window"), err)))
                        .transpose()?,
                    name_date: r.try_get::<Option<String>, _>("name_date").map_err(e())?
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
                    trigger: parse_stored("run trigger", &r.try_get::<String, _>("run_trigger").map_err(e())?)?,
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
                    duration: Duration::from_millis(u64::try_from(r.try_get::<i64, _>("duration_ms").map_err(e())?).unwrap_or(0)),
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
                    mtime_granularity: u32::try_from(r.try_get::<i64, _>("mtime_granularity").map_err(e())?).unwrap_or(1),
                    after_pending: r.try_get("after_pending").map_err(e())?,
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
                    last_used_at: r.try_get::<Option<i64>, _>("last_used_at").map_err(e())?.map(from_ms),
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

            async fn create_site(&self, site: &Site) -> StoreResult<Site> {
                site.validate()?;
                let now = to_ms(Utc::now());
                let row = sqlx::query(concat!(
                    "INSERT INTO sites (name, protocol, host, port, username, password_enc, private_key_enc, key_passphrase_enc, \
                     root, passive, host_key, cert_fingerprint, insecure_skip_verify, connect_timeout_secs, max_connections, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
                     RETURNING ", site_cols!()))
                    .bind(&site.name)
                    .bind(site.protocol.as_str())
                    .bind(&site.host)
                    .bind(site.port as i64)
                    .bind(&site.username)
                    .bind(seal_opt(&self.cipher, &site.password))
                    .bind(seal_opt(&self.cipher, &site.private_key))
                    .bind(seal_opt(&self.cipher, &site.key_passphrase))
                    .bind(&site.root)
                    .bind(site.passive)
                    .bind(&site.host_key)
                    .bind(&site.cert_fingerprint)
                    .bind(site.insecure_skip_verify)
                    .bind(secs(site.connect_timeout))
                    .bind(site.max_connections as i64)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Exists { kind: "site", name: site.name.clone() }
                        } else {
                            db(format!("saving site '{}'", site.name))(e)
                        }
                    })?;
                self.site_from_row(&row)
            }

            async fn update_site(&self, site: &Site) -> StoreResult<Site> {
                site.validate()?;
                let row = sqlx::query(concat!(
                    "UPDATE sites SET name = $2, protocol = $3, host = $4, port = $5, username = $6, password_enc = $7, \
                     private_key_enc = $8, key_passphrase_enc = $9, root = $10, passive = $11, host_key = $12, \
                     cert_fingerprint = $13, insecure_skip_verify = $14, connect_timeout_secs = $15, max_connections = $16, \
                     updated_at = $17 WHERE id = $1 RETURNING ", site_cols!()))
                    .bind(site.id)
                    .bind(&site.name)
                    .bind(site.protocol.as_str())
                    .bind(&site.host)
                    .bind(site.port as i64)
                    .bind(&site.username)
                    .bind(seal_opt(&self.cipher, &site.password))
                    .bind(seal_opt(&self.cipher, &site.private_key))
                    .bind(seal_opt(&self.cipher, &site.key_passphrase))
                    .bind(&site.root)
                    .bind(site.passive)
                    .bind(&site.host_key)
                    .bind(&site.cert_fingerprint)
                    .bind(site.insecure_skip_verify)
                    .bind(secs(site.connect_timeout))
                    .bind(site.max_connections as i64)
                    .bind(to_ms(Utc::now()))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Exists { kind: "site", name: site.name.clone() }
                        } else {
                            db(format!("saving site '{}'", site.name))(e)
                        }
                    })?
                    .ok_or_else(|| StoreError::NotFound { kind: "site", name: site.name.clone() })?;
                self.site_from_row(&row)
            }

            async fn site(&self, name: &str) -> StoreResult<Site> {
                let row = sqlx::query(concat!("SELECT ", site_cols!(), " FROM sites WHERE name = $1"))
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading site '{name}'")))?
                    .ok_or_else(|| StoreError::NotFound { kind: "site", name: name.to_string() })?;
                self.site_from_row(&row)
            }

            async fn site_by_id(&self, id: i64) -> StoreResult<Site> {
                let row = sqlx::query(concat!("SELECT ", site_cols!(), " FROM sites WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading site #{id}")))?
                    .ok_or_else(|| StoreError::NotFound { kind: "site", name: format!("#{id}") })?;
                self.site_from_row(&row)
            }

            async fn sites(&self) -> StoreResult<Vec<Site>> {
                let rows = sqlx::query(concat!("SELECT ", site_cols!(), " FROM sites ORDER BY name"))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing sites"))?;
                rows.iter().map(|r| self.site_from_row(r)).collect()
            }

            async fn delete_site(&self, name: &str) -> StoreResult<()> {
                let site = self.site(name).await?;
                let users = sqlx::query("SELECT name FROM jobs WHERE source_site_id = $1 OR target_site_id = $1 ORDER BY name")
                    .bind(site.id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(format!("checking jobs of site '{name}'")))?;
                if !users.is_empty() {
                    let names: Vec<String> = users.iter().filter_map(|r| r.try_get::<String, _>("name").ok()).collect();
                    return Err(StoreError::InUse {
                        kind: "site",
                        name: name.to_string(),
                        users: format!("job(s) {}", names.join(", ")),
                    });
                }
                sqlx::query("DELETE FROM site_tests WHERE site_id = $1")
                    .bind(site.id)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("removing the test of site '{name}'")))?;
                sqlx::query("DELETE FROM sites WHERE id = $1")
                    .bind(site.id)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("removing site '{name}'")))?;
                Ok(())
            }

            async fn create_job(&self, job: &Job) -> StoreResult<Job> {
                job.validate()?;
                self.site_by_id(job.source_site_id).await?;
                self.site_by_id(job.target_site_id).await?;
                let (kind, expr, tz, at) = schedule_columns(&job.schedule);
                let now = to_ms(Utc::now());
                let row = sqlx::query(concat!(
                    "INSERT INTO jobs (name, enabled, source_site_id, source_path, target_site_id, target_path, include_globs, \
                     exclude_globs, recurse_dirs, min_age_secs, max_age_secs, conflict, after_action, atomic, parallel, retries, \
                     retry_backoff_secs, file_timeout_secs, bwlimit, schedule_kind, schedule_expr, schedule_tz, schedule_at, \
                     notify, recipients, created_at, updated_at, date_window, name_date) VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $26, $27, \
                     $28) RETURNING ", job_cols!()))
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
                    .bind(now)
                    .bind(job.window.as_ref().map(|w| w.to_string()))
                    .bind(job.name_date.as_ref().map(|p| p.to_string()))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Exists { kind: "job", name: job.name.clone() }
                        } else {
                            db(format!("saving job '{}'", job.name))(e)
                        }
                    })?;
                Self::job_from_row(&row)
            }

            async fn update_job(&self, job: &Job) -> StoreResult<Job> {
                job.validate()?;
                self.site_by_id(job.source_site_id).await?;
                self.site_by_id(job.target_site_id).await?;
                let (kind, expr, tz, at) = schedule_columns(&job.schedule);
                let row = sqlx::query(concat!(
                    "UPDATE jobs SET name = $2, enabled = $3, source_site_id = $4, source_path = $5, target_site_id = $6, \
                     target_path = $7, include_globs = $8, exclude_globs = $9, recurse_dirs = $10, min_age_secs = $11, \
                     max_age_secs = $12, conflict = $13, after_action = $14, atomic = $15, parallel = $16, retries = $17, \
                     retry_backoff_secs = $18, file_timeout_secs = $19, bwlimit = $20, schedule_kind = $21, \
                     schedule_expr = $22, schedule_tz = $23, schedule_at = $24, notify = $25, recipients = $26, \
                     updated_at = $27, date_window = $28, name_date = $29 WHERE id = $1 RETURNING ", job_cols!()))
                    .bind(job.id)
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
                    .bind(to_ms(Utc::now()))
                    .bind(job.window.as_ref().map(|w| w.to_string()))
                    .bind(job.name_date.as_ref().map(|p| p.to_string()))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| {
                        if is_unique_violation(&e) {
                            StoreError::Exists { kind: "job", name: job.name.clone() }
                        } else {
                            db(format!("saving job '{}'", job.name))(e)
                        }
                    })?
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

            async fn jobs_fingerprint(&self) -> StoreResult<(i64, i64)> {
                let row = sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS latest FROM jobs")
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

            async fn create_run(&self, new: &NewRun) -> StoreResult<Option<Run>> {
                Ok(self.create_runs(std::slice::from_ref(new)).await?.pop().flatten())
            }

            async fn create_runs(&self, news: &[NewRun]) -> StoreResult<Vec<Option<Run>>> {
                let now = to_ms(Utc::now());
                let mut tx = self.pool.begin().await.map_err(db("queueing runs"))?;
                let mut out = Vec::with_capacity(news.len());
                for new in news {
                    let finished = new.status.is_final().then_some(now);
                    let row = sqlx::query(concat!(
                        "INSERT INTO runs (job_id, run_trigger, scheduled_for, created_at, finished_at, status, dry_run, \
                         reference_at, again, group_run_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (job_id, scheduled_for) DO NOTHING RETURNING ", run_cols!()))
                        .bind(new.job_id)
                        .bind(new.trigger.as_str())
                        .bind(new.scheduled_for.map(to_ms))
                        .bind(now)
                        .bind(finished)
                        .bind(new.status.as_str())
                        .bind(new.dry_run)
                        .bind(new.as_of.map(to_ms))
                        .bind(new.again)
                        .bind(new.group_run_id)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db(format!("queueing a run of job #{}", new.job_id)))?;
                    out.push(row.as_ref().map(Self::run_from_row).transpose()?);
                }
                tx.commit().await.map_err(db("queueing runs"))?;
                Ok(out)
            }

            async fn count_runs(&self, status: RunStatus) -> StoreResult<i64> {
                sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE status = $1")
                    .bind(status.as_str())
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("counting runs"))?
                    .try_get("n")
                    .map_err(db("counting runs"))
            }

            async fn running_job_ids(&self) -> StoreResult<Vec<i64>> {
                let rows = sqlx::query("SELECT DISTINCT job_id FROM runs WHERE status = 'running'")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing running jobs"))?;
                rows.iter().map(|r| r.try_get::<i64, _>("job_id").map_err(db("listing running jobs"))).collect()
            }

            async fn run(&self, id: i64) -> StoreResult<Run> {
                let row = sqlx::query(concat!("SELECT ", run_cols!(), " FROM runs WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading run {id}")))?
                    .ok_or_else(|| StoreError::NotFound { kind: "run", name: id.to_string() })?;
                Self::run_from_row(&row)
            }

            async fn runs(&self, query: &RunQuery) -> StoreResult<Vec<Run>> {
                type Db = <$row as sqlx::Row>::Database;
                // Only the filters given, so each page is one walk down an index (runs_job,
                // runs_status or the primary key), newest first.
                let mut q = sqlx::QueryBuilder::<Db>::new(concat!("SELECT ", run_cols!(), " FROM runs WHERE TRUE"));
                if let Some(job) = query.job_id {
                    q.push(" AND job_id = ").push_bind(job);
                }
                if let Some(status) = query.status {
                    q.push(" AND status = ").push_bind(status.as_str());
                }
                if let Some(group_run) = query.group_run_id {
                    q.push(" AND group_run_id = ").push_bind(group_run);
                }
                if let Some(since) = query.since {
                    q.push(" AND created_at >= ").push_bind(to_ms(since));
                }
                if let Some(until) = query.until {
                    q.push(" AND created_at < ").push_bind(to_ms(until));
                }
                if let Some(before) = query.before_id {
                    q.push(" AND id < ").push_bind(before);
                }
                q.push(" ORDER BY id DESC LIMIT ").push_bind(query.limit.unwrap_or(50).clamp(1, 10_000));
                q.push(" OFFSET ").push_bind(query.offset.max(0));
                let rows = q.build().fetch_all(&self.pool).await.map_err(db("listing runs"))?;
                rows.iter().map(Self::run_from_row).collect()
            }

            async fn claim_run(&self, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<Run>> {
                let row = sqlx::query($claim)
                    .bind(node_id)
                    .bind(to_ms(now))
                    .bind(lease_until(now, lease))
                    .fetch_optional(&self.pool)
                    .await;
                match row {
                    Ok(row) => row.as_ref().map(Self::run_from_row).transpose(),
                    // Two nodes claimed queued runs of one job at the same instant: the index that
                    // keeps a job to one running run refused the second. Nothing is claimed now;
                    // the caller polls again.
                    Err(e) if is_unique_violation(&e) => Ok(None),
                    Err(e) => Err(db("claiming a queued run")(e)),
                }
            }

            async fn start_run(&self, run_id: i64, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<Run>> {
                let row = sqlx::query(concat!(
                    "UPDATE runs SET status = 'running', node_id = $2, started_at = $3, lease_expires_at = $4 \
                     WHERE id = $1 AND status = 'queued' RETURNING ", run_cols!()))
                    .bind(run_id)
                    .bind(node_id)
                    .bind(to_ms(now))
                    .bind(lease_until(now, lease))
                    .fetch_optional(&self.pool)
                    .await;
                match row {
                    Ok(row) => row.as_ref().map(Self::run_from_row).transpose(),
                    // Its job started running elsewhere in the meantime.
                    Err(e) if is_unique_violation(&e) => Ok(None),
                    Err(e) => Err(db(format!("starting run {run_id}"))(e)),
                }
            }

            async fn start_new_run(&self, new: &NewRun, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<Option<Run>> {
                let row = sqlx::query(concat!(
                    "INSERT INTO runs (job_id, run_trigger, scheduled_for, created_at, started_at, status, dry_run, node_id, \
                     lease_expires_at, reference_at, again, group_run_id) VALUES ($1, $2, $3, $4, $4, 'running', $5, $6, $7, \
                     $8, $9, $10) \
                     RETURNING ", run_cols!()))
                    .bind(new.job_id)
                    .bind(new.trigger.as_str())
                    .bind(new.scheduled_for.map(to_ms))
                    .bind(to_ms(now))
                    .bind(new.dry_run)
                    .bind(node_id)
                    .bind(lease_until(now, lease))
                    .bind(new.as_of.map(to_ms))
                    .bind(new.again)
                    .bind(new.group_run_id)
                    .fetch_optional(&self.pool)
                    .await;
                match row {
                    Ok(row) => row.as_ref().map(Self::run_from_row).transpose(),
                    // The job has a running run (one job runs once at a time), or the fire has one.
                    Err(e) if is_unique_violation(&e) => Ok(None),
                    Err(e) => Err(db(format!("starting a run of job #{}", new.job_id))(e)),
                }
            }

            async fn request_cancel(&self, run_id: i64, now: DateTime<Utc>) -> StoreResult<Run> {
                let what = || format!("cancelling run {run_id}");
                // A queued run never started: it is cancelled at once. A running one is stopped
                // by its node, which sees the request with its next progress write.
                sqlx::query(
                    "UPDATE runs SET cancel_requested = TRUE, \
                     status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END, \
                     finished_at = CASE WHEN status = 'queued' THEN $2 ELSE finished_at END, \
                     error = CASE WHEN status = 'queued' THEN 'cancelled' ELSE error END \
                     WHERE id = $1 AND status IN ('queued', 'running')",
                )
                .bind(run_id)
                .bind(to_ms(now))
                .execute(&self.pool)
                .await
                .map_err(db(what()))?;
                self.run(run_id).await
            }

            async fn run_files_after(&self, run_id: i64, after_id: i64, limit: i64) -> StoreResult<Vec<RunFile>> {
                let rows = sqlx::query(concat!(
                    "SELECT ", run_file_cols!(), " FROM run_files WHERE run_id = $1 AND id > $2 ORDER BY id LIMIT $3"))
                    .bind(run_id)
                    .bind(after_id)
                    .bind(limit.clamp(1, 10_000))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(format!("listing files of run {run_id}")))?;
                rows.iter().map(Self::run_file_from_row).collect()
            }

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

            async fn last_fire(&self, job_id: i64) -> StoreResult<Option<DateTime<Utc>>> {
                let v: Option<i64> = sqlx::query("SELECT MAX(scheduled_for) AS last FROM runs WHERE job_id = $1")
                    .bind(job_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("reading the last fire"))?
                    .try_get("last")
                    .map_err(db("reading the last fire"))?;
                Ok(v.map(from_ms))
            }

            async fn renew_lease(&self, run_id: i64, node_id: &str, now: DateTime<Utc>, lease: Duration) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE runs SET lease_expires_at = $3 WHERE id = $1 AND node_id = $2 AND status = 'running'",
                )
                .bind(run_id)
                .bind(node_id)
                .bind(lease_until(now, lease))
                .execute(&self.pool)
                .await
                .map_err(db(format!("renewing the lease of run {run_id}")))?;
                Ok(done.rows_affected() == 1)
            }

            async fn expire_leases(&self, now: DateTime<Utc>) -> StoreResult<Vec<i64>> {
                let rows = sqlx::query(
                    "UPDATE runs SET status = 'interrupted', finished_at = $1, lease_expires_at = NULL, active_files = NULL, \
                     error = COALESCE(error, 'interrupted: node ' || COALESCE(node_id, '?') || ' stopped renewing its lease') \
                     WHERE status = 'running' AND lease_expires_at < $1 RETURNING id",
                )
                .bind(to_ms(now))
                .fetch_all(&self.pool)
                .await
                .map_err(db("expiring leases"))?;
                rows.iter().map(|r| r.try_get::<i64, _>("id").map_err(db("expiring leases"))).collect()
            }

            async fn job_running(&self, job_id: i64) -> StoreResult<bool> {
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM runs WHERE job_id = $1 AND status = 'running'")
                    .bind(job_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db("checking running runs"))?
                    .try_get("n")
                    .map_err(db("checking running runs"))?;
                Ok(n > 0)
            }

            async fn update_run_counts(&self, run_id: i64, node_id: &str, c: &RunCounts, active: &[ActiveFile]) -> StoreResult<bool> {
                let active = serde_json::to_string(active).map_err(|err| corrupt("run's active files", err))?;
                let row = sqlx::query(
                    "UPDATE runs SET found = $2, transferred = $3, skipped = $4, failed = $5, bytes = $6, active_files = $8, \
                     undated = $9 WHERE id = $1 AND node_id = $7 AND status = 'running' RETURNING cancel_requested",
                )
                    .bind(run_id)
                    .bind(c.found)
                    .bind(c.transferred)
                    .bind(c.skipped)
                    .bind(c.failed)
                    .bind(c.bytes)
                    .bind(node_id)
                    .bind(active)
                    .bind(c.undated)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("saving progress of run {run_id}")))?;
                match row {
                    Some(row) => row.try_get("cancel_requested").map_err(db(format!("saving progress of run {run_id}"))),
                    None => Err(StoreError::NotHeld { run_id }),
                }
            }

            async fn set_run_window(&self, run_id: i64, node_id: &str, window: &str) -> StoreResult<()> {
                let done = sqlx::query("UPDATE runs SET date_window = $3 WHERE id = $1 AND node_id = $2 AND status = 'running'")
                    .bind(run_id)
                    .bind(node_id)
                    .bind(window)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("recording the window of run {run_id}")))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotHeld { run_id });
                }
                Ok(())
            }

            async fn finish_run(
                &self,
                run_id: i64,
                node_id: Option<&str>,
                status: RunStatus,
                c: &RunCounts,
                error: Option<&str>,
                now: DateTime<Utc>,
            ) -> StoreResult<()> {
                // A running run is finished only by the node that holds it; one that never ran
                // (queued, skipped) by anyone.
                let done = sqlx::query(
                    "UPDATE runs SET status = $2, found = $3, transferred = $4, skipped = $5, failed = $6, bytes = $7, \
                     error = $8, finished_at = $9, lease_expires_at = NULL, active_files = NULL, undated = $11 WHERE id = $1 \
                     AND ((status = 'running' AND node_id = $10) OR ($10 IS NULL AND status <> 'running'))",
                )
                .bind(run_id)
                .bind(status.as_str())
                .bind(c.found)
                .bind(c.transferred)
                .bind(c.skipped)
                .bind(c.failed)
                .bind(c.bytes)
                .bind(error)
                .bind(to_ms(now))
                .bind(node_id)
                .bind(c.undated)
                .execute(&self.pool)
                .await
                .map_err(db(format!("finishing run {run_id}")))?;
                if done.rows_affected() == 0 {
                    // Gone, or held by another node now.
                    self.run(run_id).await?;
                    return Err(StoreError::NotHeld { run_id });
                }
                Ok(())
            }

            async fn record_files(&self, node_id: &str, files: &[(RunFile, Option<LedgerEntry>)]) -> StoreResult<Vec<RunFile>> {
                type Db = <$row as sqlx::Row>::Database;
                // Rows per statement: far below SQLite's 32,766 parameters at 9 a row.
                const ROWS: usize = 500;
                let mut saved = Vec::with_capacity(files.len());
                if files.is_empty() {
                    return Ok(saved);
                }
                let what = || format!("recording {} files of run {}", files.len(), files[0].0.run_id);
                let mut tx = self.pool.begin().await.map_err(db(what()))?;
                let mut runs: Vec<i64> = files.iter().map(|(f, _)| f.run_id).collect();
                runs.sort_unstable();
                runs.dedup();
                for run_id in runs {
                    let held = sqlx::query(hold_sql!())
                        .bind(run_id)
                        .bind(node_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(db(what()))?;
                    if held.rows_affected() != 1 {
                        return Err(StoreError::NotHeld { run_id });
                    }
                }
                for chunk in files.chunks(ROWS) {
                    let mut insert = sqlx::QueryBuilder::<Db>::new(
                        "INSERT INTO run_files (run_id, source_path, target_path, size, bytes, duration_ms, status, error) ",
                    );
                    insert.push_values(chunk, |mut row, (f, _)| {
                        row.push_bind(f.run_id)
                            .push_bind(f.source_path.as_str())
                            .push_bind(f.target_path.as_str())
                            .push_bind(f.size)
                            .push_bind(f.bytes)
                            .push_bind(f.duration.as_millis().min(i64::MAX as u128) as i64)
                            .push_bind(f.status.as_str())
                            .push_bind(f.error.as_deref());
                    });
                    insert.push(concat!(" RETURNING ", run_file_cols!()));
                    let rows = insert.build().fetch_all(&mut *tx).await.map_err(db(what()))?;
                    // RETURNING's order is not promised; ids follow the VALUES order.
                    let mut rows = rows.iter().map(Self::run_file_from_row).collect::<StoreResult<Vec<_>>>()?;
                    rows.sort_by_key(|r| r.id);
                    if rows.len() != chunk.len()
                        || rows.iter().zip(chunk).any(|(r, (f, _))| r.source_path != f.source_path)
                    {
                        return Err(StoreError::Corrupt {
                            what: "run files".into(),
                            reason: "the inserted rows do not match the files recorded".into(),
                        });
                    }
                    saved.extend(rows);
                    // One upsert per key: a statement may not update the same ledger row twice.
                    let mut delivered: Vec<&LedgerEntry> = Vec::new();
                    for e in chunk.iter().filter_map(|(_, e)| e.as_ref()) {
                        match delivered.iter_mut().find(|d| d.job_id == e.job_id && d.source_path == e.source_path) {
                            Some(d) => *d = e,
                            None => delivered.push(e),
                        }
                    }
                    if delivered.is_empty() {
                        continue;
                    }
                    let mut upsert = sqlx::QueryBuilder::<Db>::new(concat!("INSERT INTO ledger (", ledger_cols!(), ") "));
                    upsert.push_values(delivered, |mut row, e| {
                        row.push_bind(e.job_id)
                            .push_bind(e.source_path.as_str())
                            .push_bind(e.size)
                            .push_bind(e.mtime)
                            .push_bind(to_ms(e.delivered_at))
                            .push_bind(e.run_id)
                            .push_bind(e.target_path.as_deref())
                            .push_bind(i64::from(e.mtime_granularity))
                            .push_bind(e.after_pending);
                    });
                    upsert.push(
                        " ON CONFLICT (job_id, source_path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime, \
                         delivered_at = excluded.delivered_at, run_id = excluded.run_id, target_path = excluded.target_path, \
                         mtime_granularity = excluded.mtime_granularity, after_pending = excluded.after_pending",
                    );
                    upsert.build().execute(&mut *tx).await.map_err(db(what()))?;
                }
                tx.commit().await.map_err(db(what()))?;
                Ok(saved)
            }

            async fn update_run_file(&self, node_id: &str, f: &RunFile) -> StoreResult<()> {
                let done = sqlx::query(
                    "UPDATE run_files SET target_path = $2, size = $3, bytes = $4, duration_ms = $5, status = $6, error = $7 \
                     WHERE id = $1 AND EXISTS (SELECT 1 FROM runs WHERE runs.id = run_files.run_id AND runs.node_id = $8 \
                     AND runs.status = 'running')",
                )
                .bind(f.id)
                .bind(&f.target_path)
                .bind(f.size)
                .bind(f.bytes)
                .bind(f.duration.as_millis().min(i64::MAX as u128) as i64)
                .bind(f.status.as_str())
                .bind(&f.error)
                .bind(node_id)
                .execute(&self.pool)
                .await
                .map_err(db(format!("recording file {} of run {}", f.source_path, f.run_id)))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotHeld { run_id: f.run_id });
                }
                Ok(())
            }

            async fn run_files(&self, run_id: i64) -> StoreResult<Vec<RunFile>> {
                let rows = sqlx::query(concat!("SELECT ", run_file_cols!(), " FROM run_files WHERE run_id = $1 ORDER BY id"))
                    .bind(run_id)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db(format!("listing files of run {run_id}")))?;
                rows.iter().map(Self::run_file_from_row).collect()
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

            async fn setting(&self, key: &str) -> StoreResult<Option<Setting>> {
                let row = sqlx::query("SELECT key, value, secret FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading setting {key}")))?;
                row.as_ref().map(|r| self.setting_from_row(r)).transpose()
            }

            async fn set_setting(&self, s: &Setting) -> StoreResult<()> {
                $crate::model::check_setting_key(&s.key)?;
                let stored = if s.secret {
                    self.cipher.seal_secret(&s.value)
                } else {
                    s.value.expose().to_string()
                };
                sqlx::query(
                    "INSERT INTO settings (key, value, secret) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, secret = excluded.secret",
                )
                .bind(&s.key)
                .bind(stored)
                .bind(s.secret)
                .execute(&self.pool)
                .await
                .map_err(db(format!("saving setting {}", s.key)))?;
                Ok(())
            }

            async fn settings(&self) -> StoreResult<Vec<Setting>> {
                let rows = sqlx::query("SELECT key, value, secret FROM settings ORDER BY key")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing settings"))?;
                rows.iter().map(|r| self.setting_from_row(r)).collect()
            }

            async fn delete_setting(&self, key: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM settings WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("removing setting {key}")))?;
                Ok(done.rows_affected() > 0)
            }

            async fn append_log(&self, e: &LogEntry) -> StoreResult<i64> {
                sqlx::query(
                    "INSERT INTO system_log (time, level, level_rank, component, message, context) \
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(to_ms(e.time))
                .bind(e.level.as_str())
                .bind(e.level.rank())
                .bind(&e.component)
                .bind(&e.message)
                .bind(e.context.to_string())
                .fetch_one(&self.pool)
                .await
                .map_err(db("writing the system log"))?
                .try_get("id")
                .map_err(db("writing the system log"))
            }

            async fn logs(&self, query: &LogQuery) -> StoreResult<Vec<LogEntry>> {
                type Db = <$row as sqlx::Row>::Database;
                let mut q = sqlx::QueryBuilder::<Db>::new(
                    "SELECT id, time, level, component, message, context FROM system_log WHERE TRUE",
                );
                if let Some(level) = query.min_level {
                    q.push(" AND level_rank >= ").push_bind(level.rank());
                }
                if let Some(component) = &query.component {
                    q.push(" AND component = ").push_bind(component.clone());
                }
                if let Some(before) = query.before_id {
                    q.push(" AND id < ").push_bind(before);
                }
                if let Some(after) = query.after_id {
                    q.push(" AND id > ").push_bind(after);
                }
                if let Some(since) = query.since {
                    q.push(" AND time >= ").push_bind(to_ms(since));
                }
                if let Some(until) = query.until {
                    q.push(" AND time < ").push_bind(to_ms(until));
                }
                if let Some(job) = &query.job {
                    // The context is compact JSON text alike on both databases: `"job":"NAME"`.
                    let escaped = job.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                    q.push(" AND context LIKE ").push_bind(format!("%\"job\":\"{escaped}\"%")).push(" ESCAPE '\\'");
                }
                q.push(" ORDER BY id DESC LIMIT ").push_bind(query.limit.unwrap_or(100).clamp(1, 10_000));
                let rows = q.build().fetch_all(&self.pool).await.map_err(db("reading the system log"))?;
                rows.iter().map(Self::log_from_row).collect()
            }

            async fn daily_stats(&self, since: DateTime<Utc>) -> StoreResult<Vec<DayStats>> {
                let rows = sqlx::query(
                    "SELECT CAST(created_at / 86400000 AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS runs, \
                     CAST(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END) AS BIGINT) AS succeeded, \
                     CAST(SUM(CASE WHEN status IN ('failed', 'partial') THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
                     CAST(SUM(bytes) AS BIGINT) AS bytes \
                     FROM runs WHERE created_at >= $1 AND NOT dry_run \
                     GROUP BY CAST(created_at / 86400000 AS BIGINT) ORDER BY day",
                )
                .bind(to_ms(since))
                .fetch_all(&self.pool)
                .await
                .map_err(db("computing daily statistics"))?;
                rows.iter()
                    .map(|r| {
                        let e = || db("computing daily statistics");
                        let day: i64 = r.try_get("day").map_err(e())?;
                        Ok(DayStats {
                            day: from_ms(day * 86_400_000).date_naive(),
                            runs: r.try_get("runs").map_err(e())?,
                            succeeded: r.try_get("succeeded").map_err(e())?,
                            failed: r.try_get("failed").map_err(e())?,
                            bytes: r.try_get("bytes").map_err(e())?,
                        })
                    })
                    .collect()
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

            async fn record_site_test(&self, t: &SiteTestRecord) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO site_tests (site_id, tested_at, ok, message) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (site_id) DO UPDATE SET tested_at = excluded.tested_at, ok = excluded.ok, \
                     message = excluded.message",
                )
                .bind(t.site_id)
                .bind(to_ms(t.tested_at))
                .bind(t.ok)
                .bind(&t.message)
                .execute(&self.pool)
                .await
                .map_err(db(format!("recording the test of site {}", t.site_id)))?;
                Ok(())
            }

            async fn site_tests(&self) -> StoreResult<Vec<SiteTestRecord>> {
                let rows = sqlx::query("SELECT site_id, tested_at, ok, message FROM site_tests ORDER BY site_id")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing site tests"))?;
                rows.iter()
                    .map(|r| {
                        let e = || db("listing site tests");
                        Ok(SiteTestRecord {
                            site_id: r.try_get("site_id").map_err(e())?,
                            tested_at: from_ms(r.try_get("tested_at").map_err(e())?),
                            ok: r.try_get("ok").map_err(e())?,
                            message: r.try_get("message").map_err(e())?,
                        })
                    })
                    .collect()
            }

            async fn create_user(&self, u: &User) -> StoreResult<User> {
                $crate::validate::check_name("username", &u.username)?;
                let row = sqlx::query(
                    "INSERT INTO users (username, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
                     RETURNING id, username, password_hash, role, created_at",
                )
                .bind(&u.username)
                .bind(&u.password_hash)
                .bind(u.role.as_str())
                .bind(to_ms(Utc::now()))
                .fetch_one(&self.pool)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        StoreError::Exists { kind: "user", name: u.username.clone() }
                    } else {
                        db(format!("saving user '{}'", u.username))(e)
                    }
                })?;
                Self::user_from_row(&row)
            }

            async fn user(&self, username: &str) -> StoreResult<User> {
                let row = sqlx::query("SELECT id, username, password_hash, role, created_at FROM users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db(format!("reading user '{username}'")))?
                    .ok_or_else(|| StoreError::NotFound { kind: "user", name: username.to_string() })?;
                Self::user_from_row(&row)
            }

            async fn users(&self) -> StoreResult<Vec<User>> {
                let rows = sqlx::query("SELECT id, username, password_hash, role, created_at FROM users ORDER BY username")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db("listing users"))?;
                rows.iter().map(Self::user_from_row).collect()
            }

            async fn delete_user(&self, username: &str) -> StoreResult<()> {
                let done = sqlx::query("DELETE FROM users WHERE username = $1")
                    .bind(username)
                    .execute(&self.pool)
                    .await
                    .map_err(db(format!("removing user '{username}'")))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound { kind: "user", name: username.to_string() });
                }
                Ok(())
            }

            async fn update_user(&self, u: &User, end_sessions: bool) -> StoreResult<User> {
                let what = || db(format!("saving user '{}'", u.username));
                let mut tx = self.pool.begin().await.map_err(what())?;
                let row = sqlx::query(
                    "UPDATE users SET password_hash = $1, role = $2 WHERE username = $3 \
                     RETURNING id, username, password_hash, role, created_at",
                )
                .bind(&u.password_hash)
                .bind(u.role.as_str())
                .bind(&u.username)
                .fetch_optional(&mut *tx)
                .await
                .map_err(what())?
                .ok_or_else(|| StoreError::NotFound { kind: "user", name: u.username.clone() })?;
                let saved = Self::user_from_row(&row)?;
                if end_sessions {
                    sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
                        .bind(saved.id)
                        .execute(&mut *tx)
                        .await
                        .map_err(what())?;
                }
                tx.commit().await.map_err(what())?;
                Ok(saved)
            }

            async fn create_token(&self, user_id: i64, name: &str, role: UserRole, token_hash: &str, now: DateTime<Utc>) -> StoreResult<ApiToken> {
                let id: i64 = sqlx::query(
                    "INSERT INTO api_tokens (user_id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                )
                .bind(user_id)
                .bind(name)
                .bind(role.as_str())
                .bind(token_hash)
                .bind(to_ms(now))
                .fetch_one(&self.pool)
                .await
                .map_err(db("saving an API token"))?
                .try_get("id")
                .map_err(db("saving an API token"))?;
                self.tokens().await?.into_iter().find(|t| t.id == id).ok_or_else(|| StoreError::NotFound {
                    kind: "token",
                    name: id.to_string(),
                })
            }

            async fn tokens(&self) -> StoreResult<Vec<ApiToken>> {
                let rows = sqlx::query(
                    "SELECT t.id, u.username, t.name, t.role, t.created_at, t.last_used_at FROM api_tokens t \
                     JOIN users u ON u.id = t.user_id ORDER BY t.id",
                )
                .fetch_all(&self.pool)
                .await
                .map_err(db("listing API tokens"))?;
                rows.iter().map(Self::token_from_row).collect()
            }

            async fn delete_token(&self, id: i64) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db("revoking an API token"))?;
                Ok(done.rows_affected() > 0)
            }

            async fn use_token(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<Option<ApiToken>> {
                let row = sqlx::query(
                    "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1 RETURNING id",
                )
                .bind(token_hash)
                .bind(to_ms(now))
                .fetch_optional(&self.pool)
                .await
                .map_err(db("checking an API token"))?;
                let Some(row) = row else { return Ok(None) };
                let id: i64 = row.try_get("id").map_err(db("checking an API token"))?;
                Ok(self.tokens().await?.into_iter().find(|t| t.id == id))
            }

            async fn create_session(&self, user_id: i64, token_hash: &str, now: DateTime<Utc>, expires_at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO web_sessions (token_hash, user_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
                )
                .bind(token_hash)
                .bind(user_id)
                .bind(to_ms(now))
                .bind(to_ms(expires_at))
                .execute(&self.pool)
                .await
                .map_err(db("starting a web session"))?;
                // Sessions long expired are swept as new ones start.
                sqlx::query("DELETE FROM web_sessions WHERE expires_at < $1")
                    .bind(to_ms(now))
                    .execute(&self.pool)
                    .await
                    .map_err(db("sweeping web sessions"))?;
                Ok(())
            }

            async fn use_session(&self, token_hash: &str, now: DateTime<Utc>, idle: Duration) -> StoreResult<Option<User>> {
                let idle_ms = idle.as_millis().min(i64::MAX as u128) as i64;
                let row = sqlx::query(
                    "UPDATE web_sessions SET last_seen_at = $2 WHERE token_hash = $1 AND expires_at > $2 \
                     AND last_seen_at + $3 > $2 RETURNING user_id",
                )
                .bind(token_hash)
                .bind(to_ms(now))
                .bind(idle_ms)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("checking a web session"))?;
                let Some(row) = row else { return Ok(None) };
                let user_id: i64 = row.try_get("user_id").map_err(db("checking a web session"))?;
                Ok(self.users().await?.into_iter().find(|u| u.id == user_id))
            }

            async fn delete_session(&self, token_hash: &str) -> StoreResult<bool> {
                let done = sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(db("ending a web session"))?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use impl_sql_store;
