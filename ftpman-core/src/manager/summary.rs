//! The dashboard's summary: totals, runs and bytes per day over 30 days, what fires next, what
//! runs now, the latest failures and the nodes. One call, a few indexed queries, whatever the
//! size of the history.

use super::views::{NodeView, RunView};
use super::{Manager, ManagerResult};
use crate::model::{RunQuery, RunStatus};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// Days the summary's charts cover.
pub const SUMMARY_DAYS: i64 = 30;

/// One day of the charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayView {
    /// The day (UTC), `YYYY-MM-DD`.
    pub day: String,
    /// Runs created that day.
    pub runs: i64,
    /// Of which succeeded.
    pub succeeded: i64,
    /// Of which failed or partial.
    pub failed: i64,
    /// Bytes those runs moved.
    pub bytes: i64,
}

/// A job's next fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FireView {
    /// The job.
    pub job: String,
    /// When (RFC 3339).
    pub at: String,
    /// Its schedule in words.
    pub schedule: String,
}

/// What the dashboard shows at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SummaryView {
    /// Sites defined.
    pub sites: usize,
    /// Jobs defined.
    pub jobs: usize,
    /// Of which enabled.
    pub enabled_jobs: usize,
    /// Runs created since midnight (UTC).
    pub runs_today: i64,
    /// Succeeded runs over finished ones (succeeded, partial, failed) in the last 7 days; `None`
    /// without any.
    pub success_rate_7d: Option<f64>,
    /// The same over 30 days.
    pub success_rate_30d: Option<f64>,
    /// Bytes moved in the last 30 days.
    pub bytes_30d: i64,
    /// One entry per day of the last 30, oldest first (days without runs included).
    pub days: Vec<DayView>,
    /// The next fires, soonest first (at most 10).
    pub next_fires: Vec<FireView>,
    /// Runs running now, anywhere in the cluster.
    pub running: Vec<RunView>,
    /// The latest failed or partial runs (at most 10), with their first error.
    pub recent_failures: Vec<RunView>,
    /// The nodes with their last heartbeat.
    pub nodes: Vec<NodeView>,
}

fn rate(succeeded: i64, failed: i64) -> Option<f64> {
    let finished = succeeded + failed;
    (finished > 0).then(|| succeeded as f64 / finished as f64)
}

impl Manager {
    /// The dashboard's summary as of `now`.
    pub async fn summary(&self, now: DateTime<Utc>) -> ManagerResult<SummaryView> {
        let today = now.date_naive();
        let first = today - Duration::days(SUMMARY_DAYS - 1);
        let since = first.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(now);
        let stats = self.store.daily_stats(since).await?;
        let mut days = Vec::with_capacity(SUMMARY_DAYS as usize);
        let (mut s7, mut f7, mut s30, mut f30, mut bytes_30d, mut runs_today) = (0, 0, 0, 0, 0, 0);
        for i in 0..SUMMARY_DAYS {
            let day = first + Duration::days(i);
            let d = stats.iter().find(|s| s.day == day);
            let (runs, succeeded, failed, bytes) =
                d.map(|d| (d.runs, d.succeeded, d.failed, d.bytes)).unwrap_or_default();
            s30 += succeeded;
            f30 += failed;
            bytes_30d += bytes;
            if today - day < Duration::days(7) {
                s7 += succeeded;
                f7 += failed;
            }
            if day == today {
                runs_today = runs;
            }
            days.push(DayView {
                day: day.to_string(),
                runs,
                succeeded,
                failed,
                bytes,
            });
        }
        let jobs = self.store.jobs().await?;
        let mut next_fires: Vec<(DateTime<Utc>, FireView)> = jobs
            .iter()
            .filter(|j| j.enabled)
            .filter_map(|j| {
                let at = *crate::scheduler::next_fires(j, now, 1).ok()?.first()?;
                Some((
                    at,
                    FireView {
                        job: j.name.clone(),
                        at: at.to_rfc3339(),
                        schedule: j.schedule.describe(),
                    },
                ))
            })
            .collect();
        next_fires.sort_by_key(|(at, _)| *at);
        let running = self
            .store
            .runs(&RunQuery {
                status: Some(RunStatus::Running),
                limit: Some(100),
                ..RunQuery::default()
            })
            .await?;
        let mut failures = Vec::new();
        for status in [RunStatus::Failed, RunStatus::Partial] {
            failures.extend(
                self.store
                    .runs(&RunQuery {
                        status: Some(status),
                        limit: Some(10),
                        ..RunQuery::default()
                    })
                    .await?,
            );
        }
        failures.sort_by_key(|r| std::cmp::Reverse(r.id));
        failures.truncate(10);
        Ok(SummaryView {
            sites: self.store.sites().await?.len(),
            enabled_jobs: jobs.iter().filter(|j| j.enabled).count(),
            jobs: jobs.len(),
            runs_today,
            success_rate_7d: rate(s7, f7),
            success_rate_30d: rate(s30, f30),
            bytes_30d,
            days,
            next_fires: next_fires.into_iter().take(10).map(|(_, f)| f).collect(),
            running: self.run_views(&running).await?,
            recent_failures: self.run_views(&failures).await?,
            nodes: self.store.nodes().await?.iter().map(NodeView::from).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates() {
        assert_eq!(super::rate(0, 0), None);
        assert_eq!(super::rate(3, 1), Some(0.75));
    }
}
