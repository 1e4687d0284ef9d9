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
    /// Bytes moved (sent about every chunk; subscribers sum them).
    Progress {
        /// The run.
        run_id: i64,
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
    },
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
            RunEvent::Finished { run } => run.id,
        }
    }
}
