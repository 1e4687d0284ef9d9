//! `ftpman serve`: the scheduler and the web server (dashboard and REST API), until SIGINT or
//! SIGTERM; then both drain together.

use crate::CmdResult;
use crate::cli::ServeArgs;
use crate::commands::shutdown_signal;
use ftpman_core::Manager;
use ftpman_core::scheduler::Scheduler;
use ftpman_core::scheduler::service::{Service, ServiceConfig};
use ftpman_web::client::IpRange;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

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
    let web_task = if args.no_web {
        None
    } else {
        let listener = tokio::net::TcpListener::bind(&args.bind)
            .await
            .map_err(|e| crate::Failure::from(format!("cannot listen on {}: {e}", args.bind)))?;
        if let Some((user, password)) = m.first_admin().await? {
            // Printed once, to the console of whoever started the first serve: nowhere else.
            eprintln!(
                "No web user existed: made '{user}' (admin) with the one-time password\n\n    {}\n\nSign in and change it, or add your own users with `ftpman user add`.",
                password.expose()
            );
        }
        let state = ftpman_web::AppState::new(m.clone(), web.clone(), rx.clone());
        let scheduler_flag = state.scheduler_running.clone();
        let mut stop = rx.clone();
        let shown = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| args.bind.clone());
        tracing::info!(target: "ftpman::web", "web UI and API on http://{shown}{}/", web.base_path);
        let task = tokio::spawn(async move {
            ftpman_web::serve(listener, state, async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
        });
        Some((task, scheduler_flag))
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new runs are claimed; running files get time to finish");
        let _ = tx.send(true);
    });
    let scheduled = if args.no_scheduler {
        let mut rx = rx;
        let _ = rx.wait_for(|stop| *stop).await;
        Ok(())
    } else {
        if let Some((_, flag)) = &web_task {
            flag.store(true, Ordering::Relaxed);
        }
        let service = Service::new(m.engine().clone(), service_config);
        let result = service.run_until(rx).await;
        if let Some((_, flag)) = &web_task {
            flag.store(false, Ordering::Relaxed);
        }
        result.map_err(|e| crate::Failure::from(e.to_string()))
    };
    if let Some((task, _)) = web_task {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(crate::Failure::from(format!("the web server failed: {e}"))),
            Err(e) => return Err(crate::Failure::from(format!("the web server stopped: {e}"))),
        }
    }
    scheduled?;
    Ok(ExitCode::SUCCESS)
}
