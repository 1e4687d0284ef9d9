//! One store test suite, run against SQLite and PostgreSQL.
//!
//! PostgreSQL tests connect to `FTPMAN_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`)
//! and work in a schema of their own, dropped at the end, so test runs never collide.

use super::*;
use crate::model::*;
use crate::secrets::{Cipher, Secret, SecretError};
use chrono::{Duration as ChronoDuration, TimeZone, Utc};
use chrono_tz::Tz;
use sqlx::postgres::PgConnectOptions;
use std::collections::HashSet;
use std::str::FromStr as _;
use std::sync::atomic::{AtomicU32, Ordering};

const KEY_A: [u8; 32] = [0x11; 32];
const KEY_B: [u8; 32] = [0x22; 32];

fn key(bytes: [u8; 32]) -> KeySource {
    KeySource::Key(Box::new(bytes))
}

fn pg_url() -> String {
    std::env::var("FTPMAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Whether no PostgreSQL answers where `FTPMAN_TEST_PG` points: plain `cargo test` on a machine
/// without one skips the PostgreSQL half, saying so; the test command sets
/// `FTPMAN_TEST_REQUIRE_SERVERS`, under which that fails instead.
fn postgres_is_missing() -> bool {
    let opts = PgConnectOptions::from_str(&pg_url()).expect("FTPMAN_TEST_PG");
    let target = format!("{}:{}", opts.get_host(), opts.get_port());
    let answers = std::net::ToSocketAddrs::to_socket_addrs(&target)
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, std::time::Duration::from_secs(2)).is_ok());
    if !answers {
        assert!(
            std::env::var_os("FTPMAN_TEST_REQUIRE_SERVERS").is_none(),
            "PostgreSQL is required but does not answer at {target}: run scripts/test.sh"
        );
        eprintln!("skipped: this test needs PostgreSQL at {target} (scripts/test.sh starts it)");
    }
    !answers
}

/// A store under test and the means to reopen it and read its raw rows.
struct Harness {
    store: Arc<dyn Store>,
    place: Place,
}

enum Place {
    Sqlite { _dir: tempfile::TempDir, url: String },
    Postgres { schema: String },
}

static SCHEMA_SEQ: AtomicU32 = AtomicU32::new(0);

impl Harness {
    async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("ftpman.db").display());
        let store = Arc::new(SqliteStore::open(&url, Some(key(KEY_A))).await.expect("open sqlite"));
        Harness {
            store,
            place: Place::Sqlite { _dir: dir, url },
        }
    }

    async fn postgres() -> Harness {
        let schema = format!(
            "t_{}_{}_{}",
            std::process::id(),
            SCHEMA_SEQ.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_micros() % 1_000_000
        );
        let admin = sqlx::PgPool::connect(&pg_url()).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is needed for the store tests (scripts/test.sh starts it): {e}",
                pg_url()
            )
        });
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let store = Arc::new(
            PgStore::open_with(Self::pg_options(&schema), key(KEY_A))
                .await
                .expect("open postgres"),
        );
        Harness {
            store,
            place: Place::Postgres { schema },
        }
    }

    fn pg_options(schema: &str) -> PgConnectOptions {
        PgConnectOptions::from_str(&pg_url())
            .expect("pg url")
            .options([("search_path", schema)])
    }

    /// Another store value on the same database, with the given key.
    async fn reopen(&self, k: KeySource) -> StoreResult<Arc<dyn Store>> {
        match &self.place {
            Place::Sqlite { url, .. } => Ok(Arc::new(SqliteStore::open(url, Some(k)).await?)),
            Place::Postgres { schema } => Ok(Arc::new(PgStore::open_with(Self::pg_options(schema), k).await?)),
        }
    }

    /// Runs one statement on the raw database.
    async fn exec(&self, sql: &'static str, arg: &str) {
        match &self.place {
            Place::Sqlite { url, .. } => {
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                sqlx::query(sql).bind(arg).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Place::Postgres { schema } => {
                let pool = sqlx::PgPool::connect_with(Self::pg_options(schema)).await.unwrap();
                sqlx::query(sql).bind(arg).execute(&pool).await.unwrap();
                pool.close().await;
            }
        }
    }

    /// Every column of every row of `table`, as text, read without the store.
    async fn raw_rows(&self, table: &str) -> String {
        match &self.place {
            Place::Sqlite { url, .. } => {
                use sqlx::Row as _;
                let pool = sqlx::SqlitePool::connect(url).await.unwrap();
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM {table}")))
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                let mut out = String::new();
                for row in &rows {
                    for i in 0..row.len() {
                        let v: Option<String> = row.try_get_unchecked::<Option<String>, _>(i).ok().flatten();
                        let n: Option<i64> = row.try_get_unchecked::<Option<i64>, _>(i).ok().flatten();
                        out.push_str(&format!("{v:?}/{n:?}|"));
                    }
                    out.push('\n');
                }
                pool.close().await;
                out
            }
            Place::Postgres { schema } => {
                use sqlx::Row as _;
                let pool = sqlx::PgPool::connect_with(Self::pg_options(schema)).await.unwrap();
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST(t AS TEXT) AS t FROM {table} t"
                )))
                .fetch_all(&pool)
                .await
                .unwrap();
                let out = rows
                    .iter()
                    .map(|r| r.get::<String, _>("t"))
                    .collect::<Vec<_>>()
                    .join("\n");
                pool.close().await;
                out
            }
        }
    }

    async fn cleanup(self) {
        self.store.close().await;
        if let Place::Postgres { schema } = &self.place {
            let admin = sqlx::PgPool::connect(&pg_url()).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// Declares each test once and runs it on both backends.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::Harness::sqlite().await;
                    super::$name(&h).await;
                    h.cleanup().await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::postgres_is_missing() {
                        return;
                    }
                    let h = super::Harness::postgres().await;
                    super::$name(&h).await;
                    h.cleanup().await;
                }
            )+
        }
    };
}

on_both_backends!(
    site_secrets_round_trip_and_are_sealed_at_rest,
    wrong_key_and_tampering_are_detected,
    sites_and_jobs_crud,
    each_fire_becomes_one_run,
    claim_renew_and_expire_leases,
    concurrent_claimers_claim_each_run_once,
    run_files_and_ledger,
    files_are_recorded_in_groups,
    settings_seal_secret_values,
    system_log_filters_and_pages,
    stats_retention_nodes_users,
    two_stores_see_each_others_writes,
    connection_slots_are_shared,
    runs_and_logs_page_by_cursor_and_time,
    tokens_and_sessions,
    site_tests_keep_the_last_outcome,
    users_change_role_and_password,
    the_scheduler_reads_compact_jobs_and_every_last_fire_at_once,
);

const PRIVATE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n";

async fn add_site(store: &Arc<dyn Store>, name: &str, url: &str) -> Site {
    let mut s = Site::new(name, &SiteUrl::parse(url).unwrap()).unwrap();
    if s.protocol != Protocol::Local {
        s.password = Some(Secret::new(format!("pw-of-{name}-Zq9")));
    }
    store.create_site(&s).await.unwrap()
}

async fn add_job(store: &Arc<dyn Store>, name: &str, src: &Site, dst: &Site) -> Job {
    store
        .create_job(&Job::new(name, src.id, "/out", dst.id, "/in/{yyyy}"))
        .await
        .unwrap()
}

async fn site_secrets_round_trip_and_are_sealed_at_rest(h: &Harness) {
    let mut site = Site::new(
        "partner",
        &SiteUrl::parse("sftp://bob@sftp.example.com:2222/out").unwrap(),
    )
    .unwrap();
    site.password = Some(Secret::new("s3cr3t-Password!"));
    site.private_key = Some(Secret::new(PRIVATE_KEY));
    site.key_passphrase = Some(Secret::new("phrase-4711"));
    site.host_key = Some(format!("SHA256:{}", "Q".repeat(43)));
    site.max_connections = 2;
    let saved = h.store.create_site(&site).await.unwrap();
    assert!(saved.id > 0);
    let back = h.store.site("partner").await.unwrap();
    assert_eq!(back.password, site.password);
    assert_eq!(back.private_key, site.private_key);
    assert_eq!(back.key_passphrase, site.key_passphrase);
    assert_eq!(back.host_key, site.host_key);
    assert_eq!(
        (back.host.as_str(), back.port, back.max_connections),
        ("sftp.example.com", 2222, 2)
    );
    assert_eq!(h.store.site_by_id(saved.id).await.unwrap().name, "partner");

    let raw = h.raw_rows("sites").await;
    assert!(
        raw.contains("partner") && raw.contains("v1:"),
        "raw row should hold the name and sealed values: {raw}"
    );
    for clear in [
        "s3cr3t-Password!",
        "OPENSSH PRIVATE KEY",
        "b3BlbnNzaC1rZXkt",
        "phrase-4711",
    ] {
        assert!(!raw.contains(clear), "clear secret {clear:?} found in the raw row");
    }
    // Debug output of a site never shows its secrets either.
    let debug = format!("{back:?}");
    assert!(!debug.contains("s3cr3t") && !debug.contains("phrase-4711"), "{debug}");

    // Changing and clearing a secret.
    let mut changed = back.clone();
    changed.password = Some(Secret::new("n3w-pass"));
    changed.key_passphrase = None;
    h.store.update_site(&changed).await.unwrap();
    let again = h.store.site("partner").await.unwrap();
    assert_eq!(again.password, Some(Secret::new("n3w-pass")));
    assert_eq!(again.key_passphrase, None);
}

async fn wrong_key_and_tampering_are_detected(h: &Harness) {
    add_site(&h.store, "a", "ftp://ann@ftp.example.com/x").await;
    // The right key opens again; a wrong one is refused with the variable named.
    h.reopen(key(KEY_A)).await.expect("same key reopens").close().await;
    let err = match h.reopen(key(KEY_B)).await {
        Ok(_) => panic!("a wrong ENCRYPTION_KEY was accepted"),
        Err(e) => e,
    };
    assert!(
        matches!(err, StoreError::Secret(SecretError::WrongKey { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("ENCRYPTION_KEY") && text.contains("does not match"),
        "{text}"
    );
    let err = match h.reopen(KeySource::Password(Secret::new("some long password"))).await {
        Ok(_) => panic!("a wrong ENCRYPTION_PASSWORD was accepted"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("ENCRYPTION_PASSWORD"), "{err}");

    // Flip one byte of the sealed password in the raw row: reading it must fail, not decrypt garbage.
    let sealed = Cipher::new(&KEY_A).seal(b"whatever");
    h.exec("UPDATE sites SET password_enc = $1", &sealed).await;
    assert_eq!(h.store.site("a").await.unwrap().password, Some(Secret::new("whatever")));
    let mut bytes = sealed.into_bytes();
    let i = bytes.len() - 6;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    h.exec("UPDATE sites SET password_enc = $1", &String::from_utf8(bytes).unwrap())
        .await;
    let err = h.store.site("a").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Secret(SecretError::Tampered { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("site 'a' password"), "{err}");
}

async fn sites_and_jobs_crud(h: &Harness) {
    let src = add_site(&h.store, "src", "sftp://bob@h1/out").await;
    let dst = add_site(&h.store, "dst", "file:///srv/in").await;
    let dup = h
        .store
        .create_site(&Site::new("src", &SiteUrl::parse("ftp://x@h/").unwrap()).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(dup, StoreError::Exists { kind: "site", .. }), "{dup:?}");
    assert!(matches!(
        h.store.site("nope").await.unwrap_err(),
        StoreError::NotFound { kind: "site", .. }
    ));

    let mut job = Job::new("nightly", src.id, "/out", dst.id, "/in/{yyyy}/{mm}");
    job.include = vec!["*.csv".into(), "reports/**/*.xml".into()];
    job.exclude = vec!["*.tmp".into()];
    job.recursive = true;
    job.min_age = std::time::Duration::from_secs(120);
    job.max_age = Some(std::time::Duration::from_secs(7 * 86_400));
    job.conflict = ConflictPolicy::Rename;
    job.after = AfterAction::Move("/done".into());
    job.bwlimit = Some(10 << 20);
    job.schedule = Schedule::Cron {
        expr: "0 2 * * 1-5".into(),
        tz: Tz::Europe__Berlin,
    };
    job.notify = NotifyPolicy::Always;
    job.recipients = vec!["ops@example.com".into()];
    job.window = Some(DateWindow::parse("cycle:26").unwrap());
    job.name_date = Some(NameDate::parse("D{yy}{mm}{dd}").unwrap());
    let saved = h.store.create_job(&job).await.unwrap();
    let back = h.store.job("nightly").await.unwrap();
    assert_eq!(
        Job {
            id: 0,
            created_at: job.created_at,
            updated_at: job.updated_at,
            ..back.clone()
        },
        job
    );
    assert_eq!(h.store.job_by_id(saved.id).await.unwrap().name, "nightly");

    let once = Job {
        name: "once".into(),
        schedule: Schedule::Once {
            at: Utc.with_ymd_and_hms(2030, 1, 1, 3, 0, 0).unwrap(),
        },
        ..Job::new("x", dst.id, "/in", src.id, "/back")
    };
    let once = Job {
        zone: Some(Tz::Europe__Berlin),
        ..once
    };
    h.store.create_job(&once).await.unwrap();
    let once_back = h.store.job("once").await.unwrap();
    assert_eq!(
        (once_back.schedule.clone(), once_back.zone),
        (once.schedule.clone(), once.zone)
    );
    assert_eq!(
        once_back.zone(),
        Tz::Europe__Berlin,
        "a zone kept beside a schedule that is not cron"
    );
    let names: Vec<String> = h.store.jobs().await.unwrap().into_iter().map(|j| j.name).collect();
    assert_eq!(names, ["nightly", "once"]);

    // A bad job is refused before it reaches the database; so is one naming a missing site.
    let bad = Job {
        parallel: 0,
        ..job.clone()
    };
    assert!(matches!(
        h.store.create_job(&bad).await.unwrap_err(),
        StoreError::Invalid(_)
    ));
    let orphan = Job::new("orphan", 9_999, "/a", src.id, "/b");
    assert!(matches!(
        h.store.create_job(&orphan).await.unwrap_err(),
        StoreError::NotFound { kind: "site", .. }
    ));

    // A site in use cannot go; the message names the jobs.
    let err = h.store.delete_site("src").await.unwrap_err();
    assert!(
        err.to_string().contains("nightly") && err.to_string().contains("once"),
        "{err}"
    );

    let mut edited = back;
    edited.enabled = false;
    edited.name = "nightly-2".into();
    h.store.update_job(&edited).await.unwrap();
    assert!(!h.store.job("nightly-2").await.unwrap().enabled);
    h.store.delete_job("nightly-2").await.unwrap();
    h.store.delete_job("once").await.unwrap();
    assert!(matches!(
        h.store.delete_job("once").await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
    h.store.delete_site("src").await.unwrap();
    assert_eq!(h.store.sites().await.unwrap().len(), 1);
}

async fn each_fire_becomes_one_run(h: &Harness) {
    let s = add_site(&h.store, "s", "file:///a").await;
    let t = add_site(&h.store, "t", "file:///b").await;
    let job = add_job(&h.store, "j", &s, &t).await;
    let fire = Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap();
    let new = NewRun {
        job_id: job.id,
        trigger: Trigger::Schedule,
        scheduled_for: Some(fire),
        status: RunStatus::Queued,
        dry_run: false,
        as_of: None,
        again: false,
        group_run_id: None,
    };
    let first = h
        .store
        .create_run(&new)
        .await
        .unwrap()
        .expect("first fire creates a run");
    assert_eq!((first.status, first.scheduled_for), (RunStatus::Queued, Some(fire)));
    assert!(
        h.store.create_run(&new).await.unwrap().is_none(),
        "the same fire must not create a second run"
    );
    // Manual runs have no fire and never collide; a backfill keeps its reference time.
    let as_of = Utc.with_ymd_and_hms(2026, 10, 26, 1, 0, 0).unwrap();
    let manual = NewRun {
        trigger: Trigger::Manual,
        scheduled_for: None,
        as_of: Some(as_of),
        again: true,
        ..new.clone()
    };
    let backfill = h.store.create_run(&manual).await.unwrap().unwrap();
    assert_eq!(
        (backfill.as_of, backfill.again, backfill.reference_time()),
        (Some(as_of), true, as_of)
    );
    assert_eq!(first.reference_time(), fire, "a fire's run stands for the fire");
    h.store.create_run(&manual).await.unwrap().unwrap();
    let skipped = NewRun {
        scheduled_for: Some(fire + ChronoDuration::minutes(5)),
        status: RunStatus::Skipped,
        ..new
    };
    let sk = h.store.create_run(&skipped).await.unwrap().unwrap();
    assert!(sk.finished_at.is_some(), "a skipped run is final at once");

    let all = h
        .store
        .runs(&RunQuery {
            job_id: Some(job.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let queued = h
        .store
        .runs(&RunQuery {
            status: Some(RunStatus::Queued),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(queued.len(), 3);
    assert_eq!(h.store.count_runs(RunStatus::Queued).await.unwrap(), 3);
    assert_eq!(h.store.count_runs(RunStatus::Skipped).await.unwrap(), 1);
    let page = h
        .store
        .runs(&RunQuery {
            limit: Some(2),
            offset: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        all[2..].iter().map(|r| r.id).collect::<Vec<_>>()
    );
    assert_eq!(h.store.run(first.id).await.unwrap(), first);
    assert!(
        h.store
            .runs(&RunQuery {
                job_id: Some(job.id + 100),
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        h.store.last_fire(job.id).await.unwrap(),
        Some(fire + ChronoDuration::minutes(5))
    );
    assert_eq!(h.store.last_fire(job.id + 100).await.unwrap(), None);
}

async fn the_scheduler_reads_compact_jobs_and_every_last_fire_at_once(h: &Harness) {
    let a = add_site(&h.store, "a", "file:///tmp/a").await;
    let b = add_site(&h.store, "b", "file:///tmp/b").await;
    let mut hourly = add_job(&h.store, "hourly", &a, &b).await;
    hourly.schedule = Schedule::Cron {
        expr: "0 * * * *".into(),
        tz: chrono_tz::Europe::Berlin,
    };
    let hourly = h.store.update_job(&hourly).await.unwrap();
    let manual = add_job(&h.store, "by-hand", &a, &b).await;
    let mut off = add_job(&h.store, "off", &a, &b).await;
    off.enabled = false;
    off.schedule = hourly.schedule.clone();
    h.store.update_job(&off).await.unwrap();
    // Only the enabled, scheduled job, with what the scheduler needs of it.
    let scheduled = h.store.scheduled_jobs().await.unwrap();
    assert_eq!(
        scheduled,
        vec![ScheduledJob {
            id: hourly.id,
            name: "hourly".into(),
            updated_at: hourly.updated_at,
            schedule: hourly.schedule.clone(),
        }]
    );
    // One query for every job's last fire; a job never fired has none.
    let fire = Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap();
    for (job, at) in [
        (hourly.id, fire),
        (hourly.id, fire + ChronoDuration::hours(1)),
        (manual.id, fire),
    ] {
        let new = NewRun {
            scheduled_for: Some(at),
            ..NewRun::new(job, Trigger::Schedule)
        };
        h.store.create_runs(&[new]).await.unwrap();
    }
    let last = h.store.last_fires().await.unwrap();
    assert_eq!(last.len(), 2);
    assert_eq!(last[&hourly.id], fire + ChronoDuration::hours(1));
    assert_eq!(last[&manual.id], fire);
    // Any change shows in the fingerprint, a change of an older job too.
    let before = h.store.jobs_fingerprint().await.unwrap();
    let mut older = h.store.job("by-hand").await.unwrap();
    older.retries = 7;
    h.store.update_job(&older).await.unwrap();
    assert_ne!(h.store.jobs_fingerprint().await.unwrap(), before);
}

async fn claim_renew_and_expire_leases(h: &Harness) {
    let s = add_site(&h.store, "s", "file:///a").await;
    let t = add_site(&h.store, "t", "file:///b").await;
    let j1 = add_job(&h.store, "j1", &s, &t).await;
    let j2 = add_job(&h.store, "j2", &s, &t).await;
    let queue = |job: &Job| NewRun {
        job_id: job.id,
        trigger: Trigger::Api,
        scheduled_for: None,
        status: RunStatus::Queued,
        dry_run: false,
        as_of: None,
        again: false,
        group_run_id: None,
    };
    let r1 = h.store.create_run(&queue(&j1)).await.unwrap().unwrap();
    let r1b = h.store.create_run(&queue(&j1)).await.unwrap().unwrap();
    let r2 = h.store.create_run(&queue(&j2)).await.unwrap().unwrap();
    let now = Utc::now();
    let lease = std::time::Duration::from_secs(30);

    let c1 = h.store.claim_run("node-a", now, lease).await.unwrap().unwrap();
    assert_eq!(
        (c1.id, c1.status, c1.node_id.as_deref()),
        (r1.id, RunStatus::Running, Some("node-a"))
    );
    assert_eq!(c1.lease_expires_at, Some(from_ms(to_ms(now) + 30_000)));
    assert!(h.store.job_running(j1.id).await.unwrap());
    // j1 is running, so its second run waits; j2's run is next.
    let c2 = h.store.claim_run("node-b", now, lease).await.unwrap().unwrap();
    assert_eq!(c2.id, r2.id);
    assert!(
        h.store.claim_run("node-c", now, lease).await.unwrap().is_none(),
        "no claimable run is left"
    );

    // Renewal works only for the holder.
    let later = now + ChronoDuration::seconds(20);
    assert!(h.store.renew_lease(c1.id, "node-a", later, lease).await.unwrap());
    assert!(!h.store.renew_lease(c1.id, "node-b", later, lease).await.unwrap());
    // At now+40s node-b's lease (until now+30s) has expired; node-a's (until now+50s) holds.
    let expired = h.store.expire_leases(now + ChronoDuration::seconds(40)).await.unwrap();
    assert_eq!(expired, vec![r2.id]);
    let dead = h.store.run(r2.id).await.unwrap();
    assert_eq!(dead.status, RunStatus::Interrupted);
    assert!(dead.error.unwrap().contains("node-b"));
    assert!(
        !h.store.renew_lease(r2.id, "node-b", later, lease).await.unwrap(),
        "an expired lease cannot be renewed"
    );

    let counts = RunCounts {
        found: 3,
        transferred: 2,
        skipped: 0,
        failed: 1,
        bytes: 1234,
        undated: 2,
    };
    let moving = vec![ActiveFile {
        path: "/out/big.bin".into(),
        size: 1 << 30,
        bytes: 1 << 20,
    }];
    h.store
        .update_run_counts(c1.id, "node-a", &counts, &moving)
        .await
        .unwrap();
    let progress = h.store.run(c1.id).await.unwrap();
    assert_eq!((progress.counts, progress.active_files), (counts, moving));
    // The window a run resolved to is kept with it, written by its node only.
    let window = "2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin";
    h.store.set_run_window(c1.id, "node-a", window).await.unwrap();
    assert_eq!(h.store.run(c1.id).await.unwrap().window.as_deref(), Some(window));
    assert!(matches!(
        h.store.set_run_window(c1.id, "node-b", "x").await,
        Err(StoreError::NotHeld { .. })
    ));
    // Only the node that holds a run writes its progress and its end.
    assert!(matches!(
        h.store
            .update_run_counts(c1.id, "node-b", &RunCounts::default(), &[])
            .await,
        Err(StoreError::NotHeld { .. })
    ));
    assert!(matches!(
        h.store
            .finish_run(c1.id, Some("node-b"), RunStatus::Failed, &counts, None, later)
            .await,
        Err(StoreError::NotHeld { .. })
    ));
    assert!(matches!(
        h.store
            .finish_run(c1.id, None, RunStatus::Failed, &counts, None, later)
            .await,
        Err(StoreError::NotHeld { .. })
    ));
    // An interrupted run is not brought back by the node that lost it.
    assert!(matches!(
        h.store
            .finish_run(r2.id, Some("node-b"), RunStatus::Succeeded, &counts, None, later)
            .await,
        Err(StoreError::NotHeld { .. })
    ));
    assert_eq!(h.store.run(r2.id).await.unwrap().status, RunStatus::Interrupted);
    h.store
        .finish_run(
            c1.id,
            Some("node-a"),
            RunStatus::Partial,
            &counts,
            Some("b.csv: permission denied"),
            later,
        )
        .await
        .unwrap();
    let done = h.store.run(c1.id).await.unwrap();
    assert_eq!(
        (done.status, done.lease_expires_at, done.error.as_deref()),
        (RunStatus::Partial, None, Some("b.csv: permission denied"))
    );
    assert!(done.active_files.is_empty(), "a finished run moves nothing");
    // With j1 no longer running, its second run can be started by hand on a node...
    let started = h
        .store
        .start_run(r1b.id, "node-x", later, lease)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (started.id, started.status, started.node_id.as_deref()),
        (r1b.id, RunStatus::Running, Some("node-x"))
    );
    // ...once only.
    assert!(
        h.store
            .start_run(r1b.id, "node-y", later, lease)
            .await
            .unwrap()
            .is_none()
    );
    assert!(h.store.claim_run("node-a", later, lease).await.unwrap().is_none());
}

async fn concurrent_claimers_claim_each_run_once(h: &Harness) {
    let s = add_site(&h.store, "s", "file:///a").await;
    let t = add_site(&h.store, "t", "file:///b").await;
    let mut total = 0;
    for j in 0..10 {
        let job = add_job(&h.store, &format!("job{j}"), &s, &t).await;
        for _ in 0..10 {
            h.store
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
            total += 1;
        }
    }
    assert_eq!(total, 100);
    let mut claimers = Vec::new();
    for c in 0..8 {
        let store = h.store.clone();
        claimers.push(tokio::spawn(async move {
            let node = format!("claimer-{c}");
            let mut mine = Vec::new();
            let mut idle = 0;
            while idle < 200 {
                match store
                    .claim_run(&node, Utc::now(), std::time::Duration::from_secs(60))
                    .await
                    .unwrap()
                {
                    Some(run) => {
                        idle = 0;
                        assert_eq!(run.node_id.as_deref(), Some(node.as_str()));
                        mine.push(run.id);
                        store
                            .finish_run(
                                run.id,
                                Some(&node),
                                RunStatus::Succeeded,
                                &RunCounts::default(),
                                None,
                                Utc::now(),
                            )
                            .await
                            .unwrap();
                    }
                    None => {
                        let left = store
                            .runs(&RunQuery {
                                status: Some(RunStatus::Queued),
                                limit: Some(1),
                                ..Default::default()
                            })
                            .await
                            .unwrap();
                        if left.is_empty() {
                            break;
                        }
                        idle += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                }
            }
            mine
        }));
    }
    let mut all = Vec::new();
    let mut per_claimer = Vec::new();
    for c in claimers {
        let mine = c.await.unwrap();
        per_claimer.push(mine.len());
        all.extend(mine);
    }
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        100,
        "every run claimed once, claims per claimer: {per_claimer:?}"
    );
    assert_eq!(unique.len(), 100, "no run claimed twice");
    let succeeded = h
        .store
        .runs(&RunQuery {
            status: Some(RunStatus::Succeeded),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(succeeded.len(), 100);
}

async fn run_files_and_ledger(h: &Harness) {
    let s = add_site(&h.store, "s", "file:///a").await;
    let t = add_site(&h.store, "t", "file:///b").await;
    let job = add_job(&h.store, "j", &s, &t).await;
    let run = h
        .store
        .start_new_run(
            &NewRun {
                job_id: job.id,
                trigger: Trigger::Manual,
                scheduled_for: None,
                status: RunStatus::Running,
                dry_run: false,
                as_of: None,
                again: false,
                group_run_id: None,
            },
            "n",
            Utc::now(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap()
        .unwrap();
    let mut f = h
        .store
        .record_file(
            "n",
            &RunFile {
                id: 0,
                run_id: run.id,
                source_path: "/out/ä b.csv".into(),
                target_path: "/in/2026/ä b.csv".into(),
                size: 100,
                bytes: 0,
                duration: std::time::Duration::ZERO,
                status: RunFileStatus::Transferring,
                error: None,
            },
            None,
        )
        .await
        .unwrap();
    f.bytes = 100;
    f.duration = std::time::Duration::from_millis(1500);
    f.status = RunFileStatus::Transferred;
    h.store.update_run_file("n", &f).await.unwrap();
    assert!(matches!(
        h.store.update_run_file("m", &f).await,
        Err(StoreError::NotHeld { .. })
    ));
    let second = h
        .store
        .record_file(
            "n",
            &RunFile {
                id: 0,
                source_path: "/out/x".into(),
                status: RunFileStatus::Failed,
                error: Some("timeout".into()),
                ..f.clone()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(h.store.run_files(run.id).await.unwrap(), vec![f.clone(), second]);

    assert!(h.store.ledger_entry(job.id, "/out/ä b.csv").await.unwrap().is_none());
    let when = Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap();
    let entry = LedgerEntry {
        job_id: job.id,
        source_path: "/out/ä b.csv".into(),
        size: 100,
        mtime: Some(1_700_000_000),
        delivered_at: when,
        run_id: run.id,
        target_path: Some("/in/2026/ä b.csv".into()),
        mtime_granularity: 60,
        after_pending: true,
        mtime_nanos: 250_000_000,
    };
    h.store.record_delivery(&entry).await.unwrap();
    assert_eq!(
        h.store.ledger_entry(job.id, "/out/ä b.csv").await.unwrap(),
        Some(entry.clone())
    );
    let changed = LedgerEntry {
        size: 200,
        mtime: Some(1_700_000_500),
        mtime_nanos: 750_000_000,
        delivered_at: when + ChronoDuration::hours(1),
        ..entry.clone()
    };
    h.store.record_delivery(&changed).await.unwrap();
    assert_eq!(h.store.ledger(job.id, 10).await.unwrap(), vec![changed.clone()]);
    // An applied after-delivery action is noted for the run that delivered the file only.
    h.store.after_applied(job.id, "/out/ä b.csv", run.id + 1).await.unwrap();
    assert!(h.store.ledger(job.id, 10).await.unwrap()[0].after_pending);
    h.store.after_applied(job.id, "/out/ä b.csv", run.id).await.unwrap();
    assert_eq!(
        h.store.ledger(job.id, 10).await.unwrap(),
        vec![LedgerEntry {
            after_pending: false,
            ..changed
        }]
    );
    assert_eq!(h.store.forget_ledger(job.id).await.unwrap(), 1);
    // Forgotten: it matches no file any more, but where its copy went is kept.
    let forgotten = h.store.ledger(job.id, 10).await.unwrap().remove(0);
    assert!(!forgotten.matches(200, Utc.timestamp_opt(1_700_000_500, 750_000_000).single(), 1));
    assert_eq!(forgotten.target_path.as_deref(), Some("/in/2026/ä b.csv"));
    // Deleting the job removes its runs with it.
    h.store.delete_job("j").await.unwrap();
    assert!(matches!(
        h.store.run(run.id).await.unwrap_err(),
        StoreError::NotFound { kind: "run", .. }
    ));
    assert!(h.store.run_files(run.id).await.unwrap().is_empty());
}

async fn files_are_recorded_in_groups(h: &Harness) {
    let s = add_site(&h.store, "s", "file:///a").await;
    let t = add_site(&h.store, "t", "file:///b").await;
    let job = add_job(&h.store, "j", &s, &t).await;
    let new_run = NewRun {
        job_id: job.id,
        trigger: Trigger::Manual,
        scheduled_for: None,
        status: RunStatus::Running,
        dry_run: false,
        as_of: None,
        again: false,
        group_run_id: None,
    };
    let lease = std::time::Duration::from_secs(60);
    let run = h
        .store
        .start_new_run(&new_run, "n", Utc::now(), lease)
        .await
        .unwrap()
        .unwrap();
    assert!(
        h.store
            .start_new_run(&new_run, "m", Utc::now(), lease)
            .await
            .unwrap()
            .is_none(),
        "a job runs once at a time"
    );
    let when = Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap();
    // More than one statement's worth (500 rows), some failed (no ledger entry), one path
    // delivered twice in the group (the later entry wins).
    let mut items = Vec::new();
    for i in 0..1203 {
        let path = if i == 1202 {
            "/out/f0007.csv".to_string()
        } else {
            format!("/out/f{i:04}.csv")
        };
        let failed = i % 10 == 3;
        let file = RunFile {
            id: 0,
            run_id: run.id,
            source_path: path.clone(),
            target_path: path.replace("/out/", "/in/"),
            size: i,
            bytes: if failed { 0 } else { i },
            duration: std::time::Duration::from_millis(i as u64),
            status: if failed {
                RunFileStatus::Failed
            } else {
                RunFileStatus::Transferred
            },
            error: failed.then(|| format!("error {i}")),
        };
        let entry = (!failed).then(|| LedgerEntry {
            job_id: job.id,
            source_path: path.clone(),
            size: i,
            mtime: Some(1_700_000_000 + i),
            delivered_at: when,
            run_id: run.id,
            target_path: Some(path.replace("/out/", "/in/")),
            mtime_granularity: 1,
            after_pending: false,
            mtime_nanos: u32::try_from(i).unwrap_or(0) * 1_000,
        });
        items.push((file, entry));
    }
    let saved = h.store.record_files("n", &items).await.unwrap();
    assert_eq!(saved.len(), items.len());
    for (s, (f, _)) in saved.iter().zip(&items) {
        assert!(s.id > 0);
        assert_eq!(RunFile { id: s.id, ..f.clone() }, *s, "saved in the order given");
    }
    assert_eq!(h.store.run_files(run.id).await.unwrap(), saved);
    assert!(h.store.record_files("n", &[]).await.unwrap().is_empty());

    let mut asked: Vec<String> = (0..1300).map(|i| format!("/out/f{i:04}.csv")).collect();
    asked.push("/out/never.csv".into());
    let mut found = h.store.ledger_entries(job.id, &asked).await.unwrap();
    found.sort_by(|a, b| a.source_path.cmp(&b.source_path));
    let expected: Vec<i64> = (0..1202).filter(|i| i % 10 != 3).collect();
    assert_eq!(found.len(), expected.len());
    for (e, i) in found.iter().zip(&expected) {
        assert_eq!(e.source_path, format!("/out/f{i:04}.csv"));
        let size = if *i == 7 { 1202 } else { *i };
        assert_eq!((e.size, e.mtime), (size, Some(1_700_000_000 + size)));
    }
    // Another job's ledger is its own.
    let other = add_job(&h.store, "k", &s, &t).await;
    assert!(h.store.ledger_entries(other.id, &asked).await.unwrap().is_empty());
    // A group that cannot be committed leaves nothing behind.
    let mut bad = items[..3].to_vec();
    bad[1].0.run_id = run.id + 1000;
    assert!(h.store.record_files("n", &bad).await.is_err());
    assert_eq!(h.store.run_files(run.id).await.unwrap().len(), items.len());
    // A node that no longer holds the run records nothing of it.
    assert!(matches!(
        h.store.record_files("m", &items[..3]).await,
        Err(StoreError::NotHeld { run_id }) if run_id == run.id
    ));
    assert_eq!(h.store.run_files(run.id).await.unwrap().len(), items.len());
}

async fn settings_seal_secret_values(h: &Harness) {
    let host = Setting {
        key: "smtp.host".into(),
        value: Secret::new("mail.example.com"),
        secret: false,
    };
    let pass = Setting {
        key: "smtp.password".into(),
        value: Secret::new("smtp-Pa55word"),
        secret: true,
    };
    h.store.set_setting(&host).await.unwrap();
    h.store.set_setting(&pass).await.unwrap();
    assert_eq!(h.store.setting("smtp.password").await.unwrap(), Some(pass.clone()));
    assert_eq!(h.store.settings().await.unwrap(), vec![host.clone(), pass]);
    let raw = h.raw_rows("settings").await;
    assert!(
        raw.contains("mail.example.com") && !raw.contains("smtp-Pa55word"),
        "{raw}"
    );
    let newer = Setting {
        value: Secret::new("relay.example.com"),
        ..host
    };
    h.store.set_setting(&newer).await.unwrap();
    assert_eq!(h.store.setting("smtp.host").await.unwrap(), Some(newer));
    assert!(h.store.delete_setting("smtp.host").await.unwrap());
    assert!(!h.store.delete_setting("smtp.host").await.unwrap());
    assert_eq!(h.store.setting("smtp.host").await.unwrap(), None);
    let bad = Setting {
        key: "Bad Key".into(),
        value: Secret::new("x"),
        secret: false,
    };
    assert!(matches!(
        h.store.set_setting(&bad).await.unwrap_err(),
        StoreError::Invalid(_)
    ));
}

async fn system_log_filters_and_pages(h: &Harness) {
    let entry = |level, component: &str, message: &str| LogEntry {
        id: 0,
        time: Utc::now(),
        level,
        component: component.into(),
        message: message.into(),
        context: serde_json::json!({"job": "nightly", "files": 3}),
    };
    let mut ids = Vec::new();
    for (level, component, message) in [
        (LogLevel::Info, "engine", "run started"),
        (LogLevel::Warn, "engine", "retrying a.csv"),
        (LogLevel::Error, "engine", "run failed"),
        (LogLevel::Info, "audit", "site partner added"),
    ] {
        ids.push(h.store.append_log(&entry(level, component, message)).await.unwrap());
    }
    let all = h.store.logs(&LogQuery::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
        ["site partner added", "run failed", "retrying a.csv", "run started"]
    );
    assert_eq!(all[0].context["files"], 3);
    let warn = h
        .store
        .logs(&LogQuery {
            min_level: Some(LogLevel::Warn),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        warn.iter().map(|e| e.level).collect::<Vec<_>>(),
        [LogLevel::Error, LogLevel::Warn]
    );
    let audit = h
        .store
        .logs(&LogQuery {
            component: Some("audit".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    let page = h
        .store
        .logs(&LogQuery {
            before_id: Some(ids[2]),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);

    // The tracing layer records ftpman events into the same log.
    let (log, writer) = crate::syslog::SystemLog::start(h.store.clone());
    {
        use tracing_subscriber::layer::SubscriberExt as _;
        let subscriber = tracing_subscriber::registry().with(log.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "ftpman::scheduler", job = "nightly", late_ms = 1500u64, "fire was late");
            tracing::info!(target: "other_crate", "not ours");
            tracing::debug!(target: "ftpman::scheduler", "too detailed");
        });
    }
    drop(log);
    writer.await.unwrap();
    let sched = h
        .store
        .logs(&LogQuery {
            component: Some("scheduler".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(sched.len(), 1, "{sched:?}");
    assert_eq!(
        (sched[0].level, sched[0].message.as_str()),
        (LogLevel::Warn, "fire was late")
    );
    assert_eq!(sched[0].context["job"], "nightly");
    assert_eq!(sched[0].context["late_ms"], 1500);
    assert_eq!(h.store.logs(&LogQuery::default()).await.unwrap().len(), 5);
}

async fn stats_retention_nodes_users(h: &Harness) {
    let s = add_site(&h.store, "s", "file:///a").await;
    let t = add_site(&h.store, "t", "file:///b").await;
    let job = add_job(&h.store, "j", &s, &t).await;
    let now = Utc::now();
    // The last is a dry run: it moves nothing and is no run of the job's in the totals.
    for (status, bytes, dry_run) in [
        (RunStatus::Succeeded, 100, false),
        (RunStatus::Failed, 0, false),
        (RunStatus::Partial, 50, false),
        (RunStatus::Succeeded, 1000, false),
        (RunStatus::Succeeded, 0, true),
    ] {
        let r = h
            .store
            .create_run(&NewRun {
                job_id: job.id,
                trigger: Trigger::Manual,
                scheduled_for: None,
                status: RunStatus::Queued,
                dry_run,
                as_of: None,
                again: false,
                group_run_id: None,
            })
            .await
            .unwrap()
            .unwrap();
        h.store
            .finish_run(
                r.id,
                None,
                status,
                &RunCounts {
                    bytes,
                    ..Default::default()
                },
                None,
                now,
            )
            .await
            .unwrap();
    }
    let stats = h.store.daily_stats(now - ChronoDuration::days(1)).await.unwrap();
    assert_eq!(
        stats,
        vec![DayStats {
            day: now.date_naive(),
            runs: 4,
            succeeded: 2,
            failed: 2,
            bytes: 1150
        }]
    );
    assert!(
        h.store
            .daily_stats(now + ChronoDuration::days(1))
            .await
            .unwrap()
            .is_empty()
    );

    // Retention: an old finished run and an old log entry go; a queued one and recent ones stay.
    let old = now - ChronoDuration::days(40);
    h.store
        .append_log(&LogEntry {
            id: 0,
            time: old,
            level: LogLevel::Info,
            component: "x".into(),
            message: "old".into(),
            context: serde_json::json!({}),
        })
        .await
        .unwrap();
    h.store
        .append_log(&LogEntry {
            id: 0,
            time: now,
            level: LogLevel::Info,
            component: "x".into(),
            message: "new".into(),
            context: serde_json::json!({}),
        })
        .await
        .unwrap();
    h.exec(
        "UPDATE runs SET created_at = created_at - 3456000000 WHERE bytes = CAST($1 AS BIGINT)",
        "1000",
    )
    .await;
    let queued = h
        .store
        .create_run(&NewRun {
            job_id: job.id,
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
    h.exec(
        "UPDATE runs SET created_at = created_at - 3456000000 WHERE id = CAST($1 AS BIGINT)",
        &queued.id.to_string(),
    )
    .await;
    let report = h.store.purge_older_than(now - ChronoDuration::days(30)).await.unwrap();
    assert_eq!(report, PurgeReport { runs: 1, logs: 1 });
    assert_eq!(
        h.store.runs(&RunQuery::default()).await.unwrap().len(),
        5,
        "the four runs and the dry run stay"
    );
    assert_eq!(
        h.store
            .logs(&LogQuery::default())
            .await
            .unwrap()
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        ["new"]
    );

    h.store.heartbeat("node-1", now).await.unwrap();
    h.store.heartbeat("node-2", now).await.unwrap();
    h.store
        .heartbeat("node-1", now + ChronoDuration::seconds(10))
        .await
        .unwrap();
    let nodes = h.store.nodes().await.unwrap();
    assert_eq!(
        nodes.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["node-1", "node-2"]
    );
    assert_eq!(nodes[0].started_at, from_ms(to_ms(now)));
    assert_eq!(nodes[0].heartbeat_at, from_ms(to_ms(now + ChronoDuration::seconds(10))));

    let user = User {
        id: 0,
        username: "alice".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        role: UserRole::Operator,
        created_at: now,
    };
    let saved = h.store.create_user(&user).await.unwrap();
    assert_eq!((saved.username.as_str(), saved.role), ("alice", UserRole::Operator));
    assert!(matches!(
        h.store.create_user(&user).await.unwrap_err(),
        StoreError::Exists { kind: "user", .. }
    ));
    assert_eq!(h.store.user("alice").await.unwrap().password_hash, user.password_hash);
    assert_eq!(h.store.users().await.unwrap().len(), 1);
    h.store.delete_user("alice").await.unwrap();
    assert!(matches!(
        h.store.user("alice").await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
}

async fn two_stores_see_each_others_writes(h: &Harness) {
    let other = h.reopen(key(KEY_A)).await.unwrap();
    add_site(&h.store, "from-one", "sftp://a@h/x").await;
    assert_eq!(
        other.site("from-one").await.unwrap().password,
        Some(Secret::new("pw-of-from-one-Zq9"))
    );
    add_site(&other, "from-two", "ftp://b@h/y").await;
    assert_eq!(h.store.site("from-two").await.unwrap().username, "b");
    let s = h.store.site("from-one").await.unwrap();
    let t = h.store.site("from-two").await.unwrap();
    let job = add_job(&other, "j", &s, &t).await;
    let fire = Some(Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap());
    let new = NewRun {
        job_id: job.id,
        trigger: Trigger::Schedule,
        scheduled_for: fire,
        status: RunStatus::Queued,
        dry_run: false,
        as_of: None,
        again: false,
        group_run_id: None,
    };
    assert!(h.store.create_run(&new).await.unwrap().is_some());
    assert!(
        other.create_run(&new).await.unwrap().is_none(),
        "the other store sees the fire is taken"
    );
    other.close().await;
}

async fn connection_slots_are_shared(h: &Harness) {
    let site = add_site(&h.store, "partner", "sftp://bob@h/x").await;
    let other = h.reopen(key(KEY_A)).await.unwrap();
    let now = Utc::now();
    let lease = std::time::Duration::from_secs(30);
    // Two slots; three nodes on two store values: the third waits.
    assert_eq!(
        h.store.acquire_site_slot(site.id, 2, "a", now, lease).await.unwrap(),
        Some(0)
    );
    assert_eq!(
        other.acquire_site_slot(site.id, 2, "b", now, lease).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        other.acquire_site_slot(site.id, 2, "c", now, lease).await.unwrap(),
        None
    );
    assert_eq!(h.store.site_slots_held(site.id, now).await.unwrap(), 2);
    // A release frees a slot.
    h.store.release_site_slot(site.id, 0, "a").await.unwrap();
    assert_eq!(
        other.acquire_site_slot(site.id, 2, "c", now, lease).await.unwrap(),
        Some(0)
    );
    // Renewed slots hold; a dead node's slot comes free when its lease runs out.
    let later = now + ChronoDuration::seconds(20);
    // Only the slots a node says it holds are renewed: "a" leaked slot 0 (a release that
    // never reached the store) is not among them.
    assert_eq!(
        h.store.acquire_site_slot(site.id, 3, "c", now, lease).await.unwrap(),
        Some(2)
    );
    assert_eq!(
        h.store
            .renew_site_slots("c", &[(site.id, 0)], later, lease)
            .await
            .unwrap(),
        1,
        "slot 0 renewed, slot 2 left to expire"
    );
    let after = now + ChronoDuration::seconds(40);
    assert_eq!(
        h.store.acquire_site_slot(site.id, 2, "d", after, lease).await.unwrap(),
        Some(1),
        "b's lease expired"
    );
    assert_eq!(
        h.store.acquire_site_slot(site.id, 2, "e", after, lease).await.unwrap(),
        None,
        "c renewed"
    );
    assert_eq!(
        h.store.acquire_site_slot(site.id, 3, "f", after, lease).await.unwrap(),
        Some(2),
        "the slot c no longer held expired"
    );
    // Concurrent claimers never exceed the cap.
    let mut tasks = Vec::new();
    let site2 = add_site(&h.store, "busy", "ftp://x@h/y").await;
    for n in 0..8 {
        let store = if n % 2 == 0 { h.store.clone() } else { other.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .acquire_site_slot(site2.id, 3, &format!("n{n}"), now, lease)
                .await
                .unwrap()
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        if let Some(slot) = t.await.unwrap() {
            won.push(slot);
        }
    }
    won.sort();
    assert_eq!(won, [0, 1, 2], "exactly max slots are handed out");
    other.close().await;
}

#[tokio::test]
async fn an_embedded_database_serves_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("one.db").display());
    let first = SqliteStore::open(&url, Some(key(KEY_A))).await.unwrap();
    let second = SqliteStore::open(&url, Some(key(KEY_A))).await.unwrap();
    first.claim_single_node().unwrap();
    let err = second.claim_single_node().unwrap_err().to_string();
    assert!(
        err.contains("another ftpman process") && err.contains("PostgreSQL"),
        "{err}"
    );
    drop(first);
    second
        .claim_single_node()
        .expect("the lock goes with the process (or store) that held it");
}

async fn runs_and_logs_page_by_cursor_and_time(h: &Harness) {
    let s = add_site(&h.store, "s", "file:///a").await;
    let t = add_site(&h.store, "t", "file:///b").await;
    let a = add_job(&h.store, "a", &s, &t).await;
    let b = add_job(&h.store, "b", &s, &t).await;
    let mut ids = Vec::new();
    for i in 0..25 {
        let job = if i % 5 == 0 { &b } else { &a };
        let run = h
            .store
            .create_run(&NewRun {
                job_id: job.id,
                trigger: Trigger::Manual,
                scheduled_for: None,
                status: if i % 2 == 0 {
                    RunStatus::Skipped
                } else {
                    RunStatus::Queued
                },
                dry_run: false,
                as_of: None,
                again: false,
                group_run_id: None,
            })
            .await
            .unwrap()
            .unwrap();
        ids.push((run.id, job.id, run.status));
    }
    // Page through job a's runs by cursor: every run once, newest first, none skipped.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = h
            .store
            .runs(&RunQuery {
                job_id: Some(a.id),
                before_id: before,
                limit: Some(7),
                ..Default::default()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        before = page.last().map(|r| r.id);
        seen.extend(page.into_iter().map(|r| r.id));
    }
    let mut want: Vec<i64> = ids.iter().filter(|(_, j, _)| *j == a.id).map(|(id, ..)| *id).collect();
    want.reverse();
    assert_eq!(seen, want);
    // Filters combine: job a, skipped.
    let skipped = h
        .store
        .runs(&RunQuery {
            job_id: Some(a.id),
            status: Some(RunStatus::Skipped),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        skipped
            .iter()
            .all(|r| r.job_id == a.id && r.status == RunStatus::Skipped)
    );
    assert_eq!(
        skipped.len(),
        ids.iter()
            .filter(|(_, j, st)| *j == a.id && *st == RunStatus::Skipped)
            .count()
    );
    // A time range: everything was created just now.
    let now = Utc::now();
    let in_range = |since: chrono::DateTime<Utc>, until: chrono::DateTime<Utc>| RunQuery {
        since: Some(since),
        until: Some(until),
        limit: Some(1000),
        ..Default::default()
    };
    let recent = h
        .store
        .runs(&in_range(
            now - ChronoDuration::hours(1),
            now + ChronoDuration::hours(1),
        ))
        .await
        .unwrap();
    assert_eq!(recent.len(), 25);
    let old = h
        .store
        .runs(&in_range(now - ChronoDuration::days(2), now - ChronoDuration::days(1)))
        .await
        .unwrap();
    assert!(old.is_empty());

    // The log by component and time.
    for (i, component) in ["engine", "audit", "engine"].iter().enumerate() {
        h.store
            .append_log(&LogEntry {
                id: 0,
                time: now - ChronoDuration::minutes(10 - i as i64),
                level: LogLevel::Info,
                component: component.to_string(),
                message: format!("entry {i}"),
                context: serde_json::json!({}),
            })
            .await
            .unwrap();
    }
    let engine = h
        .store
        .logs(&LogQuery {
            component: Some("engine".into()),
            since: Some(now - ChronoDuration::minutes(9) - ChronoDuration::seconds(30)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        engine.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(),
        ["entry 2"]
    );
    // By job, the name matched exactly (an underscore is no wildcard).
    for (job, message) in [("night_ly", "mine"), ("nightxly", "not mine")] {
        h.store
            .append_log(&LogEntry {
                id: 0,
                time: now,
                level: LogLevel::Info,
                component: "engine".into(),
                message: message.into(),
                context: serde_json::json!({"job": job, "run": 1}),
            })
            .await
            .unwrap();
    }
    let mine = h
        .store
        .logs(&LogQuery {
            job: Some("night_ly".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.iter().map(|e| e.message.as_str()).collect::<Vec<_>>(), ["mine"]);
}

async fn tokens_and_sessions(h: &Harness) {
    let user = h
        .store
        .create_user(&User {
            id: 0,
            username: "ada".into(),
            password_hash: "$argon2id$stub".into(),
            role: UserRole::Operator,
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let now = Utc::now();
    let token = h
        .store
        .create_token(user.id, "ci", UserRole::Viewer, "hash-1", now)
        .await
        .unwrap();
    assert_eq!(
        (token.username.as_str(), token.role, token.last_used_at),
        ("ada", UserRole::Viewer, None)
    );
    let used = h.store.use_token("hash-1", now).await.unwrap().unwrap();
    assert_eq!(
        used.last_used_at.map(|t| t.timestamp_millis()),
        Some(now.timestamp_millis())
    );
    assert!(h.store.use_token("hash-2", now).await.unwrap().is_none());
    assert!(h.store.delete_token(token.id).await.unwrap());
    assert!(h.store.use_token("hash-1", now).await.unwrap().is_none());

    let idle = std::time::Duration::from_secs(60);
    h.store
        .create_session(user.id, "s-1", now, now + ChronoDuration::hours(1))
        .await
        .unwrap();
    let seen = h
        .store
        .use_session("s-1", now + ChronoDuration::seconds(30), idle)
        .await
        .unwrap();
    assert_eq!(seen.map(|u| u.username), Some("ada".into()));
    // Used at +30 s: still alive at +80 s, not at +200 s (idle), nor past its end.
    assert!(
        h.store
            .use_session("s-1", now + ChronoDuration::seconds(80), idle)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        h.store
            .use_session("s-1", now + ChronoDuration::seconds(200), idle)
            .await
            .unwrap()
            .is_none()
    );
    h.store
        .create_session(user.id, "s-2", now, now + ChronoDuration::seconds(10))
        .await
        .unwrap();
    assert!(
        h.store
            .use_session("s-2", now + ChronoDuration::seconds(11), idle)
            .await
            .unwrap()
            .is_none()
    );
    assert!(h.store.delete_session("s-1").await.unwrap());
    assert!(!h.store.delete_session("s-1").await.unwrap());
}

async fn site_tests_keep_the_last_outcome(h: &Harness) {
    let a = add_site(&h.store, "a", "sftp://u@h:22/").await;
    let b = add_site(&h.store, "b", "ftp://u@h:21/").await;
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
    let failed = SiteTestRecord {
        site_id: a.id,
        tested_at: t0,
        ok: false,
        message: Some("connection refused".into()),
    };
    h.store.record_site_test(&failed).await.unwrap();
    let passed = SiteTestRecord {
        site_id: a.id,
        tested_at: t0 + ChronoDuration::minutes(5),
        ok: true,
        message: None,
    };
    h.store.record_site_test(&passed).await.unwrap();
    let b_failed = SiteTestRecord {
        site_id: b.id,
        ..failed.clone()
    };
    h.store.record_site_test(&b_failed).await.unwrap();
    // One row per site: the later test replaced the earlier one.
    assert_eq!(h.store.site_tests().await.unwrap(), vec![passed, b_failed.clone()]);
    // Removing a site removes its test, and the site can be removed although it was tested.
    h.store.delete_site("a").await.unwrap();
    assert_eq!(h.store.site_tests().await.unwrap(), vec![b_failed]);
}

async fn users_change_role_and_password(h: &Harness) {
    let now = Utc::now();
    let user = h
        .store
        .create_user(&User {
            id: 0,
            username: "ops".into(),
            password_hash: "hash-1".into(),
            role: UserRole::Viewer,
            created_at: now,
        })
        .await
        .unwrap();
    h.store
        .create_session(user.id, "sess-ops", now, now + ChronoDuration::hours(1))
        .await
        .unwrap();
    let idle = Duration::from_secs(3600);
    // A new role keeps the sessions.
    let promoted = User {
        role: UserRole::Operator,
        ..user.clone()
    };
    let saved = h.store.update_user(&promoted, false).await.unwrap();
    assert_eq!(
        (saved.role, saved.password_hash.as_str()),
        (UserRole::Operator, "hash-1")
    );
    let seen = h.store.use_session("sess-ops", now, idle).await.unwrap();
    assert_eq!(seen.map(|u| u.role), Some(UserRole::Operator));
    // A new password ends them.
    let reset = User {
        password_hash: "hash-2".into(),
        ..saved
    };
    h.store.update_user(&reset, true).await.unwrap();
    assert_eq!(h.store.user("ops").await.unwrap().password_hash, "hash-2");
    assert!(h.store.use_session("sess-ops", now, idle).await.unwrap().is_none());
    let nobody = User {
        username: "nobody".into(),
        ..reset
    };
    assert!(matches!(
        h.store.update_user(&nobody, false).await,
        Err(StoreError::NotFound { .. })
    ));
}
