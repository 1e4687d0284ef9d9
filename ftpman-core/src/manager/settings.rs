//! Settings: the keys ftpman knows, their checks, which are secret; and the test e-mail.

use super::{Manager, ManagerResult};
use crate::model::Setting;
use crate::secrets::Secret;
use crate::validate::{ValidationError, check_email, check_range, printable};

/// A setting ftpman knows: key, whether it is secret, and what it means.
pub struct SettingKey {
    /// The key.
    pub key: &'static str,
    /// Sealed in the store and never shown.
    pub secret: bool,
    /// What it is for.
    pub help: &'static str,
}

/// Every setting ftpman reads.
pub const SETTINGS: &[SettingKey] = &[
    SettingKey {
        key: "smtp.host",
        secret: false,
        help: "SMTP server for notifications",
    },
    SettingKey {
        key: "smtp.port",
        secret: false,
        help: "SMTP port (587 for starttls, 465 for tls, 25 for none)",
    },
    SettingKey {
        key: "smtp.tls",
        secret: false,
        help: "starttls, tls or none",
    },
    SettingKey {
        key: "smtp.username",
        secret: false,
        help: "SMTP login",
    },
    SettingKey {
        key: "smtp.password",
        secret: true,
        help: "SMTP password",
    },
    SettingKey {
        key: "smtp.from",
        secret: false,
        help: "sender address of notifications",
    },
    SettingKey {
        key: "webhook.url",
        // Chat services put their access token in the URL (Slack, Teams, Discord).
        secret: true,
        help: "URL that receives a signed JSON POST per notification (sealed: chat webhooks carry a token)",
    },
    SettingKey {
        key: "webhook.secret",
        secret: true,
        help: "HMAC-SHA256 key of the webhook signature",
    },
    SettingKey {
        key: "web.base_url",
        secret: false,
        help: "base URL of the web UI, for links in notifications",
    },
    SettingKey {
        key: "retention.days",
        secret: false,
        help: "days of runs and logs to keep",
    },
];

fn check_value(key: &str, value: &str) -> Result<(), ValidationError> {
    let field = key;
    match key {
        "smtp.port" => {
            let port: i64 = value
                .parse()
                .map_err(|_| ValidationError::new(field, format!("'{}' is not a port", printable(value))))?;
            check_range(field, port, 1, 65_535)
        }
        "smtp.tls" if !matches!(value, "starttls" | "tls" | "none") => Err(ValidationError::new(
            field,
            format!("'{}' is not one of: starttls, tls, none", printable(value)),
        )),
        "smtp.from" => check_email(field, value),
        "webhook.url" | "web.base_url" if !(value.starts_with("https://") || value.starts_with("http://")) => Err(
            ValidationError::new(field, format!("'{}' is not an http(s) URL", printable(value))),
        ),
        "retention.days" => {
            let days: i64 = value
                .parse()
                .map_err(|_| ValidationError::new(field, "must be a whole number of days"))?;
            check_range(field, days, 1, 36_500)
        }
        _ => Ok(()),
    }
}

impl Manager {
    /// Every setting that is set (secret values included: frontends mask them).
    pub async fn settings(&self) -> ManagerResult<Vec<Setting>> {
        Ok(self.store.settings().await?)
    }

    /// Sets a known setting after checking its value; secret ones are sealed.
    pub async fn set_setting(&self, key: &str, value: &str) -> ManagerResult<()> {
        let known = SETTINGS.iter().find(|s| s.key == key).ok_or_else(|| {
            ValidationError::new(
                "key",
                format!(
                    "'{}' is not a setting; known: {}",
                    printable(key),
                    SETTINGS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
                ),
            )
        })?;
        check_value(key, value)?;
        self.store
            .set_setting(&Setting {
                key: key.to_string(),
                value: Secret::new(value),
                secret: known.secret,
            })
            .await?;
        self.audit(format!("setting {key} changed"), serde_json::json!({"key": key}))
            .await;
        Ok(())
    }

    /// Removes a setting.
    pub async fn unset_setting(&self, key: &str) -> ManagerResult<bool> {
        let removed = self.store.delete_setting(key).await?;
        if removed {
            self.audit(format!("setting {key} removed"), serde_json::json!({"key": key}))
                .await;
        }
        Ok(removed)
    }

    /// Sends a test e-mail with the current SMTP settings.
    pub async fn smtp_test(&self, to: &str) -> ManagerResult<()> {
        check_email("email", to)?;
        let notifier = crate::notifier::smtp::SmtpNotifier::new(self.store.clone());
        notifier
            .send(
                &[to.to_string()],
                "[ftpman] test e-mail",
                "This is a test e-mail from ftpman: notifications reach you.\n".to_string(),
            )
            .await?;
        Ok(())
    }
}
