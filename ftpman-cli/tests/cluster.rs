//! Several `ftpman serve` processes on one PostgreSQL database: each fire once, runs spread over
//! nodes, a killed node's run taken over without a second delivery, and a site's connection cap
//! held across the cluster.

use ftpman_testkit as harness;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const KEY: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";

/// These tests run one at a time: each starts three servers' worth of processes.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn psql(db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-At",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            db,
            "-c",
            sql,
        ])
        .env("PGOPTIONS", "--client-min-messages=warning")
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A fresh database and the ftpman processes using it; all stopped and dropped at the end.
struct Cluster {
    name: String,
    url: String,
    nodes: Vec<(String, Child)>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn new(tag: &str) -> Cluster {
        let name = format!("ftpman_cluster_{tag}_{}", std::process::id());
        psql("postgres", &format!("DROP DATABASE IF EXISTS {name}"));
        psql("postgres", &format!("CREATE DATABASE {name}"));
        Cluster {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
            nodes: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn ftpman(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpman"));
        cmd.args(["--db", &self.url])
            .args(args)
            .env("ENCRYPTION_KEY", KEY)
            .current_dir(self.dir.path());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("ftpman");
        assert!(
            out.status.success(),
            "ftpman {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn start(&mut self, count: usize, lease: &str) {
        for i in 0..count {
            let id = format!("node{i}");
            let log = std::fs::File::create(self.dir.path().join(format!("{id}.log"))).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_ftpman"))
                .args([
                    "--db",
                    &self.url,
                    "serve",
                    "--no-web",
                    "--node-id",
                    &id,
                    "--lease",
                    lease,
                    "--max-runs",
                    "8",
                    "--grace",
                    "5s",
                ])
                .env("ENCRYPTION_KEY", KEY)
                .env("FTPMAN_LOG", "info")
                .current_dir(self.dir.path())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("ftpman serve");
            self.nodes.push((id, child));
        }
    }

    fn pids(&self) -> HashSet<u32> {
        self.nodes.iter().map(|(_, c)| c.id()).collect()
    }

    fn stop_all(&mut self) {
        for (_, c) in &mut self.nodes {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        }
        for (_, c) in &mut self.nodes {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn runs(&self) -> Vec<serde_json::Value> {
        let out = self.ftpman(&["--json", "runs", "--limit", "10000"], &[]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, c) in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .env("PGOPTIONS", "--client-min-messages=warning")
            .status();
    }
}

#[test]
fn three_nodes_fire_each_schedule_once() {
    if crate::harness::skip_without_servers() || crate::harness::skip_without_postgres() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut c = Cluster::new("fires");
    let (src, dst) = (c.dir.path().join("src"), c.dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    std::fs::write(src.join("ping.txt"), b"ping").unwrap();
    c.ftpman(
        &["site", "add", "src", "--url", &format!("file://{}", src.display())],
        &[],
    );
    c.ftpman(
        &["site", "add", "dst", "--url", &format!("file://{}", dst.display())],
        &[],
    );
    for j in 0..50 {
        c.ftpman(
            &[
                "job",
                "add",
                &format!("j{j:02}"),
                "--from",
                "src:/",
                "--to",
                &format!("dst:/j{j:02}"),
                "--schedule",
                "*/10 * * * * *",
            ],
            &[],
        );
    }
    c.start(3, "6s");
    std::thread::sleep(Duration::from_secs(38));
    c.stop_all();

    let runs = c.runs();
    let mut fires: HashMap<String, Vec<String>> = HashMap::new();
    let mut nodes = HashSet::new();
    for r in &runs {
        let job = r["job"].as_str().unwrap().to_string();
        let at = r["scheduled_for"].as_str().expect("scheduled runs only").to_string();
        fires.entry(job).or_default().push(at);
        if let Some(n) = r["node"].as_str() {
            nodes.insert(n.to_string());
        }
    }
    assert_eq!(fires.len(), 50, "every job fired");
    for (job, mut at) in fires {
        let total = at.len();
        at.sort();
        at.dedup();
        assert_eq!(at.len(), total, "{job}: a fire has more than one run");
        assert!(total >= 3, "{job}: only {total} fires in 38 s");
        // No fire was lost between the first and the last: they are 10 s apart.
        let times: Vec<chrono::DateTime<chrono::FixedOffset>> = at
            .iter()
            .map(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap())
            .collect();
        for w in times.windows(2) {
            assert_eq!(
                (w[1] - w[0]).num_seconds(),
                10,
                "{job}: a fire is missing between {} and {}",
                w[0],
                w[1]
            );
        }
    }
    assert!(nodes.len() > 1, "runs spread over more than one node: {nodes:?}");
    // Every run ended well; fires of the very last instant may still be queued (the nodes
    // stopped claiming), for the next node to start to pick up; none is left running.
    let bad: Vec<_> = runs
        .iter()
        .filter(|r| !matches!(r["status"].as_str(), Some("succeeded" | "skipped" | "queued")))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn a_killed_node_loses_its_run_and_the_file_arrives_once() {
    if crate::harness::skip_without_servers() || crate::harness::skip_without_postgres() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut c = Cluster::new("kill");
    let (src, dst) = (c.dir.path().join("src"), c.dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    let want = harness::noise_file(&src.join("big.bin"), 48 << 20, 11);
    c.ftpman(
        &["site", "add", "src", "--url", &format!("file://{}", src.display())],
        &[],
    );
    c.ftpman(
        &["site", "add", "dst", "--url", &format!("file://{}", dst.display())],
        &[],
    );
    c.ftpman(
        &[
            "job",
            "add",
            "big",
            "--from",
            "src:/",
            "--to",
            "dst:/",
            "--schedule",
            "*/5 * * * * *",
            "--bwlimit",
            "6M",
        ],
        &[],
    );
    c.start(3, "5s");

    // Find the node moving the file, and kill it outright.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (victim_run, victim) = loop {
        assert!(Instant::now() < deadline, "no run started");
        if let Some(r) = c.runs().into_iter().find(|r| r["status"] == "running") {
            break (r["id"].as_i64().unwrap(), r["node"].as_str().unwrap().to_string());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    let idx = c.nodes.iter().position(|(id, _)| *id == victim).unwrap();
    c.nodes[idx].1.kill().unwrap();
    let _ = c.nodes[idx].1.wait();
    let killed_at = Instant::now();

    // Within the lease (plus a heartbeat), another node marks the run interrupted; a later run
    // on another node delivers the file.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut interrupted_after, mut delivered_by) = (None, None);
    while Instant::now() < deadline && (interrupted_after.is_none() || delivered_by.is_none()) {
        for r in c.runs() {
            if r["id"].as_i64() == Some(victim_run) && r["status"] == "interrupted" && interrupted_after.is_none() {
                interrupted_after = Some(killed_at.elapsed());
            }
            if r["status"] == "succeeded" && r["transferred"].as_i64() == Some(1) {
                delivered_by = r["node"].as_str().map(str::to_string);
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let interrupted_after = interrupted_after.expect("the dead node's run was marked interrupted");
    assert!(
        interrupted_after < Duration::from_secs(15),
        "took {interrupted_after:?}"
    );
    let delivered_by = delivered_by.expect("another node delivered the file");
    assert_ne!(delivered_by, victim);
    // Let further fires happen: the ledger must keep them from sending the file again.
    std::thread::sleep(Duration::from_secs(6));
    c.stop_all();
    assert_eq!(harness::sha256_file(&dst.join("big.bin")), want);
    let files: Vec<String> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["big.bin"], "no temporary file left");
    let transferred: i64 = c.runs().iter().filter_map(|r| r["transferred"].as_i64()).sum();
    assert_eq!(transferred, 1, "delivered exactly once");
    assert_eq!(psql(&c.name, "SELECT count(*) FROM ledger"), "1");
}

#[test]
fn a_sites_connection_cap_holds_across_the_cluster() {
    if crate::harness::skip_without_servers() || crate::harness::skip_without_postgres() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let s = harness::servers();
    let mut c = Cluster::new("cap");
    let remote = harness::scratch("cluster-cap");
    for j in 0..10 {
        let d = remote.path.join(format!("j{j}"));
        std::fs::create_dir_all(&d).unwrap();
        for f in 0..6 {
            harness::noise_file(&d.join(format!("f{f}.bin")), 300_000, (j * 10 + f) as u64);
        }
    }
    harness::chown_tree(&remote.path, &s.user);
    let dst = c.dir.path().join("dst");
    std::fs::create_dir_all(&dst).unwrap();
    let url = format!("sftp://{}@127.0.0.1:{}{}", s.user, s.ssh_port, remote.path.display());
    c.ftpman(
        &[
            "site",
            "add",
            "partner",
            "--url",
            &url,
            "--password-env",
            "PW",
            "--accept-new-host-key",
            "--max-connections",
            "2",
        ],
        &[("PW", &s.password)],
    );
    c.ftpman(
        &["site", "add", "dst", "--url", &format!("file://{}", dst.display())],
        &[],
    );
    for j in 0..10 {
        c.ftpman(
            &[
                "job",
                "add",
                &format!("j{j}"),
                "--from",
                &format!("partner:/j{j}"),
                "--to",
                &format!("dst:/j{j}"),
                "--parallel",
                "4",
                "--schedule",
                "*/10 * * * * *",
            ],
            &[],
        );
    }
    c.start(3, "6s");
    let pids = c.pids();
    // Count, at the socket level, the SSH sessions ftpman's processes hold to the server.
    let mut peak = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(25) {
        let out = Command::new("ss")
            .args([
                "-Htnp",
                "state",
                "established",
                "dst",
                &format!("127.0.0.1:{}", s.ssh_port),
            ])
            .output()
            .expect("ss (iproute2)");
        let text = String::from_utf8_lossy(&out.stdout);
        let ours = text
            .lines()
            .filter(|l| pids.iter().any(|p| l.contains(&format!("pid={p},"))))
            .count();
        peak = peak.max(ours);
        std::thread::sleep(Duration::from_millis(25));
    }
    c.stop_all();
    assert!(peak >= 1, "the jobs never connected");
    assert!(peak <= 2, "{peak} concurrent sessions to a site capped at 2");
    for j in 0..10 {
        for f in 0..6 {
            let rel = format!("j{j}/f{f}.bin");
            assert_eq!(
                harness::sha256_file(&dst.join(&rel)),
                harness::sha256_file(&remote.path.join(&rel)),
                "{rel}"
            );
        }
    }
}

/// A port free on loopback now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// `curl` on loopback: status line and headers, then the body.
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-s", "-i", "--max-time", "60"])
        .args(args)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if curl(&[&format!("http://127.0.0.1:{port}/healthz")]).starts_with("HTTP/1.1 200") {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("serve on port {port} did not answer");
}

#[test]
fn two_web_nodes_share_sessions_and_follow_each_others_runs() {
    if crate::harness::skip_without_servers() || crate::harness::skip_without_postgres() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut c = Cluster::new("web");
    let (src, dst) = (c.dir.path().join("src"), c.dir.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    harness::noise_file(&src.join("big.bin"), 6 << 20, 5);
    for (name, dir) in [("src", &src), ("dst", &dst)] {
        c.ftpman(
            &["site", "add", name, "--url", &format!("file://{}", dir.display())],
            &[],
        );
    }
    c.ftpman(
        &[
            "job",
            "add",
            "slow",
            "--from",
            "src:/",
            "--to",
            "dst:/",
            "--bwlimit",
            "1M",
        ],
        &[],
    );
    let mut add = Command::new(env!("CARGO_BIN_EXE_ftpman"))
        .args([
            "--db",
            &c.url,
            "user",
            "add",
            "ada",
            "--role",
            "operator",
            "--password-stdin",
        ])
        .env("ENCRYPTION_KEY", KEY)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        add.stdin
            .take()
            .unwrap()
            .write_all(b"a long password for ada\n")
            .unwrap();
    }
    assert!(add.wait().unwrap().success());

    let ports = [free_port(), free_port()];
    for (i, port) in ports.iter().enumerate() {
        let id = format!("web{i}");
        let log = std::fs::File::create(c.dir.path().join(format!("{id}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_ftpman"))
            .args([
                "--db",
                &c.url,
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--node-id",
                &id,
            ])
            .env("ENCRYPTION_KEY", KEY)
            .current_dir(c.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("ftpman serve");
        c.nodes.push((id, child));
    }
    for port in ports {
        wait_ready(port);
    }
    let url = |node: usize, path: &str| format!("http://127.0.0.1:{}{path}", ports[node]);

    // Signed in on one node...
    let login = curl(&[
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"username":"ada","password":"a long password for ada"}"#,
        &url(0, "/api/v1/session"),
    ]);
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let cookie = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ftpman_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let body = login.split("\r\n\r\n").nth(1).unwrap();
    let csrf = serde_json::from_str::<serde_json::Value>(body).unwrap()["csrf_token"]
        .as_str()
        .unwrap()
        .to_string();
    let cookie_header = format!("cookie: ftpman_session={cookie}");
    // ...is signed in on the other.
    let whoami = curl(&["-H", &cookie_header, &url(1, "/api/v1/session")]);
    assert!(whoami.starts_with("HTTP/1.1 200"), "{whoami}");
    assert!(whoami.contains(r#""username":"ada""#), "{whoami}");

    // A run started through one node's API is followed live through the other's events.
    let started = curl(&[
        "-X",
        "POST",
        "-H",
        &cookie_header,
        "-H",
        &format!("x-csrf-token: {csrf}"),
        &url(0, "/api/v1/jobs/slow/run"),
    ]);
    assert!(started.starts_with("HTTP/1.1 202"), "{started}");
    let run: serde_json::Value = serde_json::from_str(started.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let id = run["id"].as_i64().unwrap();
    assert_eq!(run["node"], "web0");
    let events = curl(&[
        "-N",
        "-H",
        &cookie_header,
        &url(1, &format!("/api/v1/runs/{id}/events")),
    ]);
    assert!(events.starts_with("HTTP/1.1 200"), "{events}");
    assert!(events.contains("event: end\ndata: succeeded"), "{events}");
    let moving: Vec<u64> = events
        .split("\n\n")
        .filter(|b| b.contains("event: run"))
        .filter_map(|b| b.lines().find_map(|l| l.strip_prefix("data: ")))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        .filter_map(|v| v["run"]["active_files"][0]["bytes"].as_u64())
        .collect();
    assert!(
        moving.len() >= 2 && moving.windows(2).any(|w| w[1] > w[0]),
        "progress seen growing from the other node: {moving:?}"
    );
    assert_eq!(
        harness::sha256_file(&dst.join("big.bin")),
        harness::sha256_file(&src.join("big.bin"))
    );
    c.stop_all();
}
