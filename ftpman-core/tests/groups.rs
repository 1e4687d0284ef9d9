//! Job groups: three jobs in order, stopping at the first failure or going on past it, `{group}`
//! in target paths, a backfill of a whole group, and two nodes on PostgreSQL firing a group once.

use ftpman_testkit as harness;

use chrono::{TimeZone, Utc};
use ftpman_core::engine::{Engine, EngineConfig};
use ftpman_core::manager::{GroupOptions, JobOptions, RunOptions};
use ftpman_core::model::{RunStatus, Trigger};
use ftpman_core::scheduler::service::{Service, ServiceConfig};
use ftpman_core::scheduler::{Clock, ManualClock};
use ftpman_core::transport::ProtocolConnector;
use ftpman_core::{KeySource, Manager, ManagerError, Store};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A manager on `store` with a local site `files` over `root`, holding `a/`, `b/` and `c/` with
/// a file each, and jobs `a`, `b`, `c` copying them to `out/`; `b`'s source is `missing/`
/// when `b_fails`.
async fn three_jobs(store: Arc<dyn Store>, root: &Path, b_fails: bool) -> Manager {
    for dir in ["a", "b", "c"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
        std::fs::write(root.join(dir).join(format!("{dir}.csv")), dir).unwrap();
    }
    let m = Manager::from_store(store, "test");
    m.add_site(
        "files",
        &ftpman_core::manager::SiteOptions {
            url: Some(format!("file://{}", root.display())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for name in ["a", "b", "c"] {
        let from = if name == "b" && b_fails { "missing" } else { name };
        let opts = JobOptions {
            from: Some(format!("files:/{from}")),
            to: Some("files:/out/{group}".into()),
            retries: Some(0),
            ..JobOptions::default()
        };
        m.add_job(name, &opts).await.unwrap();
    }
    m
}

fn group(jobs: &str, continue_on_failure: bool) -> GroupOptions {
    GroupOptions {
        jobs: Some(jobs.split(',').map(str::to_string).collect()),
        continue_on_failure: Some(continue_on_failure),
        ..GroupOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_runs_its_jobs_in_order_and_stops_at_the_first_failure() {
    let (store, _db) = harness::sqlite_store().await;
    let root = tempfile::tempdir().unwrap();
    let m = three_jobs(store, root.path(), true).await;
    m.add_group("carriers", &group("a,b,c", false)).await.unwrap();
    let (run, runs) = m
        .run_group("carriers", &RunOptions::default(), Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains("job 'b' failed") && error.contains("not run: c"),
        "{error}"
    );
    let names: Vec<_> = runs.iter().map(|r| r.job_id).collect();
    let ids = vec![m.job("a").await.unwrap().id, m.job("b").await.unwrap().id];
    assert_eq!(names, ids, "a, then b; c never started");
    assert!(runs.iter().all(|r| r.group_run_id == Some(run.id)));
    assert!(runs[0].finished_at <= runs[1].started_at, "one after another");
    // {group} in the target path is the group's name.
    assert!(root.path().join("out/carriers/a.csv").exists());
    assert!(!root.path().join("out/carriers/c.csv").exists());
    // The group run's view lists its jobs' runs in order.
    let view = m.group_run_view(run.id).await.unwrap();
    let jobs: Vec<_> = view.runs.unwrap().iter().map(|r| r.job.clone()).collect();
    assert_eq!(jobs, ["a", "b"]);

    // Going on past the failure: c runs too, and the group run is partial.
    m.edit_group(
        "carriers",
        &GroupOptions {
            continue_on_failure: Some(true),
            ..GroupOptions::default()
        },
    )
    .await
    .unwrap();
    let (run, runs) = m
        .run_group("carriers", &RunOptions::default(), Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Partial, "{:?}", run.error);
    let statuses: Vec<_> = runs.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Succeeded]
    );
    assert!(root.path().join("out/carriers/c.csv").exists());

    // A job in a group is not removed from under it; the group names it.
    let e = m.remove_job("b").await.unwrap_err();
    assert!(
        matches!(e, ManagerError::Conflict(_)) && e.to_string().contains("carriers"),
        "{e}"
    );
    // Bad groups say what is wrong.
    for (jobs, says) in [("a,nope", "no job 'nope'"), ("a,a", "listed twice")] {
        let e = m.add_group("bad", &group(jobs, false)).await.unwrap_err();
        assert!(e.to_string().contains(says), "{jobs}: {e}");
    }
    let e = m.add_group("empty", &GroupOptions::default()).await.unwrap_err();
    assert!(e.to_string().contains("--jobs"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_three_succeeds_in_order_and_a_backfill_reaches_every_job() {
    let (store, _db) = harness::sqlite_store().await;
    let root = tempfile::tempdir().unwrap();
    let m = three_jobs(store, root.path(), false).await;
    m.add_group(
        "bundle",
        &GroupOptions {
            schedule: Some("0 3 * * *".into()),
            tz: Some("Europe/Berlin".into()),
            ..group("c,a,b", false)
        },
    )
    .await
    .unwrap();
    let options = RunOptions {
        as_of: Some("2026-11-26 03:00".into()),
        ..RunOptions::default()
    };
    let (run, runs) = m.run_group("bundle", &options, Trigger::Manual).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let as_of = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    assert_eq!(run.as_of, Some(as_of), "read in the group's zone");
    assert_eq!(runs.len(), 3);
    // In the group's order, each resolved from the group run's reference time.
    let order: Vec<i64> = runs.iter().map(|r| r.job_id).collect();
    let mut expected = Vec::new();
    for n in ["c", "a", "b"] {
        expected.push(m.job(n).await.unwrap().id);
    }
    assert_eq!(order, expected);
    assert!(runs.iter().all(|r| r.reference_time() == as_of));
    let view = m.group_view_with_runs("bundle", 2, 5).await.unwrap();
    assert_eq!(view.jobs, ["c", "a", "b"]);
    assert_eq!(view.next_fires.unwrap().len(), 2);
    assert_eq!(view.runs.unwrap()[0].status, "succeeded");
    // A group is not dry-run as a whole.
    let dry = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    assert!(m.run_group("bundle", &dry, Trigger::Manual).await.is_err());
    // Removing the group leaves its jobs and their runs.
    m.remove_group("bundle").await.unwrap();
    assert_eq!(m.jobs().await.unwrap().len(), 3);
    assert!(m.run_record(runs[0].id).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgresql_fire_a_group_once() {
    if harness::skip_without_postgres() {
        return;
    }
    harness::init_logs();
    let url = pg_database("groups").await;
    let key = || Some(KeySource::Key(Box::new([6u8; 32])));
    let store_a = ftpman_core::store::open(&url, key()).await.unwrap();
    let store_b = ftpman_core::store::open(&url, key()).await.unwrap();
    let root = tempfile::tempdir().unwrap();
    let m = three_jobs(store_a.clone(), root.path(), false).await;
    m.add_group(
        "nightly",
        &GroupOptions {
            schedule: Some("*/10 * * * *".into()),
            ..group("a,b,c", false)
        },
    )
    .await
    .unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let node = |store: &Arc<dyn Store>, id: &str| {
        let config = EngineConfig {
            node_id: id.into(),
            ..EngineConfig::default()
        };
        let engine = Engine::with_clock(store.clone(), Arc::new(ProtocolConnector), config, clock.clone());
        Service::new(engine, ServiceConfig::default())
    };
    let (a, b) = (node(&store_a, "node-a"), node(&store_b, "node-b"));
    assert_eq!(
        a.fire_due_groups().await.unwrap() + b.fire_due_groups().await.unwrap(),
        0
    );
    // Both nodes see the next fire at the same instant (and again, a tick later).
    let fire =
        ftpman_core::scheduler::next_fires_of(&m.group("nightly").await.unwrap().schedule, clock.now(), 1).unwrap()[0];
    clock.set(fire + chrono::Duration::milliseconds(5));
    let (fa, fb) = tokio::join!(a.fire_due_groups(), b.fire_due_groups());
    assert_eq!(fa.unwrap() + fb.unwrap(), 1, "one fire, one group run");
    assert_eq!(
        a.fire_due_groups().await.unwrap() + b.fire_due_groups().await.unwrap(),
        0
    );
    // Both try to claim it; one runs it.
    let (ca, cb) = tokio::join!(a.claim_and_start(), b.claim_and_start());
    assert_eq!(ca.unwrap() + cb.unwrap(), 1, "one node claims the group run");
    let group = m.group("nightly").await.unwrap();
    let done = loop {
        let runs = store_a.group_runs(group.id, 10).await.unwrap();
        assert_eq!(runs.len(), 1);
        if runs[0].status.is_final() {
            break runs[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(done.scheduled_for, Some(fire));
    // Each job ran once, on the node that claimed the group run.
    let view = m.group_run_view(done.id).await.unwrap();
    let runs = view.runs.unwrap();
    assert_eq!(runs.iter().map(|r| r.job.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
    assert!(runs.iter().all(|r| r.node == done.node_id));
    let all = store_a.runs(&ftpman_core::model::RunQuery::default()).await.unwrap();
    assert_eq!(all.len(), 3, "no job ran twice");
}

/// The URL of PostgreSQL the tests use (`FTPMAN_TEST_PG`).
fn pg_url() -> String {
    std::env::var("FTPMAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A new, empty PostgreSQL database of a test's own, named from `prefix`; its URL.
async fn pg_database(prefix: &str) -> String {
    let admin = sqlx::PgPool::connect(&pg_url())
        .await
        .expect("PostgreSQL (scripts/test.sh starts it)");
    let db = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .expect("create a test database");
    // postgres://USER@HOST:PORT/DATABASE[?OPTIONS], with this database instead.
    let base = pg_url();
    let (address, options) = base.split_once('?').map_or((base.as_str(), ""), |(a, o)| (a, o));
    let server = address.rsplit_once('/').map_or(address, |(server, _)| server);
    if options.is_empty() {
        format!("{server}/{db}")
    } else {
        format!("{server}/{db}?{options}")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fire_while_the_group_still_runs_is_skipped_even_behind_a_newer_skip() {
    let (store, _db) = harness::sqlite_store().await;
    let root = tempfile::tempdir().unwrap();
    let m = three_jobs(store.clone(), root.path(), false).await;
    m.add_group(
        "slow",
        &GroupOptions {
            schedule: Some("*/10 * * * *".into()),
            ..group("a", false)
        },
    )
    .await
    .unwrap();
    let group = m.group("slow").await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let engine = Engine::with_clock(
        store.clone(),
        Arc::new(ProtocolConnector),
        EngineConfig::default(),
        clock.clone(),
    );
    let svc = Service::new(engine.clone(), ServiceConfig::default());
    assert_eq!(svc.fire_due_groups().await.unwrap(), 0);
    // A run of the group held by another node, then a manual run refused as skipped.
    let held = ftpman_core::model::NewGroupRun {
        group_id: group.id,
        trigger: Trigger::Manual,
        scheduled_for: None,
        status: RunStatus::Running,
        as_of: None,
        again: false,
    };
    store
        .start_new_group_run(&held, "elsewhere", clock.now(), Duration::from_secs(3600))
        .await
        .unwrap()
        .expect("running elsewhere");
    let request = ftpman_core::engine::GroupRequest {
        trigger: Trigger::Manual,
        as_of: None,
        again: false,
    };
    assert_eq!(
        engine.begin_group(group.id, request).await.unwrap().status,
        RunStatus::Skipped
    );
    // The next fire finds the group still running: recorded as skipped, not queued behind it.
    let fire = ftpman_core::scheduler::next_fires_of(&group.schedule, clock.now(), 1).unwrap()[0];
    clock.set(fire + chrono::Duration::seconds(1));
    assert_eq!(svc.fire_due_groups().await.unwrap(), 1);
    let runs = store.group_runs(group.id, 10).await.unwrap();
    let fired = runs
        .iter()
        .find(|r| r.scheduled_for == Some(fire))
        .expect("the fire's run");
    assert_eq!(fired.status, RunStatus::Skipped, "{runs:?}");
}
