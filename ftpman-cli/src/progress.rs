//! Progress on a terminal (indicatif: bytes, rate, ETA, files, current file), plain lines when
//! the output is not a terminal.

use ftpman_core::engine::RunEvent;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

fn bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// Shows one run's live events: a progress bar on a terminal, plain lines otherwise.
#[derive(Default)]
pub struct RunProgress {
    progress: Option<ProgressBar>,
    files_total: u64,
    files_done: u64,
    /// Files move while the tree is still listed: bytes moved before the totals are known.
    early_bytes: u64,
}

impl RunProgress {
    /// Shows `event`; `true` once the run has finished.
    pub fn show(&mut self, event: &RunEvent) -> bool {
        let tty = std::io::stderr().is_terminal();
        match event {
            RunEvent::Planned {
                files,
                bytes,
                already_delivered,
                ..
            } => {
                self.files_total = *files;
                if tty {
                    let b = bar(*bytes);
                    b.inc(self.early_bytes);
                    self.progress = Some(b);
                } else {
                    eprintln!(
                        "{files} file(s) to move ({}), {already_delivered} already delivered",
                        crate::output::bytes(*bytes)
                    );
                }
            }
            RunEvent::FileStarted { path, .. } => {
                if let Some(p) = &self.progress {
                    p.set_message(format!(
                        "{}/{} {}",
                        self.files_done,
                        self.files_total,
                        crate::output::safe(path)
                    ));
                }
            }
            RunEvent::Progress { bytes, .. } => match &self.progress {
                Some(p) => p.inc(*bytes),
                None => self.early_bytes += *bytes,
            },
            RunEvent::FileFinished {
                path, status, error, ..
            } => {
                self.files_done += 1;
                let path = crate::output::safe(path);
                match &self.progress {
                    Some(p) => {
                        p.set_message(format!("{}/{}", self.files_done, self.files_total));
                        if let Some(e) = error {
                            p.println(format!("{status}: {path}: {}", crate::output::safe(e)));
                        }
                    }
                    None => match error {
                        Some(e) => eprintln!("{:<14} {path}: {}", status.as_str(), crate::output::safe(e)),
                        None => eprintln!("{:<14} {path}", status.as_str()),
                    },
                }
            }
            RunEvent::Finished { .. } => {
                if let Some(p) = self.progress.take() {
                    p.finish_and_clear();
                }
                return true;
            }
            RunEvent::Started { .. } => {}
        }
        false
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
