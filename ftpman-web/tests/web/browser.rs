//! The dashboard in a real browser: Debian's headless Chromium driven by Playwright's library
//! (`tests/browser/e2e.mjs`), going as a new user goes: the sites are added in the browser
//! against the real SFTP and FTP servers, then a job, its runs, the logs, an upload and the
//! settings. The files to move include a hostile name.

use crate::harness::{self, servers};
use crate::support::{PASSWORD, TestServer};
use ftpman_core::model::UserRole;
use ftpman_web::WebConfig;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists() && browser_dir.join("node_modules/playwright-core").exists(),
        "this test needs Debian's chromium and `npm ci` in {}: scripts/test.sh installs both",
        browser_dir.display()
    );
    let s = servers();
    let srv = TestServer::start(WebConfig::default()).await;
    srv.token("ada", UserRole::Admin).await;
    // What the SFTP site holds: three files and one whose name is an attempt at markup.
    let outbound = harness::scratch("web-browser-sftp");
    for i in 0..3 {
        harness::noise_file(&outbound.path.join(format!("f{i}.csv")), 1 << 20, i);
    }
    std::fs::write(outbound.path.join("\"><script>alert(1)<!--.csv"), b"x").expect("hostile");
    // A name that reads backwards from its override on: shown with the override as an escape.
    std::fs::write(outbound.path.join("invoice\u{202e}vsc.exe"), b"y").expect("bidi");
    harness::chown_tree(&outbound.path, &s.user);
    // What the FTP site holds: a folder to browse into.
    let drop = harness::scratch("web-browser-ftp");
    std::fs::create_dir_all(drop.path.join("reports")).expect("reports");
    std::fs::write(drop.path.join("reports/q4.csv"), b"quarter,total\n4,42\n").expect("q4");
    harness::chown_tree(&drop.path, &s.user);
    // The archive is a local folder the site form makes.
    let local = tempfile::tempdir().expect("archive");
    let archive = local.path().join("archive");
    let base = srv.base.clone();
    let shots = std::env::var("FTPMAN_SCREENSHOTS").unwrap_or_default();
    let vars = [
        ("E2E_SERVER_USER", s.user.clone()),
        ("E2E_SERVER_PASSWORD", s.password.clone()),
        ("E2E_HOST_KEY", s.host_key.clone()),
        ("E2E_SFTP_PORT", s.ssh_port.to_string()),
        ("E2E_SFTP_ROOT", outbound.path.display().to_string()),
        ("E2E_FTP_PORT", s.ftp_port.to_string()),
        ("E2E_FTP_ROOT", drop.path.display().to_string()),
        ("E2E_ARCHIVE", archive.display().to_string()),
    ];
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("e2e.mjs")
            .args([base.as_str(), "ada", PASSWORD, shots.as_str()])
            .envs(vars)
            .current_dir(browser_dir)
            .output()
    })
    .await
    .expect("join")
    .expect("node");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // What the browser did is in the store and on disk, not only on the pages.
    let m = &srv.manager;
    let partner = m.site("partner").await.expect("the SFTP site");
    assert_eq!(
        partner.host_key.as_deref(),
        Some(s.host_key.as_str()),
        "the offered key pinned"
    );
    assert!(partner.password.is_some());
    let drop_site = m.site("drop").await.expect("the FTP site");
    assert_eq!((drop_site.port, drop_site.max_connections), (s.ftp_port, 2));
    assert!(archive.join("uploads/hello.txt").is_file(), "the upload landed");
    assert_eq!(std::fs::read_dir(archive.join("in")).expect("delivered").count(), 5);
    let users = m.users().await.expect("users");
    assert!(
        users
            .iter()
            .any(|u| u.username == "olive" && u.role == UserRole::Viewer)
    );
    assert!(
        m.tokens()
            .await
            .expect("tokens")
            .iter()
            .all(|t| t.name != "report script"),
        "revoked"
    );
    let retention = m.setting_infos().await.expect("settings");
    assert!(
        retention
            .iter()
            .any(|x| x.key == "retention.days" && x.value.as_deref() == Some("30"))
    );
}
