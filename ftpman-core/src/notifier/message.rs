//! The words of a notification, shared by every channel.

use super::Notification;

/// The subject line: job, status and run.
pub fn subject(note: &Notification) -> String {
    format!("[ftpman] {}: {} (run {})", note.job.name, note.run.status, note.run.id)
}

/// The plain-text body: job, status, counts, bytes, duration, first errors and a link.
pub fn body_text(note: &Notification) -> String {
    let run = &note.run;
    let c = &run.counts;
    let duration = run.duration_secs().map_or_else(|| "-".into(), |s| format!("{s:.1}s"));
    let mut out = String::new();
    out.push_str(&format!("Job:         {}\n", note.job.name));
    out.push_str(&format!("Status:      {}\n", run.status));
    out.push_str(&format!("Run:         {} (started by {})\n", run.id, run.trigger));
    if let Some(s) = run.started_at {
        out.push_str(&format!("Started:     {}\n", s.to_rfc3339()));
    }
    out.push_str(&format!("Duration:    {duration}\n"));
    out.push_str(&format!(
        "Files:       {} found, {} transferred, {} skipped, {} failed\n",
        c.found, c.transferred, c.skipped, c.failed
    ));
    out.push_str(&format!(
        "Bytes:       {} ({} bytes)\n",
        crate::validate::format_bytes(c.bytes.max(0) as u64),
        c.bytes
    ));
    if let Some(e) = &run.error {
        out.push_str(&format!("Error:       {e}\n"));
    }
    if !note.first_errors.is_empty() {
        out.push_str("First errors:\n");
        for e in &note.first_errors {
            out.push_str(&format!("  - {e}\n"));
        }
    }
    if let Some(link) = &note.link {
        out.push_str(&format!("\nDetails: {link}\n"));
    }
    out
}
