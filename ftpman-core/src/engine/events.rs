//! Live progress of runs, for every frontend to subscribe to (the CLI's progress bar, the web
//! page's Server-Sent Events, Python callbacks).

use crate::model::{Run, RunFileStatus};

/// Something that happened in a run.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// A run started on this node.
    Started {
        /// The run.
        run_id: i64,
        /// Its job.
        job: String,
    },
    /// The source was listed and filtered.
    Planned {
        /// The run.
        run_id: i64,
        /// Files to move.
        files: u64,
        /// Their bytes.
        bytes: u64,
        /// Files left out by the ledger (already delivered).
        already_delivered: u64,
    },
    /// A file started moving.
    FileStarted {
        /// The run.
        run_id: i64,
        /// Its path at the source.
        path: String,
        /// Its size.
        size: u64,
    },
    /// Bytes moved (at most a few times a second per file; subscribers sum them).
    Progress {
        /// The run.
        run_id: i64,
        /// The file's path at the source.
        path: String,
        /// Bytes moved since the last event.
        bytes: u64,
    },
    /// A file ended.
    FileFinished {
        /// The run.
        run_id: i64,
        /// Its path at the source.
        path: String,
        /// How it ended.
        status: RunFileStatus,
        /// Why it failed, if it did.
        error: Option<String>,
    },
    /// The run ended.
    Finished {
        /// The run as stored.
        run: Box<Run>,
        /// Its job's name.
        job: String,
    },
}

/// Events are serialised as one JSON object each, `"event"` naming the kind (`started`,
/// `planned`, `file_started`, `progress`, `file_finished`, `finished`), for the web API's
/// Server-Sent Events and Python.
impl serde::Serialize for RunEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde_json::json;
        let value = match self {
            RunEvent::Started { run_id, job } => json!({"event": "started", "run_id": run_id, "job": job}),
            RunEvent::Planned {
                run_id,
                files,
                bytes,
                already_delivered,
            } => json!({"event": "planned", "run_id": run_id, "files": files, "bytes": bytes,
                        "already_delivered": already_delivered}),
            RunEvent::FileStarted { run_id, path, size } => {
                json!({"event": "file_started", "run_id": run_id, "path": path, "size": size})
            }
            RunEvent::Progress { run_id, path, bytes } => {
                json!({"event": "progress", "run_id": run_id, "path": path, "bytes": bytes})
            }
            RunEvent::FileFinished {
                run_id,
                path,
                status,
                error,
            } => json!({"event": "file_finished", "run_id": run_id, "path": path, "status": status.as_str(),
                        "error": error}),
            RunEvent::Finished { run, job } => {
                json!({"event": "finished", "run_id": run.id, "run": crate::manager::views::RunView::new(run, job)})
            }
        };
        value.serialize(s)
    }
}

impl RunEvent {
    /// The run the event belongs to.
    pub fn run_id(&self) -> i64 {
        match self {
            RunEvent::Started { run_id, .. }
            | RunEvent::Planned { run_id, .. }
            | RunEvent::FileStarted { run_id, .. }
            | RunEvent::Progress { run_id, .. }
            | RunEvent::FileFinished { run_id, .. } => *run_id,
            RunEvent::Finished { run, .. } => run.id,
        }
    }
}
