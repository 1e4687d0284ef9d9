//! Where a delivery goes: its final path (the job's template filled in), its temporary name,
//! what the conflict policy decides when the name is taken, and the turns files of one run
//! bound for one name take.

use super::deliver::{AttemptError, RunContext};
use super::plan::Candidate;
use crate::model::{ConflictPolicy, Job, same_mtime};
use crate::transport::pool::PooledTransport;
use crate::transport::{Entry, EntryKind, TransportError, path};
use crate::validate::{PathTemplate, TemplateContext};
use chrono::DateTime;
use chrono_tz::Tz;
use std::sync::Arc;

/// The first file of a run bound for a final path (as given, and its source), and the turn
/// every file bound for that path (or one differing only by case) takes.
pub(crate) struct TargetClaim {
    first: (String, String),
    turn: Arc<tokio::sync::Mutex<()>>,
}

/// The final path of a candidate at the target: the job's target template rendered, with the
/// candidate's sub-folders kept below it. A file whose name fills the template with nothing a
/// path can hold (a name of dots, an empty extension where the template names the file by it)
/// is refused with the reason, the path as it came out beside it.
pub(crate) fn target_path(
    job: &Job,
    cand: &Candidate,
    run_id: i64,
    started: &DateTime<Tz>,
    group: &str,
) -> Result<String, (String, String)> {
    let template = PathTemplate::parse("target_path", &job.target_path)
        .unwrap_or_else(|_| PathTemplate::parse("target_path", "/").expect("'/' is a valid template"));
    let file_name = path::file_name(&cand.rel);
    let rel_dir = match cand.rel.rfind('/') {
        Some(i) => &cand.rel[..i],
        None => "",
    };
    let ctx = TemplateContext {
        time: *started,
        job: &job.name,
        file_name,
        run_id,
        group,
    };
    let refused = |shown: String| {
        let why = format!(
            "the target template {} gives {} for this file, which is no file name: change the template",
            crate::validate::printable(&job.target_path),
            crate::validate::printable(&shown)
        );
        (shown, why)
    };
    let rendered = template.render_checked(&ctx).map_err(refused)?;
    let joined = if template.names_file() {
        format!("{}/{rel_dir}/{}", path::parent(&rendered), path::file_name(&rendered))
    } else {
        format!("{rendered}/{}", cand.rel)
    };
    path::normalize(&joined).map_err(|_| refused(joined))
}

/// The temporary name of a delivery to `final_path` by run `run_id`: beside the final name,
/// hidden, and the run's own, so no two runs (a node that lost its lease, and the node that
/// took over) ever write one temporary file, and a retry builds only on its own run's earlier
/// attempt. Within a run, deliveries to one final path take turns ([`claim_target`]), so they
/// never write it at once either.
pub(super) fn temp_path(final_path: &str, run_id: i64) -> String {
    path::temporary(final_path, &run_id.to_string())
}

/// `a.csv` -> `a_1.csv`, `a_2.csv`, ...
pub(super) fn numbered(final_path: &str, n: u32) -> String {
    let name = path::file_name(final_path);
    let numbered = match name.rfind('.') {
        Some(i) if i > 0 => format!("{}_{n}{}", &name[..i], &name[i..]),
        _ => format!("{name}_{n}"),
    };
    path::child(&path::parent(final_path), &numbered)
}

/// Whether the file at `final_path` is the one this job delivered for `cand` earlier (its
/// ledger entry says it went there): what `replace-own` may replace.
pub(super) fn delivered_there(cand: &Candidate, final_path: &str) -> bool {
    cand.delivered
        .as_ref()
        .and_then(|e| e.target_path.as_deref())
        .is_some_and(|p| p == final_path)
}

/// Whether the conflict policy lets this delivery replace a file under `final_path`.
pub(super) fn may_replace(job: &Job, cand: &Candidate, final_path: &str) -> bool {
    match job.conflict {
        ConflictPolicy::Overwrite => true,
        ConflictPolicy::ReplaceOwn => delivered_there(cand, final_path),
        ConflictPolicy::Skip | ConflictPolicy::Rename | ConflictPolicy::Fail => false,
    }
}

/// Whether `now` is still the file `listed` described: same size, and the same time as far
/// as the coarser of the two says, fractions of a second included where both carry one
/// ([`same_mtime`]).
pub(super) fn same_file(listed: &Entry, now: &Entry) -> bool {
    let at = |t: DateTime<chrono::Utc>| (t.timestamp(), t.timestamp_subsec_nanos());
    listed.size == now.size
        && match (listed.mtime, now.mtime) {
            (Some(a), Some(b)) => same_mtime(at(a), at(b), listed.mtime_granularity.max(now.mtime_granularity)),
            (None, None) => true,
            _ => false,
        }
}

/// Where the final file goes given what is already there; `Err` for skip and fail.
pub(super) async fn resolve_conflict(
    job: &Job,
    cand: &Candidate,
    tgt: &mut PooledTransport,
    final_path: &str,
) -> Result<(String, bool), AttemptError> {
    match tgt.stat(final_path).await {
        Err(TransportError::NotFound { .. }) => Ok((final_path.to_string(), false)),
        Err(e) => Err(e.into()),
        Ok(existing) if existing.kind == EntryKind::Dir => {
            Err(AttemptError::permanent(format!("the target {final_path} is a folder")))
        }
        Ok(_) if may_replace(job, cand, final_path) => Ok((final_path.to_string(), true)),
        Ok(_) => match job.conflict {
            ConflictPolicy::Rename => {
                for n in 1..=10_000 {
                    let candidate = numbered(final_path, n);
                    match tgt.stat(&candidate).await {
                        Err(TransportError::NotFound { .. }) => return Ok((candidate, false)),
                        Err(e) => return Err(e.into()),
                        Ok(_) => continue,
                    }
                }
                Err(AttemptError::permanent(format!("no free name next to {final_path}")))
            }
            policy => Err(AttemptError::name_taken(policy, final_path)),
        },
    }
}

/// Where a dry run says a file would go: the name the conflict policy picks (or that it would
/// be skipped, or refused, and why). A dry run never writes to the target, and never fails on
/// it: a target it cannot ask (not reachable, a folder not made yet) is told as the name
/// planned.
pub(super) async fn dry_run_target(
    ctx: &RunContext,
    cand: &Candidate,
    final_path: &str,
) -> Result<String, AttemptError> {
    let Ok(mut tgt) = ctx.dst.get().await else {
        return Ok(final_path.to_string());
    };
    match resolve_conflict(&ctx.job, cand, &mut tgt, final_path).await {
        Ok((path, _)) => Ok(path),
        Err(e) if e.from_transport => Ok(final_path.to_string()),
        Err(e) => Err(e),
    }
}

/// Claims `final_path` for `cand` within the run. Two files whose target paths differ only by
/// case take turns (on a server that ignores case they are one name; the second then meets
/// the first as a file in the way); two with the very same target path are refused unless the
/// policy is `rename` (which gives the second its own name), so that no file is delivered over
/// another of the same run.
pub(super) fn claim_target(
    ctx: &RunContext,
    cand: &Candidate,
    final_path: &str,
) -> Result<Arc<tokio::sync::Mutex<()>>, String> {
    let mut targets = ctx.targets.lock().unwrap_or_else(|p| p.into_inner());
    let claim = targets.entry(final_path.to_lowercase()).or_insert_with(|| TargetClaim {
        first: (final_path.to_string(), cand.entry.path.clone()),
        turn: Arc::default(),
    });
    if claim.first.0 == final_path && claim.first.1 != cand.entry.path && ctx.job.conflict != ConflictPolicy::Rename {
        return Err(format!(
            "{} would also be delivered to {final_path}: two files of one run are never delivered to one name (does the target template lack {{name}}? on-conflict rename numbers them)",
            claim.first.1
        ));
    }
    Ok(claim.turn.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn cand(rel: &str) -> Candidate {
        Candidate {
            entry: Entry {
                name: path::file_name(rel).into(),
                path: format!("/out/{rel}"),
                kind: EntryKind::File,
                size: 1,
                mtime: None,
                mtime_granularity: 1,
            },
            rel: rel.into(),
            delivered: None,
        }
    }

    #[test]
    fn a_rewrite_within_the_same_second_is_another_file_where_times_carry_fractions() {
        let at = |secs: i64, nanos: u32, granularity: u32| Entry {
            mtime: Utc.timestamp_opt(secs, nanos).single(),
            mtime_granularity: granularity,
            ..cand("a.csv").entry
        };
        let listed = at(1_000, 250_000_000, 1);
        assert!(same_file(&listed, &at(1_000, 250_000_000, 1)));
        // Same size, same second, another fraction: rewritten.
        assert!(!same_file(&listed, &at(1_000, 750_000_000, 1)));
        // A stat that gives whole seconds only cannot tell: compared by the second.
        assert!(same_file(&listed, &at(1_000, 0, 1)));
        assert!(!same_file(&listed, &at(1_001, 0, 1)));
        // A listing rounded to the minute is compared by the minute, fractions aside.
        assert!(same_file(&at(960, 0, 60), &at(1_000, 750_000_000, 1)));
        // Another size is another file whatever the time.
        assert!(!same_file(
            &listed,
            &Entry {
                size: 2,
                ..at(1_000, 250_000_000, 1)
            }
        ));
    }

    #[test]
    fn target_paths_keep_the_tree_and_fill_templates() {
        let when = Tz::Europe__Berlin.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let mut job = Job::new("nightly", 1, "/out", 2, "/in/{yyyy}/{mm}");
        assert_eq!(
            target_path(&job, &cand("a.csv"), 7, &when, "").unwrap(),
            "/in/2026/01/a.csv"
        );
        assert_eq!(
            target_path(&job, &cand("sub/a.csv"), 7, &when, "").unwrap(),
            "/in/2026/01/sub/a.csv"
        );
        job.target_path = "/in/{job}-{dd}-{name}".into();
        assert_eq!(
            target_path(&job, &cand("sub/a.csv"), 7, &when, "").unwrap(),
            "/in/sub/nightly-02-a.csv"
        );
        job.target_path = "/".into();
        assert_eq!(target_path(&job, &cand("a.csv"), 7, &when, "").unwrap(), "/a.csv");
        // A name that fills the template with dots or nothing is refused, never written as
        // `..` or as the folder itself (found by the path_template fuzz target).
        for (template, name) in [(".{ext}.{ext}", "odd."), ("/in/{ext}", "report."), ("{stem}", ".")] {
            job.target_path = template.into();
            let (shown, why) = target_path(&job, &cand(name), 7, &when, "").unwrap_err();
            assert!(
                why.contains("no file name") && why.contains(template),
                "{template} {name}: {why}"
            );
            assert!(!shown.is_empty());
        }
        job.target_path = "/in/{stem}.{ext}".into();
        assert_eq!(
            target_path(&job, &cand("report."), 7, &when, "").unwrap(),
            "/in/report."
        );
        // {group} is the group run's group, and nothing for a run of the job alone.
        job.target_path = "/in/{group}/{name}".into();
        assert_eq!(
            target_path(&job, &cand("a.csv"), 7, &when, "carriers").unwrap(),
            "/in/carriers/a.csv"
        );
        assert_eq!(target_path(&job, &cand("a.csv"), 7, &when, "").unwrap(), "/in/a.csv");
    }

    #[test]
    fn renamed_and_temporary_names() {
        assert_eq!(numbered("/in/a.csv", 1), "/in/a_1.csv");
        assert_eq!(numbered("/in/a.tar.gz", 2), "/in/a.tar_2.gz");
        assert_eq!(numbered("/in/README", 3), "/in/README_3");
        assert_eq!(numbered("/in/.env", 1), "/in/.env_1");
        assert_eq!(temp_path("/in/a.csv", 42), "/in/.a.csv.42.ftpman-part");
        // A long name is shortened on a character boundary, so the temporary name still fits.
        let long = format!("/in/{}", "é".repeat(120));
        let temp = temp_path(&long, 42);
        assert!(path::file_name(&temp).len() <= 230, "{temp}");
        assert!(temp.ends_with(".42.ftpman-part"));
    }
}
