//! Nothing lost, nothing twice: the conflict policy's default, one temporary file per
//! delivery, a panic in a run, manual runs never queued, the source checked before its
//! after-delivery action, a pending action finished by the next run, coarse FTP listing
//! times, and a file written in place that breaks.

use ftpman_testkit as harness;

use ftpman_core::engine::{Engine, EngineConfig};
use ftpman_core::model::{AfterAction, ConflictPolicy, Job, RunFileStatus, RunStatus, Site, Trigger};
use ftpman_core::transport::{
    Capabilities, Checksum, Connector, Entry, FileReader, FileWriter, ProtocolConnector, Transport, TransportError,
    TransportResult,
};
use harness::{Kind, noise_file, save_site, scratch, site, sqlite_store, tree};
use std::sync::Arc;
use std::time::Duration;

/// Called before an operation reaches the real connection: `(operation, site, path)`. It may
/// act (change the source, panic) or fail the operation.
type Hook = Arc<dyn Fn(&str, &str, &str) -> TransportResult<()> + Send + Sync>;

/// Real connections with a [`Hook`] in front of list, stat, rename and delete, and, with a
/// [`Holes`], writers to the site "dst" that break once, leaving a hole.
struct Hooked(Hook, Option<Holes>);

struct HookedTransport {
    inner: Box<dyn Transport>,
    hook: Hook,
    holes: Option<Holes>,
}

/// The first write to "dst" that reaches 4 MiB breaks, after zeroing 256 KiB just before the
/// end of what had landed: what a connection that drops with pipelined writes in flight can
/// leave behind (the later writes landed, an earlier one did not). The transport declares a
/// resume margin of `margin`, as SFTP declares its own.
#[derive(Clone)]
struct Holes {
    /// The local folder behind "dst".
    root: std::path::PathBuf,
    margin: u64,
    broke: Arc<std::sync::atomic::AtomicBool>,
}

struct HoleyWriter<'a> {
    inner: Box<dyn FileWriter + 'a>,
    written: u64,
    file: std::path::PathBuf,
    broke: Arc<std::sync::atomic::AtomicBool>,
}

impl tokio::io::AsyncWrite for HoleyWriter<'_> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::os::unix::fs::FileExt;
        if self.written + buf.len() as u64 > 4 << 20 && !self.broke.swap(true, std::sync::atomic::Ordering::SeqCst) {
            let f = std::fs::OpenOptions::new().write(true).open(&self.file)?;
            let len = f.metadata()?.len();
            f.write_at(&[0u8; 256 << 10], len - (512 << 10))?;
            return std::task::Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "connection reset with writes in flight (injected)",
            )));
        }
        let n = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.written += n as u64;
        std::task::Poll::Ready(Ok(n))
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[async_trait::async_trait]
impl FileWriter for HoleyWriter<'_> {
    async fn finish(self: Box<Self>) -> TransportResult<ftpman_core::transport::Finished> {
        self.inner.finish().await
    }
}

impl HookedTransport {
    fn hook(&self, op: &str, path: &str) -> TransportResult<()> {
        (self.hook)(op, &self.inner.site().name, path)
    }
}

#[async_trait::async_trait]
impl Connector for Hooked {
    async fn connect(&self, site: &Site) -> TransportResult<Box<dyn Transport>> {
        Ok(Box::new(HookedTransport {
            inner: ProtocolConnector.connect(site).await?,
            hook: self.0.clone(),
            holes: self.1.clone().filter(|_| site.name == "dst"),
        }))
    }
}

#[async_trait::async_trait]
impl Transport for HookedTransport {
    fn site(&self) -> &Site {
        self.inner.site()
    }
    async fn list(&mut self, path: &str) -> TransportResult<Vec<Entry>> {
        self.hook("list", path)?;
        self.inner.list(path).await
    }
    async fn stat(&mut self, path: &str) -> TransportResult<Entry> {
        self.hook("stat", path)?;
        self.inner.stat(path).await
    }
    async fn read(&mut self, path: &str, offset: u64) -> TransportResult<FileReader<'_>> {
        self.inner.read(path, offset).await
    }
    async fn write(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        let holes = self.holes.clone();
        let inner = self.inner.write(path, offset).await?;
        Ok(match holes {
            Some(h) if offset == 0 => Box::new(HoleyWriter {
                inner,
                written: 0,
                file: h.root.join(path.trim_start_matches('/')),
                broke: h.broke,
            }),
            _ => inner,
        })
    }
    async fn write_segment(&mut self, path: &str, offset: u64) -> TransportResult<Box<dyn FileWriter + '_>> {
        self.inner.write_segment(path, offset).await
    }
    fn capabilities(&self) -> Capabilities {
        let inner = self.inner.capabilities();
        Capabilities {
            resume_margin: self.holes.as_ref().map_or(inner.resume_margin, |h| h.margin),
            ..inner
        }
    }
    async fn rename(&mut self, from: &str, to: &str, overwrite: bool) -> TransportResult<()> {
        self.hook("rename", to)?;
        self.inner.rename(from, to, overwrite).await
    }
    async fn make_durable(&mut self, path: &str) -> TransportResult<()> {
        self.inner.make_durable(path).await
    }
    async fn delete(&mut self, path: &str) -> TransportResult<()> {
        self.hook("delete", path)?;
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

/// The fault-injection server's sessions are killed whole: one test at a time uses it.
static FAULT_SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn engine(store: Arc<dyn ftpman_core::Store>) -> Engine {
    Engine::new(store, Arc::new(ProtocolConnector), EngineConfig::default())
}

/// A hook that acts the first time `op` reaches `site` (at `path`, when given), and whether it
/// has.
fn first_time(
    op: &'static str,
    site: &'static str,
    path: Option<&'static str>,
    act: impl Fn(&str) -> TransportResult<()> + Send + Sync + 'static,
) -> (Hook, Arc<std::sync::atomic::AtomicBool>) {
    let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = fired.clone();
    let hook: Hook = Arc::new(move |o, s, p| {
        if o == op
            && s == site
            && path.is_none_or(|want| want == p)
            && !seen.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return act(p);
        }
        Ok(())
    });
    (hook, fired)
}

fn hooked(store: Arc<dyn ftpman_core::Store>, hook: Hook) -> Engine {
    Engine::new(store, Arc::new(Hooked(hook, None)), EngineConfig::default())
}

fn injected(site: &str, op: &str, path: &str) -> TransportError {
    TransportError::Protocol {
        site: site.into(),
        operation: op.into(),
        path: path.into(),
        reason: "connection reset by peer (injected)".into(),
        transient: true,
        source: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_source_replaces_its_own_delivery_and_nothing_else() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("own-src");
    let dst_dir = scratch("own-dst");
    std::fs::write(src_dir.path.join("a.csv"), b"first").unwrap();
    std::fs::write(src_dir.path.join("b.csv"), b"kept").unwrap();
    std::fs::write(src_dir.path.join("c.csv"), b"ours").unwrap();
    // Someone else's file is in the way of c.csv.
    std::fs::create_dir_all(dst_dir.path.join("in")).unwrap();
    std::fs::write(dst_dir.path.join("in/c.csv"), b"theirs").unwrap();
    harness::chown_tree(&dst_dir.path, &harness::servers().user);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::SftpPassword, &dst_dir.path)).await;
    let job = Job::new("own", src.id, "/", dst.id, "/in");
    assert_eq!(job.conflict, ConflictPolicy::ReplaceOwn, "the default");
    let job = store.create_job(&job).await.unwrap();
    let e = engine(store.clone());
    let first = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (first.status, first.counts.transferred, first.counts.failed),
        (RunStatus::Partial, 2, 1)
    );
    let files = store.run_files(first.id).await.unwrap();
    let c = files.iter().find(|f| f.source_path == "/c.csv").unwrap();
    assert!(
        c.error.as_deref().unwrap().contains("this job did not deliver it"),
        "{:?}",
        c.error
    );

    // The source of a.csv changes: the next run replaces the copy this job delivered.
    std::fs::write(src_dir.path.join("a.csv"), b"second, longer").unwrap();
    let second = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (second.counts.transferred, second.counts.failed),
        (1, 1),
        "{:?}",
        second.error
    );
    assert_eq!(std::fs::read(dst_dir.path.join("in/a.csv")).unwrap(), b"second, longer");
    assert_eq!(std::fs::read(dst_dir.path.join("in/b.csv")).unwrap(), b"kept");
    assert_eq!(
        std::fs::read(dst_dir.path.join("in/c.csv")).unwrap(),
        b"theirs",
        "never replaced"
    );
    let names: Vec<String> = tree(&dst_dir.path).into_iter().map(|(p, _)| p).collect();
    assert_eq!(names, ["in/a.csv", "in/b.csv", "in/c.csv"], "no temporary file left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_files_bound_for_one_name_never_share_a_temporary_file() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("one-name-src");
    let dst_dir = scratch("one-name-dst");
    let one = noise_file(&src_dir.path.join("x1.bin"), 6 << 20, 1);
    let two = noise_file(&src_dir.path.join("x2.bin"), 6 << 20, 2);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    // A template without {name}: both files map to /in/<year>.bin.
    let mut job = Job::new("one-name", src.id, "/", dst.id, "/in/{yyyy}.{ext}");
    job.conflict = ConflictPolicy::Rename;
    job.parallel = 2;
    job.bwlimit = Some(8 << 20); // both in flight at once
    let job = store.create_job(&job).await.unwrap();
    let e = engine(store.clone());
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (run.status, run.counts.transferred),
        (RunStatus::Succeeded, 2),
        "{:?}",
        run.error
    );
    let got = tree(&dst_dir.path);
    assert_eq!(got.len(), 2, "{got:?}");
    let mut hashes: Vec<&str> = got.iter().map(|(_, h)| h.as_str()).collect();
    hashes.sort();
    let mut want = vec![one.as_str(), two.as_str()];
    want.sort();
    assert_eq!(hashes, want, "each file delivered whole, under a name of its own");
    // Each file's record names the bytes it delivered.
    for f in store.run_files(run.id).await.unwrap() {
        let at = dst_dir.path.join(f.target_path.trim_start_matches('/'));
        let expected = if f.source_path == "/x1.bin" { &one } else { &two };
        assert_eq!(&harness::sha256_file(&at), expected, "{}", f.source_path);
    }

    // Under a policy that would put one over the other, the second is refused, clearly.
    let dst2 = scratch("one-name-dst2");
    let target = save_site(store.as_ref(), "dst2", site(Kind::Local, &dst2.path)).await;
    let mut job = Job::new("one-name-2", src.id, "/", target.id, "/in/{yyyy}.{ext}");
    job.after = AfterAction::Delete;
    let job = store.create_job(&job).await.unwrap();
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!((run.counts.transferred, run.counts.failed), (1, 1));
    let files = store.run_files(run.id).await.unwrap();
    let refused = files.iter().find(|f| f.status == RunFileStatus::Failed).unwrap();
    assert!(
        refused
            .error
            .as_deref()
            .unwrap()
            .contains("never delivered to one name"),
        "{:?}",
        refused.error
    );
    // The refused file's source is kept; the delivered one's is deleted.
    let delivered = files.iter().find(|f| f.status == RunFileStatus::Transferred).unwrap();
    assert!(src_dir.path.join(refused.source_path.trim_start_matches('/')).exists());
    assert!(
        !src_dir
            .path
            .join(delivered.source_path.trim_start_matches('/'))
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_run_marks_it_failed_and_stops_its_lease() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("panic-src");
    let dst_dir = scratch("panic-dst");
    std::fs::write(src_dir.path.join("a.csv"), b"x").unwrap();
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let job = store
        .create_job(&Job::new("panics", src.id, "/", dst.id, "/"))
        .await
        .unwrap();
    let hook: Hook = Arc::new(|op, site, _| {
        if op == "list" && site == "src" {
            panic!("a bug in the listing (injected)");
        }
        Ok(())
    });
    let config = EngineConfig {
        lease: Duration::from_secs(3),
        ..EngineConfig::default()
    };
    let e = Engine::new(store.clone(), Arc::new(Hooked(hook, None)), config);
    let running = tokio::spawn(async move { e.run_job(&job, Trigger::Manual, false).await });
    assert!(running.await.is_err(), "the run's task panicked");
    let mut run = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = store.runs(&Default::default()).await.unwrap().remove(0);
        if r.status != RunStatus::Running {
            run = Some(r);
            break;
        }
    }
    let run = run.expect("the run is not left running");
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.error.as_deref().unwrap().contains("internal error"),
        "{:?}",
        run.error
    );
    assert_eq!(run.lease_expires_at, None, "the lease is released");
    // The job is free to run again.
    assert!(!store.job_running(run.job_id).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_is_never_queued_for_a_scheduler_to_claim() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, db) = sqlite_store().await;
    // Every status a run row is inserted with, noted by the database itself.
    let url = format!("sqlite://{}", db.path().join("ftpman.db").display());
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE inserted (status TEXT NOT NULL)")
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("CREATE TRIGGER note_insert AFTER INSERT ON runs BEGIN INSERT INTO inserted VALUES (new.status); END")
        .execute(&raw)
        .await
        .unwrap();
    let src_dir = scratch("manual-src");
    let dst_dir = scratch("manual-dst");
    std::fs::write(src_dir.path.join("a.csv"), b"x").unwrap();
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let job = store
        .create_job(&Job::new("manual", src.id, "/", dst.id, "/"))
        .await
        .unwrap();
    let e = engine(store.clone());
    // A scheduler claiming as fast as it can meanwhile gets nothing.
    let claimer = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut claimed = 0;
            for _ in 0..400 {
                if store
                    .claim_run("serve-node", chrono::Utc::now(), Duration::from_secs(60))
                    .await
                    .unwrap()
                    .is_some()
                {
                    claimed += 1;
                }
                tokio::task::yield_now().await;
            }
            claimed
        })
    };
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(claimer.await.unwrap(), 0);
    let statuses: Vec<String> = sqlx::query_scalar("SELECT status FROM inserted")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert_eq!(statuses, ["running"], "created running on this node, in one statement");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_changed_is_kept_and_sent_again() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("changed-src");
    let dst_dir = scratch("changed-dst");
    std::fs::write(src_dir.path.join("a.csv"), b"version 1").unwrap();
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::SftpPassword, &dst_dir.path)).await;
    let mut job = Job::new("changed", src.id, "/", dst.id, "/");
    job.after = AfterAction::Delete;
    let job = store.create_job(&job).await.unwrap();
    // As the copy is renamed into place, the source is rewritten (same size, a new time).
    let path = src_dir.path.join("a.csv");
    let (hook, _) = first_time("rename", "dst", None, move |_| {
        std::fs::write(&path, b"version 2").unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(later)
            .unwrap();
        Ok(())
    });
    let e = hooked(store.clone(), hook);
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    let files = store.run_files(run.id).await.unwrap();
    assert_eq!(files[0].status, RunFileStatus::Failed);
    assert!(
        files[0].error.as_deref().unwrap().contains("source changed"),
        "{:?}",
        files[0].error
    );
    assert_eq!(
        std::fs::read(src_dir.path.join("a.csv")).unwrap(),
        b"version 2",
        "the source is kept"
    );
    // The next run delivers the new version (replacing its own earlier copy) and then deletes it.
    let again = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (again.status, again.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        again.error
    );
    assert_eq!(std::fs::read(dst_dir.path.join("a.csv")).unwrap(), b"version 2");
    assert!(!src_dir.path.join("a.csv").exists());
}

/// A job moving `/a.csv` ("payload") between two local folders with `--after delete`, run once
/// with its delete at the source broken, as a crash right after the record would leave it: the
/// file is delivered, its delete pending.
/// Destructure it whole, naming `_db`: a field left to `..` is dropped at once, and the
/// database folder with it while the engine still uses it.
struct PendingDelete {
    store: Arc<dyn ftpman_core::Store>,
    _db: tempfile::TempDir,
    src_dir: harness::Scratch,
    dst_dir: harness::Scratch,
    job: Job,
    engine: Engine,
}

async fn delivered_with_its_delete_pending(name: &str) -> PendingDelete {
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch(&format!("{name}-src"));
    let dst_dir = scratch(&format!("{name}-dst"));
    std::fs::write(src_dir.path.join("a.csv"), b"payload").unwrap();
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut job = Job::new(name, src.id, "/", dst.id, "/");
    job.after = AfterAction::Delete;
    let job = store.create_job(&job).await.unwrap();
    let (hook, _) = first_time("delete", "src", None, |path| Err(injected("src", "delete", path)));
    let engine = hooked(store.clone(), hook);
    let first = engine.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(first.counts.failed, 1);
    assert!(src_dir.path.join("a.csv").exists());
    let entry = store.ledger_entry(job.id, "/a.csv").await.unwrap().unwrap();
    assert!(entry.after_pending, "recorded as delivered, its action pending");
    assert_eq!(entry.target_path.as_deref(), Some("/a.csv"));
    PendingDelete {
        store,
        _db,
        src_dir,
        dst_dir,
        job,
        engine,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_after_action_left_pending_is_applied_by_the_next_run() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let PendingDelete {
        store,
        _db,
        src_dir,
        dst_dir,
        job,
        engine: e,
    } = delivered_with_its_delete_pending("pending").await;
    let second = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (second.status, second.counts.transferred, second.counts.skipped),
        (RunStatus::Succeeded, 0, 1),
        "{:?}",
        second.error
    );
    assert!(!src_dir.path.join("a.csv").exists(), "the pending delete was applied");
    assert_eq!(std::fs::read(dst_dir.path.join("a.csv")).unwrap(), b"payload");
    assert!(
        !store
            .ledger_entry(job.id, "/a.csv")
            .await
            .unwrap()
            .unwrap()
            .after_pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delete_never_removes_a_source_rewritten_within_its_second() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let PendingDelete {
        store: _store,
        _db,
        src_dir,
        dst_dir,
        job,
        engine: e,
    } = delivered_with_its_delete_pending("rewritten").await;
    // Then the producer rewrites it at the same size, within the second of the delivered version.
    let path = src_dir.path.join("a.csv");
    rewrite_within_its_second(&path, |p| std::fs::write(p, b"PAYLOAD").unwrap());

    // The next run sees a new file: it delivers it, and only then deletes the source.
    let second = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (second.status, second.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        second.error
    );
    assert_eq!(
        std::fs::read(dst_dir.path.join("a.csv")).unwrap(),
        b"PAYLOAD",
        "the new version reached the target before its source was deleted"
    );
    assert!(!path.exists());
}

/// Rewrites the file at `path` with `write`, then gives it back a time within the second it
/// had (only the fraction of the second differs): the hardest change to see.
fn rewrite_within_its_second(path: &std::path::Path, write: impl FnOnce(&std::path::Path)) {
    let before = std::fs::metadata(path).and_then(|m| m.modified()).expect("its time");
    write(path);
    let since = before.duration_since(std::time::UNIX_EPOCH).expect("after 1970");
    let nanos = since.subsec_nanos();
    let other = if nanos < 500_000_000 {
        nanos + 250_000_000
    } else {
        nanos - 250_000_000
    };
    let same_second = std::time::UNIX_EPOCH + Duration::new(since.as_secs(), other);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(same_second))
        .expect("set the time");
}

/// Sets a file's modification time `days` days back.
fn age(path: &std::path::Path, days: u64) {
    let then = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(then)
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_file_listed_by_day_and_by_second_is_delivered_once() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = harness::scratch_for(harness::user_of(Kind::Ftp), "coarse-src");
    let dst_dir = scratch("coarse-dst");
    // Older than six months: an FTP LIST shows its day only, MDTM the exact second.
    std::fs::write(src_dir.path.join("old.csv"), b"archived").unwrap();
    age(&src_dir.path.join("old.csv"), 200);
    harness::chown_tree(&src_dir.path, harness::user_of(Kind::Ftp));
    let src = save_site(store.as_ref(), "src", site(Kind::Ftp, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut job = Job::new("coarse", src.id, "/", dst.id, "/");
    job.conflict = ConflictPolicy::Fail;
    let job = store.create_job(&job).await.unwrap();
    let e = engine(store.clone());
    let first = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (first.status, first.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        first.error
    );
    assert_eq!(
        store
            .ledger_entry(job.id, "/old.csv")
            .await
            .unwrap()
            .unwrap()
            .mtime_granularity,
        86_400
    );
    // With an age filter the exact time is asked for (MDTM): still the file delivered.
    let mut aged = job.clone();
    aged.min_age = Duration::from_secs(1);
    let aged = store.update_job(&aged).await.unwrap();
    let second = e.run_job(&aged, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (second.status, second.counts.transferred, second.counts.skipped),
        (RunStatus::Succeeded, 0, 1),
        "{:?}",
        second.error
    );
    // And back: recorded to the second, listed by the day.
    store.forget_ledger(job.id).await.unwrap();
    std::fs::remove_file(dst_dir.path.join("old.csv")).unwrap();
    let third = e.run_job(&aged, Trigger::Manual, false).await.unwrap();
    assert_eq!(third.counts.transferred, 1);
    let job = store
        .update_job(&Job {
            min_age: Duration::ZERO,
            ..aged
        })
        .await
        .unwrap();
    let fourth = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (fourth.status, fourth.counts.transferred, fourth.counts.skipped),
        (RunStatus::Succeeded, 0, 1),
        "{:?}",
        fourth.error
    );
}

/// A local source with a 64 MiB `big.bin` and the fault-injection FTP server as the target,
/// and `job` (as `tune` sets it) between them, moving at 16 MiB/s: time to strike midway.
async fn fault_setup(
    name: &str,
    tune: impl FnOnce(&mut Job),
) -> (
    Arc<dyn ftpman_core::Store>,
    tempfile::TempDir,
    harness::Scratch,
    harness::Scratch,
    Job,
) {
    let (store, db) = sqlite_store().await;
    let src_dir = scratch(&format!("{name}-src"));
    let dst_dir = scratch(&format!("{name}-dst"));
    noise_file(&src_dir.path.join("big.bin"), 64 << 20, 5);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let mut target = harness::fault_site(Kind::Ftp, &dst_dir.path);
    target.connect_timeout = Duration::from_secs(5);
    let dst = save_site(store.as_ref(), "dst", target).await;
    let mut job = Job::new(name, src.id, "/", dst.id, "/");
    job.bwlimit = Some(16 << 20);
    tune(&mut job);
    let job = store.create_job(&job).await.unwrap();
    (store, db, src_dir, dst_dir, job)
}

/// Waits until `file` holds more than 8 MiB (up to 10 s), then kills the fault server's
/// sessions: to the client, the server died mid-transfer.
async fn kill_fault_server_midway(file: &std::path::Path) {
    for _ in 0..200 {
        if file.metadata().map(|m| m.len() > 8 << 20).unwrap_or(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(file.exists(), "the transfer never got going");
    harness::kill_sessions("vsftpd-fault.pid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_transfer_in_place_leaves_no_truncated_file() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let _fault_server = FAULT_SERVER.lock().await;
    let (store, _db, src_dir, dst_dir, job) = fault_setup("in-place", |job| {
        job.atomic = false;
        job.retries = 0;
    })
    .await;
    let e = engine(store.clone());
    let running = {
        let e = e.clone();
        let job = job.clone();
        tokio::spawn(async move { e.run_job(&job, Trigger::Manual, false).await })
    };
    let partial = dst_dir.path.join("big.bin");
    kill_fault_server_midway(&partial).await;
    let run = running.await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Failed);
    let files = store.run_files(run.id).await.unwrap();
    assert!(!partial.exists(), "no truncated file under the final name: {files:?}");
    // The next run delivers it whole.
    let again = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (again.status, again.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        again.error
    );
    assert_eq!(
        harness::sha256_file(&partial),
        harness::sha256_file(&src_dir.path.join("big.bin"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_after_the_source_changed_is_refused() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let _fault_server = FAULT_SERVER.lock().await;
    let (store, _db, src_dir, dst_dir, job) = fault_setup("resume", |job| {
        job.retries = 1;
        job.retry_backoff = Duration::from_millis(100);
    })
    .await;
    // The first time the engine looks at the source again (to resume), it has been rewritten
    // in place: same size, and a time within the same second as the listed one (only its
    // fraction differs), the hardest change to see.
    let path = src_dir.path.join("big.bin");
    let (hook, once) = first_time("stat", "src", Some("/big.bin"), move |_| {
        rewrite_within_its_second(&path, |p| {
            noise_file(p, 64 << 20, 6);
        });
        Ok(())
    });
    let e = hooked(store.clone(), hook);
    let running = {
        let (e, job) = (e.clone(), job.clone());
        tokio::spawn(async move { e.run_job(&job, Trigger::Manual, false).await })
    };
    kill_fault_server_midway(&dst_dir.path.join(".big.bin.1.ftpman-part")).await;
    let run = running.await.unwrap().unwrap();
    let files = store.run_files(run.id).await.unwrap();
    assert!(
        once.load(std::sync::atomic::Ordering::SeqCst),
        "the source was looked at again"
    );
    assert_eq!(files[0].status, RunFileStatus::Failed);
    assert!(
        files[0]
            .error
            .as_deref()
            .unwrap()
            .contains("source changed while it was being moved"),
        "{:?}",
        files[0].error
    );
    assert!(
        !dst_dir.path.join("big.bin").exists(),
        "no mix of two versions under the final name"
    );
    // The next run sends the new version whole.
    let again = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (again.status, again.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        again.error
    );
    assert_eq!(
        harness::sha256_file(&dst_dir.path.join("big.bin")),
        harness::sha256_file(&src_dir.path.join("big.bin"))
    );
}

/// Runs a 12 MiB local delivery whose first attempt breaks leaving a hole (see [`Holes`]), the
/// target declaring `margin`; returns the run's status and whether the copy is whole.
async fn resume_over_a_hole(margin: u64) -> (RunStatus, bool) {
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("holes-src");
    let dst_dir = scratch("holes-dst");
    let want = noise_file(&src_dir.path.join("big.bin"), 12 << 20, 8);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut job = Job::new("holes", src.id, "/", dst.id, "/");
    job.retry_backoff = Duration::from_millis(100);
    let job = store.create_job(&job).await.unwrap();
    let holes = Holes {
        root: dst_dir.path.clone(),
        margin,
        broke: Arc::default(),
    };
    let e = Engine::new(
        store.clone(),
        Arc::new(Hooked(Arc::new(|_, _, _| Ok(())), Some(holes.clone()))),
        EngineConfig::default(),
    );
    let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
    assert!(
        holes.broke.load(std::sync::atomic::Ordering::SeqCst),
        "the first attempt broke"
    );
    let whole = dst_dir.path.join("big.bin").exists() && harness::sha256_file(&dst_dir.path.join("big.bin")) == want;
    (run.status, whole)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_starts_before_writes_that_may_not_have_landed() {
    if crate::harness::skip_without_servers() {
        return;
    }
    assert_eq!(
        resume_over_a_hole(1 << 20).await,
        (RunStatus::Succeeded, true),
        "resumed from before the hole: the copy is whole"
    );
    // The same break resumed from the end the target reports keeps the hole: what the margin
    // is for (the size check cannot see it).
    assert!(
        !resume_over_a_hole(0).await.1,
        "resumed from the reported end, the hole stays"
    );
}

/// Names as long as a file system allows (255 bytes) are delivered: from an SFTP server to a
/// local folder and to an FTP server, each written under a temporary name first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_the_longest_length_are_delivered() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("long-src");
    let long_ascii = format!("{}.csv", "a".repeat(251));
    let long_utf8 = format!("{}.txt", "é".repeat(125));
    assert_eq!((long_ascii.len(), long_utf8.len()), (255, 254));
    let one = noise_file(&src_dir.path.join(&long_ascii), 70_000, 1);
    let two = noise_file(&src_dir.path.join(&long_utf8), 1_000, 2);
    harness::chown_tree(&src_dir.path, &harness::servers().user);
    let src = save_site(store.as_ref(), "src", site(Kind::SftpPassword, &src_dir.path)).await;
    let e = engine(store.clone());
    for kind in [Kind::Local, Kind::Ftp] {
        let dst_dir = scratch("long-dst");
        let name = format!("dst-{kind:?}").to_lowercase();
        let dst = save_site(store.as_ref(), &name, site(kind, &dst_dir.path)).await;
        let job = store
            .create_job(&Job::new(&format!("long-{name}"), src.id, "/", dst.id, "/"))
            .await
            .unwrap();
        let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
        assert_eq!(
            (run.status, run.counts.transferred),
            (RunStatus::Succeeded, 2),
            "{kind:?}: {:?} {:?}",
            run.error,
            store.run_files(run.id).await.unwrap()
        );
        assert_eq!(harness::sha256_file(&dst_dir.path.join(&long_ascii)), one, "{kind:?}");
        assert_eq!(harness::sha256_file(&dst_dir.path.join(&long_utf8)), two, "{kind:?}");
        let left: Vec<_> = std::fs::read_dir(&dst_dir.path)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".ftpman-part"))
            .collect();
        assert!(left.is_empty(), "{kind:?}: no temporary file left");
    }
}

/// A FIFO (or socket, or device) in a source folder is listed as what it is and never opened:
/// opening a FIFO would wait for a writer for ever. Over SFTP and from a local folder alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_in_a_source_folder_is_never_opened() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("fifo-src");
    let data = noise_file(&src_dir.path.join("data.csv"), 4_000, 3);
    let made = std::process::Command::new("mkfifo")
        .arg(src_dir.path.join("pipe.csv"))
        .status()
        .expect("mkfifo");
    assert!(made.success());
    harness::chown_tree(&src_dir.path, &harness::servers().user);
    let e = engine(store.clone());
    for kind in [Kind::Local, Kind::SftpPassword] {
        let dst_dir = scratch("fifo-dst");
        let name = format!("{kind:?}").to_lowercase();
        let src = save_site(store.as_ref(), &format!("src-{name}"), site(kind, &src_dir.path)).await;
        let dst = save_site(store.as_ref(), &format!("dst-{name}"), site(Kind::Local, &dst_dir.path)).await;
        let job = store
            .create_job(&Job::new(&format!("fifo-{name}"), src.id, "/", dst.id, "/"))
            .await
            .unwrap();
        let run = tokio::time::timeout(Duration::from_secs(60), e.run_job(&job, Trigger::Manual, false))
            .await
            .expect("the run ends")
            .unwrap();
        assert_eq!(
            (run.status, run.counts.found, run.counts.transferred),
            (RunStatus::Succeeded, 1, 1),
            "{kind:?}: {:?}",
            run.error
        );
        assert_eq!(harness::sha256_file(&dst_dir.path.join("data.csv")), data);
        assert!(!dst_dir.path.join("pipe.csv").exists(), "{kind:?}");
        let listed = ftpman_core::transport::ProtocolConnector
            .connect(&store.site(&format!("src-{name}")).await.unwrap())
            .await
            .unwrap()
            .list("/")
            .await
            .unwrap();
        let pipe = listed.iter().find(|e| e.name == "pipe.csv").expect("listed");
        assert_eq!(pipe.kind, ftpman_core::transport::EntryKind::Other, "{kind:?}");
    }
}

/// A tree deeper than any real one (what a server listing a folder link as a folder shows) ends
/// the listing with a clear error; what was found before it is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_tree_is_cut_off_with_a_clear_error() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("deep-src");
    let dst_dir = scratch("deep-dst");
    noise_file(&src_dir.path.join("top.csv"), 100, 1);
    let mut deep = src_dir.path.clone();
    for _ in 0..70 {
        deep = deep.join("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    noise_file(&deep.join("bottom.csv"), 100, 2);
    let src = save_site(store.as_ref(), "src", site(Kind::Local, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut job = Job::new("deep", src.id, "/", dst.id, "/");
    job.recursive = true;
    let job = store.create_job(&job).await.unwrap();
    let run = engine(store.clone())
        .run_job(&job, Trigger::Manual, false)
        .await
        .unwrap();
    assert_eq!(run.status, RunStatus::Partial, "{:?}", run.error);
    assert!(
        run.error
            .as_deref()
            .unwrap_or_default()
            .contains("nested more than 64 deep"),
        "{:?}",
        run.error
    );
    let got: Vec<String> = tree(&dst_dir.path).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        got,
        ["top.csv"],
        "what was found first is delivered, nothing from below the cut"
    );
}

/// Two uploads of one name at once (two browsers, two nodes) each write a temporary file of
/// their own: the file in place is one of them whole, never a mix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_uploads_of_one_name_at_once_never_mix() {
    use tokio::io::AsyncWriteExt;
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("ftpman.db").display());
    let m = ftpman_core::Manager::open_with_key(&url, Some(ftpman_core::KeySource::Key(Box::new([5u8; 32]))))
        .await
        .unwrap();
    let folder = tempfile::tempdir().unwrap();
    let opts = ftpman_core::manager::SiteOptions {
        url: Some(format!("file://{}", folder.path().display())),
        ..Default::default()
    };
    m.add_site("drop", &opts).await.unwrap();
    // Each upload arrives in pieces, interleaved with the other's.
    let upload = |byte: u8| {
        let m = m.clone();
        async move {
            let (mut tx, rx) = tokio::io::duplex(64 * 1024);
            let feed = tokio::spawn(async move {
                for _ in 0..48 {
                    tx.write_all(&[byte; 64 * 1024]).await.unwrap();
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
            let stored = m.upload_stream("drop", "/", "same.bin", rx, 1 << 30, true).await;
            feed.await.unwrap();
            stored
        }
    };
    let (a, b) = tokio::join!(upload(b'a'), upload(b'b'));
    assert_eq!((a.unwrap(), b.unwrap()), (3 << 20, 3 << 20));
    let stored = std::fs::read(folder.path().join("same.bin")).unwrap();
    assert_eq!(stored.len(), 3 << 20);
    assert!(stored.iter().all(|&c| c == stored[0]), "one upload whole, not a mix");
    let left: Vec<_> = std::fs::read_dir(folder.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(left, ["same.bin"], "no temporary file left");
}

/// Names a server may send that are strange but legal: control characters, a bidirectional
/// override, only dots, two equal but for case. Each is delivered under exactly its own name
/// (to a local folder and to an FTP server); shown anywhere, it is shown with escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strange_but_legal_names_are_delivered_as_they_are() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("names-src");
    let names = [
        "tab\there.csv",
        "bell\u{7}.csv",
        "invoice\u{202e}fdp.exe",
        "...",
        "Report.CSV",
        "report.csv",
    ];
    for (i, n) in names.iter().enumerate() {
        noise_file(&src_dir.path.join(n), 100 + i as u64, i as u64);
    }
    harness::chown_tree(&src_dir.path, &harness::servers().user);
    let src = save_site(store.as_ref(), "src", site(Kind::SftpPassword, &src_dir.path)).await;
    let e = engine(store.clone());
    for kind in [Kind::Local, Kind::Ftp] {
        let dst_dir = scratch("names-dst");
        let name = format!("dst-{kind:?}").to_lowercase();
        let dst = save_site(store.as_ref(), &name, site(kind, &dst_dir.path)).await;
        let job = store
            .create_job(&Job::new(&format!("names-{name}"), src.id, "/", dst.id, "/"))
            .await
            .unwrap();
        let run = e.run_job(&job, Trigger::Manual, false).await.unwrap();
        assert_eq!(
            (run.status, run.counts.transferred),
            (RunStatus::Succeeded, names.len() as i64),
            "{kind:?}: {:?}",
            run.error
        );
        for n in names {
            assert_eq!(
                harness::sha256_file(&dst_dir.path.join(n)),
                harness::sha256_file(&src_dir.path.join(n)),
                "{kind:?}: {n:?}"
            );
        }
    }
    assert_eq!(
        ftpman_core::validate::visible("invoice\u{202e}fdp.exe\t\u{1b}[31m"),
        "invoice\\u{202e}fdp.exe\\u{9}\\u{1b}[31m"
    );
}
