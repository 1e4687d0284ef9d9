//! The smaller records: ledger entries, settings, system log entries, nodes, users, statistics.

use super::string_enum;
use chrono::{DateTime, NaiveDate, Utc};

/// One delivered file in a job's ledger. A file listed again with the same size and mtime is not
/// sent again; a changed one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The job.
    pub job_id: i64,
    /// Path at the source, relative to the source site's root.
    pub source_path: String,
    /// Size when delivered.
    pub size: i64,
    /// Modification time at the source when delivered (Unix seconds; servers give no finer).
    pub mtime: Option<i64>,
    /// When it was delivered.
    pub delivered_at: DateTime<Utc>,
    /// The run that delivered it.
    pub run_id: i64,
    /// Where it was delivered, relative to the target site's root: what `replace-own` may
    /// replace. `None` for entries recorded before ftpman kept it.
    pub target_path: Option<String>,
    /// Seconds `mtime` is rounded to: 1 when exact, 60 for an FTP LIST's `HH:MM`, 86,400 for
    /// its year form. Times are compared at the coarser of two granularities.
    pub mtime_granularity: u32,
    /// The after-delivery action is still to be applied to the source (recorded with the
    /// delivery, cleared once applied): a run that finds it set applies it.
    pub after_pending: bool,
    /// The fraction of a second of `mtime`, in nanoseconds: 0 where the source gave whole
    /// seconds (and for entries recorded before ftpman kept it).
    pub mtime_nanos: u32,
}

/// Whether two modification times, each as Unix seconds and nanoseconds, name the same moment
/// at `granularity` seconds. Where the times are exact (granularity 1) and both carry a fraction
/// of a second (a local disk's nanoseconds), the fractions count too: a file rewritten at the
/// same size within the second it was seen in is another file. A time without a fraction (most
/// servers give whole seconds) is compared by the second.
pub fn same_mtime(a: (i64, u32), b: (i64, u32), granularity: u32) -> bool {
    let g = i64::from(granularity.max(1));
    a.0.div_euclid(g) == b.0.div_euclid(g) && (g > 1 || a.1 == 0 || b.1 == 0 || a.1 == b.1)
}

impl LedgerEntry {
    /// Whether a file listed with `size` and `mtime` (rounded to `granularity` seconds) is the
    /// one this entry recorded. A time is compared at the coarser granularity of the two, so a
    /// file an FTP server lists as `Nov 30 12:34` and, months later, as `Nov 30 2025` is still
    /// the same file.
    pub fn matches(&self, size: u64, mtime: Option<DateTime<Utc>>, granularity: u32) -> bool {
        if self.size != size as i64 {
            return false;
        }
        match (self.mtime, mtime) {
            (None, None) => true,
            (Some(a), Some(b)) => same_mtime(
                (a, self.mtime_nanos),
                (b.timestamp(), b.timestamp_subsec_nanos()),
                self.mtime_granularity.max(granularity),
            ),
            _ => false,
        }
    }
}

/// A setting (SMTP host, retention days, ...). Secret values are sealed in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Key, e.g. `smtp.host`.
    pub key: String,
    /// Value (clear in memory; sealed in the store when `secret`).
    pub value: crate::secrets::Secret,
    /// Whether the value is a secret.
    pub secret: bool,
}

/// Severity of a system log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Detail for debugging.
    Debug,
    /// Normal events.
    Info,
    /// Something a user should look at.
    Warn,
    /// Something failed.
    Error,
}

string_enum!(LogLevel, "level", {
    Debug => "debug",
    Info => "info",
    Warn => "warn",
    Error => "error",
});

impl LogLevel {
    /// Numeric rank stored beside the name, so "at least warn" is one comparison in SQL.
    pub fn rank(&self) -> i64 {
        *self as i64
    }
}

/// One system log entry: engine events, config changes, logins.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// Store id (0 until saved).
    pub id: i64,
    /// When.
    pub time: DateTime<Utc>,
    /// Severity.
    pub level: LogLevel,
    /// Which part of ftpman (engine, scheduler, store, web, audit...).
    pub component: String,
    /// What happened, in a user's words.
    pub message: String,
    /// Structured context (JSON object).
    pub context: serde_json::Value,
}

/// Filter and page for the system log (newest first).
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only entries at least this severe.
    pub min_level: Option<LogLevel>,
    /// Only this component.
    pub component: Option<String>,
    /// Only entries with an id below this (paging backwards).
    pub before_id: Option<i64>,
    /// Only entries with an id above this (following the log).
    pub after_id: Option<i64>,
    /// Only entries at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only entries about this job (its name in their context).
    pub job: Option<String>,
    /// Page size (default 100).
    pub limit: Option<i64>,
}

/// A running ftpman process, with its heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Unique id (host name and a random suffix).
    pub id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}

/// The outcome of a site's last connection test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteTestRecord {
    /// The site's id.
    pub site_id: i64,
    /// When it was tested.
    pub tested_at: DateTime<Utc>,
    /// Whether it connected, logged in and listed its root.
    pub ok: bool,
    /// What went wrong (none when it passed).
    pub message: Option<String>,
}

/// A web user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserRole {
    /// Everything, including users and settings.
    Admin,
    /// Sites, jobs and runs.
    Operator,
    /// Read only.
    Viewer,
}

string_enum!(UserRole, "role", {
    Admin => "admin",
    Operator => "operator",
    Viewer => "viewer",
});

impl UserRole {
    /// Whether this role may do everything `other` may.
    pub fn covers(&self, other: UserRole) -> bool {
        let rank = |r: &UserRole| match r {
            UserRole::Viewer => 0,
            UserRole::Operator => 1,
            UserRole::Admin => 2,
        };
        rank(self) >= rank(&other)
    }
}

/// An API token (`Authorization: Bearer`), scoped to a role no higher than its user's. Only a
/// hash of its secret is stored; the secret is shown once, when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Store id.
    pub id: i64,
    /// The user it acts for.
    pub username: String,
    /// What it is for, in the user's words.
    pub name: String,
    /// What it may do.
    pub role: UserRole,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Who is asking: a signed-in user (web session) or an API token's user, with the role that
/// applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub username: String,
    /// The role in force (a token's, which may be lower than its user's).
    pub role: UserRole,
}

/// A web user. The password is stored only as an argon2id hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Store id (0 until saved).
    pub id: i64,
    /// Login name.
    pub username: String,
    /// PHC-format password hash.
    pub password_hash: String,
    /// Role.
    pub role: UserRole,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// One day of run statistics for the dashboard (UTC days).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayStats {
    /// The day.
    pub day: NaiveDate,
    /// Runs created that day.
    pub runs: i64,
    /// Of which succeeded.
    pub succeeded: i64,
    /// Of which failed or partial.
    pub failed: i64,
    /// Bytes moved by those runs.
    pub bytes: i64,
}

/// Checks a setting key: lower-case letters, digits, `.`, `_` and `-` (e.g. `smtp.host`).
pub fn check_setting_key(key: &str) -> crate::validate::Valid<()> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(crate::validate::ValidationError::new(
            "key",
            format!(
                "'{}' is not a setting key; use lower-case letters, digits, '.', '_' and '-', e.g. smtp.host",
                crate::validate::printable(key)
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_ledger_entry_matches_a_rewrite_within_its_second_only_where_no_fraction_is_known() {
        let entry = LedgerEntry {
            job_id: 1,
            source_path: "/out/a.csv".into(),
            size: 10,
            mtime: Some(1_000),
            delivered_at: Utc::now(),
            run_id: 1,
            target_path: None,
            mtime_granularity: 1,
            after_pending: true,
            mtime_nanos: 250_000_000,
        };
        let at = |nanos| Utc.timestamp_opt(1_000, nanos).single();
        assert!(entry.matches(10, at(250_000_000), 1));
        // Rewritten at the same size within the same second: another file, delivered again
        // (and never deleted as the delivered one).
        assert!(!entry.matches(10, at(750_000_000), 1));
        // A listing in whole seconds cannot tell, nor can an entry recorded without a fraction.
        assert!(entry.matches(10, at(0), 1));
        assert!(
            LedgerEntry {
                mtime_nanos: 0,
                ..entry.clone()
            }
            .matches(10, at(750_000_000), 1)
        );
        // A minute-granular listing compares minutes.
        assert!(entry.matches(10, Utc.timestamp_opt(990, 0).single(), 60));
        assert!(!entry.matches(11, at(250_000_000), 1));
    }
}
