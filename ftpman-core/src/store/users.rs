//! Web users, API tokens and sign-in sessions. [`UserStore`] is one of the traits [`super::Store`]
//! is made of; `impl_users_store!` writes its SQL once for both backends, given the row type.

use super::StoreResult;
use crate::model::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// Web users, API tokens and sign-in sessions.
#[async_trait]
pub trait UserStore: Send + Sync {
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

/// Implements [`UserStore`] for `$store` (holding `pool` and `cipher`) with rows of `$row`.
macro_rules! impl_users_store {
    ($store:ty, $row:ty) => {
        const _: () = {
            $crate::store::sql::sql_prelude!();

            #[async_trait::async_trait]
            impl $crate::store::UserStore for $store {
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
    };
}

pub(crate) use impl_users_store;
