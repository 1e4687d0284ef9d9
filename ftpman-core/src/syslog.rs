//! The system log: engine events, config changes and logins, kept in the store for the logs page
//! and `ftpman logs`.
//!
//! Two ways in: [`SystemLog::write`] for explicit entries (audit events), and [`SystemLogLayer`],
//! a `tracing` layer that records events whose target starts with `ftpman` at `info` or above. The
//! layer never blocks the code that logs: events go through a bounded channel to one writer task,
//! and are dropped (and counted) if the store falls behind.

use crate::model::{LogEntry, LogLevel};
use crate::store::Store;
use chrono::Utc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;

const QUEUE: usize = 4_096;

/// Writes entries into the store's system log.
#[derive(Clone)]
pub struct SystemLog {
    tx: mpsc::Sender<LogEntry>,
    dropped: Arc<AtomicU64>,
}

impl SystemLog {
    /// Starts the writer task on the current tokio runtime. It ends when every `SystemLog` and
    /// layer made from this one is dropped.
    pub fn start(store: Arc<dyn Store>) -> (SystemLog, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<LogEntry>(QUEUE);
        let task = tokio::spawn(async move {
            while let Some(entry) = rx.recv().await {
                if let Err(e) = store.append_log(&entry).await {
                    // Not through tracing: that would feed this very queue.
                    eprintln!("ftpman: could not write the system log: {e}");
                }
            }
        });
        (
            SystemLog {
                tx,
                dropped: Arc::new(AtomicU64::new(0)),
            },
            task,
        )
    }

    /// Queues an entry; never blocks. `context` should be a JSON object.
    pub fn write(&self, level: LogLevel, component: &str, message: impl Into<String>, context: serde_json::Value) {
        let entry = LogEntry {
            id: 0,
            time: Utc::now(),
            level,
            component: component.to_string(),
            message: message.into(),
            context,
        };
        if self.tx.try_send(entry).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Entries dropped because the store fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// A `tracing` layer feeding this log.
    pub fn layer(&self) -> SystemLogLayer {
        SystemLogLayer { log: self.clone() }
    }
}

/// A `tracing` layer that records `ftpman*` events at `info` and above into the system log.
/// The component is the target's second segment (`ftpman::engine` -> `engine`).
#[derive(Clone)]
pub struct SystemLogLayer {
    log: SystemLog,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SystemLogLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let target = meta.target();
        if !(target == "ftpman" || target.starts_with("ftpman::") || target.starts_with("ftpman_")) {
            return;
        }
        let level = match *meta.level() {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            _ => return,
        };
        let component = target.split("::").nth(1).unwrap_or(target);
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        self.log.write(
            level,
            component,
            visitor.message,
            serde_json::Value::Object(visitor.fields),
        );
    }
}

#[derive(Default)]
struct FieldVisitor {
    message: String,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.fields.insert(field.name().to_string(), value.into());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.insert(field.name().to_string(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.insert(field.name().to_string(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.insert(field.name().to_string(), value.into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.fields.insert(field.name().to_string(), text.into());
        }
    }
}
