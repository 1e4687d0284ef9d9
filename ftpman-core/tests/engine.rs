//! The job engine against the real servers: trees moved between protocols, the ledger,
//! atomicity under a killed server or a cancel, `min_age`, conflict policies and templates.

use ftpman_testkit as harness;

use chrono::{TimeZone, Utc};
use ftpman_core::engine::{Engine, EngineConfig, RunEvent, StopReason};
use ftpman_core::model::{AfterAction, ConflictPolicy, Job, RunFileStatus, RunStatus, Schedule, Trigger};
use ftpman_core::scheduler::ManualClock;
use ftpman_core::transport::{
    Capabilities, Checksum, Connector, Entry, FileReader, FileWriter, ProtocolConnector, Transport, TransportError,
    TransportResult,
};
use harness::{Kind, Scratch, chown_tree, noise_file, save_site, scratch, servers, site, sqlite_store, tree};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn engine(store: Arc<dyn ftpman_core::Store>) -> Engine {
    Engine::new(store, Arc::new(ProtocolConnector), EngineConfig::default())
}

/// 300 files from 0 bytes to 20 MiB in a tree three levels deep.
fn make_tree(root: &Path) {
    for i in 0..300u64 {
        let dir = root.join(format!("d{}/e{}", i % 5, i % 3));
        std::fs::create_dir_all(&dir).unwrap();
        let size = match i {
            0 => 0,
            i if i % 60 == 1 => ((i / 60 + 1) * 4) << 20, // 4, 8, 12, 16, 20 MiB
            i => (i * 7_919) % 70_000,
        };
        noise_file(&dir.join(format!("f{i}.bin")), size, i + 1);
    }
}

fn kind_user(kind: Kind) -> &'static str {
    harness::user_of(kind)
}

async fn tree_between(from: Kind, to: Kind) {
    let (store, _db) = sqlite_store().await;
    let src_dir = harness::scratch_for(kind_user(from), &format!("tree-src-{from:?}"));
    let dst_dir = harness::scratch_for(kind_user(to), &format!("tree-dst-{to:?}"));
    make_tree(&src_dir.path);
    chown_tree(&src_dir.path, kind_user(from));
    let src = save_site(store.as_ref(), "src", site(from, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(to, &dst_dir.path)).await;
    let mut job = Job::new("tree", src.id, "/", dst.id, "/");
    job.recursive = true;
    job.parallel = 4;
    // A changed source file replaces its earlier delivery.
    job.conflict = ConflictPolicy::Overwrite;
    let job = store.create_job(&job).await.unwrap();
    let e = engine(store.clone());

    let first = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        first.status,
        RunStatus::Succeeded,
        "{from:?} -> {to:?}: {:?}",
        first.error
    );
    assert_eq!(
        (first.counts.found, first.counts.transferred, first.counts.failed),
        (300, 300, 0)
    );
    assert_eq!(
        tree(&dst_dir.path),
        tree(&src_dir.path),
        "{from:?} -> {to:?}: every file, SHA-256 equal"
    );
    let files = store.run_files(first.id).await.unwrap();
    assert_eq!(files.len(), 300);
    assert!(
        files
            .iter()
            .all(|f| f.status == RunFileStatus::Transferred && f.bytes == f.size)
    );
    assert_eq!(first.counts.bytes, files.iter().map(|f| f.size).sum::<i64>());

    let second = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (second.status, second.counts.transferred, second.counts.skipped),
        (RunStatus::Succeeded, 0, 300),
        "{from:?} -> {to:?}, second run: {:?}",
        second.error
    );
    assert_eq!(second.counts.bytes, 0, "the second run sends nothing");

    // One source file changes: the third run sends exactly that one.
    std::thread::sleep(Duration::from_millis(1_100));
    let changed = src_dir.path.join("d2/e1/f7.bin");
    noise_file(&changed, 12_345, 777);
    chown_tree(&src_dir.path, kind_user(from));
    let third = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (third.status, third.counts.transferred, third.counts.skipped),
        (RunStatus::Succeeded, 1, 299),
        "{from:?} -> {to:?}, third run: {:?}",
        third.error
    );
    let sent = store.run_files(third.id).await.unwrap();
    assert_eq!(
        sent.iter().map(|f| f.source_path.as_str()).collect::<Vec<_>>(),
        ["/d2/e1/f7.bin"]
    );
    assert_eq!(tree(&dst_dir.path), tree(&src_dir.path));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_sftp_to_ftp() {
    if crate::harness::skip_without_servers() {
        return;
    }
    tree_between(Kind::SftpPassword, Kind::Ftp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_ftp_to_local() {
    if crate::harness::skip_without_servers() {
        return;
    }
    tree_between(Kind::Ftp, Kind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_local_to_sftp() {
    if crate::harness::skip_without_servers() {
        return;
    }
    tree_between(Kind::Local, Kind::SftpKey).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_ftps_to_sftp() {
    if crate::harness::skip_without_servers() {
        return;
    }
    tree_between(Kind::Ftps, Kind::SftpPassword).await;
}

/// Opens real connections whose first listing of each folder (or, with `reads`, whose first
/// read of each file) fails as a dropped connection would: the fault a busy server or a flaky
/// network gives at random.
struct FirstListingFails {
    failed: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    reads: bool,
}

/// A real connection with faults injected (`failed`: once per listing, or per read with
/// `reads`) and, with `log`, the writes, renames and syncs asked of the site "dst" noted.
struct FlakyListing {
    inner: Box<dyn Transport>,
    failed: Option<Arc<std::sync::Mutex<std::collections::HashSet<String>>>>,
    reads: bool,
    log: Option<Arc<std::sync::Mutex<Vec<String>>>>,
    /// With `log`: the store and job whose ledger is looked up when a file is made durable.
    ledger: Option<Ledger>,
    /// With `log`: a folder of the site "src" whose listing waits (up to 10 s) until a file
    /// has been renamed into place at "dst", and fails if none has.
    hold_list: Option<&'static str>,
}

type Ledger = Arc<std::sync::OnceLock<(Arc<dyn ftpman_core::Store>, i64)>>;

/// Holds the first rename at "dst" (up to 10 s) until another file's write has begun.
async fn hold_first_rename(log: Option<Arc<std::sync::Mutex<Vec<String>>>>, at_dst: bool) {
    let Some(log) = log else { return };
    let count = |prefix: &str| log.lock().unwrap().iter().filter(|l| l.starts_with(prefix)).count();
    if at_dst && count("renamed ") == 0 {
        let waited = std::time::Instant::now();
        while count("write ") < 2 && waited.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl FlakyListing {
    fn note(&self, what: String) {
        if let Some(log) = &self.log
            && self.inner.site().name == "dst"
        {
            log.lock().unwrap().push(what);
        }
    }

    /// The injected failure, once per `what` and path.
    fn fails_first(&self, what: &str, path: &str) -> TransportResult<()> {
        let Some(failed) = &self.failed else { return Ok(()) };
        if failed.lock().unwrap().insert(format!("{what} {path}")) {
            return Err(TransportError::Protocol {
                site: self.site().name.clone(),
                operation: what.into(),
                path: path.into(),
                reason: "connection reset by peer (injected)".into(),
                transient: true,
                source: None,
            });
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Connector for FirstListingFails {
    async fn connect(&self, site: &ftpman_core::model::Site) -> TransportResult<Box<dyn Transport>> {
        Ok(Box::new(FlakyListing {
            inner: ProtocolConnector.connect(site).await?,
            failed: Some(self.failed.clone()),
            reads: self.reads,
            log: None,
            ledger: None,
            hold_list: None,
        }))
    }
}

#[async_trait::async_trait]
impl Transport for FlakyListing {
    fn site(&self) -> &ftpman_core::model::Site {
        self.inner.site()
    }
    async fn list(&mut self, path: &str) -> TransportResult<Vec<Entry>> {
        if !self.reads {
            self.fails_first("list", path)?;
        }
        if let (Some(folder), Some(log)) = (self.hold_list, &self.log)
            && path == folder
            && self.inner.site().name == "src"
        {
            let delivered = || log.lock().unwrap().iter().any(|l| l.starts_with("renamed "));
            let waited = std::time::Instant::now();
            while !delivered() && waited.elapsed() < Duration::from_secs(10) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            if !delivered() {
                return Err(TransportError::Config {
                    site: "src".into(),
                    reason: format!("{folder} was listed before any file was delivered"),
                });
            }
        }
        self.inner.list(path).await
    }
    async fn stat(&mut self, path: &str) -> TransportResult<Entry> {
        self.inner.stat(path).await
    }
    async fn read(&mut self, path: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        if self.reads {
            self.fails_first("read", path)?;
        }
        self.inner.read(path, offset).await
    }
    async fn write(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        self.note(format!("write {path}"));
        self.inner.write(path, offset).await
    }
    async fn write_segment(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        self.note(format!("write segment {path} at {offset}"));
        self.inner.write_segment(path, offset).await
    }
    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        // (Not while a listing waits for this rename.)
        let hold = self.log.clone().filter(|_| self.hold_list.is_none());
        hold_first_rename(hold, self.inner.site().name == "dst").await;
        self.inner.rename(from, to, overwrite).await?;
        self.note(format!("renamed {to}"));
        Ok(())
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn make_durable(&mut self, path: &str) -> TransportResult<()> {
        self.inner.make_durable(path).await?;
        // Whether the ledger already has the file (by name) when it is made durable.
        let ledger = self.ledger.as_ref().and_then(|l| l.get().cloned());
        let recorded = match ledger {
            Some((store, job)) => store
                .ledger(job, 1000)
                .await
                .unwrap()
                .iter()
                .any(|e| Path::new(&e.source_path).file_name() == Path::new(path).file_name()),
            None => false,
        };
        self.note(format!("durable {path} recorded={recorded}"));
        Ok(())
    }
    async fn delete(&mut self, path: &str) -> TransportResult<()> {
        self.inner.delete(path).await
    }
    async fn mkdir_all(&mut self, path: &str) -> TransportResult<()> {
        self.inner.mkdir_all(path).await
    }
    async fn rmdir(&mut self, path: &str) -> TransportResult<()> {
        self.inner.rmdir(path).await
    }
    async fn checksum(&mut self, path: &str) -> TransportResult<Option<Checksum>> {
        self.inner.checksum(path).await
    }
    async fn close(self: Box<Self>) -> TransportResult<()> {
        self.inner.close().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_listing_is_retried_on_a_fresh_connection() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = harness::scratch_for(kind_user(Kind::Ftp), "flaky-list-src");
    let dst_dir = scratch("flaky-list-dst");
    make_tree(&src_dir.path);
    chown_tree(&src_dir.path, kind_user(Kind::Ftp));
    let src = save_site(store.as_ref(), "src", site(Kind::Ftp, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let failed = Arc::new(std::sync::Mutex::new(std::collections::HashSet::new()));
    let e = Engine::new(
        store.clone(),
        Arc::new(FirstListingFails {
            failed: failed.clone(),
            reads: false,
        }),
        EngineConfig::default(),
    );
    let mut job = Job::new("flaky-list", src.id, "/", dst.id, "/");
    job.recursive = true;
    job.parallel = 4;
    job.retry_backoff = Duration::from_millis(20);

    // With retries, every folder's first listing fails and the run still delivers the tree.
    let retried = store.create_job(&job).await.unwrap();
    let run = e.run_job(&retried, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.counts.transferred, 300);
    assert_eq!(failed.lock().unwrap().len(), 1 + 5 + 15, "each folder failed once");
    assert_eq!(tree(&dst_dir.path), tree(&src_dir.path));

    // Without retries, the run fails and says which folder could not be listed, and why.
    failed.lock().unwrap().clear();
    job.name = "flaky-list-no-retry".into();
    job.retries = 0;
    let once = store.create_job(&job).await.unwrap();
    let run = e.run_job(&once, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap_or_default();
    assert!(
        error.contains("listing the source") && error.contains("connection reset by peer (injected)"),
        "{error}"
    );

    // A cancel while a listing waits out a long backoff ends the run at once.
    failed.lock().unwrap().clear();
    job.name = "flaky-list-cancelled".into();
    job.retries = 5;
    job.retry_backoff = Duration::from_secs(600);
    let waiting = store.create_job(&job).await.unwrap();
    let mut events = e.subscribe();
    let canceller = {
        let e = e.clone();
        tokio::spawn(async move {
            while let Ok(ev) = events.recv().await {
                if let RunEvent::Started { run_id, .. } = ev {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    return e.stop(run_id, StopReason::Cancelled);
                }
            }
            false
        })
    };
    let started = std::time::Instant::now();
    let run = e.run_job(&waiting, Trigger::Manual, false).await.unwrap();
    assert!(canceller.await.unwrap());
    assert_eq!(
        (run.status, run.error.as_deref()),
        (RunStatus::Cancelled, Some("cancelled"))
    );
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_never_resumes_from_a_temporary_file_left_by_an_earlier_run() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("stale-temp-src");
    let dst_dir = scratch("stale-temp-dst");
    let want = noise_file(&src_dir.path.join("big.bin"), 8 << 20, 11);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut job = Job::new("stale-temp", src.id, "/", dst.id, "/");
    job.retry_backoff = Duration::from_millis(10);
    let job = store.create_job(&job).await.unwrap();
    // An earlier run broke off after 5 MiB of an older version of the file.
    std::fs::write(
        dst_dir.path.join(format!(".big.bin.j{}.ftpman-part", job.id)),
        vec![0xAA; 5 << 20],
    )
    .unwrap();
    let e = Engine::new(
        store.clone(),
        Arc::new(FirstListingFails {
            failed: Arc::new(std::sync::Mutex::new(std::collections::HashSet::new())),
            reads: true,
        }),
        EngineConfig::default(),
    );
    // The first attempt fails before a byte moves; the retry must start from 0, not append the
    // new file's tail to the old bytes (which the size check alone would let through).
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(harness::sha256_file(&dst_dir.path.join("big.bin")), want);
}

/// A local source with one big file and `after = delete`, to a target on the fault server.
async fn atomic_setup(
    name: &str,
) -> (
    Arc<dyn ftpman_core::Store>,
    tempfile::TempDir,
    Scratch,
    Scratch,
    Job,
    String,
) {
    let (store, db) = sqlite_store().await;
    let src_dir = scratch(&format!("{name}-src"));
    let dst_dir = scratch(&format!("{name}-dst"));
    let want = noise_file(&src_dir.path.join("big.bin"), 64 << 20, 5);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let mut target = harness::fault_site(Kind::Ftp, &dst_dir.path);
    target.connect_timeout = Duration::from_secs(5);
    let dst = save_site(store.as_ref(), "dst", target).await;
    let mut job = Job::new(name, src.id, "/", dst.id, "/in");
    job.after = AfterAction::Delete;
    job.retries = 0;
    job.bwlimit = Some(16 << 20); // about 4 s for the file: time to strike midway
    let job = store.create_job(&job).await.unwrap();
    (store, db, src_dir, dst_dir, job, want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_leaves_no_final_file_and_keeps_the_source() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db, src_dir, dst_dir, job, want) = atomic_setup("atomic-kill").await;
    let e = engine(store.clone());
    let mut events = e.subscribe();
    let killer = tokio::spawn(async move {
        let mut moved = 0;
        while let Ok(ev) = events.recv().await {
            if let RunEvent::Progress { bytes, .. } = ev {
                moved += bytes;
                if moved > 20 << 20 {
                    harness::kill_sessions("vsftpd-fault.pid");
                    return true;
                }
            }
        }
        false
    });
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert!(killer.await.unwrap(), "the server was killed mid-file");
    assert_eq!(run.status, RunStatus::Failed, "{:?}", run.error);
    assert!(
        !dst_dir.path.join("in/big.bin").exists(),
        "no file under its final name after a failure"
    );
    assert!(
        src_dir.path.join("big.bin").exists(),
        "after=delete never deletes an undelivered source"
    );
    assert!(store.ledger_entry(job.id, "/big.bin").await.unwrap().is_none());

    // The kill may also have caught a connection the failed run had just pooled; the pool checks
    // connections idle for more than 2 s before reusing them.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut job = job;
    job.bwlimit = None;
    let job = store.update_job(&job).await.unwrap();
    let again = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(again.status, RunStatus::Succeeded, "{:?}", again.error);
    assert_eq!(harness::sha256_file(&dst_dir.path.join("in/big.bin")), want);
    assert!(
        !src_dir.path.join("big.bin").exists(),
        "deleted once delivered and verified"
    );
    let leftovers: Vec<_> = tree(&dst_dir.path).into_iter().map(|(p, _)| p).collect();
    assert_eq!(leftovers, ["in/big.bin"], "no temporary file is left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_run_leaves_no_final_file_and_keeps_the_source() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db, src_dir, dst_dir, job, _) = atomic_setup("atomic-cancel").await;
    let e = engine(store.clone());
    let mut events = e.subscribe();
    let canceller = {
        let e = e.clone();
        tokio::spawn(async move {
            let mut moved = 0;
            while let Ok(ev) = events.recv().await {
                if let RunEvent::Progress { run_id, bytes, .. } = ev {
                    moved += bytes;
                    if moved > 10 << 20 {
                        return e.stop(run_id, StopReason::Cancelled);
                    }
                }
            }
            false
        })
    };
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert!(canceller.await.unwrap());
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(!dst_dir.path.join("in/big.bin").exists());
    assert!(src_dir.path.join("big.bin").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_being_written_waits_for_min_age() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("minage-src");
    let dst_dir = scratch("minage-dst");
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Ftp, &dst_dir.path)).await;
    let mut job = Job::new("minage", src.id, "/", dst.id, "/");
    job.min_age = Duration::from_secs(60);
    let job = store.create_job(&job).await.unwrap();
    let t0 = Utc::now();
    let clock = Arc::new(ManualClock::new(t0));
    let e = Engine::with_clock(
        store.clone(),
        Arc::new(ProtocolConnector),
        EngineConfig::default(),
        clock.clone(),
    );

    let growing = src_dir.path.join("growing.csv");
    std::fs::write(&growing, b"first half,").unwrap();
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (run.status, run.counts.found, run.counts.transferred),
        (RunStatus::Succeeded, 0, 0)
    );

    // Still being written 30 s later (by the job's clock): still not picked up.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&growing)
        .unwrap()
        .write_all(b"second half\n")
        .unwrap();
    clock.set(t0 + chrono::Duration::seconds(30));
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.counts.transferred, 0);
    assert!(!dst_dir.path.join("growing.csv").exists());

    // Unchanged for 61 s: delivered, whole.
    clock.set(Utc::now() + chrono::Duration::seconds(61));
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.counts.transferred, 1, "{:?}", run.error);
    assert_eq!(
        std::fs::read(dst_dir.path.join("growing.csv")).unwrap(),
        b"first half,second half\n"
    );
}

async fn conflict_run(policy: ConflictPolicy) -> (RunStatus, Scratch, Vec<ftpman_core::model::RunFile>, Engine, Job) {
    let (store, db) = sqlite_store().await;
    std::mem::forget(db); // the engine returned below outlives this function
    let src_dir = scratch("conflict-src");
    let dst_dir = scratch("conflict-dst");
    std::fs::write(src_dir.path.join("a.csv"), b"new").unwrap();
    std::fs::create_dir_all(dst_dir.path.join("in")).unwrap();
    std::fs::write(dst_dir.path.join("in/a.csv"), b"old").unwrap();
    chown_tree(&dst_dir.path, &servers().user);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::SftpPassword, &dst_dir.path)).await;
    let mut job = Job::new("conflict", src.id, "/", dst.id, "/in");
    job.conflict = policy;
    let job = store.create_job(&job).await.unwrap();
    let e = engine(store.clone());
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    let files = store.run_files(run.id).await.unwrap();
    std::mem::forget(src_dir);
    (run.status, dst_dir, files, e, job)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_policies() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (status, dst, files, ..) = conflict_run(ConflictPolicy::Skip).await;
    assert_eq!(
        (status, files[0].status),
        (RunStatus::Succeeded, RunFileStatus::Skipped),
        "{:?}",
        files[0].error
    );
    assert_eq!(std::fs::read(dst.path.join("in/a.csv")).unwrap(), b"old");

    let (status, dst, files, ..) = conflict_run(ConflictPolicy::Fail).await;
    assert_eq!((status, files[0].status), (RunStatus::Failed, RunFileStatus::Failed));
    assert!(
        files[0].error.as_deref().unwrap().contains("exists"),
        "{:?}",
        files[0].error
    );
    assert_eq!(std::fs::read(dst.path.join("in/a.csv")).unwrap(), b"old");
    let left: Vec<String> = std::fs::read_dir(dst.path.join("in"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["a.csv"], "the refused copy is not left behind");

    let (status, dst, ..) = conflict_run(ConflictPolicy::Overwrite).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(std::fs::read(dst.path.join("in/a.csv")).unwrap(), b"new");

    let (status, dst, files, e, job) = conflict_run(ConflictPolicy::Rename).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(files[0].target_path, "/in/a_1.csv");
    assert_eq!(std::fs::read(dst.path.join("in/a_1.csv")).unwrap(), b"new");
    // Sent again (ledger cleared): the next free name.
    e.store().forget_ledger(job.id).await.unwrap();
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(e.store().run_files(run.id).await.unwrap()[0].target_path, "/in/a_2.csv");
    assert_eq!(std::fs::read(dst.path.join("in/a.csv")).unwrap(), b"old");
    assert_eq!(std::fs::read(dst.path.join("in/a_2.csv")).unwrap(), b"new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_in_the_way_is_named_under_every_policy() {
    if crate::harness::skip_without_servers() {
        return;
    }
    for policy in [
        ConflictPolicy::Overwrite,
        ConflictPolicy::Fail,
        ConflictPolicy::Skip,
        ConflictPolicy::Rename,
    ] {
        let (store, _db) = sqlite_store().await;
        let src_dir = scratch("dir-src");
        let dst_dir = scratch("dir-dst");
        std::fs::write(src_dir.path.join("a.csv"), b"new").unwrap();
        std::fs::create_dir_all(dst_dir.path.join("a.csv/inside")).unwrap();
        let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
        let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
        let mut job = Job::new("dir", src.id, "/", dst.id, "/");
        job.conflict = policy;
        let job = store.create_job(&job).await.unwrap();
        let run = engine(store.clone())
            .run_job(&job, Trigger::Manual, false)
            .await
            .unwrap();
        let files = store.run_files(run.id).await.unwrap();
        // Whatever the policy: a folder where a file should go is worth a look.
        assert_eq!(run.status, RunStatus::Failed, "{policy:?}");
        let error = files[0].error.as_deref().unwrap_or_default();
        assert!(error.contains("the target /a.csv is a folder"), "{policy:?}: {error}");
        assert!(
            dst_dir.path.join("a.csv/inside").is_dir(),
            "{policy:?}: the folder is untouched"
        );
        let left: Vec<String> = std::fs::read_dir(&dst_dir.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["a.csv"], "{policy:?}: no temporary file left");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_filters_dry_run_and_move_after() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("tpl-src");
    let dst_dir = scratch("tpl-dst");
    for name in ["r1.csv", "r2.csv", "skip.tmp", "sub/r3.csv", "notes.txt"] {
        let p = src_dir.path.join("outbound").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, name.as_bytes()).unwrap();
    }
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Ftps, &dst_dir.path)).await;
    // Moved into a folder beside the one walked: inside it, moved files would be listed again.
    let mut job = Job::new(
        "nightly",
        src.id,
        "/outbound",
        dst.id,
        "/in/{yyyy}/{mm}/{dd}/{job}-{name}",
    );
    job.recursive = true;
    job.include = vec!["*.csv".into(), "*.tmp".into()];
    job.exclude = vec!["*.tmp".into()];
    job.after = AfterAction::Move("/done".into());
    job.schedule = Schedule::Cron {
        expr: "0 2 * * *".into(),
        tz: chrono_tz::Europe::Berlin,
    };
    let job = store.create_job(&job).await.unwrap();
    // 23:30 UTC on 9 March is 00:30 on 10 March in Berlin: the template uses the job's zone.
    let clock = Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 9, 23, 30, 0).unwrap()));
    let e = Engine::with_clock(
        store.clone(),
        Arc::new(ProtocolConnector),
        EngineConfig::default(),
        clock,
    );

    let dry = e.run_job(&job, Trigger::Manual, true).await.unwrap();
    assert_eq!(
        (dry.status, dry.counts.found, dry.counts.transferred),
        (RunStatus::Succeeded, 3, 0)
    );
    let planned = store.run_files(dry.id).await.unwrap();
    assert!(planned.iter().all(|f| f.status == RunFileStatus::WouldTransfer));
    assert!(
        std::fs::read_dir(&dst_dir.path).unwrap().next().is_none(),
        "a dry run changes nothing"
    );
    assert!(src_dir.path.join("outbound/r1.csv").exists());

    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (run.status, run.counts.transferred),
        (RunStatus::Succeeded, 3),
        "{:?}",
        run.error
    );
    let got: Vec<String> = tree(&dst_dir.path).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        got,
        [
            "in/2026/03/10/nightly-r1.csv",
            "in/2026/03/10/nightly-r2.csv",
            "in/2026/03/10/sub/nightly-r3.csv"
        ]
    );
    // Moved at the source once delivered; the rest stays.
    let left: Vec<String> = tree(&src_dir.path).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        left,
        [
            "done/r1.csv",
            "done/r2.csv",
            "done/sub/r3.csv",
            "outbound/notes.txt",
            "outbound/skip.tmp"
        ]
    );
}

async fn set(store: &dyn ftpman_core::Store, key: &str, value: &str, secret: bool) {
    store
        .set_setting(&ftpman_core::model::Setting {
            key: key.into(),
            value: ftpman_core::Secret::new(value),
            secret,
        })
        .await
        .unwrap();
}

/// Messages in the SMTP listener's maildir whose text contains `needle`.
fn mails_containing(needle: &str) -> Vec<String> {
    let new = servers().maildir.join("new");
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(new) {
        for e in rd.flatten() {
            // Undo quoted-printable line folding, the one encoding plain-text bodies get.
            if let Ok(raw) = std::fs::read_to_string(e.path()) {
                let text = raw.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
                if text.contains(needle) {
                    out.push(text);
                }
            }
        }
    }
    out
}

/// A job whose source folder does not exist, so every run fails at listing.
async fn failing_job(store: &Arc<dyn ftpman_core::Store>, name: &str, notify: ftpman_core::model::NotifyPolicy) -> Job {
    let dst_dir = tempfile::tempdir().unwrap().keep();
    let src = save_site(
        store.as_ref(),
        &format!("{name}-src"),
        site(Kind::Ftp, Path::new("/home/ftpman-pw/no-such-folder")),
    )
    .await;
    let dst = save_site(store.as_ref(), &format!("{name}-dst"), site(Kind::Local, &dst_dir)).await;
    let mut job = Job::new(name, src.id, "/", dst.id, "/");
    job.notify = notify;
    job.recipients = vec!["ops@example.com".into(), "oncall@example.com".into()];
    store.create_job(&job).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_run_sends_one_email() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    set(store.as_ref(), "smtp.host", "127.0.0.1", false).await;
    set(store.as_ref(), "smtp.port", &servers().smtp_port.to_string(), false).await;
    set(store.as_ref(), "smtp.tls", "none", false).await;
    set(store.as_ref(), "smtp.from", "ftpman@test.example", false).await;
    let name = format!("mail-{}", std::process::id());
    let job = failing_job(&store, &name, ftpman_core::model::NotifyPolicy::Failure).await;
    let config = EngineConfig {
        base_url: Some("https://mft.example.com/".into()),
        ..EngineConfig::default()
    };
    let e = Engine::new(store.clone(), Arc::new(ProtocolConnector), config);
    e.add_notifier(Arc::new(ftpman_core::notifier::smtp::SmtpNotifier::new(store.clone())));
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Failed);

    let subject = format!("Subject: [ftpman] {name}: failed (run {})", run.id);
    let mut mails = Vec::new();
    for _ in 0..50 {
        mails = mails_containing(&subject);
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(mails.len(), 1, "exactly one e-mail for the failed run");
    let mail = &mails[0];
    for want in [
        "From: ftpman@test.example",
        "ops@example.com",
        "oncall@example.com",
        &format!("Job:         {name}"),
        "Status:      failed",
        "Files:       0 found, 0 transferred, 0 skipped, 0 failed",
        "Bytes:       0 B",
        "no-such-folder",
        &format!("Details: https://mft.example.com/runs/{}", run.id),
    ] {
        assert!(mail.contains(want), "the e-mail lacks {want:?}:\n{mail}");
    }
    assert!(!mail.contains(&servers().password), "no secret in the e-mail");

    // With notify=never, the next failed run sends nothing.
    let mut silent = job.clone();
    silent.notify = ftpman_core::model::NotifyPolicy::Never;
    let silent = store.update_job(&silent).await.unwrap();
    let again = e.run_job(&silent, Trigger::Manual, false).await.unwrap();
    assert_eq!(again.status, RunStatus::Failed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(mails_containing(&format!("[ftpman] {name}: failed (run {})", again.id)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_is_logged_and_leaves_the_run_alone() {
    let (store, _db) = sqlite_store().await;
    let closed_port = harness::ClosedPort::new();
    let closed = closed_port.port();
    set(store.as_ref(), "smtp.host", "127.0.0.1", false).await;
    set(store.as_ref(), "smtp.port", &closed.to_string(), false).await;
    set(store.as_ref(), "smtp.tls", "none", false).await;
    let src_dir = tempfile::tempdir().unwrap();
    let dst_dir = tempfile::tempdir().unwrap();
    std::fs::write(src_dir.path().join("a.txt"), b"a").unwrap();
    let src = save_site(store.as_ref(), "src", site(Kind::Local, src_dir.path())).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, dst_dir.path())).await;
    let mut job = Job::new("always", src.id, "/", dst.id, "/");
    job.notify = ftpman_core::model::NotifyPolicy::Always;
    job.recipients = vec!["ops@example.com".into()];
    let job = store.create_job(&job).await.unwrap();
    let e = engine(store.clone());
    e.add_notifier(Arc::new(ftpman_core::notifier::smtp::SmtpNotifier::new(store.clone())));
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        run.status,
        RunStatus::Succeeded,
        "a failing notifier never changes the outcome"
    );
    assert_eq!(store.run(run.id).await.unwrap().status, RunStatus::Succeeded);
    let logs = store
        .logs(&ftpman_core::model::LogQuery {
            component: Some("notify".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!(logs[0].level, ftpman_core::model::LogLevel::Error);
    assert!(
        logs[0].message.contains(&format!("run {}", run.id)) && logs[0].message.contains(&closed.to_string()),
        "{}",
        logs[0].message
    );
}

/// A webhook receiver on loopback: answers 200 and hands over (headers, body) of one request.
async fn webhook_receiver() -> (u16, tokio::sync::oneshot::Receiver<(String, String)>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head, body) = loop {
            let n = sock.read(&mut chunk).await.unwrap();
            buf.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&buf).to_string();
            if let Some(i) = text.find("\r\n\r\n") {
                let head = text[..i].to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if buf.len() >= i + 4 + len {
                    break (head, String::from_utf8_lossy(&buf[i + 4..i + 4 + len]).to_string());
                }
            }
        };
        sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let _ = tx.send((head, body));
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_gets_a_correctly_signed_body() {
    if crate::harness::skip_without_servers() {
        return;
    }
    use hmac::{KeyInit, Mac};
    let (store, _db) = sqlite_store().await;
    let (port, received) = webhook_receiver().await;
    set(
        store.as_ref(),
        "webhook.url",
        &format!("http://127.0.0.1:{port}/hooks/ftpman"),
        true,
    )
    .await;
    set(store.as_ref(), "webhook.secret", "whsec-9f8e7d", true).await;
    let name = "hooked";
    let job = failing_job(&store, name, ftpman_core::model::NotifyPolicy::Always).await;
    let e = engine(store.clone());
    e.add_notifier(Arc::new(
        ftpman_core::notifier::webhook::WebhookNotifier::new(store.clone()).unwrap(),
    ));
    let run = e.run_job(&job, Trigger::Api, false).await.unwrap();
    let (head, body) = tokio::time::timeout(Duration::from_secs(10), received)
        .await
        .unwrap()
        .unwrap();
    assert!(head.starts_with("POST /hooks/ftpman HTTP/1.1"), "{head}");
    let sig = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("x-ftpman-signature: ")
                .or_else(|| l.strip_prefix("X-Ftpman-Signature: "))
        })
        .expect("signature header")
        .trim()
        .to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"whsec-9f8e7d").unwrap();
    mac.update(body.as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        sig,
        format!("sha256={expected}"),
        "the signature is HMAC-SHA256 of the body"
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["event"], "run.finished");
    assert_eq!(json["job"], name);
    assert_eq!(json["run"]["id"], run.id);
    assert_eq!(json["run"]["status"], "failed");
    assert_eq!(json["run"]["trigger"], "api");
    assert!(!body.contains("whsec-9f8e7d"), "the secret is not sent");
}

/// Opens real connections that note what the engine asks of the site named "dst" (the order of
/// writes, renames and syncs) and hold its first rename until another file's write has begun.
struct WatchedTarget {
    log: Arc<std::sync::Mutex<Vec<String>>>,
    ledger: Ledger,
    hold_list: Option<&'static str>,
}

/// An engine whose connections are watched (see `WatchedTarget`).
fn watched(
    store: Arc<dyn ftpman_core::Store>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
    ledger: Ledger,
    hold_list: Option<&'static str>,
) -> Engine {
    Engine::new(
        store,
        Arc::new(WatchedTarget { log, ledger, hold_list }),
        EngineConfig::default(),
    )
}

#[async_trait::async_trait]
impl Connector for WatchedTarget {
    async fn connect(&self, site: &ftpman_core::model::Site) -> TransportResult<Box<dyn Transport>> {
        Ok(Box::new(FlakyListing {
            inner: ProtocolConnector.connect(site).await?,
            failed: None,
            reads: false,
            log: Some(self.log.clone()),
            ledger: Some(self.ledger.clone()),
            hold_list: self.hold_list,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_waiting_for_the_disk_does_not_hold_up_the_next_transfer() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = harness::scratch_for(kind_user(Kind::SftpKey), "slot-src");
    let dst_dir = scratch("slot-dst");
    for i in 0..3u64 {
        noise_file(&src_dir.path.join(format!("f{i}.bin")), 10_000 + i, i + 1);
    }
    chown_tree(&src_dir.path, kind_user(Kind::SftpKey));
    let src = save_site(store.as_ref(), "src", site(Kind::SftpKey, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let e = watched(store.clone(), log.clone(), Default::default(), None);
    // One file at a time: the first file's rename (its wait for the disk) must let the second
    // file's transfer start.
    let mut job = Job::new("one-at-a-time", src.id, "/", dst.id, "/");
    job.parallel = 1;
    let job = store.create_job(&job).await.unwrap();
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.counts.transferred, 3);
    let log = log.lock().unwrap().clone();
    let first_rename = log.iter().position(|l| l.starts_with("renamed ")).unwrap();
    let writes_before = log[..first_rename].iter().filter(|l| l.starts_with("write ")).count();
    assert!(
        writes_before >= 2,
        "the next transfer starts while the first file is renamed: {log:?}"
    );
    assert!(
        !log.iter().any(|l| l.starts_with("durable ")),
        "atomic: the rename makes it durable"
    );
    assert_eq!(tree(&dst_dir.path), tree(&src_dir.path), "every file, nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_written_in_place_is_made_durable_before_it_is_recorded() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("in-place-src");
    let dst_dir = scratch("in-place-dst");
    for i in 0..3u64 {
        noise_file(&src_dir.path.join(format!("f{i}.bin")), 5_000, i + 1);
    }
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let ledger: Ledger = Default::default();
    let e = watched(store.clone(), log.clone(), ledger.clone(), None);
    let mut job = Job::new("in-place", src.id, "/", dst.id, "/in");
    job.atomic = false;
    let job = store.create_job(&job).await.unwrap();
    let _ = ledger.set((store.clone(), job.id));
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let mut durable: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l.strip_prefix("durable ").map(str::to_string))
        .collect();
    durable.sort();
    assert_eq!(
        durable,
        [
            "/in/f0.bin recorded=false",
            "/in/f1.bin recorded=false",
            "/in/f2.bin recorded=false"
        ]
    );
    assert_eq!(store.ledger(job.id, 100).await.unwrap().len(), 3);
    assert!(!log.lock().unwrap().iter().any(|l| l.starts_with("renamed ")));
    assert_eq!(store.run_files(run.id).await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_move_while_the_tree_is_still_listed() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("streamed-src");
    let dst_dir = scratch("streamed-dst");
    for (i, folder) in ["first", "later"].iter().enumerate() {
        std::fs::create_dir_all(src_dir.path.join(folder)).unwrap();
        noise_file(&src_dir.path.join(format!("{folder}/f.bin")), 5_000, i as u64 + 1);
    }
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    // The listing of /later waits for a delivery: it comes only if /first's file moves before
    // the whole tree is listed.
    let e = watched(store.clone(), log.clone(), Default::default(), Some("/later"));
    let mut job = Job::new("streamed", src.id, "/", dst.id, "/");
    job.recursive = true;
    let job = store.create_job(&job).await.unwrap();
    let mut events = e.subscribe();
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!((run.counts.found, run.counts.transferred), (2, 2));
    // The totals come once, when everything is listed.
    let mut planned = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let RunEvent::Planned { files, .. } = event {
            planned.push(files);
        }
    }
    assert_eq!(planned, [2]);
    assert_eq!(tree(&dst_dir.path), tree(&src_dir.path), "every file, nothing else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_fails_after_files_were_found_leaves_a_partial_run() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("list-fails-late-src");
    let dst_dir = scratch("list-fails-late-dst");
    std::fs::create_dir_all(src_dir.path.join("first/sub")).unwrap();
    noise_file(&src_dir.path.join("first/f.bin"), 5_000, 1);
    noise_file(&src_dir.path.join("first/sub/g.bin"), 5_000, 2);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    // Only the listing of /first/sub fails (the others count as failed already).
    let failed = Arc::new(std::sync::Mutex::new(std::collections::HashSet::from([
        "list /".to_string(),
        "list /first".to_string(),
    ])));
    let e = Engine::new(
        store.clone(),
        Arc::new(FirstListingFails { failed, reads: false }),
        EngineConfig::default(),
    );
    let mut job = Job::new("fails-late", src.id, "/", dst.id, "/");
    job.recursive = true;
    job.retries = 0;
    let job = store.create_job(&job).await.unwrap();
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    // The file found before the failure was delivered, and recorded; the run says what failed.
    assert_eq!(
        (run.status, run.counts.found, run.counts.transferred),
        (RunStatus::Partial, 1, 1)
    );
    let error = run.error.unwrap_or_default();
    assert!(error.contains("/first/sub"), "{error}");
    assert!(dst_dir.path.join("first/f.bin").exists());
    assert!(!dst_dir.path.join("first/sub/g.bin").exists());
    assert_eq!(store.ledger(job.id, 10).await.unwrap().len(), 1);
    // The next run sends what is left.
    let next = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (next.status, next.counts.transferred, next.counts.skipped),
        (RunStatus::Succeeded, 1, 1),
        "{:?}",
        next.error
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_age_window_over_a_tree_with_one_connection_does_not_stall_the_listing() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = harness::scratch_for(kind_user(Kind::Ftp), "age-one-conn-src");
    let dst_dir = scratch("age-one-conn-dst");
    for (i, folder) in ["a", "b", "c"].iter().enumerate() {
        std::fs::create_dir_all(src_dir.path.join(folder)).unwrap();
        noise_file(&src_dir.path.join(format!("{folder}/f.bin")), 1_000, i as u64 + 1);
    }
    chown_tree(&src_dir.path, kind_user(Kind::Ftp));
    // One connection to the source, and an age window: FTP's coarse listing times are made
    // exact with a stat, which must not wait for a second connection behind the listings.
    let mut source = site(Kind::Ftp, &src_dir.path);
    source.max_connections = 1;
    let src = save_site(store.as_ref(), "src", source).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut job = Job::new("aged", src.id, "/", dst.id, "/");
    job.recursive = true;
    job.max_age = Some(Duration::from_secs(86_400));
    let job = store.create_job(&job).await.unwrap();
    let e = engine(store.clone());
    let run = tokio::time::timeout(Duration::from_secs(60), e.run_job(&job, Trigger::Manual, false))
        .await
        .expect("the run ends")
        .unwrap();
    assert_eq!(
        (run.status, run.counts.found, run.counts.transferred),
        (RunStatus::Succeeded, 3, 3),
        "{:?}",
        run.error
    );
}
