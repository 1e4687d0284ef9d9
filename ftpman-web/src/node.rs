//! One ftpman node: the scheduler and the web server in one process, stopping together. What
//! `ftpman serve` runs, and Python's `Manager.serve()`.

use crate::{AppState, WebConfig};
use ftpman_core::Manager;
use ftpman_core::scheduler::Scheduler;
use ftpman_core::scheduler::service::{Service, ServiceConfig};
use std::sync::atomic::Ordering;
use tokio::sync::watch;

/// What a node runs.
pub struct NodeConfig {
    /// Where the web server listens; `None`: no web server.
    pub bind: Option<String>,
    /// The web server's settings.
    pub web: WebConfig,
    /// The scheduler's settings; `None`: no scheduler.
    pub scheduler: Option<ServiceConfig>,
}

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The address could not be listened on.
    #[error("cannot listen on {bind}: {source}")]
    Bind {
        /// The address.
        bind: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The web server failed.
    #[error("the web server failed: {0}")]
    Web(String),
    /// The core failed (the database, the scheduler).
    #[error(transparent)]
    Core(#[from] ftpman_core::ManagerError),
}

/// Runs a node until `stop` turns true: then no new run is claimed, running files get the
/// scheduler's grace, and the web server finishes the requests in flight. `started` is told the
/// web server's address once it listens, and the one-time admin password when a first user
/// had to be made.
pub async fn run_node(
    manager: Manager,
    config: NodeConfig,
    stop: watch::Receiver<bool>,
    started: impl FnOnce(Option<std::net::SocketAddr>, Option<(String, ftpman_core::Secret)>),
) -> Result<(), NodeError> {
    let mut web_task = None;
    let mut flag = None;
    let mut addr = None;
    let mut first = None;
    if let Some(bind) = &config.bind {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| NodeError::Bind {
                bind: bind.clone(),
                source,
            })?;
        addr = listener.local_addr().ok();
        first = manager.first_admin().await?;
        let mut web = config.web.clone();
        web.scheduler = config.scheduler.is_some();
        let state = AppState::new(manager.clone(), web, stop.clone());
        flag = Some(state.scheduler_running.clone());
        let mut until = stop.clone();
        web_task = Some(tokio::spawn(crate::serve(listener, state, async move {
            let _ = until.wait_for(|s| *s).await;
        })));
    }
    started(addr, first);
    let scheduled = match config.scheduler {
        Some(service_config) => {
            if let Some(f) = &flag {
                f.store(true, Ordering::Relaxed);
            }
            let service = Service::new(manager.engine().clone(), service_config);
            let result = service.run_until(stop).await;
            if let Some(f) = &flag {
                f.store(false, Ordering::Relaxed);
            }
            result.map_err(|e| NodeError::Core(e.into()))
        }
        None => {
            let mut stop = stop;
            let _ = stop.wait_for(|s| *s).await;
            Ok(())
        }
    };
    if let Some(task) = web_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(NodeError::Web(e.to_string())),
            Err(e) => return Err(NodeError::Web(e.to_string())),
        }
    }
    scheduled
}
