//! Several `serve` nodes' schedulers on one PostgreSQL: JOBS jobs seeded once, a node process
//! each, and a check that every fire in a window was run exactly once.
//!
//! ```text
//! ftpman-bench cluster-seed PG_URL JOBS DIR      JOBS jobs (cron "0 0 1 1 *", nothing due), two local sites under DIR
//! ftpman-bench cluster-node PG_URL NODE SECONDS  one node's scheduler for SECONDS: its CPU
//! ftpman-bench cluster-check PG_URL FROM TO      every fire of every job in [FROM, TO) (RFC 3339): once each?
//! ```
//! Between seeding and the busy phase, `benches/run.sh` spreads the jobs over the hour
//! (`M * * * *`, M = id mod 60) with one UPDATE, as an operator's edit would reach every node.

use crate::scheduler::{cpu_seconds, local_sites, percentile, service};
use ftpman_core::engine::EngineConfig;
use ftpman_core::model::{Job, RunQuery, Schedule};
use ftpman_core::scheduler::Scheduler;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const KEY: [u8; 32] = [9u8; 32];

/// Seconds after a node's start before its steady CPU is counted.
const WARM_UP: u64 = 15;

async fn open(url: &str) -> Result<Arc<dyn ftpman_core::Store>, String> {
    ftpman_core::store::open(url, Some(ftpman_core::KeySource::Key(Box::new(KEY))))
        .await
        .map_err(|e| e.to_string())
}

/// Seeds `jobs` jobs between two local folders under `dir`, 32 inserts in flight at a time.
pub async fn seed(url: &str, jobs: usize, dir: &str) -> Result<String, String> {
    let store = open(url).await?;
    let (s, d) = local_sites(store.as_ref(), std::path::Path::new(dir)).await?;
    let started = std::time::Instant::now();
    let mut n = 0;
    while n < jobs {
        let batch: Vec<Job> = (n..(n + 32).min(jobs))
            .map(|i| {
                let mut job = Job::new(&format!("j{i}"), s.id, "/", d.id, &format!("/j{i}"));
                job.schedule = Schedule::Cron {
                    expr: "0 0 1 1 *".into(),
                    tz: chrono_tz::UTC,
                };
                job
            })
            .collect();
        let made = futures_util::future::join_all(batch.iter().map(|j| store.create_job(j))).await;
        for m in made {
            m.map_err(|e| e.to_string())?;
        }
        n += batch.len();
    }
    Ok(format!(
        "jobs={jobs} seed_seconds={:.1}",
        started.elapsed().as_secs_f64()
    ))
}

/// Runs one node's scheduler (claiming and executing runs too) for `seconds`.
pub async fn node(url: &str, node_id: &str, seconds: u64) -> Result<String, String> {
    let store = open(url).await?;
    let service = service(
        store,
        EngineConfig {
            node_id: node_id.to_string(),
            ..EngineConfig::default()
        },
    );
    let (tx, rx) = tokio::sync::watch::channel(false);
    let cpu0 = cpu_seconds();
    let serving = {
        let service = service.clone();
        tokio::spawn(async move { service.run_until(rx).await })
    };
    // Steady: after the start (the jobs loaded, every next fire computed), to the end.
    let warm_up = WARM_UP.min(seconds / 2);
    tokio::time::sleep(Duration::from_secs(warm_up)).await;
    let cpu_warm = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(seconds - warm_up)).await;
    let _ = tx.send(true);
    let _ = serving.await;
    let cpu = cpu_seconds() - cpu0;
    let steady = cpu_seconds() - cpu_warm;
    Ok(format!(
        "node={node_id} cpu_s={cpu:.2} cpu_s_per_min={:.2} start_cpu_s={:.2} steady_cpu_s_per_min={:.2}",
        cpu * 60.0 / seconds as f64,
        cpu_warm - cpu0,
        steady * 60.0 / (seconds - warm_up).max(1) as f64
    ))
}

/// Checks the runs of the fires in `[from, to)`: each fire of each job once, none twice,
/// lateness, and which node ran them.
pub async fn check(url: &str, from: &str, to: &str) -> Result<String, String> {
    let parse = |t: &str| -> Result<chrono::DateTime<chrono::Utc>, String> {
        chrono::DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| format!("{t}: {e}"))
    };
    let (from, to) = (parse(from)?, parse(to)?);
    let store = open(url).await?;
    let jobs = store.jobs().await.map_err(|e| e.to_string())?;
    // Every fire each job's schedule has in the window.
    let mut expected = 0usize;
    let mut wanted: HashMap<(i64, i64), usize> = HashMap::new();
    for job in &jobs {
        let fires = ftpman_core::scheduler::next_fires_of(&job.schedule, from - chrono::Duration::milliseconds(1), 10)
            .map_err(|e| e.to_string())?;
        for f in fires.into_iter().take_while(|f| *f < to) {
            wanted.insert((job.id, f.timestamp_millis()), 0);
            expected += 1;
        }
    }
    let mut late = Vec::new();
    let mut by_node: HashMap<String, usize> = HashMap::new();
    let (mut offset, mut executed, mut outside) = (0i64, 0usize, 0usize);
    loop {
        let page = store
            .runs(&RunQuery {
                limit: Some(10_000),
                offset,
                ..RunQuery::default()
            })
            .await
            .map_err(|e| e.to_string())?;
        if page.is_empty() {
            break;
        }
        offset += page.len() as i64;
        for run in page {
            let Some(fire) = run.scheduled_for else { continue };
            match wanted.get_mut(&(run.job_id, fire.timestamp_millis())) {
                Some(seen) => {
                    *seen += 1;
                    late.push((run.created_at - fire).num_milliseconds());
                    if run.status.is_final() {
                        executed += 1;
                    }
                    *by_node
                        .entry(run.node_id.clone().unwrap_or_else(|| "-".into()))
                        .or_default() += 1;
                }
                None => outside += 1,
            }
        }
    }
    late.sort();
    let missed = wanted.values().filter(|n| **n == 0).count();
    let twice = wanted.values().filter(|n| **n > 1).count();
    let mut nodes: Vec<String> = by_node.into_iter().map(|(n, c)| format!("{n}:{c}")).collect();
    nodes.sort();
    Ok(format!(
        "expected={expected} fired_once={} missed={missed} twice={twice} outside_window={outside} executed={executed} lateness_p50_ms={} lateness_p99_ms={} lateness_max_ms={} by_node={}",
        expected - missed - twice,
        percentile(&late, 0.5),
        percentile(&late, 0.99),
        late.last().copied().unwrap_or(0),
        nodes.join(",")
    ))
}
