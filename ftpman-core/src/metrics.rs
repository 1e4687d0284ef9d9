//! What this node did since it started, for Prometheus: runs by job and status, files and
//! bytes by job and site, failures, run and file durations and scheduling lateness as
//! histograms; fed by the engine's events. Gauges that describe the whole cluster (queued
//! runs, connection slots) are read from the store when scraped.

use crate::engine::RunEvent;
use crate::model::{RunFileStatus, RunStatus, Trigger};
use crate::{Manager, ManagerResult};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const RUN_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0];
const FILE_BUCKETS: &[f64] = &[0.05, 0.25, 1.0, 5.0, 15.0, 60.0, 300.0, 1800.0];
const LATENESS_BUCKETS: &[f64] = &[0.5, 1.0, 5.0, 15.0, 60.0, 300.0];

/// A Prometheus histogram: counts per upper bound, a sum and a count.
#[derive(Debug, Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct Counters {
    runs: BTreeMap<(String, &'static str), u64>,
    files: BTreeMap<(String, String, &'static str), (u64, u64)>,
    run_seconds: BTreeMap<String, Histogram>,
    file_seconds: Option<Histogram>,
    lateness: Option<Histogram>,
    /// Files moving now: (run, path) -> (job, site, size, started).
    active: HashMap<(i64, String), (String, String, u64, Instant)>,
    /// Runs seen starting: run -> (job, source site).
    run_jobs: HashMap<i64, (String, String)>,
}

/// This node's counters; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Counters>>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts counting `manager`'s engine events, until the engine is dropped.
    pub fn follow(manager: &Manager) -> Metrics {
        let metrics = Metrics::default();
        let mut events = manager.engine().subscribe();
        let m = metrics.clone();
        let manager = manager.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(e) => m.observe(&manager, e).await,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        metrics
    }

    async fn observe(&self, manager: &Manager, e: RunEvent) {
        match e {
            RunEvent::Started { run_id, job } => {
                // The job's source site labels its files: the site the files come from.
                let site = match manager.job(&job).await {
                    Ok(j) => manager
                        .store()
                        .site_by_id(j.source_site_id)
                        .await
                        .map(|s| s.name)
                        .unwrap_or_default(),
                    Err(_) => String::new(),
                };
                self.lock().run_jobs.insert(run_id, (job, site));
            }
            RunEvent::FileStarted { run_id, path, size } => {
                let mut c = self.lock();
                let (job, site) = c.run_jobs.get(&run_id).cloned().unwrap_or_default();
                c.active.insert((run_id, path), (job, site, size, Instant::now()));
            }
            RunEvent::FileFinished {
                run_id, path, status, ..
            } => {
                let mut c = self.lock();
                if let Some((job, site, size, started)) = c.active.remove(&(run_id, path)) {
                    let status = status.as_str();
                    let entry = c.files.entry((job, site, status)).or_default();
                    entry.0 += 1;
                    if status == RunFileStatus::Transferred.as_str() {
                        entry.1 += size;
                    }
                    c.file_seconds
                        .get_or_insert_with(|| Histogram::new(FILE_BUCKETS))
                        .observe(started.elapsed().as_secs_f64());
                }
            }
            RunEvent::Finished { run, job } => {
                let mut c = self.lock();
                c.run_jobs.remove(&run.id);
                c.active.retain(|(id, _), _| *id != run.id);
                *c.runs.entry((job.clone(), run.status.as_str())).or_default() += 1;
                if let Some(d) = run.duration_secs() {
                    c.run_seconds
                        .entry(job)
                        .or_insert_with(|| Histogram::new(RUN_BUCKETS))
                        .observe(d);
                }
                if let (Trigger::Schedule, Some(due), Some(started)) = (run.trigger, run.scheduled_for, run.started_at)
                {
                    let late = (started - due).num_milliseconds().max(0) as f64 / 1000.0;
                    c.lateness
                        .get_or_insert_with(|| Histogram::new(LATENESS_BUCKETS))
                        .observe(late);
                }
            }
            RunEvent::Planned { .. } | RunEvent::Progress { .. } => {}
        }
    }

    /// Everything in the Prometheus text format (version 0.0.4).
    pub async fn render(&self, manager: &Manager) -> ManagerResult<String> {
        let store = manager.store();
        let queued = store.count_runs(RunStatus::Queued).await?;
        let running = store.count_runs(RunStatus::Running).await?;
        let now = chrono::Utc::now();
        let mut slots = Vec::new();
        for site in store.sites().await? {
            slots.push((site.name.clone(), store.site_slots_held(site.id, now).await?));
        }
        let mut out = String::new();
        let c = self.lock();
        out.push_str("# HELP ftpman_runs_total Runs this node finished, by job and status.\n");
        out.push_str("# TYPE ftpman_runs_total counter\n");
        for ((job, status), n) in &c.runs {
            let _ = writeln!(
                out,
                "ftpman_runs_total{{job=\"{}\",status=\"{status}\"}} {n}",
                escape(job)
            );
        }
        out.push_str("# HELP ftpman_files_total Files this node finished, by job, source site and status.\n");
        out.push_str("# TYPE ftpman_files_total counter\n");
        for ((job, site, status), (n, _)) in &c.files {
            let _ = writeln!(
                out,
                "ftpman_files_total{{job=\"{}\",site=\"{}\",status=\"{status}\"}} {n}",
                escape(job),
                escape(site)
            );
        }
        out.push_str("# HELP ftpman_bytes_total Bytes of files this node delivered, by job and source site.\n");
        out.push_str("# TYPE ftpman_bytes_total counter\n");
        let mut bytes: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for ((job, site, _), (_, b)) in &c.files {
            *bytes.entry((job, site)).or_default() += b;
        }
        for ((job, site), b) in bytes {
            let _ = writeln!(
                out,
                "ftpman_bytes_total{{job=\"{}\",site=\"{}\"}} {b}",
                escape(job),
                escape(site)
            );
        }
        out.push_str("# HELP ftpman_file_failures_total Files that failed on this node, by job.\n");
        out.push_str("# TYPE ftpman_file_failures_total counter\n");
        let mut failures: BTreeMap<&str, u64> = BTreeMap::new();
        for ((job, _, status), (n, _)) in &c.files {
            if *status == RunFileStatus::Failed.as_str() {
                *failures.entry(job).or_default() += n;
            }
        }
        for (job, n) in failures {
            let _ = writeln!(out, "ftpman_file_failures_total{{job=\"{}\"}} {n}", escape(job));
        }
        out.push_str("# HELP ftpman_run_duration_seconds How long runs took, by job.\n");
        out.push_str("# TYPE ftpman_run_duration_seconds histogram\n");
        for (job, h) in &c.run_seconds {
            h.render(
                &mut out,
                "ftpman_run_duration_seconds",
                &format!("job=\"{}\"", escape(job)),
            );
        }
        out.push_str("# HELP ftpman_file_duration_seconds How long single files took.\n");
        out.push_str("# TYPE ftpman_file_duration_seconds histogram\n");
        c.file_seconds
            .clone()
            .unwrap_or_else(|| Histogram::new(FILE_BUCKETS))
            .render(&mut out, "ftpman_file_duration_seconds", "");
        out.push_str("# HELP ftpman_schedule_lateness_seconds How long after its due time a scheduled run started.\n");
        out.push_str("# TYPE ftpman_schedule_lateness_seconds histogram\n");
        c.lateness
            .clone()
            .unwrap_or_else(|| Histogram::new(LATENESS_BUCKETS))
            .render(&mut out, "ftpman_schedule_lateness_seconds", "");
        out.push_str("# HELP ftpman_active_transfers Files moving on this node now.\n");
        out.push_str("# TYPE ftpman_active_transfers gauge\n");
        let _ = writeln!(out, "ftpman_active_transfers {}", c.active.len());
        drop(c);
        out.push_str("# HELP ftpman_runs_queued Runs waiting for a node, in the whole cluster.\n");
        out.push_str("# TYPE ftpman_runs_queued gauge\n");
        let _ = writeln!(out, "ftpman_runs_queued {queued}");
        out.push_str("# HELP ftpman_runs_running Runs running now, in the whole cluster.\n");
        out.push_str("# TYPE ftpman_runs_running gauge\n");
        let _ = writeln!(out, "ftpman_runs_running {running}");
        out.push_str("# HELP ftpman_cluster_slots Connection slots held on each site, by every node.\n");
        out.push_str("# TYPE ftpman_cluster_slots gauge\n");
        for (site, n) in slots {
            let _ = writeln!(out, "ftpman_cluster_slots{{site=\"{}\"}} {n}", escape(&site));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let mut h = Histogram::new(&[1.0, 5.0]);
        h.observe(0.5);
        h.observe(3.0);
        h.observe(9.0);
        let mut out = String::new();
        h.render(&mut out, "x", "job=\"a\"");
        assert!(out.contains("x_bucket{job=\"a\",le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{job=\"a\",le=\"5\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{job=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{job=\"a\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{job=\"a\"} 12.5\n"), "{out}");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
