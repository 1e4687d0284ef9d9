//! `ftpman-bench`: one ftpman workload, timed, for `benches/run.sh` to compare with other tools.
//!
//! ```text
//! ftpman-bench copy KIND up|down LOCAL_FILE REMOTE_PATH     one file
//! ftpman-bench segmented KIND up|down LOCAL_FILE REMOTE_PATH one file over several connections
//! ftpman-bench tree KIND REMOTE_DIR LOCAL_DIR PARALLEL      a folder tree, through the engine
//! ftpman-bench s2s FROM_KIND FROM_PATH TO_KIND TO_PATH       site to site, streamed
//! ftpman-bench scheduler JOBS SECONDS CRON                   the scheduler under load
//! ftpman-bench api DB_URL RUNS FILES_PER_RUN REQUESTS         the web API over a long history
//! ftpman-bench cluster-seed|cluster-node|cluster-check ...      several nodes on PostgreSQL (see cluster.rs)
//! ftpman-bench delay-proxy LISTEN_PORT TARGET_PORT DELAY_MS    a loopback link with a round trip
//! ```
//! KIND is sftp, ftp, ftps or ftps-implicit; the servers are the ones `benches/run.sh` starts,
//! described by `FTPMAN_TEST_*` variables. Prints one line of `key=value` pairs.

mod api;
mod cluster;
mod delay;
mod scheduler;

use ftpman_core::Secret;
use ftpman_core::model::{Site, SiteUrl};
use ftpman_core::transport::copy::copy_file;
use ftpman_core::transport::{Connector, ProtocolConnector};
use std::process::ExitCode;
use std::time::Instant;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set; run benches/run.sh"))
}

fn remote_site(kind: &str, root: &str) -> Result<Site, String> {
    let user_pw = env("FTPMAN_TEST_USER")?;
    let user_key = env("FTPMAN_TEST_KEY_USER")?;
    let (url, user) = match kind {
        "sftp" => (
            format!("sftp://{user_key}@127.0.0.1:{}{root}", env("FTPMAN_TEST_SSH_PORT")?),
            user_key,
        ),
        "ftp" => (
            format!("ftp://{user_pw}@127.0.0.1:{}{root}", env("FTPMAN_TEST_FTP_PORT")?),
            user_pw,
        ),
        "ftps" => (
            format!("ftps://{user_pw}@127.0.0.1:{}{root}", env("FTPMAN_TEST_FTPS_PORT")?),
            user_pw,
        ),
        "ftps-implicit" => (
            format!(
                "ftps-implicit://{user_pw}@127.0.0.1:{}{root}",
                env("FTPMAN_TEST_FTPS_IMPLICIT_PORT")?
            ),
            user_pw,
        ),
        other => return Err(format!("unknown kind {other}")),
    };
    let _ = user;
    let mut site = Site::new("bench", &SiteUrl::parse(&url).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    if kind == "sftp" {
        let key = std::fs::read_to_string(format!("{}/id_ed25519", env("FTPMAN_TEST_SERVERS_DIR")?))
            .map_err(|e| e.to_string())?;
        site.private_key = Some(Secret::new(key));
        site.host_key = Some(env("FTPMAN_TEST_SSH_HOST_KEY")?);
    } else {
        site.password = Some(Secret::new(env("FTPMAN_TEST_PASSWORD")?));
        if kind != "ftp" {
            site.cert_fingerprint = Some(env("FTPMAN_TEST_CERT_SHA256")?);
        }
    }
    Ok(site)
}

fn local_site(dir: &str) -> Result<Site, String> {
    Site::new(
        "local",
        &SiteUrl::parse(&format!("file://{dir}")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn split(path: &str) -> (String, String) {
    let p = std::path::Path::new(path);
    let dir = p
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|| "/".into());
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, format!("/{name}"))
}

async fn copy(kind: &str, direction: &str, local: &str, remote: &str) -> Result<(u64, f64), String> {
    let (ldir, lname) = split(local);
    let (rdir, rname) = split(remote);
    let local_site = local_site(&ldir)?;
    let remote_site = remote_site(kind, &rdir)?;
    let mut l = ProtocolConnector
        .connect(&local_site)
        .await
        .map_err(|e| e.to_string())?;
    let mut r = ProtocolConnector
        .connect(&remote_site)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let bytes = match direction {
        "up" => copy_file(l.as_mut(), &lname, None, r.as_mut(), &rname, 0, None, &mut |_| {}).await,
        "down" => copy_file(r.as_mut(), &rname, None, l.as_mut(), &lname, 0, None, &mut |_| {}).await,
        other => return Err(format!("direction must be up or down, not {other}")),
    }
    .map_err(|e| e.to_string())?
    .written;
    let secs = started.elapsed().as_secs_f64();
    let _ = r.close().await;
    Ok((bytes, secs))
}

/// One file over several connections, as the engine moves a large one: connection pools for
/// both ends, the file cut into as many segments as they give, written into place.
async fn segmented(kind: &str, direction: &str, local: &str, remote: &str) -> Result<String, String> {
    use ftpman_core::transport::pool::SitePool;
    use ftpman_core::transport::retry::RetryPolicy;
    use ftpman_core::transport::segmented::copy_segmented;
    use std::sync::Arc;
    let (ldir, lname) = split(local);
    let (rdir, rname) = split(remote);
    let local_pool = SitePool::new(local_site(&ldir)?, Arc::new(ProtocolConnector));
    let remote_pool = SitePool::new(remote_site(kind, &rdir)?, Arc::new(ProtocolConnector));
    let ((src, src_path), (dst, dst_path)) = match direction {
        "up" => ((&local_pool, &lname), (&remote_pool, &rname)),
        "down" => ((&remote_pool, &rname), (&local_pool, &lname)),
        other => return Err(format!("direction must be up or down, not {other}")),
    };
    let started = Instant::now();
    let mut s = src.get().await.map_err(|e| e.to_string())?;
    let mut d = dst.get().await.map_err(|e| e.to_string())?;
    let size = s.stat(src_path).await.map_err(|e| e.to_string())?.size;
    let segments = copy_segmented(
        (&mut *s, src),
        (&mut *d, dst),
        src_path,
        dst_path,
        size,
        RetryPolicy::default(),
        None,
        &mut |_| {},
        &|now| now.size == size,
    )
    .await
    .map_err(|e| e.to_string())?;
    // Durable, as the engine's rename into place would make it.
    d.make_durable(dst_path).await.map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    drop((s, d));
    remote_pool.close_idle().await;
    Ok(format!("bytes={size} seconds={secs:.3} segments={segments}"))
}

/// Downloads a remote tree with the engine (recursive job, `parallel` files at once).
async fn tree(kind: &str, remote_dir: &str, local_dir: &str, parallel: u32) -> Result<String, String> {
    use ftpman_core::engine::{Engine, EngineConfig};
    use ftpman_core::model::{Job, Trigger};
    let db = std::env::temp_dir().join(format!("ftpman-bench-{}.db", std::process::id()));
    let store = ftpman_core::store::open(
        &format!("sqlite://{}", db.display()),
        Some(ftpman_core::KeySource::Key(Box::new([5u8; 32]))),
    )
    .await
    .map_err(|e| e.to_string())?;
    let mut remote = remote_site(kind, remote_dir)?;
    remote.max_connections = parallel;
    let src = store.create_site(&remote).await.map_err(|e| e.to_string())?;
    let dst = store
        .create_site(&local_site(local_dir)?.renamed("local"))
        .await
        .map_err(|e| e.to_string())?;
    let mut job = Job::new("tree", src.id, "/", dst.id, "/");
    job.recursive = true;
    job.parallel = parallel;
    let job = store.create_job(&job).await.map_err(|e| e.to_string())?;
    let engine = Engine::new(
        store.clone(),
        std::sync::Arc::new(ProtocolConnector),
        EngineConfig::default(),
    );
    // When the first file starts (the tree listed, or 250 ms of listing) and when the last ends.
    let mut events = engine.subscribe();
    let started = Instant::now();
    let watch = tokio::spawn(async move {
        let (mut first, mut last) = (None, None);
        loop {
            match events.recv().await {
                Ok(ftpman_core::engine::RunEvent::FileStarted { .. }) => {
                    first.get_or_insert(started.elapsed());
                }
                Ok(ftpman_core::engine::RunEvent::FileFinished { .. }) => last = Some(started.elapsed()),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
        (first, last)
    });
    let run = engine
        .run_job(&job, Trigger::Api, false)
        .await
        .map_err(|e| e.to_string())?;
    let secs = started.elapsed().as_secs_f64();
    drop(engine);
    let ms = |d: Option<std::time::Duration>| d.map_or("-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1000.0));
    let (first, last) = match tokio::time::timeout(std::time::Duration::from_secs(1), watch).await {
        Ok(Ok(times)) => times,
        _ => (None, None),
    };
    let _ = std::fs::remove_file(&db);
    if run.counts.failed > 0 {
        return Err(format!("{} files failed: {:?}", run.counts.failed, run.error));
    }
    Ok(format!(
        "files={} bytes={} seconds={secs:.3} first_file_ms={} last_file_ms={}",
        run.counts.transferred,
        run.counts.bytes,
        ms(first),
        ms(last)
    ))
}

/// Streams one file from one remote site to another, with no staging on disk.
async fn site_to_site(from_kind: &str, from: &str, to_kind: &str, to: &str) -> Result<String, String> {
    let (fdir, fname) = split(from);
    let (tdir, tname) = split(to);
    let mut a = ProtocolConnector
        .connect(&remote_site(from_kind, &fdir)?)
        .await
        .map_err(|e| e.to_string())?;
    let mut b = ProtocolConnector
        .connect(&remote_site(to_kind, &tdir)?)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let bytes = copy_file(a.as_mut(), &fname, None, b.as_mut(), &tname, 0, None, &mut |_| {})
        .await
        .map_err(|e| e.to_string())?
        .written;
    Ok(format!("bytes={bytes} seconds={:.3}", started.elapsed().as_secs_f64()))
}

trait Renamed {
    fn renamed(self, name: &str) -> Self;
}
impl Renamed for Site {
    fn renamed(mut self, name: &str) -> Site {
        self.name = name.to_string();
        self
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("FTPMAN_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["copy", kind, direction, local, remote] => copy(kind, direction, local, remote)
            .await
            .map(|(bytes, secs)| format!("bytes={bytes} seconds={secs:.3}")),
        ["segmented", kind, direction, local, remote] => segmented(kind, direction, local, remote).await,
        ["tree", kind, remote, local, parallel] => match parallel.parse() {
            Ok(p) => tree(kind, remote, local, p).await,
            Err(_) => Err("PARALLEL must be a number".into()),
        },
        ["s2s", fk, from, tk, to] => site_to_site(fk, from, tk, to).await,
        ["api", url, runs, files, requests] => match (runs.parse(), files.parse(), requests.parse()) {
            (Ok(r), Ok(f), Ok(n)) => api::run(url, r, f, n).await,
            _ => Err("RUNS, FILES_PER_RUN and REQUESTS must be numbers".into()),
        },
        ["cluster-seed", url, jobs, dir] => match jobs.parse() {
            Ok(j) => cluster::seed(url, j, dir).await,
            Err(_) => Err("JOBS must be a number".into()),
        },
        ["cluster-node", url, node, seconds] => match seconds.parse() {
            Ok(s) => cluster::node(url, node, s).await,
            Err(_) => Err("SECONDS must be a number".into()),
        },
        ["cluster-check", url, from, to] => cluster::check(url, from, to).await,
        ["delay-proxy", listen, target, ms] => match (listen.parse(), target.parse(), ms.parse()) {
            (Ok(l), Ok(t), Ok(ms)) => delay::run(l, t, std::time::Duration::from_millis(ms)).await,
            _ => Err("LISTEN_PORT, TARGET_PORT and DELAY_MS must be numbers".into()),
        },
        ["scheduler", jobs, seconds, cron] => match (jobs.parse(), seconds.parse()) {
            (Ok(j), Ok(s)) => scheduler::run(j, s, cron).await,
            _ => Err("JOBS and SECONDS must be numbers".into()),
        },
        _ => Err("usage: see the top of benches/src/main.rs".into()),
    };
    match result {
        Ok(line) => {
            println!("{line} peak_rss_kib={}", peak_rss_kib());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ftpman-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
