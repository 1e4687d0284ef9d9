//! JSON views of the model for `--json` output and the web API: stable field names, times in
//! RFC 3339, and never a secret (only whether one is set).

use crate::model::{Job, LogEntry, Run, RunFile, Schedule, Site, User};
use crate::transport::{Entry, EntryKind};
use crate::validate::{format_duration, format_rate};
use serde_json::{Value, json};

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    t.map(|t| Value::String(t.to_rfc3339())).unwrap_or(Value::Null)
}

/// A site, without its secrets.
pub fn site(s: &Site) -> Value {
    json!({
        "name": s.name,
        "protocol": s.protocol.as_str(),
        "url": s.url(),
        "host": s.host,
        "port": s.port,
        "username": s.username,
        "root": s.root,
        "passive": s.passive,
        "host_key": s.host_key,
        "cert_fingerprint": s.cert_fingerprint,
        "insecure_skip_verify": s.insecure_skip_verify,
        "max_connections": s.max_connections,
        "timeout": format_duration(s.connect_timeout),
        "has_password": s.password.is_some(),
        "has_private_key": s.private_key.is_some(),
        "created_at": s.created_at.to_rfc3339(),
        "updated_at": s.updated_at.to_rfc3339(),
    })
}

/// A job, with its sites' names (`site_name` maps a site id to its name).
pub fn job(j: &Job, site_name: impl Fn(i64) -> String) -> Value {
    let (kind, expr, tz, at) = match &j.schedule {
        Schedule::Manual => ("manual", None, None, None),
        Schedule::Cron { expr, tz } => ("cron", Some(expr.clone()), Some(tz.name().to_string()), None),
        Schedule::Once { at } => ("once", None, None, Some(at.to_rfc3339())),
    };
    json!({
        "name": j.name,
        "enabled": j.enabled,
        "from": format!("{}:{}", site_name(j.source_site_id), j.source_path),
        "to": format!("{}:{}", site_name(j.target_site_id), j.target_path),
        "include": j.include,
        "exclude": j.exclude,
        "recursive": j.recursive,
        "min_age": format_duration(j.min_age),
        "max_age": j.max_age.map(format_duration),
        "schedule": {"kind": kind, "cron": expr, "tz": tz, "at": at, "text": j.schedule.to_string()},
        "after": j.after.to_string(),
        "on_conflict": j.conflict.as_str(),
        "atomic": j.atomic,
        "parallel": j.parallel,
        "retries": j.retries,
        "bwlimit": j.bwlimit.map(format_rate),
        "file_timeout": format_duration(j.file_timeout),
        "notify": j.notify.as_str(),
        "email": j.recipients,
        "created_at": j.created_at.to_rfc3339(),
        "updated_at": j.updated_at.to_rfc3339(),
    })
}

/// A run.
pub fn run(r: &Run, job_name: &str) -> Value {
    let duration = match (r.started_at, r.finished_at) {
        (Some(s), Some(f)) => Some((f - s).num_milliseconds() as f64 / 1000.0),
        _ => None,
    };
    json!({
        "id": r.id,
        "job": job_name,
        "trigger": r.trigger.as_str(),
        "status": r.status.as_str(),
        "scheduled_for": time(r.scheduled_for),
        "created_at": r.created_at.to_rfc3339(),
        "started_at": time(r.started_at),
        "finished_at": time(r.finished_at),
        "duration_s": duration,
        "found": r.counts.found,
        "transferred": r.counts.transferred,
        "skipped": r.counts.skipped,
        "failed": r.counts.failed,
        "bytes": r.counts.bytes,
        "error": r.error,
        "node": r.node_id,
        "dry_run": r.dry_run,
    })
}

/// A file of a run.
pub fn run_file(f: &RunFile) -> Value {
    json!({
        "source": f.source_path,
        "target": f.target_path,
        "size": f.size,
        "bytes": f.bytes,
        "duration_s": f.duration.as_secs_f64(),
        "status": f.status.as_str(),
        "error": f.error,
    })
}

/// A system log entry.
pub fn log(e: &LogEntry) -> Value {
    json!({
        "id": e.id,
        "time": e.time.to_rfc3339(),
        "level": e.level.as_str(),
        "component": e.component,
        "message": e.message,
        "context": e.context,
    })
}

/// A listed entry of a site.
pub fn entry(e: &Entry) -> Value {
    json!({
        "name": e.name,
        "path": e.path,
        "kind": match e.kind { EntryKind::File => "file", EntryKind::Dir => "dir", EntryKind::Symlink => "link" },
        "size": e.size,
        "mtime": time(e.mtime),
    })
}

/// A user, without the password hash.
pub fn user(u: &User) -> Value {
    json!({"username": u.username, "role": u.role.as_str(), "created_at": u.created_at.to_rfc3339()})
}
