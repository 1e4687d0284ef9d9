//! Who may ask: API tokens (shown once, hashed at rest, revocable, scoped to a role) and web
//! sessions (kept in the store, so every node sees them; idle and absolute expiry).

use super::{Manager, ManagerError, ManagerResult};
use crate::model::{ApiToken, Principal, UserRole};
use crate::secrets::Secret;
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// A session ends when unused for this long...
pub const SESSION_IDLE: Duration = Duration::from_secs(2 * 3600);
/// ...and in any case this long after sign-in.
pub const SESSION_MAX: Duration = Duration::from_secs(12 * 3600);

/// A fresh secret: `prefix` and 256 random bits, URL-safe.
pub(crate) fn new_secret(prefix: &str) -> ManagerResult<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ManagerError::Internal(format!("no randomness: {e}")))?;
    Ok(format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// What is stored of a secret: its SHA-256 (the secret is random and long, so a slow hash adds
/// nothing; a stolen database gives no usable token).
fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn refused() -> ManagerError {
    ManagerError::Unauthorized("not signed in, or the session or token is no longer valid".into())
}

impl Manager {
    /// Makes an API token for `username`, scoped to `role` (at most the user's own). Returns it
    /// with its secret, which is shown this once and never stored.
    pub async fn create_token(&self, username: &str, name: &str, role: UserRole) -> ManagerResult<(ApiToken, Secret)> {
        let user = self.store.user(username).await?;
        if !user.role.covers(role) {
            return Err(crate::validate::ValidationError::new(
                "role",
                format!("a token of {username} can be at most {}", user.role),
            )
            .into());
        }
        if name.trim().is_empty() {
            return Err(crate::validate::ValidationError::new("name", "say what the token is for").into());
        }
        let secret = new_secret("ftpman_")?;
        let token = self
            .store
            .create_token(user.id, name, role, &digest(&secret), Utc::now())
            .await?;
        self.audit(
            format!("API token {} ('{name}', {role}) made for user '{username}'", token.id),
            serde_json::json!({"user": username, "token": token.id}),
        )
        .await;
        Ok((token, Secret::new(secret)))
    }

    /// Every API token (their secrets are not kept).
    pub async fn tokens(&self) -> ManagerResult<Vec<ApiToken>> {
        Ok(self.store.tokens().await?)
    }

    /// The tokens `who` may see: every one for an admin, else their own.
    pub async fn tokens_visible_to(&self, who: &Principal) -> ManagerResult<Vec<ApiToken>> {
        let all = self.store.tokens().await?;
        Ok(if who.role == UserRole::Admin {
            all
        } else {
            all.into_iter().filter(|t| t.username == who.username).collect()
        })
    }

    /// Revokes a token on behalf of `who`: an admin any token, anyone else only their own (a
    /// token of someone else is "not found" to them, so that ids reveal nothing).
    pub async fn revoke_token_as(&self, who: &Principal, id: i64) -> ManagerResult<()> {
        if who.role != UserRole::Admin && !self.tokens_visible_to(who).await?.iter().any(|t| t.id == id) {
            return Err(ManagerError::NotFound {
                kind: "token",
                name: id.to_string(),
                suggestion: None,
            });
        }
        self.revoke_token(id).await
    }

    /// Revokes a token: from now on it is refused.
    pub async fn revoke_token(&self, id: i64) -> ManagerResult<()> {
        if !self.store.delete_token(id).await? {
            return Err(ManagerError::NotFound {
                kind: "token",
                name: id.to_string(),
                suggestion: None,
            });
        }
        self.audit(format!("API token {id} revoked"), serde_json::json!({"token": id}))
            .await;
        Ok(())
    }

    /// Who a bearer token acts for; `Unauthorized` for an unknown or revoked one.
    pub async fn verify_token(&self, secret: &str) -> ManagerResult<Principal> {
        let token = self
            .store
            .use_token(&digest(secret), Utc::now())
            .await?
            .ok_or_else(refused)?;
        // A user demoted since keeps no more than their role now.
        let user = self.store.user(&token.username).await?;
        let role = if user.role.covers(token.role) {
            token.role
        } else {
            user.role
        };
        Ok(Principal {
            username: token.username,
            role,
        })
    }

    /// Signs a user in with their password: a new session (its secret for the cookie) and who
    /// they are. Every attempt is in the audit trail with `source` (the client's address); a
    /// wrong name or password is `Unauthorized`, the same for both.
    pub async fn login(&self, username: &str, password: &Secret, source: &str) -> ManagerResult<(Principal, Secret)> {
        use super::limiter::{PER_ADDRESS, PER_USER};
        let now = std::time::Instant::now();
        let (user_key, addr_key) = (format!("user:{username}"), format!("addr:{source}"));
        let context = serde_json::json!({"user": username, "source": source});
        let blocked = self
            .logins
            .blocked(&user_key, PER_USER, now)
            .or_else(|| self.logins.blocked(&addr_key, PER_ADDRESS, now));
        if let Some(retry_after_secs) = blocked {
            self.audit(
                format!("sign-in as '{username}' from {source} refused: too many failed attempts"),
                context,
            )
            .await;
            return Err(ManagerError::RateLimited {
                what: format!("sign-in as '{username}'"),
                retry_after_secs,
            });
        }
        let user = self.store.user(username).await.ok();
        let ok = match &user {
            Some(u) => super::users::verify_password(password, &u.password_hash),
            None => {
                // As slow as a real check, so that timing does not tell which names exist.
                let _ = super::users::hash_password(&Secret::new("not-a-user-password".to_string()));
                false
            }
        };
        let (Some(user), true) = (user, ok) else {
            self.logins.fail(&user_key, now);
            self.logins.fail(&addr_key, now);
            self.audit(format!("failed sign-in as '{username}' from {source}"), context)
                .await;
            return Err(ManagerError::Unauthorized("wrong user name or password".into()));
        };
        self.logins.clear(&user_key);
        let secret = new_secret("")?;
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(SESSION_MAX).unwrap_or(chrono::Duration::hours(12));
        self.store.create_session(user.id, &digest(&secret), now, until).await?;
        self.audit(format!("'{username}' signed in from {source}"), context)
            .await;
        Ok((
            Principal {
                username: user.username,
                role: user.role,
            },
            Secret::new(secret),
        ))
    }

    /// Who a session (its cookie's secret) belongs to; `Unauthorized` once it has ended,
    /// expired or been idle too long.
    pub async fn session(&self, secret: &str) -> ManagerResult<Principal> {
        let user = self
            .store
            .use_session(&digest(secret), Utc::now(), SESSION_IDLE)
            .await?
            .ok_or_else(refused)?;
        Ok(Principal {
            username: user.username,
            role: user.role,
        })
    }

    /// Ends a session (sign-out).
    pub async fn logout(&self, secret: &str) -> ManagerResult<()> {
        self.store.delete_session(&digest(secret)).await?;
        Ok(())
    }
}
