//! One conformance suite run against every protocol on its real server (OpenSSH sshd, vsftpd
//! plain / explicit FTPS / implicit FTPS, a local folder), plus the faults a user meets.

use ftpman_testkit as harness;

use ftpman_core::transport::copy::{copy_file, copy_resumable};
use ftpman_core::transport::pool::SitePool;
use ftpman_core::transport::retry::RetryPolicy;
use ftpman_core::transport::site_test::{SiteProblem, test_site};
use ftpman_core::transport::{Connector, EntryKind, ProtocolConnector, Transport, TransportError};
use harness::{Kind, Noise, scratch_for, servers, site};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn connect(site: &ftpman_core::model::Site) -> Box<dyn Transport> {
    ProtocolConnector
        .connect(site)
        .await
        .unwrap_or_else(|e| panic!("connect {}: {e}", site.name))
}

async fn put(t: &mut dyn Transport, path: &str, data: &[u8]) {
    let mut w = t.write(path, 0).await.unwrap_or_else(|e| panic!("write {path}: {e}"));
    w.write_all(data).await.unwrap();
    assert_eq!(w.finish().await.unwrap().written, data.len() as u64);
}

async fn get(t: &mut dyn Transport, path: &str, offset: u64) -> Vec<u8> {
    let mut r = t
        .read(path, offset)
        .await
        .unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.unwrap();
    out
}

async fn get_sized(t: &mut dyn Transport, path: &str, offset: u64, size: u64) -> Result<Vec<u8>, TransportError> {
    let mut r = t.read_sized(path, offset, size).await?;
    let mut out = Vec::new();
    r.read_to_end(&mut out).await.map_err(|e| TransportError::Protocol {
        site: "test".into(),
        operation: "read".into(),
        path: path.into(),
        reason: e.to_string(),
        transient: false,
        source: None,
    })?;
    Ok(out)
}

async fn get_range(t: &mut dyn Transport, path: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut r = t.read_range(path, range.clone()).await.unwrap();
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .await
        .unwrap_or_else(|e| panic!("reading {path} {range:?}: {e}"));
    out
}

/// Every operation the engine relies on, on one protocol.
async fn conformance(kind: Kind) {
    let scratch = scratch_for(harness::user_of(kind), &format!("conf-{kind:?}"));
    let site = site(kind, &scratch.path);
    let mut t = connect(&site).await;
    let t = t.as_mut();

    // mkdir -p, idempotent; an empty folder lists empty.
    t.mkdir_all("/a/b/c").await.unwrap();
    t.mkdir_all("/a/b/c").await.unwrap();
    assert_eq!(t.stat("/a/b/c").await.unwrap().kind, EntryKind::Dir);
    t.mkdir_all("/empty").await.unwrap();
    assert!(t.list("/empty").await.unwrap().is_empty());

    // Write, stat, list, read.
    put(t, "/a/hello.txt", b"hello\r\nworld\n").await;
    let st = t.stat("/a/hello.txt").await.unwrap();
    assert_eq!(
        (st.kind, st.size, st.name.as_str(), st.path.as_str()),
        (EntryKind::File, 13, "hello.txt", "/a/hello.txt")
    );
    assert_eq!(
        get(t, "/a/hello.txt", 0).await,
        b"hello\r\nworld\n",
        "binary mode: line ends unchanged"
    );
    let listing = t.list("/a").await.unwrap();
    let names: Vec<(&str, EntryKind, u64)> = listing
        .iter()
        .map(|e| {
            (
                e.name.as_str(),
                e.kind,
                if e.kind == EntryKind::File { e.size } else { 0 },
            )
        })
        .collect();
    assert_eq!(names, [("b", EntryKind::Dir, 0), ("hello.txt", EntryKind::File, 13)]);
    assert_eq!(listing[1].path, "/a/hello.txt");
    assert!(listing[1].mtime.is_some(), "listings carry a modification time");

    // A folder longer than one reply: SFTP servers answer READDIR ~100 names at a time.
    // Made on disk, not through the transport: the subject is the listing.
    let many_dir = scratch.path.join("many");
    std::fs::create_dir_all(&many_dir).unwrap();
    for i in 0..250 {
        std::fs::write(many_dir.join(format!("f{i:03}.txt")), format!("{i}")).unwrap();
    }
    harness::chown_tree(&many_dir, harness::user_of(kind));
    let many = t.list("/many").await.unwrap();
    assert_eq!(many.len(), 250);
    assert!(many.iter().enumerate().all(|(i, e)| e.name == format!("f{i:03}.txt")
        && e.size == format!("{i}").len() as u64
        && e.kind == EntryKind::File));

    // Names with spaces and non-ASCII letters.
    let odd = "/a/with space ü € 日本.txt";
    put(t, odd, "ünïcödé".as_bytes()).await;
    assert_eq!(get(t, odd, 0).await, "ünïcödé".as_bytes());
    assert!(
        t.list("/a")
            .await
            .unwrap()
            .iter()
            .any(|e| e.name == "with space ü € 日本.txt")
    );

    // The empty file.
    put(t, "/a/empty.bin", b"").await;
    assert_eq!(t.stat("/a/empty.bin").await.unwrap().size, 0);
    assert!(get(t, "/a/empty.bin", 0).await.is_empty());

    // Resume: read from an offset, write from an offset.
    let mut data = vec![0u8; 300_000];
    Noise::new(7).fill(&mut data);
    put(t, "/a/resume.bin", &data[..100_000]).await;
    {
        let mut w = t.write("/a/resume.bin", 100_000).await.unwrap();
        w.write_all(&data[100_000..]).await.unwrap();
        assert_eq!(w.finish().await.unwrap().written, 200_000);
    }
    assert_eq!(t.stat("/a/resume.bin").await.unwrap().size, 300_000);
    assert_eq!(get(t, "/a/resume.bin", 0).await, data);
    assert_eq!(get(t, "/a/resume.bin", 123_456).await, &data[123_456..]);

    // One range of a file (a segment): exactly its bytes, across several read requests and
    // within one; a range running past the end stops where the file does.
    assert_eq!(
        get_range(t, "/a/resume.bin", 1_000..290_001).await,
        &data[1_000..290_001]
    );
    assert_eq!(get_range(t, "/a/resume.bin", 7..9).await, &data[7..9]);
    assert_eq!(get_range(t, "/a/resume.bin", 299_990..400_000).await, &data[299_990..]);
    assert!(get_range(t, "/a/resume.bin", 5..5).await.is_empty());

    // Reading with the listed size (small files in one round trip on SFTP): whole, from an
    // offset, empty, and across several read requests.
    assert_eq!(get_sized(t, "/a/resume.bin", 0, 300_000).await.unwrap(), data);
    assert_eq!(
        get_sized(t, "/a/resume.bin", 200_001, 300_000).await.unwrap(),
        &data[200_001..]
    );
    assert!(get_sized(t, "/a/empty.bin", 0, 0).await.unwrap().is_empty());
    assert_eq!(
        get_sized(t, "/a/hello.txt", 13, 13).await.unwrap(),
        b"",
        "nothing left past the end"
    );
    // A file that changed since it was listed is never passed off as the listed one: it fails
    // the read, or yields what is really there for the engine's verification to refuse.
    for listed in [12, 14, 100_000] {
        match get_sized(t, "/a/hello.txt", 0, listed).await {
            Ok(got) => {
                assert!(kind != Kind::SftpKey && kind != Kind::SftpPassword, "SFTP must notice");
                assert_eq!(got, b"hello\r\nworld\n");
            }
            Err(e) => assert!(e.to_string().contains("changed since it was listed"), "{e}"),
        }
    }
    // Also when it grew far past what a small file's single fetch reads.
    let grown: Vec<u8> = (0..1_300_000u32).map(|i| (i % 251) as u8).collect();
    put(t, "/a/grown.bin", &grown).await;
    match get_sized(t, "/a/grown.bin", 0, 1_000).await {
        Ok(got) => {
            assert!(kind != Kind::SftpKey && kind != Kind::SftpPassword, "SFTP must notice");
            assert!(got == grown, "the whole grown file, {} bytes read", got.len());
        }
        Err(e) => assert!(e.to_string().contains("changed since it was listed"), "{e}"),
    }
    t.delete("/a/grown.bin").await.unwrap();

    // Rename: refused over an existing file unless asked, then replacing it.
    put(t, "/a/target.txt", b"old").await;
    put(t, "/a/source.txt", b"new").await;
    let err = t.rename("/a/source.txt", "/a/target.txt", false).await.unwrap_err();
    assert!(matches!(err, TransportError::AlreadyExists { .. }), "{err}");
    assert_eq!(get(t, "/a/target.txt", 0).await, b"old");
    t.rename("/a/source.txt", "/a/target.txt", true).await.unwrap();
    assert_eq!(get(t, "/a/target.txt", 0).await, b"new");
    assert!(matches!(
        t.stat("/a/source.txt").await.unwrap_err(),
        TransportError::NotFound { .. }
    ));
    t.rename("/a/target.txt", "/a/b/moved.txt", false).await.unwrap();
    assert_eq!(get(t, "/a/b/moved.txt", 0).await, b"new");
    // A file written in place is made durable on request; a server keeps its own disk, so
    // only the local transport can find nothing there to sync.
    t.make_durable("/a/b/moved.txt").await.unwrap();
    if kind == Kind::Local {
        let err = t.make_durable("/a/b/missing.txt").await.unwrap_err();
        assert!(matches!(err, TransportError::NotFound { .. }), "{err}");
    }

    // Delete and rmdir; missing things are NotFound.
    t.delete("/a/b/moved.txt").await.unwrap();
    assert!(matches!(
        t.stat("/a/b/moved.txt").await.unwrap_err(),
        TransportError::NotFound { .. }
    ));
    assert!(matches!(
        t.list("/no/such/dir").await.unwrap_err(),
        TransportError::NotFound { .. }
    ));
    t.rmdir("/empty").await.unwrap();
    assert!(matches!(
        t.stat("/empty").await.unwrap_err(),
        TransportError::NotFound { .. }
    ));

    // Nothing resolves outside the root.
    assert!(matches!(
        t.stat("/../etc/passwd").await.unwrap_err(),
        TransportError::Config { .. }
    ));

    // 200 MiB through the transport and back, SHA-256 equal, streamed in 1 MiB pieces.
    const BIG: usize = 200 << 20;
    let mut noise = Noise::new(42);
    let mut chunk = vec![0u8; 1 << 20];
    let mut sent = Sha256::new();
    {
        let mut w = t.write("/big.bin", 0).await.unwrap();
        for _ in 0..(BIG / chunk.len()) {
            noise.fill(&mut chunk);
            sent.update(&chunk);
            w.write_all(&chunk).await.unwrap();
        }
        assert_eq!(w.finish().await.unwrap().written, BIG as u64);
    }
    assert_eq!(t.stat("/big.bin").await.unwrap().size, BIG as u64);
    let mut got = Sha256::new();
    {
        let mut r = t.read("/big.bin", 0).await.unwrap();
        let mut total = 0;
        loop {
            let n = r.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            total += n;
            got.update(&chunk[..n]);
        }
        assert_eq!(total, BIG);
    }
    assert_eq!(got.finalize(), sent.finalize(), "200 MiB round trip must be bit-exact");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_local() {
    if crate::harness::skip_without_servers() {
        return;
    }
    conformance(Kind::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sftp_password() {
    if crate::harness::skip_without_servers() {
        return;
    }
    conformance(Kind::SftpPassword).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_sftp_key() {
    if crate::harness::skip_without_servers() {
        return;
    }
    conformance(Kind::SftpKey).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_ftp() {
    if crate::harness::skip_without_servers() {
        return;
    }
    conformance(Kind::Ftp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_ftps_explicit() {
    if crate::harness::skip_without_servers() {
        return;
    }
    conformance(Kind::Ftps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_ftps_implicit() {
    if crate::harness::skip_without_servers() {
        return;
    }
    conformance(Kind::FtpsImplicit).await;
}

fn assert_no_secret(text: &str) {
    assert!(!text.contains(&servers().password), "the password leaked into: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_a_login_problem() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let scratch = harness::scratch("wrong-pw");
    for kind in [Kind::SftpPassword, Kind::Ftp, Kind::Ftps, Kind::FtpsImplicit] {
        let mut s = site(kind, &scratch.path);
        s.password = Some(ftpman_core::Secret::new("definitely-not-it"));
        let failure = test_site(&s, &ProtocolConnector)
            .await
            .expect_err("a wrong password must fail");
        assert_eq!(failure.problem, SiteProblem::Login, "{kind:?}: {failure}");
        let text = failure.to_string();
        assert!(
            text.contains("login refused") && text.contains(&servers().user),
            "{text}"
        );
        assert!(!text.contains("definitely-not-it"), "{text}");
        assert!(text.contains("check the user name"), "advice is given: {text}");
    }
    // The right password passes the same test and counts the root's entries.
    std::fs::write(scratch.path.join("x.txt"), b"x").unwrap();
    let report = test_site(&site(Kind::Ftp, &scratch.path), &ProtocolConnector)
        .await
        .unwrap();
    assert_eq!(report.root_entries, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_keys_are_checked_and_fetched() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let scratch = harness::scratch("hostkey");
    let mut s = site(Kind::SftpPassword, &scratch.path);
    let wrong = format!("SHA256:{}", "A".repeat(43));
    s.host_key = Some(wrong.clone());
    let failure = test_site(&s, &ProtocolConnector)
        .await
        .expect_err("a changed host key must be refused");
    assert_eq!(failure.problem, SiteProblem::HostKey);
    let text = failure.to_string();
    assert!(
        text.contains(&wrong) && text.contains(&servers().host_key),
        "both fingerprints named: {text}"
    );
    assert_no_secret(&text);

    s.host_key = None;
    let failure = test_site(&s, &ProtocolConnector).await.expect_err("no pin, no login");
    assert!(
        matches!(&failure.error, TransportError::HostKeyNotPinned { offered, .. } if offered == &servers().host_key),
        "{failure}"
    );
    assert_eq!(
        ftpman_core::transport::fetch_host_key(&s).await.unwrap(),
        servers().host_key
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_verified_or_pinned() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let scratch = harness::scratch("cert");
    for kind in [Kind::Ftps, Kind::FtpsImplicit] {
        let mut s = site(kind, &scratch.path);
        s.cert_fingerprint = None;
        let failure = test_site(&s, &ProtocolConnector)
            .await
            .expect_err("a self-signed certificate must not pass unpinned");
        assert_eq!(failure.problem, SiteProblem::Certificate, "{kind:?}: {failure}");
        assert_no_secret(&failure.to_string());

        s.cert_fingerprint = Some(["00"; 32].join(":"));
        let failure = test_site(&s, &ProtocolConnector)
            .await
            .expect_err("another certificate must not pass a pin");
        assert_eq!(failure.problem, SiteProblem::Certificate);
        assert!(failure.to_string().contains("not the pinned"), "{failure}");

        // Only when asked: no verification at all (and a warning in the log).
        s.cert_fingerprint = None;
        s.insecure_skip_verify = true;
        test_site(&s, &ProtocolConnector)
            .await
            .unwrap_or_else(|e| panic!("{kind:?} insecure: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_refused_quickly() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let closed = harness::ClosedPort::new();
    let port = closed.port();
    let scratch = harness::scratch("refused");
    for kind in [Kind::SftpPassword, Kind::Ftp, Kind::FtpsImplicit] {
        let mut s = site(kind, &scratch.path);
        s.port = port;
        let failure = test_site(&s, &ProtocolConnector)
            .await
            .expect_err("nothing listens there");
        assert_eq!(failure.problem, SiteProblem::Refused, "{kind:?}: {failure}");
        assert!(failure.to_string().contains(&format!("127.0.0.1:{port}")), "{failure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_logs_in_with_every_key_format() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let scratch = scratch_for(&servers().key_user, "keys");
    let dir = &servers().dir;
    for (file, passphrase) in [
        ("id_rsa_pem", None),
        ("id_ecdsa_pkcs8", None),
        ("id_ed25519_enc", Some("key-passphrase-1")),
    ] {
        let mut s = site(Kind::SftpKey, &scratch.path);
        s.private_key = Some(ftpman_core::Secret::new(
            std::fs::read_to_string(dir.join(file)).unwrap(),
        ));
        s.key_passphrase = passphrase.map(ftpman_core::Secret::new);
        test_site(&s, &ProtocolConnector)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let mut s = site(Kind::SftpKey, &scratch.path);
    s.private_key = Some(ftpman_core::Secret::new(
        std::fs::read_to_string(dir.join("id_ed25519_enc")).unwrap(),
    ));
    s.key_passphrase = Some(ftpman_core::Secret::new("wrong-phrase"));
    let failure = test_site(&s, &ProtocolConnector)
        .await
        .expect_err("a wrong passphrase must fail");
    assert_eq!(failure.problem, SiteProblem::Config, "{failure}");
    assert!(
        failure.to_string().contains("passphrase") && !failure.to_string().contains("wrong-phrase"),
        "{failure}"
    );
}

/// Uploads a 96 MiB file from a local folder to `kind`, kills the server's session processes
/// when 40 MiB have moved, and checks the transfer fails cleanly, then resumes from its offset.
async fn killed_mid_transfer_resumes(kind: Kind, pid_file: &str) {
    const SIZE: u64 = 96 << 20;
    const KILL_AT: u64 = 40 << 20;
    let src_dir = tempfile::tempdir().unwrap();
    let want = harness::noise_file(&src_dir.path().join("big.bin"), SIZE, 99);
    let scratch = scratch_for(harness::user_of(kind), &format!("kill-{kind:?}"));
    let mut target = harness::fault_site(kind, &scratch.path);
    target.connect_timeout = Duration::from_secs(5);
    let source = site(Kind::Local, src_dir.path());
    let src_pool = SitePool::new(source, Arc::new(ProtocolConnector));
    let dst_pool = SitePool::new(target, Arc::new(ProtocolConnector));
    let mut moved = 0u64;
    let mut killed = false;
    let mut progress = |n: u64| {
        moved += n;
        if !killed && moved >= KILL_AT {
            killed = true;
            harness::kill_sessions(pid_file);
        }
    };
    let policy = RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(200),
        max_backoff: Duration::from_secs(1),
    };
    let started = std::time::Instant::now();
    let delivered = copy_resumable(
        (&src_pool, "/big.bin"),
        (&dst_pool, "/big.bin"),
        SIZE,
        policy,
        None,
        &mut progress,
    )
    .await
    .unwrap_or_else(|e| panic!("{kind:?}: the retry should have completed the transfer: {e}"));
    assert!(killed, "the server was killed mid-transfer");
    assert_eq!(delivered, SIZE);
    assert_eq!(
        harness::sha256_file(&scratch.path.join("big.bin")),
        want,
        "{kind:?}: resumed file is bit-exact"
    );
    // Resumed, not restarted: far fewer than SIZE + KILL_AT bytes moved in all.
    assert!(
        moved < SIZE + KILL_AT / 2,
        "{kind:?}: moved {moved} bytes for a {SIZE}-byte file: the retry restarted from 0"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the failure was noticed within its timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_server_killed_mid_transfer_resumes() {
    if crate::harness::skip_without_servers() {
        return;
    }
    killed_mid_transfer_resumes(Kind::Ftp, "vsftpd-fault.pid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_server_killed_mid_transfer_resumes() {
    if crate::harness::skip_without_servers() {
        return;
    }
    killed_mid_transfer_resumes(Kind::SftpPassword, "sshd-fault.pid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_between_protocols_streams_site_to_site() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let src_scratch = harness::scratch("copy-src");
    let dst_scratch = scratch_for(&servers().key_user, "copy-dst");
    let want = harness::noise_file(&src_scratch.path.join("f.bin"), 5_000_000, 3);
    harness::chown_tree(&src_scratch.path, &servers().user);
    let mut src = connect(&site(Kind::Ftps, &src_scratch.path)).await;
    let mut dst = connect(&site(Kind::SftpKey, &dst_scratch.path)).await;
    let mut seen = 0;
    let n = copy_file(
        src.as_mut(),
        "/f.bin",
        None,
        dst.as_mut(),
        "/f.bin",
        0,
        None,
        &mut |n| seen += n,
    )
    .await
    .unwrap()
    .written;
    assert_eq!((n, seen), (5_000_000, 5_000_000));
    assert_eq!(harness::sha256_file(&dst_scratch.path.join("f.bin")), want);
}

/// Collects the messages of `ftpman*` warnings.
#[derive(Clone, Default)]
struct Warnings(Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Warnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if f.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        if *event.metadata().level() == tracing::Level::WARN && event.metadata().target().starts_with("ftpman") {
            let mut m = Message(String::new());
            event.record(&mut m);
            self.0.lock().unwrap().push(m.0);
        }
    }
}

/// A hostile FTP server in-process: it logs anyone in and answers LIST with `lines`.
async fn hostile_ftp_server(lines: &'static [&'static str]) -> u16 {
    use tokio::io::AsyncBufReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (r, mut w) = sock.into_split();
        let mut r = tokio::io::BufReader::new(r);
        w.write_all(b"220 not a friendly server\r\n").await.unwrap();
        let mut data: Option<tokio::net::TcpListener> = None;
        let mut line = String::new();
        while r.read_line(&mut line).await.unwrap_or(0) > 0 {
            let cmd = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            line.clear();
            let reply: String = match cmd.as_str() {
                "USER" => "331 password please\r\n".into(),
                "PASS" => "230 welcome\r\n".into(),
                "TYPE" => "200 ok\r\n".into(),
                "CWD" => "250 ok\r\n".into(),
                "EPSV" => {
                    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let p = l.local_addr().unwrap().port();
                    data = Some(l);
                    format!("229 Entering Extended Passive Mode (|||{p}|)\r\n")
                }
                "LIST" => {
                    w.write_all(b"150 here it comes\r\n").await.unwrap();
                    let (mut d, _) = data.take().unwrap().accept().await.unwrap();
                    for l in lines {
                        d.write_all(format!("{l}\r\n").as_bytes()).await.unwrap();
                    }
                    d.shutdown().await.unwrap();
                    "226 done\r\n".into()
                }
                "QUIT" => {
                    w.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                }
                _ => "502 not implemented\r\n".into(),
            };
            w.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    port
}

#[tokio::test(flavor = "current_thread")]
async fn hostile_names_in_a_listing_are_refused_and_logged() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let warnings = Warnings::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(warnings.clone()));
    let port = hostile_ftp_server(&[
        "-rw-r--r--    1 0        0               5 Nov 28 07:30 good.txt",
        "-rw-r--r--    1 0        0               5 Nov 28 07:30 ../../etc/passwd",
        "-rw-r--r--    1 0        0               5 Nov 28 07:30 ..\\evil.txt",
        "drwxr-xr-x    2 0        0            4096 Nov 28 07:30 ..",
        "-rw-r--r--    1 0        0               5 Nov 28 07:30 sub/inner.txt",
        "-rw-r--r--    1 0        0               5 Nov 28 07:30 /etc/shadow",
    ])
    .await;
    let url = format!("ftp://mallory@127.0.0.1:{port}/drop");
    let mut s = ftpman_core::model::Site::new("hostile", &ftpman_core::model::SiteUrl::parse(&url).unwrap()).unwrap();
    s.password = Some(ftpman_core::Secret::new("x"));
    let mut t = connect(&s).await;
    let entries = t.list("/").await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["/good.txt"]
    );
    let logged = warnings.0.lock().unwrap().clone();
    assert_eq!(logged.len(), 4, "one warning per hostile name: {logged:?}");
    for name in ["../../etc/passwd", "..\\\\evil.txt", "sub/inner.txt", "/etc/shadow"] {
        assert!(
            logged
                .iter()
                .any(|m| m.contains("refused hostile name") && m.contains(name) && m.contains("site 'hostile'")),
            "{name} not reported in {logged:?}"
        );
    }
}
