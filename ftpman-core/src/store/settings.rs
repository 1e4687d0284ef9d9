//! Settings and the system log. [`SettingStore`] is one of the traits [`super::Store`] is made of;
//! `impl_settings_store!` writes its SQL once for both backends, given the row type.

use super::StoreResult;
use crate::model::*;
use async_trait::async_trait;

/// Settings and the system log.
#[async_trait]
pub trait SettingStore: Send + Sync {
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
}

/// Implements [`SettingStore`] for `$store` (holding `pool` and `cipher`) with rows of `$row`.
macro_rules! impl_settings_store {
    ($store:ty, $row:ty) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            #[async_trait::async_trait]
            impl $crate::store::SettingStore for $store {
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
                        q.push(" AND context LIKE ")
                            .push_bind(format!("%\"job\":\"{escaped}\"%"))
                            .push(" ESCAPE '\\'");
                    }
                    q.push(" ORDER BY id DESC LIMIT ")
                        .push_bind(query.limit.unwrap_or(100).clamp(1, 10_000));
                    let rows = q
                        .build()
                        .fetch_all(&self.pool)
                        .await
                        .map_err(db("reading the system log"))?;
                    rows.iter().map(Self::log_from_row).collect()
                }
            }
        };
    };
}

pub(crate) use impl_settings_store;
