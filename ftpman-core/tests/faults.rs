//! Faults between ftpman and the real servers, through the harness's own TCP proxy (a stall, a
//! cut mid-file, a slow trickle, a reset during the TLS handshake, a cut during a listing), and
//! at the target (a full disk, a folder it may not write, a target path that is a file). Each
//! ends in a clean error or a resumed transfer; nothing hangs past its timeout; no partial file
//! under a final name; no source deleted unverified.

use ftpman_testkit as harness;

use ftpman_core::engine::{Engine, EngineConfig};
use ftpman_core::model::{AfterAction, Job, RunStatus, Site, Trigger};
use ftpman_core::transport::{Connector, ProtocolConnector};
use harness::proxy::{Fault, Proxy};
use harness::{Kind, noise_file, save_site, scratch, site, sqlite_store, tree};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

fn engine(store: std::sync::Arc<dyn ftpman_core::Store>) -> Engine {
    Engine::new(store, std::sync::Arc::new(ProtocolConnector), EngineConfig::default())
}

/// A site of `kind` reached through `proxy`, with a short timeout so that a stall is noticed.
fn through(kind: Kind, root: &std::path::Path, proxy: &Proxy) -> Site {
    let mut s = site(kind, root);
    s.port = proxy.port;
    s.connect_timeout = Duration::from_secs(3);
    s
}

/// A job that delivers everything from `src` into `dst`, retrying fast, deleting sources once
/// verified (so a source deleted too early would show).
async fn job(store: &dyn ftpman_core::Store, name: &str, src: &Site, dst: &Site) -> Job {
    let mut j = Job::new(name, src.id, "/", dst.id, "/");
    j.retry_backoff = Duration::from_millis(200);
    j.after = AfterAction::Delete;
    j.parallel = 1;
    store.create_job(&j).await.unwrap()
}

/// No temporary file and nothing but `expected` under `dir`.
fn only(dir: &std::path::Path, expected: &[(&str, &str)]) {
    let got = tree(dir);
    let want: Vec<(String, String)> = expected.iter().map(|(p, h)| (p.to_string(), h.to_string())).collect();
    assert_eq!(got, want, "what is at {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_mid_file_resumes_on_a_fresh_connection() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = harness::servers();
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("cut-src");
    let dst_dir = scratch("cut-dst");
    let hash = noise_file(&src_dir.path.join("big.bin"), 6 << 20, 1);
    harness::chown_tree(&src_dir.path, &s.user);
    let proxy = Proxy::start(s.ssh_port, Fault::CutAfter(2 << 20), 1).await;
    let src = save_site(
        store.as_ref(),
        "src",
        through(Kind::SftpPassword, &src_dir.path, &proxy),
    )
    .await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let job = job(store.as_ref(), "cut", &src, &dst).await;
    let run = engine(store.clone())
        .run_job(&job, Trigger::Manual, false)
        .await
        .unwrap();
    assert_eq!(
        (run.status, run.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        run.error
    );
    assert!(
        proxy.connections.load(Ordering::SeqCst) >= 2,
        "the cut connection was replaced"
    );
    only(&dst_dir.path, &[("big.bin", &hash)]);
    assert!(!src_dir.path.join("big.bin").exists(), "deleted once verified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_is_given_up_on_within_its_timeout() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = harness::servers();
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("stall-src");
    let dst_dir = scratch("stall-dst");
    let hash = noise_file(&src_dir.path.join("big.bin"), 4 << 20, 2);
    harness::chown_tree(&src_dir.path, &s.user);
    let proxy = Proxy::start(s.ssh_port, Fault::StallAfter(1 << 20), 1).await;
    let src = save_site(
        store.as_ref(),
        "src",
        through(Kind::SftpPassword, &src_dir.path, &proxy),
    )
    .await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let job = job(store.as_ref(), "stall", &src, &dst).await;
    let started = Instant::now();
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        engine(store.clone()).run_job(&job, Trigger::Manual, false),
    )
    .await
    .expect("the stall does not hang the run")
    .unwrap();
    assert_eq!(
        (run.status, run.counts.transferred),
        (RunStatus::Succeeded, 1),
        "{:?}",
        run.error
    );
    assert!(started.elapsed() < Duration::from_secs(45), "{:?}", started.elapsed());
    only(&dst_dir.path, &[("big.bin", &hash)]);
}

/// Delivers one file of `size` bytes between a local folder and an SFTP site reached through a
/// trickling proxy (`upload`: to the site, through `Fault::TrickleUp`; else from it), with a
/// 3 s timeout and no retry, and checks it arrived whole.
async fn over_a_slow_link(upload: bool, rate: u64, size: u64) {
    let s = harness::servers();
    let (store, _db) = sqlite_store().await;
    let (local, remote) = (
        scratch("slow-link-local"),
        harness::scratch_for(&s.user, "slow-link-remote"),
    );
    let (from, to) = if upload { (&local, &remote) } else { (&remote, &local) };
    let hash = noise_file(&from.path.join("slow.bin"), size, 5);
    harness::chown_tree(&from.path, &s.user);
    let fault = if upload {
        Fault::TrickleUp(rate)
    } else {
        Fault::Trickle(rate)
    };
    let proxy = Proxy::start(s.ssh_port, fault, usize::MAX).await;
    let sftp = through(Kind::SftpPassword, &remote.path, &proxy);
    let folder = site(Kind::Local, &local.path);
    let (src, dst) = if upload { (folder, sftp) } else { (sftp, folder) };
    let src = save_site(store.as_ref(), "src", src).await;
    let dst = save_site(store.as_ref(), "dst", dst).await;
    let mut j = job(store.as_ref(), "slow-link", &src, &dst).await;
    j.retries = 0;
    let j = store.update_job(&j).await.unwrap();
    let run = engine(store.clone()).run_job(&j, Trigger::Manual, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    only(&to.path, &[("slow.bin", &hash)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_over_a_link_slower_than_its_read_ahead_per_timeout_completes() {
    if crate::harness::skip_without_servers() {
        return;
    }
    // 2 MiB at 256 KiB/s takes 8 s, each read request has 3 s: a reader that sent 16 MiB of
    // requests at once would see the later ones time out while their data was on its way.
    over_a_slow_link(false, 256 * 1024, 2 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_a_link_slower_than_its_writes_in_flight_per_timeout_completes() {
    if crate::harness::skip_without_servers() {
        return;
    }
    // 1 MiB at 128 KiB/s takes 8 s, each write request has 3 s: a writer with 2 MiB of writes
    // out at once would see the later ones time out while their data was on its way.
    over_a_slow_link(true, 128 * 1024, 1 << 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_slower_than_the_file_timeout_fails_cleanly_and_keeps_the_source() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = harness::servers();
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("trickle-src");
    let dst_dir = scratch("trickle-dst");
    noise_file(&src_dir.path.join("slow.bin"), 2 << 20, 3);
    harness::chown_tree(&src_dir.path, &s.user);
    // Every connection trickles: no retry can help.
    let proxy = Proxy::start(s.ssh_port, Fault::Trickle(64 * 1024), usize::MAX).await;
    let src = save_site(
        store.as_ref(),
        "src",
        through(Kind::SftpPassword, &src_dir.path, &proxy),
    )
    .await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut j = job(store.as_ref(), "trickle", &src, &dst).await;
    j.retries = 0;
    j.file_timeout = Duration::from_secs(4);
    let j = store.update_job(&j).await.unwrap();
    let started = Instant::now();
    let run = engine(store.clone()).run_job(&j, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (run.status, run.counts.failed),
        (RunStatus::Failed, 1),
        "{:?}",
        run.error
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "ended by its timeout: {:?}",
        started.elapsed()
    );
    assert!(
        run.error.as_deref().unwrap_or_default().contains("timed out"),
        "{:?}",
        run.error
    );
    only(&dst_dir.path, &[]);
    assert!(src_dir.path.join("slow.bin").exists(), "the source is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_during_the_tls_handshake_is_a_clear_transient_error() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = harness::servers();
    let dir = scratch("tls-reset");
    harness::chown_tree(&dir.path, &s.user);
    // "AUTH TLS\r\n" is 10 bytes: the reset comes inside the ClientHello.
    let proxy = Proxy::start(s.ftps_port, Fault::ResetAfterClientSent(60), 1).await;
    let site = through(Kind::Ftps, &dir.path, &proxy);
    let started = Instant::now();
    let e = ProtocolConnector
        .connect(&site)
        .await
        .err()
        .expect("the reset fails the connection");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    assert!(e.is_transient(), "worth a retry: {e}");
    assert!(!e.to_string().contains(&s.password), "{e}");
    // The next connection is not reset, and works.
    let mut again = ProtocolConnector.connect(&site).await.expect("a fresh connection");
    assert!(again.list("/").await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_during_a_listing_is_listed_again_and_every_file_moves_once() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = harness::servers();
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("list-cut-src");
    let dst_dir = scratch("list-cut-dst");
    for i in 0..1500 {
        std::fs::write(
            src_dir.path.join(format!("file-with-a-long-name-{i:05}.csv")),
            i.to_string(),
        )
        .unwrap();
    }
    harness::chown_tree(&src_dir.path, &s.user);
    // The SSH handshake and login take a few KiB; the listing of 1,500 names far more.
    let proxy = Proxy::start(s.ssh_port, Fault::CutAfter(40 * 1024), 1).await;
    let src = save_site(
        store.as_ref(),
        "src",
        through(Kind::SftpPassword, &src_dir.path, &proxy),
    )
    .await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut j = job(store.as_ref(), "list-cut", &src, &dst).await;
    j.after = AfterAction::Keep;
    j.parallel = 4;
    let j = store.update_job(&j).await.unwrap();
    let run = engine(store.clone()).run_job(&j, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (run.status, run.counts.transferred),
        (RunStatus::Succeeded, 1500),
        "{:?}",
        run.error
    );
    assert_eq!(tree(&dst_dir.path).len(), 1500);
    assert_eq!(
        store.run_files(run.id).await.unwrap().len(),
        1500,
        "each file recorded once"
    );
}

/// A tmpfs of its own, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path, size: &str) -> SmallDisk {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount");
        assert!(
            ok.success(),
            "this test mounts a small tmpfs (it needs root, as scripts/test.sh has)"
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_the_target_fails_the_file_and_leaves_nothing() {
    let (store, _db) = sqlite_store().await;
    let src_dir = tempfile::tempdir().unwrap();
    let small = noise_file(&src_dir.path().join("small.bin"), 100 << 10, 4);
    noise_file(&src_dir.path().join("too-big.bin"), 3 << 20, 5);
    let disk_dir = tempfile::tempdir().unwrap();
    let _disk = SmallDisk::mount(disk_dir.path(), "1m");
    let src = save_site(store.as_ref(), "src", site(Kind::Local, src_dir.path())).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, disk_dir.path())).await;
    let mut j = job(store.as_ref(), "full", &src, &dst).await;
    j.retries = 1;
    let j = store.update_job(&j).await.unwrap();
    let run = engine(store.clone()).run_job(&j, Trigger::Manual, false).await.unwrap();
    assert_eq!(
        (run.status, run.counts.transferred, run.counts.failed),
        (RunStatus::Partial, 1, 1),
        "{:?}",
        run.error
    );
    let failed = store
        .run_files(run.id)
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.source_path == "/too-big.bin")
        .unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .unwrap_or_default()
            .to_lowercase()
            .contains("space"),
        "{:?}",
        failed.error
    );
    only(disk_dir.path(), &[("small.bin", &small)]);
    assert!(
        src_dir.path().join("too-big.bin").exists(),
        "the source of the file that failed is kept"
    );
    assert!(
        !src_dir.path().join("small.bin").exists(),
        "the delivered one is deleted, as asked"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_it_may_not_write_or_that_is_a_file_is_a_clear_error() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (store, _db) = sqlite_store().await;
    let src_dir = tempfile::tempdir().unwrap();
    noise_file(&src_dir.path().join("a.csv"), 1000, 6);
    // A folder of root's, which the SFTP user may read but not write.
    let locked = tempfile::Builder::new()
        .prefix("ftpman-locked-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::create_dir(locked.path().join("in")).unwrap();
    std::fs::write(locked.path().join("in-is-a-file"), b"x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    for p in [locked.path().to_path_buf(), locked.path().join("in")] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let src = save_site(store.as_ref(), "src", site(Kind::Local, src_dir.path())).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::SftpPassword, locked.path())).await;
    let e = engine(store.clone());
    for (target, words) in [("/in", "permission"), ("/in-is-a-file", "")] {
        let mut j = Job::new(&format!("t{}", target.len()), src.id, "/", dst.id, target);
        j.retries = 0;
        j.after = AfterAction::Delete;
        let j = store.create_job(&j).await.unwrap();
        let run = tokio::time::timeout(Duration::from_secs(60), e.run_job(&j, Trigger::Manual, false))
            .await
            .expect("ends")
            .unwrap();
        assert_eq!(run.status, RunStatus::Failed, "{target}: {:?}", run.error);
        let said = run.error.clone().unwrap_or_default().to_lowercase();
        assert!(said.contains(words) && said.contains("dst"), "{target}: {said}");
        assert!(src_dir.path().join("a.csv").exists(), "{target}: the source is kept");
    }
    assert_eq!(std::fs::read_dir(locked.path().join("in")).unwrap().count(), 0);
    assert_eq!(std::fs::read(locked.path().join("in-is-a-file")).unwrap(), b"x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_deleted_during_its_transfer_ends_cleanly() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = harness::servers();
    let (store, _db) = sqlite_store().await;
    let src_dir = scratch("gone-src");
    let dst_dir = scratch("gone-dst");
    noise_file(&src_dir.path.join("going.bin"), 3 << 20, 8);
    harness::chown_tree(&src_dir.path, &s.user);
    let src = save_site(store.as_ref(), "src", site(Kind::SftpPassword, &src_dir.path)).await;
    let dst = save_site(store.as_ref(), "dst", site(Kind::Local, &dst_dir.path)).await;
    let mut j = job(store.as_ref(), "gone", &src, &dst).await;
    j.bwlimit = Some(1 << 20); // about 3 s: time to delete it midway
    let j = store.update_job(&j).await.unwrap();
    let path = src_dir.path.join("going.bin");
    let deleter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        std::fs::remove_file(path).unwrap();
    });
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        engine(store.clone()).run_job(&j, Trigger::Manual, false),
    )
    .await
    .expect("ends")
    .unwrap();
    deleter.await.unwrap();
    // The open file is read to its end (Unix keeps it for its reader), verified and delivered
    // whole; deleting the source then finds it gone, which the run says. Or, had the server cut
    // the read short, nothing is delivered. Never a partial file under its name.
    let got = tree(&dst_dir.path);
    let files = store.run_files(run.id).await.unwrap();
    if got.is_empty() {
        assert_ne!(run.status, RunStatus::Succeeded, "{files:?}");
    } else {
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            std::fs::metadata(dst_dir.path.join("going.bin")).unwrap().len(),
            3 << 20,
            "whole"
        );
        if run.status != RunStatus::Succeeded {
            let said = files[0].error.clone().unwrap_or_default();
            assert!(
                said.contains("delivered to /going.bin") && said.contains("not applied"),
                "{said}"
            );
        }
    }
    assert!(got.iter().all(|(p, _)| !p.contains("ftpman-part")), "{got:?}");
}
