//! The scheduler on a controllable clock: fire instants, daylight-saving changes, missed fires,
//! overlapping runs, crash recovery and a graceful stop.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use ftpman_core::KeySource;
use ftpman_core::engine::{Engine, EngineConfig};
use ftpman_core::model::{Job, NewRun, RunQuery, RunStatus, Schedule, Site, SiteUrl, Trigger};
use ftpman_core::scheduler::service::{Service, ServiceConfig};
use ftpman_core::scheduler::{ManualClock, Scheduler};
use ftpman_core::store::Store;
use ftpman_core::transport::ProtocolConnector;
use std::sync::Arc;
use std::time::Duration;

struct World {
    store: Arc<dyn Store>,
    _db: tempfile::TempDir,
    src: tempfile::TempDir,
    dst: tempfile::TempDir,
    job: Job,
}

async fn world(schedule: Schedule) -> World {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("ftpman.db").display());
    let store = ftpman_core::store::open(&url, Some(KeySource::Key(Box::new([3u8; 32]))))
        .await
        .unwrap();
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mk = |name: &str, dir: &tempfile::TempDir| {
        Site::new(
            name,
            &SiteUrl::parse(&format!("file://{}", dir.path().display())).unwrap(),
        )
        .unwrap()
    };
    let s = store.create_site(&mk("src", &src)).await.unwrap();
    let d = store.create_site(&mk("dst", &dst)).await.unwrap();
    let mut job = Job::new("sched", s.id, "/", d.id, "/");
    job.schedule = schedule;
    let job = store.create_job(&job).await.unwrap();
    World {
        store,
        _db: db,
        src,
        dst,
        job,
    }
}

fn cron(expr: &str, tz: Tz) -> Schedule {
    Schedule::Cron { expr: expr.into(), tz }
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
}

fn service(store: &Arc<dyn Store>, clock: &Arc<ManualClock>) -> Service {
    let engine = Engine::with_clock(
        store.clone(),
        Arc::new(ProtocolConnector),
        EngineConfig::default(),
        clock.clone(),
    );
    Service::new(engine, ServiceConfig::default())
}

async fn fires(store: &Arc<dyn Store>, job: &Job) -> Vec<DateTime<Utc>> {
    let mut f: Vec<_> = store
        .runs(&RunQuery {
            job_id: Some(job.id),
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| r.scheduled_for)
        .collect();
    f.sort();
    f
}

#[tokio::test]
async fn every_five_minutes_fires_on_time_and_catches_up_once() {
    let w = world(cron("*/5 * * * *", Tz::UTC)).await;
    let clock = Arc::new(ManualClock::new(utc(2030, 11, 28, 10, 2, 0)));
    let svc = service(&w.store, &clock);
    assert_eq!(svc.fire_due().await.unwrap(), 0);
    assert_eq!(svc.next_fires(), vec![(w.job.id, utc(2030, 11, 28, 10, 5, 0))]);
    clock.set(utc(2030, 11, 28, 10, 4, 59));
    assert_eq!(svc.fire_due().await.unwrap(), 0);
    clock.set(utc(2030, 11, 28, 10, 5, 0));
    assert_eq!(svc.fire_due().await.unwrap(), 1);
    assert_eq!(svc.fire_due().await.unwrap(), 0, "a fire happens once");
    clock.set(utc(2030, 11, 28, 10, 10, 0) + chrono::Duration::milliseconds(200));
    assert_eq!(svc.fire_due().await.unwrap(), 1);
    // ftpman was not looking from 10:11 to 10:31: one catch-up run, for the latest fire.
    clock.set(utc(2030, 11, 28, 10, 31, 0));
    assert_eq!(svc.fire_due().await.unwrap(), 1);
    // A restarted process continues from the last recorded fire, again with one catch-up.
    clock.set(utc(2030, 11, 28, 10, 47, 0));
    let restarted = service(&w.store, &clock);
    assert_eq!(restarted.fire_due().await.unwrap(), 1);
    assert_eq!(
        fires(&w.store, &w.job).await,
        [
            utc(2030, 11, 28, 10, 5, 0),
            utc(2030, 11, 28, 10, 10, 0),
            utc(2030, 11, 28, 10, 30, 0),
            utc(2030, 11, 28, 10, 45, 0)
        ]
    );
    // The second process and the first both look at 10:50: the store keeps one run.
    clock.set(utc(2030, 11, 28, 10, 50, 0));
    let a = svc.fire_due().await.unwrap();
    let b = restarted.fire_due().await.unwrap();
    assert_eq!(a + b, 1, "two schedulers, one fire, one run");
}

/// Steps the clock through [from, to) in `step`s and returns every fire recorded.
async fn walk(
    schedule: Schedule,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: chrono::Duration,
) -> Vec<DateTime<Utc>> {
    let w = world(schedule).await;
    let clock = Arc::new(ManualClock::new(from));
    let svc = service(&w.store, &clock);
    let mut t = from;
    while t < to {
        clock.set(t);
        svc.fire_due().await.unwrap();
        t += step;
    }
    fires(&w.store, &w.job).await
}

fn local_dates(fires: &[DateTime<Utc>], tz: Tz) -> Vec<String> {
    fires
        .iter()
        .map(|f| f.with_timezone(&tz).format("%F %T %Z").to_string())
        .collect()
}

#[tokio::test]
async fn daylight_saving_in_berlin_neither_skips_nor_doubles() {
    let berlin: Tz = "Europe/Berlin".parse().unwrap();
    let step = chrono::Duration::minutes(10);
    // Spring forward, 29 March 2026: 02:00 becomes 03:00, so 02:30 does not exist that night.
    // The daily 02:30 job runs once that day (in the hour after the change), once the next.
    let spring = walk(
        cron("30 2 * * *", berlin),
        utc(2026, 3, 28, 12, 0, 0),
        utc(2026, 3, 30, 12, 0, 0),
        step,
    )
    .await;
    assert_eq!(spring.len(), 2, "{:?}", local_dates(&spring, berlin));
    assert_eq!(spring[0].with_timezone(&berlin).date_naive().to_string(), "2026-03-29");
    assert_eq!(spring[1], utc(2026, 3, 30, 0, 30, 0));
    // Fall back, 25 October 2026: 02:30 happens twice on the wall; the job runs once.
    let fall = walk(
        cron("30 2 * * *", berlin),
        utc(2026, 10, 24, 12, 0, 0),
        utc(2026, 10, 26, 12, 0, 0),
        step,
    )
    .await;
    assert_eq!(local_dates(&fall, berlin).len(), 2, "{:?}", local_dates(&fall, berlin));
    assert_eq!(fall[0].with_timezone(&berlin).date_naive().to_string(), "2026-10-25");
    assert_eq!(fall[1].with_timezone(&berlin).date_naive().to_string(), "2026-10-26");
    // An hourly job fires every real hour through both changes: 23 on the short day, 25 on the long.
    let short = walk(
        cron("0 * * * *", berlin),
        utc(2026, 3, 28, 22, 30, 0),
        utc(2026, 3, 29, 22, 0, 0),
        step,
    )
    .await;
    assert_eq!(short.len(), 23, "{:?}", local_dates(&short, berlin));
    let long = walk(
        cron("0 * * * *", berlin),
        utc(2026, 10, 24, 21, 30, 0),
        utc(2026, 10, 25, 23, 0, 0),
        step,
    )
    .await;
    assert_eq!(long.len(), 25, "{:?}", local_dates(&long, berlin));
    for pair in short.windows(2).chain(long.windows(2)) {
        assert_eq!(
            pair[1] - pair[0],
            chrono::Duration::hours(1),
            "hourly fires are one real hour apart"
        );
    }
}

#[tokio::test]
async fn a_missed_one_time_job_runs_once_when_a_scheduler_starts() {
    let at = utc(2026, 1, 1, 2, 0, 0);
    let w = world(Schedule::Once { at }).await;
    let clock = Arc::new(ManualClock::new(utc(2026, 1, 5, 0, 0, 0)));
    let svc = service(&w.store, &clock);
    assert_eq!(svc.fire_due().await.unwrap(), 1);
    assert_eq!(svc.fire_due().await.unwrap(), 0);
    assert_eq!(fires(&w.store, &w.job).await, [at]);
}

#[tokio::test]
async fn one_time_and_manual_jobs() {
    let at = utc(2026, 12, 1, 2, 0, 0);
    let w = world(Schedule::Once { at }).await;
    let clock = Arc::new(ManualClock::new(utc(2026, 11, 30, 0, 0, 0)));
    let svc = service(&w.store, &clock);
    assert_eq!(svc.fire_due().await.unwrap(), 0);
    clock.set(at + chrono::Duration::seconds(1));
    assert_eq!(svc.fire_due().await.unwrap(), 1);
    clock.set(at + chrono::Duration::days(30));
    assert_eq!(svc.fire_due().await.unwrap(), 0, "a one-time job fires once");
    assert_eq!(fires(&w.store, &w.job).await, [at]);

    let m = world(Schedule::Manual).await;
    let svc = service(&m.store, &clock);
    assert_eq!(svc.fire_due().await.unwrap(), 0);
    assert!(svc.next_fires().is_empty());
}

#[tokio::test]
async fn a_fire_during_a_long_run_is_skipped() {
    let w = world(cron("*/5 * * * *", Tz::UTC)).await;
    let clock = Arc::new(ManualClock::new(utc(2026, 11, 28, 10, 2, 0)));
    let svc = service(&w.store, &clock);
    svc.fire_due().await.unwrap();
    // The job is busy with a long run.
    let long = w
        .store
        .create_run(&NewRun {
            job_id: w.job.id,
            trigger: Trigger::Manual,
            scheduled_for: None,
            status: RunStatus::Queued,
            dry_run: false,
            as_of: None,
            again: false,
            group_run_id: None,
        })
        .await
        .unwrap()
        .unwrap();
    w.store
        .start_run(long.id, "busy-node", clock.now_utc(), Duration::from_secs(3600))
        .await
        .unwrap()
        .unwrap();
    clock.set(utc(2026, 11, 28, 10, 5, 0));
    assert_eq!(svc.fire_due().await.unwrap(), 1);
    let runs = w
        .store
        .runs(&RunQuery {
            job_id: Some(w.job.id),
            ..Default::default()
        })
        .await
        .unwrap();
    let fired = runs.iter().find(|r| r.scheduled_for.is_some()).unwrap();
    assert_eq!(fired.status, RunStatus::Skipped);
    assert!(fired.error.as_deref().unwrap().contains("still going"));
}

trait NowUtc {
    fn now_utc(&self) -> DateTime<Utc>;
}
impl NowUtc for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        ftpman_core::scheduler::Clock::now(self)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_and_graceful_stop() {
    let w = world(Schedule::Manual).await;
    std::fs::write(w.src.path().join("big.bin"), vec![7u8; 6 << 20]).unwrap();
    let mut job = w.job.clone();
    job.bwlimit = Some(1 << 20); // six seconds for the file
    let job = w.store.update_job(&job).await.unwrap();

    // A process died while running a run an hour ago: its lease has run out, so the next start
    // marks it interrupted.
    let orphan = w
        .store
        .create_run(&NewRun {
            job_id: job.id,
            trigger: Trigger::Api,
            scheduled_for: None,
            status: RunStatus::Queued,
            dry_run: false,
            as_of: None,
            again: false,
            group_run_id: None,
        })
        .await
        .unwrap()
        .unwrap();
    w.store
        .start_run(
            orphan.id,
            "dead-node",
            Utc::now() - chrono::Duration::hours(1),
            Duration::from_secs(60),
        )
        .await
        .unwrap()
        .unwrap();

    let queued = w
        .store
        .create_run(&NewRun {
            job_id: job.id,
            trigger: Trigger::Api,
            scheduled_for: None,
            status: RunStatus::Queued,
            dry_run: false,
            as_of: None,
            again: false,
            group_run_id: None,
        })
        .await
        .unwrap()
        .unwrap();
    let engine = Engine::new(w.store.clone(), Arc::new(ProtocolConnector), EngineConfig::default());
    let svc = Arc::new(Service::new(
        engine,
        ServiceConfig {
            poll: Duration::from_millis(50),
            grace: Duration::from_millis(300),
            ..ServiceConfig::default()
        },
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = {
        let svc = svc.clone();
        tokio::spawn(async move { svc.run_until(stop_rx).await })
    };
    // Wait for the queued run to be claimed and moving.
    let mut started = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if w.store.run(queued.id).await.unwrap().status == RunStatus::Running {
            started = true;
            break;
        }
    }
    assert!(started, "the service claimed the queued run");
    assert_eq!(
        w.store.run(orphan.id).await.unwrap().status,
        RunStatus::Interrupted,
        "recovered at start"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = std::time::Instant::now();
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("stops within its grace")
        .unwrap()
        .unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5));
    let run = w.store.run(queued.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(run.lease_expires_at, None, "the lease is released");
    assert!(
        !w.dst.path().join("big.bin").exists(),
        "no partial file under the final name"
    );
    assert!(w.src.path().join("big.bin").exists());
}

#[tokio::test]
async fn a_one_time_job_never_fires_again_once_retention_purged_its_runs() {
    let at = utc(2026, 1, 1, 2, 0, 0);
    let w = world(Schedule::Once { at }).await;
    let clock = Arc::new(ManualClock::new(utc(2026, 1, 5, 0, 0, 0)));
    assert_eq!(service(&w.store, &clock).fire_due().await.unwrap(), 1);
    // Its fire ended long ago; a manual run came after.
    let fired = w
        .store
        .runs(&RunQuery {
            job_id: Some(w.job.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(fired.len(), 1);
    w.store.request_cancel(fired[0].id, Utc::now()).await.unwrap();
    let manual = NewRun {
        job_id: w.job.id,
        trigger: Trigger::Manual,
        scheduled_for: None,
        status: RunStatus::Skipped,
        dry_run: false,
        as_of: None,
        again: false,
        group_run_id: None,
    };
    w.store.create_runs(&[manual]).await.unwrap();
    // Retention removes everything older than tomorrow, but for the job's last fire.
    let report = w
        .store
        .purge_older_than(Utc::now() + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(report.runs, 1, "the manual run went, the fire stayed");
    assert_eq!(fires(&w.store, &w.job).await, [at]);
    // A scheduler starting afresh (a restart, another node) does not run it again.
    let later = Arc::new(ManualClock::new(utc(2026, 6, 1, 0, 0, 0)));
    assert_eq!(service(&w.store, &later).fire_due().await.unwrap(), 0);
    assert_eq!(fires(&w.store, &w.job).await, [at]);
}
