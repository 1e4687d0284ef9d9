//! The dashboard: totals, charts of the last 30 days, what runs now, what failed, what fires
//! next, and the nodes.

use super::render::when;
use super::{Frame, Layout, PageResult, RunRow, charts, layout, page, run_row};
use crate::state::AppState;
use askama::Template;
use axum::extract::State;
struct Stat {
    value: String,
    label: &'static str,
    note: String,
}

struct FireRow {
    job: String,
    at: String,
    schedule: String,
}

struct NodeRow {
    id: String,
    started: String,
    heartbeat: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    stats: Vec<Stat>,
    runs_chart: String,
    bytes_chart: String,
    running: Vec<RunRow>,
    failures: Vec<RunRow>,
    fires: Vec<FireRow>,
    nodes: Vec<NodeRow>,
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "–".into())
}

pub(super) async fn dashboard(State(s): State<AppState>, frame: Frame) -> PageResult {
    let layout = layout(&s, &frame, "Dashboard", "/").await?;
    let sum = s.manager.summary(chrono::Utc::now()).await?;
    let stats = vec![
        Stat {
            value: sum.sites.to_string(),
            label: "sites",
            note: String::new(),
        },
        Stat {
            value: sum.jobs.to_string(),
            label: "jobs",
            note: format!("{} enabled", sum.enabled_jobs),
        },
        Stat {
            value: sum.runs_today.to_string(),
            label: "runs today",
            note: String::new(),
        },
        Stat {
            value: rate(sum.success_rate_7d),
            label: "succeeded, 7 days",
            note: String::new(),
        },
        Stat {
            value: rate(sum.success_rate_30d),
            label: "succeeded, 30 days",
            note: String::new(),
        },
        Stat {
            value: ftpman_core::validate::format_bytes(sum.bytes_30d.max(0) as u64),
            label: "moved, 30 days",
            note: String::new(),
        },
    ];
    page(DashboardPage {
        runs_chart: charts::runs_per_day(&sum.days),
        bytes_chart: charts::bytes_per_day(&sum.days),
        running: sum.running.iter().map(run_row).collect(),
        failures: sum.recent_failures.iter().map(run_row).collect(),
        fires: sum
            .next_fires
            .iter()
            .map(|f| FireRow {
                job: f.job.clone(),
                at: when(Some(&f.at)),
                schedule: f.schedule.clone(),
            })
            .collect(),
        nodes: sum
            .nodes
            .iter()
            .map(|n| NodeRow {
                id: n.id.clone(),
                started: when(Some(&n.started_at)),
                heartbeat: when(Some(&n.heartbeat_at)),
            })
            .collect(),
        layout,
        stats,
    })
}
