//! `ftpman serve`: the scheduler and the web server (dashboard and REST API), until SIGINT or
//! SIGTERM; then both drain together.

use crate::CmdResult;
use crate::cli::ServeArgs;
use crate::commands::shutdown_signal;
use ftpman_core::Manager;
use ftpman_core::scheduler::service::ServiceConfig;
use ftpman_web::client::IpRange;
use ftpman_web::node::{NodeConfig, NodeError, run_node};
use std::process::ExitCode;

fn web_config(args: &ServeArgs) -> Result<ftpman_web::WebConfig, crate::Failure> {
    let usage = crate::Failure::usage;
    let trusted_proxies = args
        .trusted_proxy
        .iter()
        .map(|p| IpRange::parse(p).map_err(|e| usage(format!("--trusted-proxy: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ftpman_web::WebConfig {
        base_path: ftpman_web::WebConfig::parse_base_path(&args.base_path)
            .map_err(|e| usage(format!("--base-path: {e}")))?,
        trusted_proxies,
        upload_limit: ftpman_core::validate::parse_rate("upload-limit", &args.upload_limit)
            .map_err(|e| usage(e.to_string()))?,
        scheduler: !args.no_scheduler,
    })
}

pub async fn serve(m: Manager, args: ServeArgs) -> CmdResult {
    let usage = |e: ftpman_core::ValidationError| crate::Failure::usage(e.to_string());
    let lease = ftpman_core::validate::parse_duration("lease", &args.lease).map_err(usage)?;
    let grace = ftpman_core::validate::parse_duration("grace", &args.grace).map_err(usage)?;
    let service_config = ServiceConfig::for_node(lease, grace, args.max_runs).map_err(usage)?;
    let web = web_config(&args)?;
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
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new runs are claimed; running files get time to finish");
        let _ = tx.send(true);
    });
    let node = NodeConfig {
        bind: (!args.no_web).then(|| args.bind.clone()),
        web,
        scheduler: (!args.no_scheduler).then_some(service_config),
    };
    let base = node.web.base_path.clone();
    run_node(m, node, rx, |addr, first| {
        if let Some((user, password)) = first {
            // Printed once, to the console of whoever started the first serve: nowhere else.
            eprintln!(
                "No web user existed: made '{user}' (admin) with the one-time password\n\n    {}\n\nSign in and change it, or add your own users with `ftpman user add`.",
                password.expose()
            );
        }
        if let Some(addr) = addr {
            tracing::info!(target: "ftpman::web", "web API on http://{addr}{base}/api/v1/ (its description: {base}/api/v1/openapi.json)");
        }
    })
    .await
    .map_err(|e| match e {
        NodeError::Core(e) => crate::Failure::from(e),
        other => crate::Failure::from(other.to_string()),
    })?;
    Ok(ExitCode::SUCCESS)
}
