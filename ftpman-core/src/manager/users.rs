//! Web users: argon2id password hashes, roles.

use super::{Manager, ManagerResult};
use crate::model::{User, UserRole};
use crate::secrets::Secret;
use crate::validate::ValidationError;
use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordHash, PasswordVerifier};

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &Secret) -> Result<String, ValidationError> {
    if password.expose().chars().count() < 12 {
        return Err(ValidationError::new("password", "must be at least 12 characters"));
    }
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ValidationError::new("password", e.to_string()))
}

/// Whether `password` matches the stored hash.
pub fn verify_password(password: &Secret, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.expose().as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

impl Manager {
    /// Adds a web user.
    pub async fn add_user(&self, name: &str, role: UserRole, password: &Secret) -> ManagerResult<User> {
        crate::validate::check_name("username", name)?;
        let user = User {
            id: 0,
            username: name.to_string(),
            password_hash: hash_password(password)?,
            role,
            created_at: chrono::Utc::now(),
        };
        let saved = self.store.create_user(&user).await?;
        self.audit(
            format!("user '{name}' added as {role}"),
            serde_json::json!({"user": name}),
        )
        .await;
        Ok(saved)
    }

    /// On a database with no user yet, adds `admin` with a random password and returns the
    /// password (to be shown once, on the console); `None` when any user exists.
    pub async fn first_admin(&self) -> ManagerResult<Option<(String, Secret)>> {
        if !self.store.users().await?.is_empty() {
            return Ok(None);
        }
        let password = Secret::new(super::access::new_secret("")?);
        match self.add_user("admin", UserRole::Admin, &password).await {
            Ok(u) => Ok(Some((u.username, password))),
            // Another node made it first.
            Err(e) if e.kind() == super::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every user.
    pub async fn users(&self) -> ManagerResult<Vec<User>> {
        Ok(self.store.users().await?)
    }

    /// Changes a user's role and/or password. A new password ends the user's web sessions (a
    /// password reset locks out whoever knew the old one); the last admin keeps their role.
    pub async fn edit_user(
        &self,
        name: &str,
        role: Option<UserRole>,
        password: Option<&Secret>,
    ) -> ManagerResult<User> {
        let users = self.store.users().await?;
        let mut user =
            users
                .iter()
                .find(|u| u.username == name)
                .cloned()
                .ok_or_else(|| super::ManagerError::NotFound {
                    kind: "user",
                    name: name.to_string(),
                    suggestion: super::nearest(name, users.iter().map(|u| u.username.clone())),
                })?;
        let admins = users.iter().filter(|u| u.role == UserRole::Admin).count();
        let mut changes = Vec::new();
        if let Some(role) = role.filter(|r| *r != user.role) {
            if user.role == UserRole::Admin && admins == 1 {
                return Err(crate::validate::ValidationError::new(
                    "role",
                    format!("'{name}' is the last admin; make another user admin first"),
                )
                .into());
            }
            changes.push(format!("role {} -> {role}", user.role));
            user.role = role;
        }
        if let Some(p) = password {
            user.password_hash = hash_password(p)?;
            changes.push("password reset".to_string());
        }
        if changes.is_empty() {
            return Ok(user);
        }
        let saved = self.store.update_user(&user, password.is_some()).await?;
        self.audit(
            format!("user '{name}' changed: {}", changes.join(", ")),
            serde_json::json!({"user": name}),
        )
        .await;
        Ok(saved)
    }

    /// Removes a user.
    pub async fn remove_user(&self, name: &str) -> ManagerResult<()> {
        let users = self.store.users().await?;
        let admins = users.iter().filter(|u| u.role == UserRole::Admin).count();
        if admins == 1 && users.iter().any(|u| u.username == name && u.role == UserRole::Admin) {
            return Err(super::ManagerError::Conflict(format!(
                "'{name}' is the last admin; add another admin first"
            )));
        }
        self.store.delete_user(name).await?;
        self.audit(format!("user '{name}' removed"), serde_json::json!({"user": name}))
            .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_short_passwords_are_refused() {
        let pw = Secret::new("correct horse battery");
        let h = hash_password(&pw).unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&pw, &h));
        assert!(!verify_password(&Secret::new("wrong horse battery"), &h));
        assert!(hash_password(&Secret::new("short")).is_err());
    }
}
