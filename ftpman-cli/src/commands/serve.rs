//! `ftpman serve`: the scheduler until SIGINT or SIGTERM.

use crate::CmdResult;
use crate::cli::ServeArgs;
use crate::commands::shutdown_signal;
use ftpman_core::Manager;
use ftpman_core::scheduler::Scheduler;
use ftpman_core::scheduler::service::{Service, ServiceConfig};
use std::process::ExitCode;

pub async fn serve(m: Manager, args: ServeArgs) -> CmdResult {
    let usage = |e: ftpman_core::ValidationError| crate::Failure::usage(e.to_string());
    let lease = ftpman_core::validate::parse_duration("lease", &args.lease).map_err(usage)?;
    let grace = ftpman_core::validate::parse_duration("grace", &args.grace).map_err(usage)?;
    let service_config = ServiceConfig::for_node(lease, grace, args.max_runs).map_err(usage)?;
    let mut config = ftpman_core::engine::EngineConfig {
        lease,
        ..ftpman_core::engine::EngineConfig::default()
    };
    if let Some(id) = &args.node_id {
        config.node_id = id.clone();
    }
    if let Ok(Some(base)) = m.store().setting("web.base_url").await {
        config.base_url = Some(base.value.expose().to_string());
    }
    let m = m.with_engine_config(config);
    if !args.no_web {
        tracing::warn!(
            "the web UI is not part of this build yet; serving the scheduler only ({} is not bound)",
            args.bind
        );
    }
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new runs are claimed; running files get time to finish");
        let _ = tx.send(true);
    });
    if args.no_scheduler {
        let mut rx = rx;
        let _ = rx.wait_for(|stop| *stop).await;
        return Ok(ExitCode::SUCCESS);
    }
    let service = Service::new(m.engine().clone(), service_config);
    service
        .run_until(rx)
        .await
        .map_err(|e| crate::Failure::from(e.to_string()))?;
    Ok(ExitCode::SUCCESS)
}
