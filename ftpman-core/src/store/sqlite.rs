//! The embedded SQLite store: WAL journal, created on first use, one node.

use super::StoreError;
use super::sql::{claim_sql, impl_sql_store};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;

/// A [`Store`] on an SQLite file (or `sqlite::memory:` for tests and throw-away use).
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
    cipher: Cipher,
    path: Option<PathBuf>,
    /// Held while this process serves the database (see [`Store::claim_single_node`]).
    node_lock: std::sync::Mutex<Option<std::fs::File>>,
}

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` (`sqlite://ftpman.db`,
    /// `sqlite:///abs/path.db` or `sqlite::memory:`), applies migrations and checks the key.
    /// With `key` `None`, the key comes from the environment or, for a file database, from a key
    /// file beside it (`<db>.key`, created with mode 0600).
    pub async fn open(url: &str, key: Option<KeySource>) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(db(format!("reading the database URL {url}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(15));
        let path = options.get_filename();
        let in_memory = path == Path::new(":memory:") || path.as_os_str().is_empty();
        let path = (!in_memory).then(|| path.to_path_buf());
        if let Some(folder) = path
            .as_ref()
            .and_then(|p| p.parent())
            .filter(|f| !f.as_os_str().is_empty())
            && !folder.is_dir()
        {
            return Err(StoreError::Invalid(crate::validate::ValidationError::new(
                "db",
                format!(
                    "the folder {} for the database does not exist: make it, or point --db (DATABASE_URL) elsewhere",
                    folder.display()
                ),
            )));
        }
        let key = match key {
            Some(k) => k,
            None => KeySource::from_env(path.as_ref().map(|p| key_file_for(p)).as_deref())?,
        };
        // An in-memory database lives as long as its one connection: keep exactly one, forever.
        let pool_options = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(8)
        };
        let pool = pool_options
            .connect_with(options)
            .await
            .map_err(db(format!("opening SQLite database {url}")))?;
        super::migrations::migrator(super::migrations::Dialect::Sqlite)
            .run(&pool)
            .await?;
        let cipher = Self::init_cipher(&pool, &key).await?;
        Ok(SqliteStore {
            pool,
            cipher,
            path,
            node_lock: std::sync::Mutex::new(None),
        })
    }

    /// Takes an exclusive lock on `<db>.node-lock`; the OS drops it when the process ends, so a
    /// crashed node never blocks the next one.
    fn claim_node_lock(&self) -> StoreResult<()> {
        let Some(db) = &self.path else { return Ok(()) };
        let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".node-lock");
        let lock_path = db.with_file_name(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreError::Busy(format!("cannot open {}: {e}", lock_path.display())))?;
        match file.try_lock() {
            Ok(()) => {
                if let Ok(mut slot) = self.node_lock.lock() {
                    *slot = Some(file);
                }
                Ok(())
            }
            Err(_) => Err(StoreError::Busy(format!(
                "another ftpman process is already serving the SQLite database {}; SQLite is for one node: \
                 stop the other process, or move to PostgreSQL (--db postgres://...) to run several nodes",
                db.display()
            ))),
        }
    }

    /// The database file, unless in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The connection pool, for tests that read raw rows.
    pub fn pool(&self) -> &sqlx::SqlitePool {
        &self.pool
    }
}

/// Where the key file of an embedded database lives: beside it, named `<file>.key`.
pub fn key_file_for(db_path: &Path) -> PathBuf {
    let mut name = db_path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".key");
    db_path.with_file_name(name)
}

impl_sql_store!(SqliteStore, sqlx::sqlite::SqliteRow, Backend::Sqlite, claim_sql!(""));
super::sites::impl_sites_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::jobs::impl_jobs_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::runs::impl_runs_store!(SqliteStore, sqlx::sqlite::SqliteRow, claim_sql!(""));
super::ledger::impl_ledger_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::settings::impl_settings_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::cluster::impl_cluster_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::users::impl_users_store!(SqliteStore, sqlx::sqlite::SqliteRow);
super::groups::impl_group_store!(SqliteStore, sqlx::sqlite::SqliteRow, "");
