//! End-to-end: the built `ftpman` binary, driven as a user would, against the real test servers,
//! on SQLite and on PostgreSQL.

use ftpman_testkit as harness;

use harness::servers;
use std::io::Write;
use std::process::{Command, Stdio};

const KEY: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE="; // base64 of 32 ASCII '1'

/// One ftpman "installation": a database and everything the binary printed.
struct User {
    db: String,
    dir: tempfile::TempDir,
    printed: Vec<String>,
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl User {
    fn new(db: Option<String>) -> User {
        let dir = tempfile::tempdir().unwrap();
        let db = db.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("ftpman.db").display()));
        User {
            db,
            dir,
            printed: Vec::new(),
        }
    }

    /// `ftpman ARGS` on this installation's database, with `env` set.
    fn command(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpman"));
        cmd.args(["--db", &self.db])
            .args(args)
            .current_dir(self.dir.path())
            .env("ENCRYPTION_KEY", KEY)
            .env_remove("DATABASE_URL")
            .env_remove("ENCRYPTION_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    fn run_with(&mut self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Out {
        let mut child = self
            .command(args, env)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run ftpman");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let o = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.printed.push(o.stdout.clone());
        self.printed.push(o.stderr.clone());
        o
    }

    fn run(&mut self, args: &[&str]) -> Out {
        self.run_with(args, &[], None)
    }

    #[track_caller]
    fn ok(&mut self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let o = self.run_with(args, env, None);
        assert_eq!(o.code, 0, "ftpman {args:?} failed:\n{}\n{}", o.stdout, o.stderr);
        o
    }
}

/// The tour of the README, as tests: sites, a test, a listing, a scheduled job, a run, its record.
fn flow(db: Option<String>) {
    let s = servers();
    let pw = s.password.clone();
    let src = harness::scratch("cli-src");
    let dst = harness::scratch("cli-dst");
    for (name, data) in [("a.csv", "1,2,3\n"), ("b.csv", "4,5,6\n"), ("notes.txt", "not me")] {
        std::fs::write(src.path.join(name), data).unwrap();
    }
    harness::chown_tree(&src.path, &s.user);
    let mut u = User::new(db);
    let env = [("SRC_PW", pw.as_str())];

    // Without a terminal, an unknown host key is refused unless accepted explicitly.
    let url = format!("sftp://{}@127.0.0.1:{}{}", s.user, s.ssh_port, src.path.display());
    let o = u.run_with(
        &["site", "add", "src", "--url", &url, "--password-env", "SRC_PW"],
        &env,
        None,
    );
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains(&s.host_key) && o.stderr.contains("--accept-new-host-key"),
        "{}",
        o.stderr
    );
    let o = u.ok(
        &[
            "site",
            "add",
            "src",
            "--url",
            &format!("sftp://{}@127.0.0.1:{}{}", s.user, s.ssh_port, src.path.display()),
            "--password-env",
            "SRC_PW",
            "--accept-new-host-key",
        ],
        &env,
    );
    assert!(
        o.stdout.contains(&format!("host key pinned: {}", s.host_key)),
        "{}",
        o.stdout
    );
    u.ok(
        &[
            "site",
            "add",
            "dst",
            "--url",
            &format!("ftp://{}@127.0.0.1:{}{}", s.user, s.ftp_port, dst.path.display()),
            "--password-env",
            "SRC_PW",
        ],
        &env,
    );
    assert!(u.ok(&["site", "test", "src"], &[]).stdout.contains("site 'src' works"));
    assert!(u.ok(&["site", "test", "dst"], &[]).stdout.contains("site 'dst' works"));
    let ls = u.ok(&["site", "ls", "src", "/"], &[]).stdout;
    assert!(ls.contains("a.csv") && ls.contains("notes.txt"), "{ls}");
    let ls: serde_json::Value = serde_json::from_str(&u.ok(&["--json", "site", "ls", "src"], &[]).stdout).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 3);

    u.ok(
        &[
            "job",
            "add",
            "nightly",
            "--from",
            "src:/",
            "--to",
            "dst:/in",
            "--include",
            "*.csv",
            "--schedule",
            "0 2 * * *",
            "--tz",
            "Europe/Berlin",
        ],
        &[],
    );
    let show: serde_json::Value =
        serde_json::from_str(&u.ok(&["--json", "job", "show", "nightly"], &[]).stdout).unwrap();
    assert_eq!(show["schedule"]["cron"], "0 2 * * *");
    assert_eq!(show["next_fires"].as_array().unwrap().len(), 5);

    let run = u.ok(&["job", "run", "nightly"], &[]);
    assert!(run.stdout.contains("succeeded: 2 transferred"), "{}", run.stdout);
    for name in ["a.csv", "b.csv"] {
        assert_eq!(
            harness::sha256_file(&dst.path.join("in").join(name)),
            harness::sha256_file(&src.path.join(name))
        );
    }
    assert!(!dst.path.join("in/notes.txt").exists());

    let runs: serde_json::Value = serde_json::from_str(&u.ok(&["--json", "runs"], &[]).stdout).unwrap();
    let first = &runs.as_array().unwrap()[0];
    assert_eq!(
        (
            first["job"].as_str(),
            first["status"].as_str(),
            first["transferred"].as_i64()
        ),
        (Some("nightly"), Some("succeeded"), Some(2))
    );
    let id = first["id"].as_i64().unwrap().to_string();
    let detail: serde_json::Value = serde_json::from_str(&u.ok(&["--json", "run", "show", &id], &[]).stdout).unwrap();
    assert_eq!(detail["files"].as_array().unwrap().len(), 2);
    let logs = u.ok(&["logs"], &[]).stdout;
    assert!(
        logs.contains("job 'nightly' added"),
        "config changes are in the log: {logs}"
    );
    assert!(
        logs.contains("engine") && logs.contains("run 1 of job nightly succeeded: 2 files"),
        "engine events are in the log: {logs}"
    );

    // Unreachable source: exit 1 and one line saying why.
    let closed = harness::ClosedPort::new();
    let dead = closed.port();
    u.ok(
        &[
            "site",
            "add",
            "dead",
            "--url",
            &format!("ftp://{}@127.0.0.1:{dead}/x", s.user),
            "--password-env",
            "SRC_PW",
        ],
        &env,
    );
    u.ok(&["job", "add", "deadjob", "--from", "dead:/", "--to", "dst:/x"], &[]);
    let o = u.run(&["job", "run", "deadjob"]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let reason: Vec<&str> = o.stdout.lines().filter(|l| l.contains("failed")).collect();
    assert_eq!(reason.len(), 1, "{}", o.stdout);
    assert!(
        reason[0].contains("connection refused") && reason[0].contains(&format!("127.0.0.1:{dead}")),
        "{}",
        reason[0]
    );

    // Secrets from standard input; never a secret in any output.
    u.run_with(
        &[
            "site",
            "add",
            "viastdin",
            "--url",
            &format!("ftp://{}@127.0.0.1:{}/tmp", s.user, s.ftp_port),
            "--password-stdin",
        ],
        &[],
        Some(&format!("{pw}\n")),
    );
    assert_eq!(u.run(&["site", "test", "viastdin"]).code, 0);
    let o = u.run(&[
        "site",
        "add",
        "leaky",
        "--url",
        &format!("sftp://{}:{pw}@127.0.0.1:{}/x", s.user, s.ssh_port),
    ]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("url:") && o.stderr.contains("password"),
        "{}",
        o.stderr
    );
    // (That one output necessarily echoes nothing but the refusal; drop the command line itself.)
    u.printed.pop();
    u.printed.pop();
    u.ok(&["--json", "site", "show", "src"], &[]);
    let o = u.run(&["settings", "set", "smtp.password", "on-the-command-line"]);
    assert_eq!(o.code, 2, "a secret setting on the command line is refused");
    assert!(o.stderr.contains("--value-env"), "{}", o.stderr);
    u.printed.pop();
    u.printed.pop();
    u.ok(
        &["settings", "set", "smtp.password", "--value-env", "SMTP_PW"],
        &[("SMTP_PW", "smtp-secret-Xy1")],
    );
    assert!(u.ok(&["settings", "show"], &[]).stdout.contains("smtp.password  ***"));
    for text in &u.printed {
        assert!(!text.contains(&pw), "a password leaked into ftpman's output:\n{text}");
        assert!(!text.contains("smtp-secret-Xy1"), "a secret setting leaked:\n{text}");
    }
    drop((src, dst));
}

#[test]
fn the_tour_on_sqlite() {
    if crate::harness::skip_without_servers() {
        return;
    }
    flow(None);
}

/// A fresh PostgreSQL database for one test, dropped at the end.
struct PgDb(String);

impl PgDb {
    fn new() -> PgDb {
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("ftpman_cli_{}_{n}", std::process::id());
        let psql = |sql: &str| {
            Command::new("psql")
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
                    sql,
                ])
                .env("PGOPTIONS", "--client-min-messages=warning")
                .status()
                .expect("psql")
        };
        psql(&format!("DROP DATABASE IF EXISTS {name}"));
        assert!(
            psql(&format!("CREATE DATABASE {name}")).success(),
            "PostgreSQL is needed (scripts/test.sh starts it)"
        );
        PgDb(name)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
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
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.0),
            ])
            .status();
    }
}

#[test]
fn the_tour_on_postgres() {
    if crate::harness::skip_without_servers() || crate::harness::skip_without_postgres() {
        return;
    }
    let db = PgDb::new();
    flow(Some(format!("postgres://postgres@127.0.0.1:5432/{}", db.0)));
}

#[test]
fn bad_usage_exits_2_and_names_the_field() {
    let mut u = User::new(None);
    let dir = tempfile::tempdir().unwrap();
    u.ok(
        &[
            "site",
            "add",
            "here",
            "--url",
            &format!("file://{}", dir.path().display()),
        ],
        &[],
    );
    for (args, field) in [
        (
            vec![
                "job",
                "add",
                "x",
                "--from",
                "here:/a",
                "--to",
                "here:/b",
                "--schedule",
                "* * *",
            ],
            "schedule:",
        ),
        (
            vec![
                "job",
                "add",
                "x",
                "--from",
                "here:/a",
                "--to",
                "here:/b",
                "--min-age=-5m",
            ],
            "min_age:",
        ),
        (
            vec![
                "job",
                "add",
                "x",
                "--from",
                "here:/a",
                "--to",
                "here:/b",
                "--bwlimit",
                "10Q",
            ],
            "bwlimit:",
        ),
        (
            vec![
                "job",
                "add",
                "x",
                "--from",
                "here:/a",
                "--to",
                "here:/b",
                "--schedule",
                "0 2 * * *",
                "--tz",
                "Mars/Base",
            ],
            "tz:",
        ),
        (
            vec!["job", "add", "x y", "--from", "here:/a", "--to", "here:/b"],
            "name:",
        ),
        (vec!["site", "add", "p", "--url", "sftp://bob@host:70000/x"], "port:"),
        (vec!["site", "add", "p", "--url", "gopher://bob@host/x"], "protocol:"),
        (vec!["settings", "set", "smtp.tls", "sometimes"], "smtp.tls:"),
    ] {
        let o = u.run(&args);
        assert_eq!(o.code, 2, "{args:?}: {}{}", o.stdout, o.stderr);
        assert!(o.stderr.contains(field), "{args:?} should name {field}: {}", o.stderr);
    }
    let o = u.run(&["job", "list", "--frobnicate"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("--frobnicate"));
    // A misspelt name suggests the nearest one.
    let o = u.run(&["site", "show", "hree"]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("did you mean 'here'"), "{}", o.stderr);
}

#[test]
fn the_password_prompt_does_not_need_a_flag_on_a_terminal() {
    if crate::harness::skip_without_servers() {
        return;
    }
    // `script` gives the command a terminal; the password is typed into it.
    let s = servers();
    let mut u = User::new(None);
    let url = format!("ftp://{}@127.0.0.1:{}/tmp", s.user, s.ftp_port);
    let cmd = format!(
        "{} --db {} site add prompted --url {url}",
        env!("CARGO_BIN_EXE_ftpman"),
        u.db
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(u.dir.path())
        .env("ENCRYPTION_KEY", KEY)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(500));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", s.password).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Password for site prompted:"), "{text}");
    assert!(!text.contains(&s.password), "the prompt must not echo: {text}");
    assert_eq!(u.run(&["site", "test", "prompted"]).code, 0);
}

impl User {
    /// Starts ftpman in the background with `env`, its output discarded.
    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Child {
        self.command(args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ftpman")
    }

    /// The runs, newest first, as `runs --json` prints them.
    fn runs(&mut self) -> Vec<serde_json::Value> {
        let o = self.ok(&["runs", "--json"], &[]);
        serde_json::from_str::<Vec<serde_json::Value>>(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout))
    }

    /// Waits (up to `secs`) until the newest run has `status`.
    #[track_caller]
    fn wait_for_status(&mut self, status: &str, secs: u64) -> serde_json::Value {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let runs = self.runs();
            if let Some(run) = runs.first()
                && run["status"] == status
            {
                return run.clone();
            }
            assert!(std::time::Instant::now() < until, "no run became {status}: {runs:?}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Local sites `src` and `dst` on these folders.
    fn local_sites(&mut self, src: &std::path::Path, dst: &std::path::Path) {
        for (name, folder) in [("src", src), ("dst", dst)] {
            let url = format!("file://{}", folder.display());
            self.ok(&["site", "add", name, "--url", &url], &[]);
        }
    }

    /// Two local sites and a job `slow` that takes about six seconds for its one file.
    fn slow_job(&mut self, src: &std::path::Path, dst: &std::path::Path) {
        std::fs::write(src.join("big.bin"), vec![7u8; 6 << 20]).unwrap();
        self.local_sites(src, dst);
        self.ok(
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
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_changed_file_is_delivered_again() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.csv"), "1,2,3\n").unwrap();
    let mut u = User::new(None);
    u.local_sites(src.path(), dst.path());
    u.ok(&["job", "add", "daily", "--from", "src:/", "--to", "dst:/in"], &[]);
    let shown: serde_json::Value =
        serde_json::from_str(&u.ok(&["job", "show", "daily", "--json"], &[]).stdout).unwrap();
    assert_eq!(shown["on_conflict"], "replace-own", "the default");
    u.ok(&["job", "run", "daily"], &[]);
    // The partner corrects the file: the next run delivers the new version over the old one.
    std::fs::write(src.path().join("a.csv"), "1,2,3\n4,5,6\n").unwrap();
    let o = u.ok(&["job", "run", "daily"], &[]);
    assert!(o.stdout.contains("succeeded"), "{}", o.stdout);
    assert_eq!(
        std::fs::read_to_string(dst.path().join("in/a.csv")).unwrap(),
        "1,2,3\n4,5,6\n"
    );
    // A file in the way that this job did not deliver is not replaced; the run says why.
    std::fs::write(src.path().join("b.csv"), "ours").unwrap();
    std::fs::write(dst.path().join("in/b.csv"), "theirs").unwrap();
    let o = u.run(&["job", "run", "daily"]);
    assert_eq!(o.code, 1);
    let runs = u.runs();
    let shown = u.ok(&["run", "show", &runs[0]["id"].to_string()], &[]);
    assert!(shown.stdout.contains("this job did not deliver it"), "{}", shown.stdout);
    assert_eq!(std::fs::read_to_string(dst.path().join("in/b.csv")).unwrap(), "theirs");
}

#[test]
fn a_killed_job_run_is_interrupted_once_its_lease_runs_out() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let mut u = User::new(None);
    u.slow_job(src.path(), dst.path());
    let lease = [("FTPMAN_LEASE", "3s")];
    let mut run = u.spawn(&["job", "run", "slow"], &lease);
    u.wait_for_status("running", 10);
    run.kill().unwrap(); // SIGKILL: nothing to clean up after itself
    run.wait().unwrap();
    // Still within its lease, the run may be alive: left alone.
    assert_eq!(u.runs()[0]["status"], "running");
    // Once the lease has run out, the next ftpman that opens the database says what happened.
    std::thread::sleep(std::time::Duration::from_secs(4));
    let run = u.wait_for_status("interrupted", 5);
    assert!(
        run["error"].as_str().unwrap().contains("stopped renewing its lease"),
        "{run}"
    );
    assert!(
        !dst.path().join("big.bin").exists(),
        "no partial file under the final name"
    );
    // The job runs again, and delivers.
    u.ok(&["job", "run", "slow"], &[]);
    assert_eq!(std::fs::read(dst.path().join("big.bin")).unwrap().len(), 6 << 20);
}

#[test]
fn serve_leaves_a_live_job_run_alone_and_sigterm_cancels_it() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let mut u = User::new(None);
    u.slow_job(src.path(), dst.path());
    let lease = [("FTPMAN_LEASE", "3s")];
    let mut run = u.spawn(&["job", "run", "slow"], &lease);
    u.wait_for_status("running", 10);
    // A scheduler starts on the same database while the run goes on, and outlives the lease.
    let mut serve = u.spawn(&["serve", "--no-web"], &lease);
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert_eq!(u.runs()[0]["status"], "running", "serve did not interrupt a live run");
    // SIGTERM stops the run as Ctrl-C does: cancelled, nothing under the final name.
    signal(&run, "-TERM");
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(1));
    let run = u.wait_for_status("cancelled", 5);
    assert_eq!(run["error"], "cancelled");
    assert!(!dst.path().join("big.bin").exists());
    signal(&serve, "-TERM");
    assert!(serve.wait().unwrap().success());
}

impl User {
    /// The newest run's files, as `run show --json` prints them.
    fn files_of(&mut self, id: &str) -> Vec<serde_json::Value> {
        let o = self.ok(&["run", "show", id, "--json"], &[]);
        let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
        v["files"].as_array().cloned().unwrap_or_default()
    }
}

/// A run started by one `ftpman job run` is cancelled by `ftpman run cancel` from another.
fn cancel_from_another_process(db: Option<String>) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let mut u = User::new(db);
    std::fs::write(src.path().join("a.csv"), "small").unwrap();
    u.slow_job(src.path(), dst.path());
    let mut runner = u.spawn(&["job", "run", "slow"], &[]);
    let id = u.wait_for_status("running", 10)["id"].to_string();
    // Once the small file is delivered (and recorded), the big one is still moving.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while u.files_of(&id).is_empty() {
        assert!(std::time::Instant::now() < until, "the small file was not delivered");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let asked = std::time::Instant::now();
    let o = u.ok(&["run", "cancel", &id], &[]);
    assert!(
        o.stdout.contains("cancel requested") && o.stdout.contains("cancelled"),
        "{}",
        o.stdout
    );
    assert_eq!(
        runner.wait().unwrap().code(),
        Some(1),
        "the run's own process reports the cancel"
    );
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "stopped within 5 s"
    );
    let run = u.runs()[0].clone();
    assert_eq!(
        (run["status"].as_str(), run["error"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );
    let files = u.files_of(&id);
    let delivered: Vec<&str> = files
        .iter()
        .filter(|f| f["status"] == "transferred")
        .map(|f| f["source"].as_str().unwrap())
        .collect();
    assert_eq!(delivered, ["/a.csv"]);
    // Nothing else stands at the target: no partial file, under any name.
    let names: Vec<String> = std::fs::read_dir(dst.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["a.csv"]);
    // The ledger holds exactly what was delivered: the next run sends the big file only.
    u.ok(&["job", "run", "slow"], &[]);
    let next = u.runs()[0].clone();
    assert_eq!(
        (next["transferred"].as_i64(), next["skipped"].as_i64()),
        (Some(1), Some(1)),
        "{next}"
    );
    // A run that has ended cannot be cancelled.
    let o = u.run(&["run", "cancel", &next["id"].to_string()]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("already ended"), "{}", o.stderr);
}

#[test]
fn a_run_is_cancelled_from_another_process_on_sqlite() {
    cancel_from_another_process(None);
}

#[test]
fn a_run_is_cancelled_from_another_node_on_postgres() {
    if crate::harness::skip_without_postgres() {
        return;
    }
    let db = PgDb::new();
    cancel_from_another_process(Some(format!("postgres://postgres@127.0.0.1:5432/{}", db.0)));
}

/// `ftpman run watch` follows a run that another process executes, to its end.
fn watch_from_another_process(db: Option<String>) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let mut u = User::new(db);
    u.slow_job(src.path(), dst.path());
    let mut runner = u.spawn(&["job", "run", "slow"], &[]);
    let id = u.wait_for_status("running", 10)["id"].to_string();
    let o = u.ok(&["run", "watch", &id], &[]);
    assert!(runner.wait().unwrap().success());
    let bytes: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.contains(" running: "))
        .filter_map(|l| l.split("; ").next()?.rsplit(", ").next())
        .collect();
    // The file being moved, with its bytes so far, as the process moving it last wrote them.
    assert!(
        o.stdout
            .lines()
            .any(|l| l.contains("; moving /big.bin (") && l.contains(" of 6.0 MiB)")),
        "{}",
        o.stdout
    );
    let mut distinct = bytes.clone();
    distinct.dedup();
    assert!(distinct.len() >= 3, "bytes grow as the run goes: {}", o.stdout);
    let last = o.stdout.lines().last().unwrap();
    assert!(last.contains("succeeded"), "{}", o.stdout);
    assert!(o.stdout.contains("transferred    /big.bin"), "{}", o.stdout);
}

#[test]
fn a_run_is_watched_from_another_process_on_sqlite() {
    watch_from_another_process(None);
}

#[test]
fn a_run_is_watched_from_another_node_on_postgres() {
    if crate::harness::skip_without_postgres() {
        return;
    }
    let db = PgDb::new();
    watch_from_another_process(Some(format!("postgres://postgres@127.0.0.1:5432/{}", db.0)));
}

/// Parses `ftpman --json ARGS` as `T`, one of the shared view types (unknown fields refused).
#[track_caller]
fn parsed<T: serde::de::DeserializeOwned>(u: &mut User, args: &[&str]) -> T {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let o = u.ok(&all, &[]);
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("ftpman {args:?}: {e}\n{}", o.stdout))
}

#[test]
fn json_output_comes_from_the_shared_views() {
    use ftpman_core::manager::views::*;
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.csv"), "1,2\n").unwrap();
    let mut u = User::new(None);
    u.local_sites(src.path(), dst.path());
    u.ok(
        &[
            "job",
            "add",
            "daily",
            "--from",
            "src:/",
            "--to",
            "dst:/",
            "--schedule",
            "0 2 * * *",
        ],
        &[],
    );
    u.ok(&["settings", "set", "smtp.host", "mail.example.com"], &[]);
    u.ok(
        &["settings", "set", "smtp.password", "--value-env", "PW"],
        &[("PW", "hunter2-secret")],
    );
    u.run_with(
        &["user", "add", "ada", "--role", "operator", "--password-stdin"],
        &[],
        Some("a long enough password\n"),
    );

    let sites: Vec<SiteView> = parsed(&mut u, &["site", "list"]);
    assert_eq!(sites.len(), 2);
    let site: SiteView = parsed(&mut u, &["site", "show", "src"]);
    assert_eq!(site.protocol, "local");
    let entries: Vec<EntryView> = parsed(&mut u, &["site", "ls", "src"]);
    assert_eq!(entries[0].name, "a.csv");
    let jobs: Vec<JobView> = parsed(&mut u, &["job", "list"]);
    assert_eq!(jobs[0].from, "src:/");
    let job: JobView = parsed(&mut u, &["job", "show", "daily"]);
    assert_eq!(job.next_fires.map(|f| f.len()), Some(5));
    let run: RunView = parsed(&mut u, &["job", "run", "daily"]);
    assert_eq!(
        (run.status.as_str(), run.files.map(|f| f.len())),
        ("succeeded", Some(1))
    );
    let runs: Vec<RunView> = parsed(&mut u, &["runs"]);
    assert_eq!(runs[0].id, run.id);
    let shown: RunView = parsed(&mut u, &["run", "show", &run.id.to_string()]);
    assert_eq!(shown.files.unwrap()[0].source, "/a.csv");
    let watched: RunView = parsed(&mut u, &["run", "watch", &run.id.to_string()]);
    assert_eq!(watched.status, "succeeded");
    let logs: Vec<LogView> = parsed(&mut u, &["logs"]);
    assert!(logs.iter().any(|l| l.component == "audit"));
    let settings: Vec<SettingView> = parsed(&mut u, &["settings", "show"]);
    let pw = settings.iter().find(|s| s.key == "smtp.password").unwrap();
    assert_eq!(
        (pw.secret, pw.value.as_deref()),
        (true, None),
        "a secret is never shown"
    );
    let users: Vec<UserView> = parsed(&mut u, &["user", "list"]);
    assert_eq!(
        (users[0].username.as_str(), users[0].role.as_str()),
        ("ada", "operator")
    );
    let status: StatusView = parsed(&mut u, &["status"]);
    assert_eq!((status.sites, status.jobs, status.backend.as_str()), (2, 1, "sqlite"));
    // No --json output anywhere above held the secret.
    assert!(u.printed.iter().all(|p| !p.contains("hunter2-secret")));
}

#[test]
fn site_ls_for_people_and_job_forget() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("big.bin"), vec![0u8; 3 << 20]).unwrap();
    // A name that would recolour the terminal and reorder its text.
    let hostile = "evil\u{1b}[31mred\u{202e}.csv";
    std::fs::write(src.path().join(hostile), "x").unwrap();
    let mut u = User::new(None);
    u.local_sites(src.path(), dst.path());
    let o = u.ok(&["site", "ls", "src"], &[]);
    assert!(o.stdout.contains("3.0 MiB"), "{}", o.stdout);
    assert!(o.stdout.contains(r"evil\u{1b}[31mred\u{202e}.csv"), "{}", o.stdout);
    assert!(
        !o.stdout.contains('\u{1b}') && !o.stdout.contains('\u{202e}'),
        "no escape reaches the terminal"
    );
    let o = u.ok(&["site", "ls", "src", "--bytes"], &[]);
    assert!(o.stdout.contains(&(3u64 << 20).to_string()), "{}", o.stdout);

    u.ok(&["job", "add", "daily", "--from", "src:/", "--to", "dst:/"], &[]);
    u.ok(&["job", "run", "daily"], &[]);
    assert_eq!(u.runs()[0]["transferred"], 2);
    let o = u.ok(&["job", "forget", "daily", "/big.bin"], &[]);
    assert!(o.stdout.contains("1 ledger entries cleared"), "{}", o.stdout);
    u.ok(&["job", "run", "daily"], &[]);
    let run = u.runs()[0].clone();
    assert_eq!(
        (run["transferred"].as_i64(), run["skipped"].as_i64()),
        (Some(1), Some(1)),
        "{run}"
    );
    let o = u.ok(&["job", "forget", "daily"], &[]);
    assert!(o.stdout.contains("2 ledger entries cleared"), "{}", o.stdout);
    u.ok(&["job", "run", "daily"], &[]);
    assert_eq!(
        u.runs()[0]["transferred"],
        2,
        "everything is sent again (over this job's own copies)"
    );
    let o = u.run(&["job", "forget", "daily", "../outside"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
}

#[test]
fn a_missing_folder_is_named_and_flags_switch_back() {
    let base = tempfile::tempdir().unwrap();
    let missing = base.path().join("archive");
    let mut u = User::new(None);
    let url = format!("file://{}", missing.display());
    let o = u.run(&["site", "add", "archive", "--url", &url]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("does not exist") && o.stderr.contains("--create"),
        "{}",
        o.stderr
    );
    u.ok(&["site", "add", "archive", "--url", &url, "--create"], &[]);
    assert!(missing.is_dir());

    // What one flag switched on, its opposite switches off again.
    let ftps = "ftps://bob@127.0.0.1:990/in";
    u.ok(
        &[
            "site",
            "add",
            "partner",
            "--url",
            ftps,
            "--password-env",
            "PW",
            "--insecure-skip-verify",
            "--active",
        ],
        &[("PW", "a-password")],
    );
    let shown: serde_json::Value =
        serde_json::from_str(&u.ok(&["--json", "site", "show", "partner"], &[]).stdout).unwrap();
    assert_eq!(
        (shown["insecure_skip_verify"].as_bool(), shown["passive"].as_bool()),
        (Some(true), Some(false))
    );
    u.ok(&["site", "edit", "partner", "--verify-tls", "--passive"], &[]);
    let shown: serde_json::Value =
        serde_json::from_str(&u.ok(&["--json", "site", "show", "partner"], &[]).stdout).unwrap();
    assert_eq!(
        (shown["insecure_skip_verify"].as_bool(), shown["passive"].as_bool()),
        (Some(false), Some(true))
    );

    u.ok(
        &[
            "job",
            "add",
            "sweep",
            "--from",
            "archive:/",
            "--to",
            "partner:/",
            "--recursive",
            "--no-atomic",
            "--retry-backoff",
            "30s",
        ],
        &[],
    );
    let job: serde_json::Value = serde_json::from_str(&u.ok(&["--json", "job", "show", "sweep"], &[]).stdout).unwrap();
    assert_eq!(
        (
            job["recursive"].as_bool(),
            job["atomic"].as_bool(),
            job["retry_backoff"].as_str()
        ),
        (Some(true), Some(false), Some("30s"))
    );
    u.ok(&["job", "edit", "sweep", "--no-recursive", "--atomic"], &[]);
    let job: serde_json::Value = serde_json::from_str(&u.ok(&["--json", "job", "show", "sweep"], &[]).stdout).unwrap();
    assert_eq!(
        (job["recursive"].as_bool(), job["atomic"].as_bool()),
        (Some(false), Some(true))
    );
    let o = u.run(&["job", "edit", "sweep", "--recursive", "--no-recursive"]);
    assert_eq!(o.code, 2, "both at once is refused: {}", o.stderr);
}

#[test]
fn an_unreachable_target_fails_the_run_once_and_a_dry_run_never_touches_it() {
    let src = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    let dst = base.path().join("archive");
    for name in ["a.csv", "b.csv", "c.csv", "d.csv"] {
        std::fs::write(src.path().join(name), name).unwrap();
    }
    let mut u = User::new(None);
    u.ok(
        &[
            "site",
            "add",
            "src",
            "--url",
            &format!("file://{}", src.path().display()),
        ],
        &[],
    );
    u.ok(
        &[
            "site",
            "add",
            "archive",
            "--url",
            &format!("file://{}", dst.display()),
            "--create",
        ],
        &[],
    );
    u.ok(&["job", "add", "daily", "--from", "src:/", "--to", "archive:/"], &[]);
    std::fs::remove_dir(&dst).unwrap(); // the archive's disk is not mounted today

    // A dry run says what would move, and neither fails on the target nor touches it.
    let o = u.ok(&["job", "run", "daily", "--dry-run"], &[]);
    assert!(o.stdout.contains("succeeded"), "{}", o.stdout);
    let run = u.runs()[0].clone();
    assert_eq!(
        (run["dry_run"].as_bool(), run["failed"].as_i64()),
        (Some(true), Some(0)),
        "{run}"
    );
    let files = u.files_of(&run["id"].to_string());
    assert_eq!(files.len(), 4);
    assert!(files.iter().all(|f| f["status"] == "would-transfer"), "{files:?}");
    assert!(!dst.exists(), "the dry run made nothing");

    // The real run fails once, as a run, naming the site: not once per file.
    let o = u.run(&["job", "run", "daily"]);
    assert_eq!(o.code, 1);
    assert!(
        o.stdout.contains("the target site 'archive' is unreachable"),
        "{}",
        o.stdout
    );
    let run = u.runs()[0].clone();
    assert_eq!(
        (run["status"].as_str(), run["failed"].as_i64()),
        (Some("failed"), Some(0)),
        "{run}"
    );
    assert!(u.files_of(&run["id"].to_string()).is_empty());

    // With the disk back, the run delivers, and the log says so in words.
    std::fs::create_dir(&dst).unwrap();
    u.ok(&["job", "run", "daily"], &[]);
    let o = u.ok(&["logs"], &[]);
    assert!(
        o.stdout.contains("of job daily succeeded: 4 files, 20 B in "),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("of job daily failed: 0 files"), "{}", o.stdout);
    assert!(o.stdout.contains("(dry run: nothing moved)"), "{}", o.stdout);
}

#[test]
fn no_database_or_a_wrong_key_is_said_in_one_line() {
    let mut u = User::new(None);
    let o = u.run(&["runs"]);
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("no ftpman database at") && o.stderr.contains("ftpman site add"),
        "{}",
        o.stderr
    );
    assert!(
        !u.dir.path().join("ftpman.db").exists(),
        "reading leaves no empty database behind"
    );
    let mut elsewhere = User::new(Some("sqlite:///nonexistent-ftpman-folder/ftpman.db".into()));
    let o = elsewhere.run(&["site", "add", "a", "--url", "file:///tmp"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("the folder /nonexistent-ftpman-folder for the database does not exist"),
        "{}",
        o.stderr
    );
    // A database made with one key, opened with another.
    let src = tempfile::tempdir().unwrap();
    u.ok(
        &[
            "site",
            "add",
            "src",
            "--url",
            &format!("file://{}", src.path().display()),
        ],
        &[],
    );
    let o = u.run_with(
        &["runs"],
        &[("ENCRYPTION_KEY", "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=")],
        None,
    );
    assert_eq!(o.code, 1);
    assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
    assert!(o.stderr.contains("does not match this database"), "{}", o.stderr);
}

#[test]
fn job_show_says_what_when_and_how_in_words() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let mut u = User::new(None);
    u.local_sites(src.path(), dst.path());
    u.ok(
        &[
            "job",
            "add",
            "nightly",
            "--from",
            "src:/",
            "--to",
            "dst:/in",
            "--include",
            "*.csv",
            "--min-age",
            "5m",
            "--schedule",
            "0 2 * * *",
            "--tz",
            "Europe/Berlin",
        ],
        &[],
    );
    let o = u.ok(&["job", "show", "nightly"], &[]);
    let out = o.stdout;
    assert!(out.contains("schedule     at 02:00 every day, Europe/Berlin"), "{out}");
    // The next fires in the job's own zone: 02:00 there.
    let fires = out.lines().find(|l| l.trim_start().starts_with("next fires")).unwrap();
    assert_eq!(fires.matches("02:00 CE").count(), 5, "{fires}");
    assert!(out.contains("last run     never run"), "{out}");
    assert!(out.contains("only *.csv") && out.contains("unchanged for 5m"), "{out}");
    assert!(
        out.contains("replace-own (replace what this job delivered there"),
        "{out}"
    );
    u.ok(&["job", "run", "nightly"], &[]);
    let out = u.ok(&["job", "show", "nightly"], &[]).stdout;
    assert!(out.contains("last run     1 succeeded"), "{out}");
    // Not raw JSON fragments.
    assert!(!out.contains("\":") && !out.contains("null"), "{out}");
}

#[test]
fn logs_say_what_they_are_about_and_filter_by_job_component_and_time() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.csv"), "1").unwrap();
    let mut u = User::new(None);
    u.local_sites(src.path(), dst.path());
    u.ok(&["job", "add", "alpha", "--from", "src:/", "--to", "dst:/a"], &[]);
    u.ok(&["job", "add", "beta", "--from", "src:/", "--to", "dst:/b"], &[]);
    u.ok(&["job", "run", "alpha"], &[]);
    u.ok(&["job", "run", "beta"], &[]);
    let alpha = u.ok(&["logs", "--job", "alpha"], &[]).stdout;
    assert!(alpha.contains("run 1 of job alpha succeeded: 1 files"), "{alpha}");
    assert!(alpha.contains("job 'alpha' added"), "{alpha}");
    assert!(!alpha.contains("beta"), "{alpha}");
    let engine = u.ok(&["logs", "--component", "engine"], &[]).stdout;
    assert!(engine.lines().all(|l| l.contains(" engine ")), "{engine}");
    assert_eq!(engine.lines().count(), 2, "{engine}");
    assert!(u.ok(&["logs", "--since", "1h"], &[]).stdout.contains("of job beta"));
    assert!(
        u.ok(&["logs", "--since", "2999-01-01T00:00:00Z"], &[])
            .stdout
            .trim()
            .is_empty()
    );
    let o = u.run(&["logs", "--since", "yesterday-ish"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("since"), "{}", o.stderr);
    let o = u.run(&["logs", "--job", "gamma"]);
    assert_eq!(o.code, 1, "an unknown job is named: {}", o.stderr);
}

#[test]
fn a_dry_run_lists_what_would_move_and_is_marked_as_one() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.csv"), vec![b'a'; 2048]).unwrap();
    std::fs::write(src.path().join("b.csv"), "bb").unwrap();
    std::fs::write(src.path().join("old.csv"), "delivered before").unwrap();
    let mut u = User::new(None);
    u.local_sites(src.path(), dst.path());
    u.ok(
        &[
            "job",
            "add",
            "daily",
            "--from",
            "src:/",
            "--to",
            "dst:/in",
            "--on-conflict",
            "skip",
            "--include",
            "old.csv",
        ],
        &[],
    );
    u.ok(&["job", "run", "daily"], &[]);
    u.ok(&["job", "edit", "daily", "--include", "*.csv"], &[]);
    // b.csv is in the way at the target: under skip it would be skipped, saying why.
    std::fs::write(dst.path().join("in/b.csv"), "someone else's").unwrap();
    let out = u.ok(&["job", "run", "daily", "--dry-run"], &[]).stdout;
    assert!(
        out.lines().any(|l| l.starts_with("would move")
            && l.contains("2.0 KiB")
            && l.contains("/a.csv")
            && l.contains("-> /in/a.csv")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("would skip") && l.contains("/b.csv") && l.contains("exists")),
        "{out}"
    );
    assert!(
        out.contains("would move 1 file(s), 2.0 KiB; 1 already delivered"),
        "{out}"
    );
    assert!(!dst.path().join("in/a.csv").exists(), "nothing moved");
    let runs = u.ok(&["runs"], &[]).stdout;
    assert!(runs.contains("succeeded (dry run)"), "{runs}");
}

/// What bash offers for the words typed, through the registration `ftpman completions bash`
/// prints, as an interactive shell would call it.
fn bash_completes(u: &User, words: &[&str], db: Option<&str>) -> Vec<String> {
    let cword = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source <(ftpman completions bash)\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_TYPE=9\n_clap_complete_ftpman ftpman '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        quoted.join(" "),
        words[cword],
        words.get(cword.wrapping_sub(1)).unwrap_or(&"")
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_ftpman"))
        .parent()
        .unwrap()
        .to_path_buf();
    let mut cmd = Command::new("bash");
    cmd.args(["-c", &script])
        .current_dir(u.dir.path())
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()),
        )
        .env("ENCRYPTION_KEY", KEY)
        .env_remove("DATABASE_URL");
    if let Some(db) = db {
        cmd.env("DATABASE_URL", db);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn completions_know_the_sites_and_jobs() {
    let mut u = User::new(None);
    let root = u.dir.path().to_path_buf();
    let place = |name: &str| format!("file://{}", root.join(name).display());
    let (a, b, p) = (place("archive"), place("archive-2"), place("partner"));
    u.ok(&["site", "add", "archive", "--url", &a, "--create"], &[]);
    u.ok(&["site", "add", "archive-2", "--url", &b, "--create"], &[]);
    u.ok(&["site", "add", "partner", "--url", &p, "--create"], &[]);
    u.ok(
        &["job", "add", "nightly", "--from", "partner:/", "--to", "archive:/in"],
        &[],
    );
    let db = u.db.clone();
    let mut got = bash_completes(&u, &["ftpman", "site", "show", "ar"], Some(&db));
    got.sort();
    assert_eq!(got, ["archive", "archive-2"]);
    assert_eq!(
        bash_completes(&u, &["ftpman", "job", "run", "n"], Some(&db)),
        ["nightly"]
    );
    assert_eq!(
        bash_completes(&u, &["ftpman", "runs", "--job", ""], Some(&db)),
        ["nightly"]
    );
    assert_eq!(
        bash_completes(&u, &["ftpman", "job", "add", "x", "--from", "pa"], Some(&db)),
        ["partner:"]
    );
    // `--db` on the line being completed is the database asked.
    let flag = bash_completes(&u, &["ftpman", "--db", &db, "site", "test", "p"], None);
    assert_eq!(flag, ["partner"]);
    // Commands and flags complete as before.
    assert!(bash_completes(&u, &["ftpman", "si"], Some(&db)).contains(&"site".to_string()));
    // Where there is no database, nothing is offered and none is made.
    let empty = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", empty.path().join("none.db").display());
    let offered = bash_completes(&u, &["ftpman", "site", "show", ""], Some(&missing));
    assert!(offered.iter().all(|c| c.starts_with('-')), "only flags: {offered:?}");
    assert_eq!(
        std::fs::read_dir(empty.path()).unwrap().count(),
        0,
        "no database made by completing"
    );
}

#[test]
fn a_database_password_stays_off_the_command_line() {
    if crate::harness::skip_without_postgres() {
        return;
    }
    let pg = PgDb::new();
    let plain = format!("postgres://postgres@127.0.0.1:5432/{}", pg.0);
    let with_pw = plain.replacen("postgres@", "postgres:hunter2-db@", 1);
    let mut u = User::new(Some(with_pw));
    // Typed into --db, it works (this server trusts loopback) but is warned about.
    let o = u.ok(&["status"], &[]);
    assert!(
        o.stderr.contains("the database password is on the command line"),
        "{}",
        o.stderr
    );
    // From a file DATABASE_PASSWORD_FILE names, it is neither warned about nor printed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("db-password");
    std::fs::write(&file, "hunter2-db\n").unwrap();
    let status = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ftpman"));
        cmd.arg("status")
            .current_dir(dir.path())
            .env("ENCRYPTION_KEY", KEY)
            .env_remove("ENCRYPTION_PASSWORD")
            .env_remove("DATABASE_PASSWORD_FILE");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let file_s = file.display().to_string();
    let (code, said) = status(&[("DATABASE_URL", &plain), ("DATABASE_PASSWORD_FILE", &file_s)]);
    assert_eq!(code, 0, "{said}");
    assert!(!said.contains("warning") && !said.contains("hunter2"), "{said}");
    // A file that is not there, or a password in two places, is bad usage, said in one line.
    let (code, said) = status(&[("DATABASE_URL", &plain), ("DATABASE_PASSWORD_FILE", "/nonexistent/pw")]);
    assert_eq!(code, 2, "{said}");
    assert!(said.contains("DATABASE_PASSWORD_FILE /nonexistent/pw"), "{said}");
    let two = plain.replacen("postgres@", "postgres:other@", 1);
    let (code, said) = status(&[("DATABASE_URL", &two), ("DATABASE_PASSWORD_FILE", &file_s)]);
    assert_eq!(code, 2, "{said}");
    assert!(
        said.contains("already holds a password") && !said.contains("other"),
        "{said}"
    );
}

#[test]
fn users_change_role_and_password_and_the_last_admin_stays() {
    let mut u = User::new(None);
    u.run_with(
        &["user", "add", "ada", "--role", "admin", "--password-stdin"],
        &[],
        Some("a long password for ada\n"),
    );
    u.run_with(
        &["user", "add", "bo", "--password-stdin"],
        &[],
        Some("a long password for bo\n"),
    );
    let o = u.ok(&["user", "edit", "bo", "--role", "operator"], &[]);
    assert!(o.stdout.contains("user 'bo' is operator"), "{}", o.stdout);
    let o = u.run_with(
        &["user", "edit", "bo", "--password-stdin"],
        &[],
        Some("another long password\n"),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("password reset") && !o.stdout.contains("another long"),
        "{}",
        o.stdout
    );
    let o = u.run_with(&["user", "edit", "bo", "--password-stdin"], &[], Some("short\n"));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("password") && o.stderr.contains("12"), "{}", o.stderr);
    let o = u.run(&["user", "edit", "ada", "--role", "viewer"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("last admin"), "{}", o.stderr);
    let o = u.run(&["user", "edit", "bo"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("say what to change"), "{}", o.stderr);
    let listed = u.ok(&["user", "list"], &[]).stdout;
    assert!(
        listed.lines().any(|l| l.starts_with("bo ") && l.contains("operator")),
        "{listed}"
    );
}

#[test]
fn windows_backfills_and_groups_from_the_command_line() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    for name in [
        "20261025.CDR",
        "20261026.CDR",
        "20261125.CDR",
        "20261126.CDR",
        "README.txt",
    ] {
        std::fs::write(src.path().join(name), name).unwrap();
    }
    let mut u = User::new(None);
    u.local_sites(src.path(), dst.path());
    u.ok(
        &[
            "job",
            "add",
            "billing",
            "--from",
            "src:/",
            "--to",
            "dst:/{yyyy}-{mm}",
            "--window",
            "cycle:26",
            "--name-date",
            "{yyyy}{mm}{dd}",
            "--schedule",
            "0 2 26 * *",
            "--tz",
            "Europe/Berlin",
        ],
        &[],
    );
    let o = u.ok(&["job", "show", "billing"], &[]);
    assert!(
        o.stdout.contains("of the window cycle:26, by the date in their names"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("next window") && o.stdout.contains("Europe/Berlin"),
        "{}",
        o.stdout
    );
    // A dry-run backfill says which period it takes, and moves nothing.
    let o = u.ok(
        &["job", "run", "billing", "--as-of", "2026-11-26 02:00", "--dry-run"],
        &[],
    );
    assert!(
        o.stdout
            .contains("window 2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin"),
        "{}",
        o.stdout
    );
    assert!(o.stdout.contains("would move 2 file(s)"), "{}", o.stdout);
    assert!(
        o.stdout.contains("1 passed over (no date for the window)"),
        "{}",
        o.stdout
    );
    assert!(std::fs::read_dir(dst.path()).unwrap().next().is_none());
    u.ok(&["job", "run", "billing", "--as-of", "2026-11-26 02:00"], &[]);
    assert!(dst.path().join("2026-11/20261026.CDR").exists());
    assert!(dst.path().join("2026-11/20261125.CDR").exists());
    let run = u.runs()[0].clone();
    assert_eq!(run["window"], "2026-10-26 00:00 .. 2026-11-25 23:59:59 Europe/Berlin");
    let o = u.ok(&["run", "show", &run["id"].to_string()], &[]);
    assert!(o.stdout.contains("backfill as of 2026-11-26 01:00"), "{}", o.stdout);
    // Again without --again: nothing; with it: both again.
    u.ok(&["job", "run", "billing", "--as-of", "2026-11-26 02:00"], &[]);
    assert_eq!(u.runs()[0]["transferred"], 0);
    u.ok(
        &["job", "run", "billing", "--as-of", "2026-11-26 02:00", "--again"],
        &[],
    );
    assert_eq!(u.runs()[0]["transferred"], 2);
    // Bad values say what would be right, exit 2.
    for (args, says) in [
        (vec!["job", "edit", "billing", "--window", "yesterday"], "previous-day"),
        (
            vec!["job", "edit", "billing", "--name-date", "{yyyy}{mm}"],
            "{yyyy}{mm}{dd}",
        ),
        (vec!["job", "run", "billing", "--as-of", "soon"], "as_of"),
    ] {
        let o = u.run(&args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
        assert!(o.stderr.contains(says), "{args:?}: {}", o.stderr);
    }

    // A group: two jobs in order, the second failing, the group stopping there.
    u.ok(&["job", "add", "first", "--from", "src:/", "--to", "dst:/{group}"], &[]);
    u.ok(
        &[
            "job",
            "add",
            "broken",
            "--from",
            "src:/missing",
            "--to",
            "dst:/x",
            "--retries",
            "0",
        ],
        &[],
    );
    u.ok(&["job", "add", "last", "--from", "src:/", "--to", "dst:/last"], &[]);
    let o = u.ok(&["group", "add", "carriers", "--jobs", "first,broken,last"], &[]);
    assert!(o.stdout.contains("group 'carriers' added"), "{}", o.stdout);
    let o = u.ok(&["group", "list"], &[]);
    assert!(o.stdout.contains("first,broken,last"), "{}", o.stdout);
    let o = u.run(&["group", "run", "carriers"]);
    assert_eq!(o.code, 1, "a failed group exits 1: {}", o.stdout);
    assert!(
        o.stdout.contains("job first: run") && o.stdout.contains("job broken: run"),
        "{}",
        o.stdout
    );
    assert!(
        o.stdout.contains("failed") && o.stdout.contains("not run: last"),
        "{}",
        o.stdout
    );
    assert!(
        dst.path().join("carriers/20261026.CDR").exists(),
        "{{group}} is the group's name"
    );
    assert!(!dst.path().join("last").exists());
    u.ok(&["group", "edit", "carriers", "--continue-on-failure"], &[]);
    let o = u.run(&["group", "run", "carriers"]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.contains("partial"), "{}", o.stdout);
    assert!(dst.path().join("last").exists());
    let o = u.ok(&["group", "show", "carriers"], &[]);
    assert!(
        o.stdout.contains("first -> broken -> last") && o.stdout.contains("go on"),
        "{}",
        o.stdout
    );
    let shown: serde_json::Value = parsed(&mut u, &["group", "show", "carriers"]);
    assert_eq!(shown["runs"][0]["status"], "partial");
    // A job in a group stays; the group goes, its jobs stay.
    let o = u.run(&["job", "remove", "broken"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("group 'carriers'"), "{}", o.stderr);
    u.ok(&["group", "remove", "carriers"], &[]);
    u.ok(&["job", "remove", "broken"], &[]);
    let o = u.run(&["group", "run", "carriers"]);
    assert_ne!(o.code, 0);
    assert!(o.stderr.contains("group 'carriers' not found"), "{}", o.stderr);
}
