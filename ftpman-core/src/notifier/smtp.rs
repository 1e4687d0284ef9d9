//! E-mail through SMTP (lettre). Settings are read from the store at each send, so a change in
//! the settings page applies at once: `smtp.host`, `smtp.port`, `smtp.tls` (`starttls`, `tls` or
//! `none` for a local relay), `smtp.username`, `smtp.password` (secret), `smtp.from`.

use super::{Notification, Notifier, NotifyError, body_text, subject};
use crate::store::Store;
use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::sync::Arc;
use std::time::Duration;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only for a relay on this machine or a trusted network.
    None,
}

/// The SMTP settings as stored.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: SmtpTls,
    /// Login, when the server wants one.
    pub username: Option<String>,
    /// Password for the login.
    pub password: Option<crate::secrets::Secret>,
    /// Sender address.
    pub from: String,
}

fn err(reason: impl Into<String>) -> NotifyError {
    NotifyError {
        channel: "smtp".into(),
        reason: reason.into(),
    }
}

impl SmtpSettings {
    /// Reads the settings from the store; `None` when no SMTP host is set.
    pub async fn load(store: &dyn Store) -> Result<Option<SmtpSettings>, NotifyError> {
        let get = |key: &'static str| async move { store.setting(key).await.map_err(|e| err(e.to_string())) };
        let Some(host) = get("smtp.host").await? else {
            return Ok(None);
        };
        let tls = match get("smtp.tls").await?.map(|s| s.value.expose().to_string()).as_deref() {
            None | Some("starttls") => SmtpTls::StartTls,
            Some("tls") => SmtpTls::Tls,
            Some("none") => SmtpTls::None,
            Some(other) => return Err(err(format!("smtp.tls is '{other}'; use starttls, tls or none"))),
        };
        let default_port = match tls {
            SmtpTls::StartTls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        };
        let port = match get("smtp.port").await? {
            Some(p) => p
                .value
                .expose()
                .parse()
                .map_err(|_| err(format!("smtp.port '{}' is not a port", p.value.expose())))?,
            None => default_port,
        };
        let from = get("smtp.from")
            .await?
            .map(|s| s.value.expose().to_string())
            .unwrap_or_else(|| "ftpman@localhost".into());
        Ok(Some(SmtpSettings {
            host: host.value.expose().to_string(),
            port,
            tls,
            username: get("smtp.username").await?.map(|s| s.value.expose().to_string()),
            password: get("smtp.password").await?.map(|s| s.value),
            from,
        }))
    }

    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, NotifyError> {
        let builder = match self.tls {
            SmtpTls::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&self.host).map_err(|e| err(e.to_string()))?
            }
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&self.host).map_err(|e| err(e.to_string()))?,
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host),
        };
        let mut builder = builder.port(self.port).timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(pass)) = (&self.username, &self.password) {
            builder = builder.credentials(Credentials::new(user.clone(), pass.expose().to_string()));
        }
        Ok(builder.build())
    }
}

/// Sends a plain-text e-mail per notification.
pub struct SmtpNotifier {
    store: Arc<dyn Store>,
}

impl SmtpNotifier {
    /// A notifier reading its settings from `store`.
    pub fn new(store: Arc<dyn Store>) -> SmtpNotifier {
        SmtpNotifier { store }
    }

    /// Sends one message with the current settings (the settings page's "send a test e-mail").
    pub async fn send(&self, to: &[String], subject: &str, body: String) -> Result<(), NotifyError> {
        let settings = SmtpSettings::load(self.store.as_ref())
            .await?
            .ok_or_else(|| err("no SMTP server is set (smtp.host)"))?;
        let from: Mailbox = settings.from.parse().map_err(|e| err(format!("smtp.from: {e}")))?;
        let mut builder = Message::builder()
            .from(from)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN);
        for addr in to {
            builder = builder.to(addr.parse().map_err(|e| err(format!("recipient {addr}: {e}")))?);
        }
        let message = builder.body(body).map_err(|e| err(e.to_string()))?;
        let transport = settings.transport()?;
        transport
            .send(message)
            .await
            .map_err(|e| err(format!("sending through {}:{}: {e}", settings.host, settings.port)))?;
        Ok(())
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    fn name(&self) -> &str {
        "smtp"
    }

    async fn notify(&self, note: &Notification, recipients: &[String]) -> Result<(), NotifyError> {
        if recipients.is_empty() {
            return Ok(());
        }
        self.send(recipients, &subject(note), body_text(note)).await
    }
}
