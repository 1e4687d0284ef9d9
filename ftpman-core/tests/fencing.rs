//! Two nodes on one PostgreSQL database: a node that loses the database for longer than its
//! lease stops its run and writes nothing more, while the other node takes the job over.

use ftpman_testkit as harness;

use ftpman_core::KeySource;
use ftpman_core::engine::{Engine, EngineConfig};
use ftpman_core::model::{Job, RunStatus, Trigger};
use ftpman_core::transport::ProtocolConnector;
use harness::{Kind, noise_file, save_site, scratch, site, tree};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy on loopback to PostgreSQL that can be cut: every open connection is dropped and
/// new ones are refused until it is restored.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accepting: JoinHandle<()>,
}

impl Proxy {
    async fn to(upstream: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accepting = {
            let (cut, links) = (cut.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if cut.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let link = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    links.lock().unwrap().push(link);
                }
            })
        };
        Proxy {
            port,
            cut,
            links,
            _accepting: accepting,
        }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

fn pg_url() -> String {
    std::env::var("FTPMAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_from_the_database_past_its_lease_writes_nothing_more() {
    if crate::harness::skip_without_servers() || crate::harness::skip_without_postgres() {
        return;
    }
    harness::init_logs();
    // A database of this test's own.
    let admin = sqlx::PgPool::connect(&pg_url())
        .await
        .expect("PostgreSQL (scripts/test.sh starts it)");
    let db = format!(
        "fence_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&admin)
        .await
        .unwrap();
    let base = url::Url::parse(&pg_url()).unwrap();
    let upstream = tokio::net::lookup_host((base.host_str().unwrap(), base.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::to(upstream).await;
    let key = || Some(KeySource::Key(Box::new([5u8; 32])));
    let direct = format!("postgres://postgres@{upstream}/{db}");
    let store_b = ftpman_core::store::open(&direct, key()).await.unwrap();
    let via_proxy = format!("postgres://postgres@127.0.0.1:{}/{db}", proxy.port);
    let store_a = ftpman_core::store::open(&via_proxy, key()).await.unwrap();

    let src_dir = scratch("fence-src");
    let dst_dir = scratch("fence-dst");
    for i in 1..=3 {
        std::fs::write(src_dir.path.join(format!("a{i}.csv")), format!("small {i}")).unwrap();
    }
    noise_file(&src_dir.path.join("big.bin"), 24 << 20, 9);
    let src = save_site(store_b.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store_b.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut job = Job::new("fenced", src.id, "/", dst.id, "/");
    job.parallel = 4;
    job.bwlimit = Some(4 << 20); // the big file takes 6 s, twice the lease
    let job = store_b.create_job(&job).await.unwrap();

    let node_a = Engine::new(
        store_a.clone(),
        Arc::new(ProtocolConnector),
        EngineConfig {
            node_id: "node-a".into(),
            lease: Duration::from_secs(3),
            base_url: None,
        },
    );
    let node_b = Engine::new(
        store_b.clone(),
        Arc::new(ProtocolConnector),
        EngineConfig {
            node_id: "node-b".into(),
            ..EngineConfig::default()
        },
    );
    let running_a = {
        let (node_a, job) = (node_a.clone(), job.clone());
        tokio::spawn(async move { node_a.run_job(&job, Trigger::Manual, false).await })
    };
    // Once node A has recorded the three small files and is moving the big one, it loses the
    // database.
    let mut run_a = None;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let runs = store_b.runs(&Default::default()).await.unwrap();
        if let Some(run) = runs.first()
            && store_b.run_files(run.id).await.unwrap().len() == 3
        {
            run_a = Some(run.clone());
            break;
        }
    }
    let run_a = run_a.expect("node A delivers the small files");
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    let recorded_at_cut = store_b.run_files(run_a.id).await.unwrap();
    assert_eq!(recorded_at_cut.len(), 3);

    // Node B finds the lease expired, marks the run interrupted and runs the job itself.
    let mut interrupted = Vec::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        interrupted = node_b.recover().await.unwrap();
        if !interrupted.is_empty() {
            break;
        }
    }
    assert_eq!(interrupted, [run_a.id]);
    let at_takeover = store_b.run(run_a.id).await.unwrap();
    let run_b = node_b.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (run_b.status, run_b.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        run_b.error
    );

    // Node A gets the database back, and finds it has nothing more to say.
    proxy.restore();
    let _ = tokio::time::timeout(Duration::from_secs(60), running_a)
        .await
        .expect("node A's run ends");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = store_b.run(run_a.id).await.unwrap();
    assert_eq!(after.status, RunStatus::Interrupted, "{:?}", after.error);
    assert_eq!(
        after.error, at_takeover.error,
        "node A did not finish the run over node B's word"
    );
    assert_eq!(
        after.counts, at_takeover.counts,
        "node A wrote no progress after losing the run"
    );
    assert_eq!(after.finished_at, at_takeover.finished_at);
    assert_eq!(
        store_b.run_files(run_a.id).await.unwrap(),
        recorded_at_cut,
        "node A recorded no file after losing the run"
    );
    let big = store_b.ledger_entry(job.id, "/big.bin").await.unwrap().unwrap();
    assert_eq!(big.run_id, run_b.id, "the big file is node B's delivery");
    let files: Vec<String> = tree(&dst_dir.path).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        files,
        ["a1.csv", "a2.csv", "a3.csv", "big.bin"],
        "no temporary file left"
    );
    assert_eq!(
        harness::sha256_file(&dst_dir.path.join("big.bin")),
        harness::sha256_file(&src_dir.path.join("big.bin"))
    );

    store_a.close().await;
    store_b.close().await;
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)")))
        .execute(&admin)
        .await;
}
