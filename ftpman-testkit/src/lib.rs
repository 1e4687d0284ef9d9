//! The one small harness every server-backed test shares (a crate of its own, never
//! published): the real servers started by `scripts/test.sh` (described by `FTPMAN_TEST_*`
//! variables), scratch folders inside the test users' homes, sites pointing at them, and a
//! fault-injecting proxy (`proxy`).

pub mod proxy;

use ftpman_core::Secret;
use ftpman_core::model::{Protocol, Site, SiteUrl};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Whether a test that needs the real servers must be skipped: they are not running (plain
/// `cargo test` on a machine without them), which it says. The test command sets
/// `FTPMAN_TEST_REQUIRE_SERVERS`, under which a missing server fails the test instead.
pub fn skip_without_servers() -> bool {
    if std::env::var_os("FTPMAN_TEST_SSH_PORT").is_some() {
        return false;
    }
    assert!(
        std::env::var_os("FTPMAN_TEST_REQUIRE_SERVERS").is_none(),
        "the test servers are required but not running (FTPMAN_TEST_* unset): run scripts/test.sh"
    );
    eprintln!("skipped: this test needs the real sshd, vsftpd and SMTP listener that scripts/test.sh starts");
    true
}

/// Whether a test that needs PostgreSQL must be skipped: nothing answers where
/// `FTPMAN_TEST_PG` (default `127.0.0.1:5432`) points, which it says; under
/// `FTPMAN_TEST_REQUIRE_SERVERS` a missing PostgreSQL fails the test instead.
pub fn skip_without_postgres() -> bool {
    let url = std::env::var("FTPMAN_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let host_port = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("127.0.0.1:5432")
        .to_string();
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .ok()
        .and_then(|mut a| a.next());
    if addr.is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok()) {
        return false;
    }
    assert!(
        std::env::var_os("FTPMAN_TEST_REQUIRE_SERVERS").is_none(),
        "PostgreSQL is required but does not answer at {host_port}: run scripts/test.sh"
    );
    eprintln!("skipped: this test needs PostgreSQL at {host_port} (scripts/test.sh starts it)");
    true
}

/// The running test servers.
pub struct Servers {
    pub dir: PathBuf,
    pub ssh_port: u16,
    pub ftp_port: u16,
    pub ftps_port: u16,
    pub ftps_implicit_port: u16,
    /// A second sshd and vsftpd whose sessions fault tests may kill.
    pub fault_ssh_port: u16,
    pub fault_ftp_port: u16,
    /// The SMTP listener and the maildir it writes every message into.
    pub smtp_port: u16,
    pub maildir: PathBuf,
    pub user: String,
    pub password: String,
    pub key_user: String,
    pub cert_sha256: String,
    pub host_key: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need the real sshd and vsftpd that scripts/test.sh starts; run scripts/test.sh")
    })
}

/// The servers, read once from the environment.
/// ftpman's own log lines (info and up) go to the test's captured output, so a failing test
/// shows what the engine and transports said (retries, timeouts) alongside the assertion.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("ftpman=info"))
        .with_test_writer()
        .try_init();
}

pub fn servers() -> &'static Servers {
    init_logs();
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let port = |n: &str| var(n).parse::<u16>().unwrap_or_else(|_| panic!("{n} is not a port"));
        Servers {
            dir: PathBuf::from(var("FTPMAN_TEST_SERVERS_DIR")),
            ssh_port: port("FTPMAN_TEST_SSH_PORT"),
            ftp_port: port("FTPMAN_TEST_FTP_PORT"),
            ftps_port: port("FTPMAN_TEST_FTPS_PORT"),
            ftps_implicit_port: port("FTPMAN_TEST_FTPS_IMPLICIT_PORT"),
            fault_ssh_port: port("FTPMAN_TEST_FAULT_SSH_PORT"),
            fault_ftp_port: port("FTPMAN_TEST_FAULT_FTP_PORT"),
            smtp_port: port("FTPMAN_TEST_SMTP_PORT"),
            maildir: PathBuf::from(var("FTPMAN_TEST_MAILDIR")),
            user: var("FTPMAN_TEST_USER"),
            password: var("FTPMAN_TEST_PASSWORD"),
            key_user: var("FTPMAN_TEST_KEY_USER"),
            cert_sha256: var("FTPMAN_TEST_CERT_SHA256"),
            host_key: var("FTPMAN_TEST_SSH_HOST_KEY"),
        }
    })
}

/// A folder of its own for one test, inside a test user's home (so the servers' users can write
/// it), removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn uid_gid(user: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == user {
            return (f[2].parse().expect("uid"), f[3].parse().expect("gid"));
        }
    }
    panic!("test user {user} does not exist; scripts/test.sh creates it");
}

/// Makes `path` (and everything below it) belong to `user`.
pub fn chown_tree(path: &Path, user: &str) {
    let (uid, gid) = uid_gid(user);
    let status = std::process::Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(path)
        .status()
        .expect("chown");
    assert!(status.success());
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A new scratch folder owned by `user`.
pub fn scratch_for(user: &str, name: &str) -> Scratch {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let path = PathBuf::from(format!("/home/{user}/ftpman-tests/{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&path).expect("scratch folder");
    // The shared parent alone (other tests create and remove folders in it concurrently), then
    // this test's own folder.
    let (uid, gid) = uid_gid(user);
    std::os::unix::fs::chown(path.parent().expect("parent"), Some(uid), Some(gid)).expect("chown parent");
    chown_tree(&path, user);
    Scratch { path }
}

/// A scratch folder for the password user (FTP, FTPS, SFTP with a password, local).
pub fn scratch(name: &str) -> Scratch {
    scratch_for(&servers().user, name)
}

/// The kinds of site the conformance suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Local,
    SftpPassword,
    SftpKey,
    Ftp,
    Ftps,
    FtpsImplicit,
}

/// The user whose home a kind of site writes to.
pub fn user_of(kind: Kind) -> &'static str {
    match kind {
        Kind::SftpKey => &servers().key_user,
        _ => &servers().user,
    }
}

/// A site of `kind` whose root is `root`, with the right credentials and pins.
pub fn site(kind: Kind, root: &Path) -> Site {
    if kind == Kind::Local {
        let url = SiteUrl::parse(&format!("file://{}", root.display())).expect("test URL");
        return Site::new("local", &url).expect("site");
    }
    let s = servers();
    let root = root.display();
    let url = match kind {
        Kind::Local => format!("file://{root}"),
        Kind::SftpPassword => format!("sftp://{}@127.0.0.1:{}{root}", s.user, s.ssh_port),
        Kind::SftpKey => format!("sftp://{}@127.0.0.1:{}{root}", s.key_user, s.ssh_port),
        Kind::Ftp => format!("ftp://{}@127.0.0.1:{}{root}", s.user, s.ftp_port),
        Kind::Ftps => format!("ftps://{}@127.0.0.1:{}{root}", s.user, s.ftps_port),
        Kind::FtpsImplicit => format!("ftps-implicit://{}@127.0.0.1:{}{root}", s.user, s.ftps_implicit_port),
    };
    let mut site = Site::new(
        &format!("{kind:?}").to_lowercase(),
        &SiteUrl::parse(&url).expect("test URL"),
    )
    .expect("site");
    site.connect_timeout = Duration::from_secs(10);
    match kind {
        Kind::Local => {}
        Kind::SftpKey => {
            site.private_key = Some(Secret::new(
                std::fs::read_to_string(s.dir.join("id_ed25519")).expect("key"),
            ));
            site.host_key = Some(s.host_key.clone());
        }
        Kind::SftpPassword => {
            site.password = Some(Secret::new(s.password.clone()));
            site.host_key = Some(s.host_key.clone());
        }
        Kind::Ftp => site.password = Some(Secret::new(s.password.clone())),
        Kind::Ftps | Kind::FtpsImplicit => {
            site.password = Some(Secret::new(s.password.clone()));
            site.cert_fingerprint = Some(s.cert_sha256.clone());
        }
    }
    assert_eq!(site.protocol == Protocol::Local, kind == Kind::Local);
    site.validate().expect("test site is valid");
    site
}

/// A site of `kind` (SFTP or plain FTP) on the fault-injection servers, whose sessions
/// [`kill_sessions`] may kill without disturbing other tests.
pub fn fault_site(kind: Kind, root: &Path) -> Site {
    let mut s = site(kind, root);
    s.port = match kind {
        Kind::SftpPassword | Kind::SftpKey => servers().fault_ssh_port,
        Kind::Ftp => servers().fault_ftp_port,
        other => panic!("no fault-injection server for {other:?}"),
    };
    s
}

/// Kills the per-connection processes of a fault-injection server (its sessions) and all they
/// started (sshd's unprivileged child and `sftp-server` outlive their monitor otherwise), leaving
/// the listener up: to a client it looks like the server died mid-transfer.
pub fn kill_sessions(pid_file: &str) {
    let pid = std::fs::read_to_string(servers().dir.join(pid_file)).expect("pid file");
    let children = |parent: &str| -> Vec<String> {
        let out = std::process::Command::new("pgrep")
            .args(["-P", parent])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    // Every descendant, found before any is killed (a killed process's children are re-parented).
    let mut found = Vec::new();
    let mut next = children(pid.trim());
    while let Some(p) = next.pop() {
        next.extend(children(&p));
        found.push(p);
    }
    assert!(!found.is_empty(), "no session process of {pid_file} to kill");
    let status = std::process::Command::new("kill")
        .arg("-KILL")
        .args(&found)
        .status()
        .expect("kill");
    assert!(status.success(), "could not kill the sessions of {pid_file}");
}

/// Deterministic pseudo-random bytes (xorshift), so large files need no disk to generate.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed | 1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            let bytes = self.0.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Writes `size` noise bytes to a local file; returns its SHA-256 (hex).
pub fn noise_file(path: &Path, size: u64, seed: u64) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create");
    let mut noise = Noise::new(seed);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        noise.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        f.write_all(&buf[..n]).expect("write");
        left -= n as u64;
    }
    hex(&hasher.finalize())
}

/// SHA-256 of a local file.
pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open");
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex(&hasher.finalize())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh SQLite store in a temporary folder (kept alive by the returned guard).
pub async fn sqlite_store() -> (std::sync::Arc<dyn ftpman_core::Store>, tempfile::TempDir) {
    init_logs();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("ftpman.db").display());
    let store = ftpman_core::store::open(&url, Some(ftpman_core::KeySource::Key(Box::new([9u8; 32]))))
        .await
        .expect("open store");
    (store, dir)
}

/// Saves `site` under `name`.
pub async fn save_site(store: &dyn ftpman_core::Store, name: &str, mut site: Site) -> Site {
    site.name = name.to_string();
    store.create_site(&site).await.expect("save site")
}

/// Every file below `root`, as (relative path, SHA-256), sorted; dot files (temporary names) too.
pub fn tree(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let p = e.path();
            if e.file_type().expect("type").is_dir() {
                dirs.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("prefix").display().to_string();
                out.push((rel, sha256_file(&p)));
            }
        }
    }
    out.sort();
    out
}

/// A loopback port where nothing listens, held for as long as this lives: a socket bound there
/// but never listening, so a connection is refused and no other program (a server's passive
/// data port, another test's listener) can take the port while the test counts on it being
/// closed. A port merely freed after binding could be taken by the time the test connects.
pub struct ClosedPort {
    socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    /// Binds a socket on `127.0.0.1` at a port the system picks.
    pub fn new() -> ClosedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        ClosedPort { socket }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.socket.local_addr().expect("local address").port()
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        ClosedPort::new()
    }
}
