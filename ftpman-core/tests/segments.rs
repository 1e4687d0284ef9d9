//! One large file over several connections, against the real servers: SFTP both ways and FTP
//! down in segments (FTP up whole), capped by a site's connections, a segment resumed where it
//! broke when the server dies mid-file, and a job delivering a large file in segments.

use ftpman_testkit as harness;

use ftpman_core::Manager;
use ftpman_core::manager::JobOptions;
use ftpman_core::model::{RunStatus, Trigger};
use ftpman_core::transport::ProtocolConnector;
use ftpman_core::transport::pool::SitePool;
use ftpman_core::transport::retry::RetryPolicy;
use ftpman_core::transport::segmented::{MAX_SEGMENTS, SEGMENTED_FROM, copy_segmented, wanted};
use harness::{Kind, save_site, scratch_for, site, sqlite_store};
use std::sync::Arc;
use std::time::Duration;

/// A file large enough to be cut into [`MAX_SEGMENTS`] segments.
const SIZE: u64 = 80 << 20;

fn policy() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(1),
    }
}

/// Copies `path` from `src` to `dst` in segments; how many segments and bytes moved it.
async fn segmented(
    src: &SitePool,
    dst: &SitePool,
    path: &str,
    size: u64,
    progress: &mut (dyn FnMut(u64) + Send),
) -> usize {
    let mut s = src.get().await.expect("source connection");
    let mut d = dst.get().await.expect("target connection");
    assert!(
        wanted(size, &*s, &*d),
        "{} to {}: segments wanted",
        src.site().name,
        dst.site().name
    );
    copy_segmented(
        (&mut *s, src),
        (&mut *d, dst),
        path,
        path,
        size,
        policy(),
        None,
        progress,
        &|now| now.size == size,
    )
    .await
    .unwrap_or_else(|e| panic!("{} to {}: {e}", src.site().name, dst.site().name))
}

fn pool(site: ftpman_core::model::Site) -> Arc<SitePool> {
    SitePool::new(site, Arc::new(ProtocolConnector))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_file_moves_in_segments_over_sftp_both_ways_and_over_ftp_down() {
    if harness::skip_without_servers() {
        return;
    }
    let local = tempfile::tempdir().unwrap();
    let want = harness::noise_file(&local.path().join("big.bin"), SIZE, 7);
    let local_pool = pool(site(Kind::Local, local.path()));

    // Up to the SFTP server, then down again into another folder.
    let remote = scratch_for(harness::user_of(Kind::SftpKey), "segments-sftp");
    let sftp = pool(site(Kind::SftpKey, &remote.path));
    let mut moved = 0u64;
    let n = segmented(&local_pool, &sftp, "/big.bin", SIZE, &mut |b| moved += b).await;
    assert_eq!((n, moved), (MAX_SEGMENTS, SIZE), "up: four segments, each byte once");
    assert_eq!(
        harness::sha256_file(&remote.path.join("big.bin")),
        want,
        "up: bit-exact"
    );
    std::fs::remove_file(local.path().join("big.bin")).unwrap();
    let n = segmented(&sftp, &local_pool, "/big.bin", SIZE, &mut |_| {}).await;
    assert_eq!(n, MAX_SEGMENTS);
    assert_eq!(
        harness::sha256_file(&local.path().join("big.bin")),
        want,
        "down: bit-exact"
    );

    // A site allowing two connections gets two segments.
    let mut capped = site(Kind::SftpKey, &remote.path);
    capped.max_connections = 2;
    let capped = pool(capped);
    std::fs::remove_file(local.path().join("big.bin")).unwrap();
    let n = segmented(&capped, &local_pool, "/big.bin", SIZE, &mut |_| {}).await;
    assert_eq!(n, 2, "capped by the site's max_connections");
    assert_eq!(harness::sha256_file(&local.path().join("big.bin")), want);

    // FTP: down in segments (each abandoned read closes its connection), never up.
    let ftp_dir = scratch_for(harness::user_of(Kind::Ftp), "segments-ftp");
    std::fs::copy(local.path().join("big.bin"), ftp_dir.path.join("big.bin")).unwrap();
    harness::chown_tree(&ftp_dir.path, harness::user_of(Kind::Ftp));
    let ftp = pool(site(Kind::Ftp, &ftp_dir.path));
    std::fs::remove_file(local.path().join("big.bin")).unwrap();
    let n = segmented(&ftp, &local_pool, "/big.bin", SIZE, &mut |_| {}).await;
    assert_eq!(n, MAX_SEGMENTS);
    assert_eq!(
        harness::sha256_file(&local.path().join("big.bin")),
        want,
        "FTP down: bit-exact"
    );
    let (l, mut f) = (local_pool.get().await.unwrap(), ftp.get().await.unwrap());
    assert!(!wanted(SIZE, &*l, &*f), "FTP declares no segment writes");
    assert!(f.write_segment("/big.bin", 1).await.is_err());
    assert!(!wanted(SEGMENTED_FROM - 1, &*f, &*l), "a smaller file moves whole");
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (pool(site(Kind::Local, a.path())), pool(site(Kind::Local, b.path())));
    let (a, b) = (a.get().await.unwrap(), b.get().await.unwrap());
    assert!(
        !wanted(SIZE, &*a, &*b),
        "between two local folders the disk is the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_segment_broken_by_a_dying_server_resumes_where_it_broke() {
    if harness::skip_without_servers() {
        return;
    }
    let local = tempfile::tempdir().unwrap();
    let want = harness::noise_file(&local.path().join("big.bin"), SIZE, 11);
    let local_pool = pool(site(Kind::Local, local.path()));
    let remote = scratch_for(harness::user_of(Kind::SftpPassword), "segments-kill");
    let mut target = harness::fault_site(Kind::SftpPassword, &remote.path);
    target.connect_timeout = Duration::from_secs(5);
    let sftp = pool(target);
    let (mut moved, mut killed) = (0u64, false);
    let n = segmented(&local_pool, &sftp, "/big.bin", SIZE, &mut |b| {
        moved += b;
        if !killed && moved >= SIZE / 3 {
            killed = true;
            harness::kill_sessions("sshd-fault.pid");
        }
    })
    .await;
    assert!(killed, "the server's sessions were killed mid-file");
    assert_eq!(n, MAX_SEGMENTS);
    assert_eq!(
        harness::sha256_file(&remote.path.join("big.bin")),
        want,
        "bit-exact after the resumes"
    );
    // Each segment went on from where it broke: far less than the file again was resent.
    assert!(
        moved < SIZE + SIZE / 4,
        "moved {moved} bytes for a {SIZE}-byte file: segments restarted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_delivers_a_large_file_in_segments_verified_and_renamed() {
    if harness::skip_without_servers() {
        return;
    }
    harness::init_logs();
    let (store, _db) = sqlite_store().await;
    let remote = scratch_for(harness::user_of(Kind::SftpPassword), "segments-job");
    let want = harness::noise_file(&remote.path.join("export.bin"), SIZE, 5);
    std::fs::write(remote.path.join("small.txt"), b"small").unwrap();
    harness::chown_tree(&remote.path, harness::user_of(Kind::SftpPassword));
    save_site(store.as_ref(), "partner", site(Kind::SftpPassword, &remote.path)).await;
    let archive = tempfile::tempdir().unwrap();
    save_site(store.as_ref(), "archive", site(Kind::Local, archive.path())).await;
    let m = Manager::from_store(store.clone(), "test");
    let job = JobOptions {
        from: Some("partner:/".into()),
        to: Some("archive:/in".into()),
        manual: true,
        ..JobOptions::default()
    };
    m.add_job("big", &job).await.unwrap();
    let run = m.run_job("big", false, Trigger::Manual).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.counts.transferred, 2);
    assert_eq!(harness::sha256_file(&archive.path().join("in/export.bin")), want);
    assert_eq!(std::fs::read(archive.path().join("in/small.txt")).unwrap(), b"small");
    let left: Vec<String> = harness::tree(archive.path()).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        left.len(),
        2,
        "nothing but the two files (no temporary file left): {left:?}"
    );
    // Delivered once: a second run finds it in the ledger.
    let again = m.run_job("big", false, Trigger::Manual).await.unwrap();
    assert_eq!(again.counts.transferred, 0);
}
