//! A JSON POST per notification, signed so the receiver can trust it:
//! `X-Ftpman-Signature: sha256=<hex of HMAC-SHA256(secret, body)>`. Settings: `webhook.url`,
//! `webhook.secret` (secret).

use super::{Notification, Notifier, NotifyError};
use crate::store::Store;
use async_trait::async_trait;
use hmac::{KeyInit, Mac};
use std::sync::Arc;
use std::time::Duration;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

fn err(reason: impl Into<String>) -> NotifyError {
    NotifyError {
        channel: "webhook".into(),
        reason: reason.into(),
    }
}

/// The signature header value for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        digest.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The JSON body of a notification: the run as the API shows it, the first errors, a link.
pub fn payload(note: &Notification) -> serde_json::Value {
    serde_json::json!({
        "event": "run.finished",
        "job": note.job.name,
        "run": crate::manager::views::RunView::new(&note.run, &note.job.name),
        "errors": note.first_errors,
        "link": note.link,
    })
}

/// Posts notifications to the URL in `webhook.url`.
pub struct WebhookNotifier {
    store: Arc<dyn Store>,
    client: reqwest::Client,
}

impl WebhookNotifier {
    /// A notifier reading its settings from `store`.
    pub fn new(store: Arc<dyn Store>) -> Result<WebhookNotifier, NotifyError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| err(e.to_string()))?;
        Ok(WebhookNotifier { store, client })
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    fn name(&self) -> &str {
        "webhook"
    }

    async fn notify(&self, note: &Notification, _recipients: &[String]) -> Result<(), NotifyError> {
        let setting = |key: &'static str| async move { self.store.setting(key).await.map_err(|e| err(e.to_string())) };
        let Some(url) = setting("webhook.url").await? else {
            return Ok(());
        };
        let url = url.value.expose().to_string();
        let secret = setting("webhook.secret").await?.map(|s| s.value);
        let body = payload(note).to_string();
        let mut request = self
            .client
            .post(&url)
            .header("Content-Type", "application/json")
            .header("User-Agent", concat!("ftpman/", env!("CARGO_PKG_VERSION")));
        if let Some(secret) = &secret {
            request = request.header(
                "X-Ftpman-Signature",
                signature(secret.expose().as_bytes(), body.as_bytes()),
            );
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| err(format!("posting to {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(err(format!("{url} answered {}", response.status())));
        }
        Ok(())
    }
}
