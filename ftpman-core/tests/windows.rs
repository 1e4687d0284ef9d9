//! Date windows end to end: files picked by the date in their names over SFTP against the real
//! sshd (billing cycles, backfills with and without `--again`), and a catch-up run after
//! downtime taking the files an on-time run would have.

use ftpman_testkit as harness;

use chrono::{DateTime, TimeZone, Utc};
use ftpman_core::Manager;
use ftpman_core::engine::{Engine, EngineConfig};
use ftpman_core::manager::{JobOptions, RunOptions};
use ftpman_core::model::{DateWindow, Job, RunQuery, RunStatus, Schedule, Trigger};
use ftpman_core::scheduler::ManualClock;
use ftpman_core::scheduler::service::{Service, ServiceConfig};
use ftpman_core::transport::ProtocolConnector;
use harness::{Kind, save_site, scratch, site, sqlite_store};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn write(dir: &Path, name: &str) {
    std::fs::write(dir.join(name), format!("contents of {name}\n")).expect("write a source file");
}

/// The names of the files below `dir` (one level of folders), as `folder/name`, sorted.
fn delivered(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = harness::tree(dir).into_iter().map(|(p, _)| p).collect();
    out.sort();
    out
}

fn backfill(as_of: &str, again: bool) -> RunOptions {
    RunOptions {
        as_of: Some(as_of.into()),
        again,
        ..RunOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_in_names_pick_a_billing_cycle_over_sftp_with_backfills() {
    if harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let remote = scratch("cycle");
    let (cdr, mpb) = (remote.path.join("cdr"), remote.path.join("mpb"));
    std::fs::create_dir_all(&cdr).unwrap();
    std::fs::create_dir_all(&mpb).unwrap();
    // The three forms of names, around the cycle's edges, and names without a date.
    for name in [
        "BTDNS.NEU_ATL.20261025.2359.ntcdr.gz",
        "BTDNS.NEU_ATL.20261026.0001.ntcdr.gz",
        "20261125.CDR",
        "20261126.CDR",
        "README.txt",
    ] {
        write(&cdr, name);
    }
    for name in ["UAU.NJ.MPB.D261101", "UAU.NJ.MPB.D261127", "UAU.NJ.MPB.INDEX"] {
        write(&mpb, name);
    }
    harness::chown_tree(&remote.path, &harness::servers().user);
    save_site(store.as_ref(), "carrier", site(Kind::SftpPassword, &remote.path)).await;
    let archive = tempfile::tempdir().unwrap();
    save_site(store.as_ref(), "archive", site(Kind::Local, archive.path())).await;
    let m = Manager::from_store(store.clone(), "test");
    let job = |from: &str, to: &str, pattern: &str| JobOptions {
        from: Some(from.into()),
        to: Some(to.into()),
        window: Some("cycle:26".into()),
        name_date: Some(pattern.into()),
        schedule: Some("0 2 26 * *".into()),
        tz: Some("Europe/Berlin".into()),
        ..JobOptions::default()
    };
    m.add_job(
        "cdr",
        &job("carrier:/cdr", "archive:/cdr/{yyyy}-{mm}", "{yyyy}{mm}{dd}"),
    )
    .await
    .unwrap();
    m.add_job("mpb", &job("carrier:/mpb", "archive:/mpb/{yyyy}-{mm}", "D{yy}{mm}{dd}"))
        .await
        .unwrap();

    // `job show`'s next window is the one its next fire resolves to.
    let view = m.job_view_with_fires("cdr", 1).await.unwrap();
    let next: DateTime<Utc> = view.next_fires.as_ref().unwrap()[0].parse().unwrap();
    let expected = DateWindow::parse("cycle:26")
        .unwrap()
        .resolve(next, chrono_tz::Europe::Berlin)
        .to_string();
    assert_eq!(view.next_window.as_deref(), Some(expected.as_str()));

    // A dry run of the November cycle shows its window and moves nothing.
    let dry = RunOptions {
        dry_run: true,
        ..backfill("2026-11-26 02:00", false)
    };
    let run = m
        .start_run_with("cdr", &dry, Trigger::Manual)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(
        run.window.as_deref(),
        Some("2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin")
    );
    assert_eq!(run.counts.found, 2);
    assert_eq!(run.counts.undated, 1, "README.txt holds no date");
    assert!(delivered(archive.path()).is_empty(), "a dry run moves nothing");

    // The backfill: the cycle's two files, under the month of its reference time.
    let run = m
        .start_run_with("cdr", &backfill("2026-11-26 02:00", false), Trigger::Manual)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.counts.transferred, 2);
    assert_eq!(run.counts.undated, 1);
    assert_eq!(
        run.as_of,
        Some(Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap()),
        "read in the job's zone"
    );
    assert_eq!(
        delivered(archive.path()),
        [
            "cdr/2026-11/20261125.CDR",
            "cdr/2026-11/BTDNS.NEU_ATL.20261026.0001.ntcdr.gz"
        ]
    );
    let recorded = m.run_record(run.id).await.unwrap();
    assert_eq!(
        recorded.window.as_deref(),
        Some("2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin")
    );

    // The same backfill again: the ledger has both, nothing moves.
    let again = m
        .start_run_with("cdr", &backfill("2026-11-26 02:00", false), Trigger::Manual)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!((again.counts.transferred, again.counts.skipped), (0, 2));
    // With --again, both are sent again (replacing what this job delivered).
    std::fs::remove_file(archive.path().join("cdr/2026-11/20261125.CDR")).unwrap();
    let resent = m
        .start_run_with("cdr", &backfill("2026-11-26 02:00", true), Trigger::Manual)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(resent.status, RunStatus::Succeeded, "{:?}", resent.error);
    assert_eq!((resent.counts.transferred, resent.counts.skipped), (2, 0));
    assert!(resent.again);
    assert!(archive.path().join("cdr/2026-11/20261125.CDR").exists());

    // December's cycle takes the 26th of November on, into the December folder.
    let december = m
        .start_run_with("cdr", &backfill("2026-12-26T01:00:00Z", false), Trigger::Manual)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(
        december.window.as_deref(),
        Some("2026-11-26 00:00 .. 2026-12-25 23:59:59 Europe/Berlin")
    );
    assert_eq!(december.counts.transferred, 1);
    assert!(archive.path().join("cdr/2026-12/20261126.CDR").exists());

    // D{yy}{mm}{dd}: a two-digit year after a literal letter.
    let run = m
        .start_run_with("mpb", &backfill("2026-11-26 02:00", false), Trigger::Manual)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!((run.counts.transferred, run.counts.undated), (1, 1));
    assert!(archive.path().join("mpb/2026-11/UAU.NJ.MPB.D261101").exists());

    // A bad backfill time says what would be right.
    let e = m
        .start_run_with("cdr", &backfill("last tuesday", false), Trigger::Manual)
        .await
        .err()
        .expect("refused");
    assert!(e.to_string().contains("as_of"), "{e}");
}

/// Sets a file's modification time.
fn touch(path: &Path, at: DateTime<Utc>) {
    let f = std::fs::File::options().write(true).open(path).expect("open");
    f.set_modified(std::time::SystemTime::from(at)).expect("set mtime");
}

/// A job with a `previous-day` window, its source files dated 25, 26 and 27 November, run by
/// the scheduler for its fire of 27 November 23:30 with the clock at `clock_at`; the files it
/// delivered and the window it took.
async fn fire_seen_at(clock_at: DateTime<Utc>) -> (Vec<String>, Option<String>, Option<DateTime<Utc>>) {
    let (store, _db) = sqlite_store().await;
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (name, day) in [("a.csv", 25), ("b.csv", 26), ("c.csv", 27)] {
        write(src.path(), name);
        touch(
            &src.path().join(name),
            Utc.with_ymd_and_hms(2026, 11, day, 12, 0, 0).unwrap(),
        );
    }
    let s = save_site(store.as_ref(), "src", site(Kind::Local, src.path())).await;
    let d = save_site(store.as_ref(), "dst", site(Kind::Local, dst.path())).await;
    let mut job = Job::new("daily", s.id, "/", d.id, "/");
    job.schedule = Schedule::Cron {
        expr: "30 23 * * *".into(),
        tz: chrono_tz::UTC,
    };
    job.window = Some(DateWindow::parse("previous-day").unwrap());
    let job = store.create_job(&job).await.unwrap();
    let fire = Utc.with_ymd_and_hms(2026, 11, 27, 23, 30, 0).unwrap();
    // The scheduler last looked before the fire, then (after downtime, or at once) at `clock_at`.
    let clock = Arc::new(ManualClock::new(fire - chrono::Duration::minutes(30)));
    let engine = Engine::with_clock(
        store.clone(),
        Arc::new(ProtocolConnector),
        EngineConfig::default(),
        clock.clone(),
    );
    let svc = Service::new(engine, ServiceConfig::default());
    assert_eq!(svc.fire_due().await.unwrap(), 0);
    clock.set(clock_at);
    assert_eq!(svc.fire_due().await.unwrap(), 1, "one run for the fire");
    svc.claim_and_start().await.unwrap();
    let run = loop {
        let runs = store
            .runs(&RunQuery {
                job_id: Some(job.id),
                ..Default::default()
            })
            .await
            .unwrap();
        if let Some(r) = runs.into_iter().find(|r| r.status.is_final()) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    (delivered(dst.path()), run.window, run.scheduled_for)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_run_after_downtime_takes_what_the_on_time_run_would_have() {
    let fire = Utc.with_ymd_and_hms(2026, 11, 27, 23, 30, 0).unwrap();
    let on_time = fire_seen_at(fire).await;
    // Down from before the fire until the next morning: by the wall clock "the previous day"
    // is now the 27th, but the run stands for the fire of the 27th, whose previous day is the 26th.
    let caught_up = fire_seen_at(Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).unwrap()).await;
    assert_eq!(on_time.0, ["b.csv"]);
    assert_eq!(caught_up, on_time);
    assert_eq!(
        caught_up.1.as_deref(),
        Some("2026-11-26 00:00 .. 2026-11-26 23:59:59 UTC")
    );
    assert_eq!(caught_up.2, Some(fire));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_job_reads_its_window_in_the_zone_it_was_given() {
    let (store, _db) = sqlite_store().await;
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // 23:30 UTC on the 24th is the 25th in Berlin: the Berlin day before the 26th takes it.
    write(src.path(), "late.csv");
    touch(
        &src.path().join("late.csv"),
        Utc.with_ymd_and_hms(2026, 11, 24, 23, 30, 0).unwrap(),
    );
    save_site(store.as_ref(), "src", site(Kind::Local, src.path())).await;
    save_site(store.as_ref(), "dst", site(Kind::Local, dst.path())).await;
    let m = Manager::from_store(store, "test");
    let opts = JobOptions {
        from: Some("src:/".into()),
        to: Some("dst:/{yyyy}-{mm}-{dd}".into()),
        window: Some("previous-day".into()),
        tz: Some("Europe/Berlin".into()),
        ..JobOptions::default()
    };
    let job = m.add_job("by-hand", &opts).await.unwrap();
    assert_eq!(
        (job.schedule.clone(), job.zone()),
        (Schedule::Manual, chrono_tz::Europe::Berlin)
    );
    let view = m.job_view_with_fires("by-hand", 1).await.unwrap();
    assert_eq!(view.zone, "Europe/Berlin");
    let run = m
        .start_run_with("by-hand", &backfill("2026-11-26 00:30", false), Trigger::Manual)
        .await
        .unwrap()
        .wait()
        .await
        .unwrap();
    assert_eq!(
        run.window.as_deref(),
        Some("2026-11-25 00:00 .. 2026-11-25 23:59:59 Europe/Berlin")
    );
    assert_eq!(run.counts.transferred, 1, "{run:?}");
    assert!(
        dst.path().join("2026-11-26/late.csv").exists(),
        "the path template in Berlin too"
    );
    // A schedule given later without --tz keeps the zone; --manual again keeps it as well.
    let cron = JobOptions {
        schedule: Some("0 2 * * *".into()),
        ..JobOptions::default()
    };
    let job = m.edit_job("by-hand", &cron).await.unwrap();
    assert_eq!(job.zone(), chrono_tz::Europe::Berlin);
    let manual = JobOptions {
        manual: true,
        ..JobOptions::default()
    };
    assert_eq!(
        m.edit_job("by-hand", &manual).await.unwrap().zone(),
        chrono_tz::Europe::Berlin
    );
}
