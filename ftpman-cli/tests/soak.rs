//! A soak: one `ftpman serve` firing 50 jobs on a short cron against the real sshd, through a
//! proxy that cuts a share of the connections at random places, while new files keep arriving.
//! At the end: every file delivered whole and exactly once, no run left running, and the
//! process's memory and open descriptors flat after warming up.
//!
//! `FTPMAN_SOAK_SECONDS` (default 60) and `FTPMAN_SOAK_CRON` (default every 10 seconds) set its
//! length and pace; the report's run is 1,800 seconds at `0 * * * * *` (every minute).

use ftpman_testkit as harness;

use harness::proxy::{Fault, Proxy};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
const JOBS: usize = 50;
const SITES: usize = 10;

fn ftpman(db: &str, dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpman"));
    cmd.args(["--db", db])
        .args(args)
        .current_dir(dir)
        .env("ENCRYPTION_KEY", KEY);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("ftpman");
    assert!(
        out.status.success(),
        "ftpman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Resident memory (KiB) and open descriptors of a process.
fn usage(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    (rss, fds)
}

#[test]
fn fifty_jobs_under_random_faults_lose_nothing_and_stay_flat() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let seconds: u64 = std::env::var("FTPMAN_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let cron = std::env::var("FTPMAN_SOAK_CRON").unwrap_or_else(|_| "*/10 * * * * *".into());
    let s = harness::servers();
    let rt = tokio::runtime::Runtime::new().unwrap();
    // One connection in five is cut somewhere in its first 512 KiB.
    let proxy = rt.block_on(Proxy::start(
        s.ssh_port,
        Fault::CutSome {
            every: 5,
            max: 512 << 10,
        },
        0,
    ));
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("soak.db").display());
    let archive = dir.path().join("archive");
    let src = harness::scratch("soak-src");
    let pw = [("SOAK_PW", s.password.as_str())];
    ftpman(
        &db,
        dir.path(),
        &[
            "site",
            "add",
            "archive",
            "--url",
            &format!("file://{}", archive.display()),
            "--create",
        ],
        &[],
    );
    for i in 0..SITES {
        let root = src.path.join(format!("s{i}"));
        std::fs::create_dir_all(&root).unwrap();
        let url = format!("sftp://{}@127.0.0.1:{}{}", s.user, proxy.port, root.display());
        ftpman(
            &db,
            dir.path(),
            &[
                "site",
                "add",
                &format!("src{i}"),
                "--url",
                &url,
                "--password-env",
                "SOAK_PW",
                "--host-key",
                &s.host_key,
                "--timeout",
                "5s",
            ],
            &pw,
        );
    }
    let mut folders = Vec::new();
    for j in 0..JOBS {
        let (site, folder) = (j % SITES, format!("f{j}"));
        std::fs::create_dir_all(src.path.join(format!("s{site}")).join(&folder)).unwrap();
        folders.push(src.path.join(format!("s{site}")).join(&folder));
        ftpman(
            &db,
            dir.path(),
            &[
                "job",
                "add",
                &format!("j{j}"),
                "--from",
                &format!("src{site}:/{folder}"),
                "--to",
                &format!("archive:/j{j}"),
                "--exclude",
                ".*",
                "--schedule",
                &cron,
                "--retries",
                "5",
                "--retry-backoff",
                "1s",
            ],
            &[],
        );
    }
    harness::chown_tree(&src.path, &s.user);
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_ftpman"))
        .args(["--db", &db, "serve", "--no-web", "--max-runs", "8", "--grace", "10s"])
        .current_dir(dir.path())
        .env("ENCRYPTION_KEY", KEY)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("serve");
    // New files keep arriving, written under a hidden name and renamed (as a partner's upload
    // ends), into folder after folder.
    let fed: Arc<Mutex<HashMap<(usize, String), String>>> = Default::default();
    let feeding = Arc::new(AtomicBool::new(true));
    let feeder = {
        let (fed, feeding, folders, user) = (fed.clone(), feeding.clone(), folders.clone(), s.user.clone());
        std::thread::spawn(move || {
            let mut n = 0u64;
            while feeding.load(Ordering::Relaxed) {
                let j = (n as usize * 7) % JOBS;
                let name = format!("{n:06}.dat");
                let hidden = folders[j].join(format!(".{name}.part"));
                let hash = harness::noise_file(&hidden, 1024 + (n * 7919) % (96 << 10), n);
                harness::chown_tree(&hidden, &user);
                std::fs::rename(&hidden, folders[j].join(&name)).unwrap();
                fed.lock().unwrap().insert((j, name), hash);
                n += 1;
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };
    // The peaks of each half: a leak shows as a second half above the first (connection pools
    // fill up early and then stay).
    let started = Instant::now();
    let (mut first, mut second) = ((0u64, 0usize), (0u64, 0usize));
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(1));
        let now = usage(serve.id());
        let half = if started.elapsed() < Duration::from_secs(seconds / 2) {
            &mut first
        } else {
            &mut second
        };
        *half = (half.0.max(now.0), half.1.max(now.1));
    }
    feeding.store(false, Ordering::Relaxed);
    feeder.join().unwrap();
    let fed = fed.lock().unwrap().clone();
    // Let the last files be picked up by the next fires.
    let deadline = Instant::now() + Duration::from_secs(90);
    let missing = |fed: &HashMap<(usize, String), String>| {
        fed.iter()
            .filter(|((j, name), hash)| {
                let at = archive.join(format!("j{j}")).join(name);
                !at.exists() || &&harness::sha256_file(&at) != hash
            })
            .count()
    };
    while missing(&fed) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
    }
    let end = usage(serve.id());
    let _ = Command::new("kill").args(["-TERM", &serve.id().to_string()]).status();
    let stopped = Instant::now();
    while serve.try_wait().ok().flatten().is_none() && stopped.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = serve.kill();
    let _ = serve.wait();
    eprintln!(
        "soak: {seconds} s at '{cron}', {} files fed, {} connections through the proxy (one in five cut); serve RSS peak {} KiB in the first half, {} KiB in the second, {} KiB at the end; descriptors peak {} then {}, {} at the end",
        fed.len(),
        proxy.connections.load(Ordering::SeqCst),
        first.0,
        second.0,
        end.0,
        first.1,
        second.1,
        end.1
    );
    assert_eq!(missing(&fed), 0, "every file delivered whole ({} fed)", fed.len());
    // Exactly once: every run's transferred count, over all pages of the history, adds up to
    // the files fed, and each file is in its job's ledger.
    let (runs, transferred, in_ledger) = rt.block_on(async {
        let key = ftpman_core::KeySource::Key(Box::new([b'1'; 32]));
        let m = ftpman_core::Manager::open_with_key(&db, Some(key)).await.expect("open");
        let mut filter = ftpman_core::manager::RunFilter {
            limit: Some(1000),
            ..Default::default()
        };
        let (mut runs, mut transferred) = (Vec::new(), 0i64);
        loop {
            let page = m.runs_page(&filter).await.expect("runs");
            transferred += page.items.iter().map(|r| r.counts.transferred).sum::<i64>();
            runs.extend(page.items.iter().map(|r| r.status));
            match page.next {
                Some(next) => filter.before = Some(next),
                None => break,
            }
        }
        let mut in_ledger = 0;
        for j in 0..JOBS {
            let job = m.job(&format!("j{j}")).await.expect("job");
            let paths: Vec<String> = fed
                .keys()
                .filter(|(k, _)| *k == j)
                .map(|(_, name)| format!("/f{j}/{name}"))
                .collect();
            in_ledger += m.store().ledger_entries(job.id, &paths).await.expect("ledger").len();
        }
        (runs, transferred, in_ledger)
    });
    eprintln!(
        "soak: {} runs, {transferred} files transferred, {in_ledger} in the ledgers",
        runs.len()
    );
    assert_eq!(
        transferred,
        fed.len() as i64,
        "each file moved once ({} runs)",
        runs.len()
    );
    assert_eq!(in_ledger, fed.len(), "each file in its job's ledger");
    assert!(
        runs.iter().all(|s| *s != ftpman_core::model::RunStatus::Running),
        "no run left running"
    );
    assert!(runs.len() >= JOBS, "every job fired ({} runs)", runs.len());
    // Flat: the second half holds no more descriptors and little more memory than the first.
    assert!(
        second.1 <= first.1 + 12,
        "descriptors peak {} then {}",
        first.1,
        second.1
    );
    assert!(
        second.0 <= first.0 + first.0 / 4 + 16 * 1024,
        "RSS peak {} KiB then {} KiB",
        first.0,
        second.0
    );
}
