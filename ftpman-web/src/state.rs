//! What every handler is given: the manager, the server's settings, this node's metrics, and
//! whether the process is stopping.

use crate::config::WebConfig;
use ftpman_core::Manager;
use ftpman_core::metrics::Metrics;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// The handlers' state.
#[derive(Clone)]
pub struct AppState {
    /// The one API of the core.
    pub manager: Manager,
    /// The server's settings.
    pub config: Arc<WebConfig>,
    /// This node's counters, for `/metrics`.
    pub metrics: Metrics,
    /// Set while this process's scheduler runs (for `/readyz`).
    pub scheduler_running: Arc<AtomicBool>,
    /// Turns true when the process is stopping: live event streams end.
    pub stopping: watch::Receiver<bool>,
}

impl AppState {
    /// The state for `manager` with `config`; `stopping` tells streams when to end.
    pub fn new(manager: Manager, config: WebConfig, stopping: watch::Receiver<bool>) -> AppState {
        let metrics = Metrics::follow(&manager);
        AppState {
            manager,
            config: Arc::new(config),
            metrics,
            scheduler_running: Arc::new(AtomicBool::new(false)),
            stopping,
        }
    }

    /// Whether the scheduler is running, if this process runs one.
    pub fn scheduler_ok(&self) -> bool {
        !self.config.scheduler || self.scheduler_running.load(Ordering::Relaxed)
    }
}
