//! The scheduler under load: JOBS enabled jobs on one schedule, trivial local work, for SECONDS.
//! Reports fire lateness (a run's creation minus its scheduled instant), CPU time, and RSS.

use ftpman_core::engine::{Engine, EngineConfig};
use ftpman_core::model::{Job, RunQuery, Schedule, Site, SiteUrl};
use ftpman_core::scheduler::Scheduler;
use ftpman_core::scheduler::service::{Service, ServiceConfig};
use ftpman_core::transport::ProtocolConnector;
use std::sync::Arc;
use std::time::Duration;

/// CPU seconds (user + system) this process has used.
pub(crate) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; here at 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

pub(crate) fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Two local sites, `src` and `dst`, in folders of those names under `dir`: the ends of the
/// benchmark's trivial jobs.
pub(crate) async fn local_sites(store: &dyn ftpman_core::Store, dir: &std::path::Path) -> Result<(Site, Site), String> {
    let mut sites = Vec::new();
    for name in ["src", "dst"] {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let url = SiteUrl::parse(&format!("file://{}", path.display())).map_err(|e| e.to_string())?;
        let site = Site::new(name, &url).map_err(|e| e.to_string())?;
        sites.push(store.create_site(&site).await.map_err(|e| e.to_string())?);
    }
    let d = sites.pop().ok_or("no target site")?;
    let s = sites.pop().ok_or("no source site")?;
    Ok((s, d))
}

/// The scheduler service of one node on `store`, running up to 16 runs at once.
pub(crate) fn service(store: Arc<dyn ftpman_core::Store>, config: EngineConfig) -> Arc<Service> {
    let engine = Engine::new(store, Arc::new(ProtocolConnector), config);
    Arc::new(Service::new(
        engine,
        ServiceConfig {
            max_concurrent_runs: 16,
            ..ServiceConfig::default()
        },
    ))
}

pub async fn run(jobs: usize, seconds: u64, cron: &str) -> Result<String, String> {
    let dir = std::env::temp_dir().join(format!("ftpman-sched-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let store = ftpman_core::store::open(
        &format!("sqlite://{}", dir.join("ftpman.db").display()),
        Some(ftpman_core::KeySource::Key(Box::new([6u8; 32]))),
    )
    .await
    .map_err(|e| e.to_string())?;
    let (s, d) = local_sites(store.as_ref(), &dir).await?;
    for n in 0..jobs {
        let mut job = Job::new(&format!("j{n}"), s.id, "/", d.id, &format!("/j{n}"));
        job.schedule = Schedule::Cron {
            expr: cron.to_string(),
            tz: chrono_tz::UTC,
        };
        store.create_job(&job).await.map_err(|e| e.to_string())?;
    }
    let service = service(store.clone(), EngineConfig::default());
    let (tx, rx) = tokio::sync::watch::channel(false);
    let cpu0 = cpu_seconds();
    eprintln!("service starts at {}", chrono::Utc::now().format("%H:%M:%S"));
    let serving = {
        let service = service.clone();
        tokio::spawn(async move { service.run_until(rx).await })
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let _ = tx.send(true);
    let _ = serving.await;
    let cpu = cpu_seconds() - cpu0;
    // The store pages runs 10,000 at a time.
    let mut runs = Vec::new();
    loop {
        let page = store
            .runs(&RunQuery {
                limit: Some(10_000),
                offset: runs.len() as i64,
                ..RunQuery::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        if page.is_empty() {
            break;
        }
        runs.extend(page);
    }
    let mut late: Vec<i64> = runs
        .iter()
        .filter_map(|r| r.scheduled_for.map(|f| (r.created_at - f).num_milliseconds()))
        .collect();
    late.sort();
    let executed = runs.iter().filter(|r| r.status.is_final()).count();
    let mut instants: Vec<String> = runs
        .iter()
        .filter_map(|r| r.scheduled_for.map(|f| f.format("%H:%M:%S").to_string()))
        .collect();
    instants.sort();
    instants.dedup();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(format!(
        "jobs={jobs} instants={} fires={} executed={executed} lateness_p50_ms={} lateness_p99_ms={} lateness_max_ms={} cpu_s={cpu:.2} cpu_s_per_min={:.2}",
        instants.join(","),
        late.len(),
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0),
        cpu * 60.0 / seconds as f64
    ))
}
