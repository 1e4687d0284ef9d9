//! The [`Notifier`] trait: tells people how a run went. Two implementations: SMTP e-mail
//! ([`smtp::SmtpNotifier`]) and a signed JSON webhook ([`webhook::WebhookNotifier`]); an
//! embedding program may add its own. A failing notifier is logged; it never changes a run's
//! outcome.

mod message;
pub mod smtp;
pub mod webhook;

pub use message::{body_text, subject};

use async_trait::async_trait;

use crate::model::{Job, Run};

/// What a notification says.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The job.
    pub job: Job,
    /// The finished run.
    pub run: Run,
    /// The first file errors, in a user's words.
    pub first_errors: Vec<String>,
    /// A link to the run page, when a base URL is set.
    pub link: Option<String>,
}

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
#[error("{channel}: {reason}")]
pub struct NotifyError {
    /// Which notifier (smtp, webhook, ...).
    pub channel: String,
    /// What went wrong.
    pub reason: String,
}

/// Sends notifications about finished runs.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// A short name for logs (`smtp`, `webhook`).
    fn name(&self) -> &str;
    /// Sends one notification to `recipients` (e-mail addresses; ignored by webhooks).
    async fn notify(&self, note: &Notification, recipients: &[String]) -> Result<(), NotifyError>;
}
