//! Runs and logs: run a job now, list runs, show one with its files, read the system log.

use super::{Manager, ManagerError, ManagerResult};
use crate::model::{LogEntry, LogLevel, LogQuery, Run, RunFile, RunQuery, Trigger};

impl Manager {
    /// Runs a job now on this process and returns the finished run. Subscribe to
    /// [`crate::engine::Engine::subscribe`] first for live progress.
    pub async fn run_job(&self, name: &str, dry_run: bool, trigger: Trigger) -> ManagerResult<Run> {
        let job = self.job(name).await?;
        Ok(self.engine().run_job(&job, trigger, dry_run).await?)
    }

    /// Runs, newest first; of one job when `job` is given.
    pub async fn runs(&self, job: Option<&str>, limit: i64) -> ManagerResult<Vec<Run>> {
        let job_id = match job {
            Some(name) => Some(self.job(name).await?.id),
            None => None,
        };
        Ok(self
            .store
            .runs(&RunQuery {
                job_id,
                limit: Some(limit),
                ..RunQuery::default()
            })
            .await?)
    }

    /// One run with its files.
    pub async fn run(&self, id: i64) -> ManagerResult<(Run, Vec<RunFile>)> {
        let run = self.store.run(id).await.map_err(|e| match ManagerError::from(e) {
            ManagerError::NotFound { kind, name, .. } => ManagerError::NotFound {
                kind,
                name,
                suggestion: None,
            },
            other => other,
        })?;
        let files = self.store.run_files(id).await?;
        Ok((run, files))
    }

    /// System log entries, newest first, at least `level` severe.
    pub async fn logs(&self, level: Option<LogLevel>, limit: i64) -> ManagerResult<Vec<LogEntry>> {
        Ok(self
            .store
            .logs(&LogQuery {
                min_level: level,
                limit: Some(limit),
                ..LogQuery::default()
            })
            .await?)
    }

    /// System log entries newer than `after_id`, oldest first (for following the log).
    pub async fn logs_after(&self, level: Option<LogLevel>, after_id: i64) -> ManagerResult<Vec<LogEntry>> {
        let mut entries = self
            .store
            .logs(&LogQuery {
                min_level: level,
                after_id: Some(after_id),
                limit: Some(1_000),
                ..LogQuery::default()
            })
            .await?;
        entries.reverse();
        Ok(entries)
    }
}
