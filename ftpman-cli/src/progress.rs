//! Progress on a terminal (indicatif: bytes, rate, ETA, files, current file), plain lines when
//! the output is not a terminal.

use ftpman_core::engine::RunEvent;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use tokio::sync::broadcast;

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Follows the events of the run of `job` until it finishes; returns when the run ends.
pub async fn follow_run(mut events: broadcast::Receiver<RunEvent>, job: String) {
    let tty = std::io::stderr().is_terminal();
    let mut run_id = None;
    let mut progress: Option<ProgressBar> = None;
    let (mut files_total, mut files_done) = (0u64, 0u64);
    // Files move while the tree is still listed: bytes moved before the totals are known.
    let mut early_bytes = 0u64;
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(_) => break,
        };
        match &event {
            RunEvent::Started { run_id: id, job: j } if *j == job && run_id.is_none() => run_id = Some(*id),
            _ if Some(event.run_id()) != run_id => continue,
            RunEvent::Planned {
                files,
                bytes,
                already_delivered,
                ..
            } => {
                files_total = *files;
                if tty {
                    let b = bar(*bytes);
                    b.inc(early_bytes);
                    progress = Some(b);
                } else {
                    eprintln!(
                        "{files} file(s) to move ({}), {already_delivered} already delivered",
                        crate::output::bytes(*bytes)
                    );
                }
            }
            RunEvent::FileStarted { path, .. } => {
                if let Some(p) = &progress {
                    p.set_message(format!("{files_done}/{files_total} {path}"));
                }
            }
            RunEvent::Progress { bytes, .. } => match &progress {
                Some(p) => p.inc(*bytes),
                None => early_bytes += *bytes,
            },
            RunEvent::FileFinished {
                path, status, error, ..
            } => {
                files_done += 1;
                match &progress {
                    Some(p) => {
                        p.set_message(format!("{files_done}/{files_total}"));
                        if let Some(e) = error {
                            p.println(format!("{status}: {path}: {e}"));
                        }
                    }
                    None => match error {
                        Some(e) => eprintln!("{:<14} {path}: {e}", status.as_str()),
                        None => eprintln!("{:<14} {path}", status.as_str()),
                    },
                }
            }
            RunEvent::Finished { .. } => {
                if let Some(p) = progress.take() {
                    p.finish_and_clear();
                }
                break;
            }
            _ => {}
        }
    }
}

/// A progress reporter for one-off transfers: a bar on a terminal, one line per file otherwise.
pub struct TransferProgress {
    bar: Option<ProgressBar>,
    current: String,
}

impl TransferProgress {
    /// A reporter; `total` bytes when known.
    pub fn new(total: Option<u64>) -> TransferProgress {
        let bar = std::io::stderr().is_terminal().then(|| match total {
            Some(t) => bar(t),
            None => ProgressBar::new_spinner(),
        });
        TransferProgress {
            bar,
            current: String::new(),
        }
    }

    /// Records `bytes` moved for `name`.
    pub fn update(&mut self, name: &str, bytes: u64) {
        if self.current != name {
            self.current = name.to_string();
            match &self.bar {
                Some(b) => b.set_message(name.to_string()),
                None => eprintln!("moving {name}"),
            }
        }
        if let Some(b) = &self.bar {
            b.inc(bytes);
        }
    }

    /// Clears the bar.
    pub fn finish(self) {
        if let Some(b) = self.bar {
            b.finish_and_clear();
        }
    }
}
