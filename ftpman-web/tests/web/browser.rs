//! The dashboard in a real browser: Debian's headless Chromium driven by Playwright's library
//! (`tests/browser/e2e.mjs`), against a server with a real SFTP site and a job whose files
//! include a hostile name.

use crate::harness::{self, servers};
use crate::support::{PASSWORD, TestServer};
use ftpman_core::manager::{JobOptions, SiteOptions};
use ftpman_core::model::UserRole;
use ftpman_web::WebConfig;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists() && browser_dir.join("node_modules/playwright-core").exists(),
        "this test needs Debian's chromium and `npm ci` in {}: scripts/test.sh installs both",
        browser_dir.display()
    );
    let s = servers();
    let srv = TestServer::start(WebConfig::default()).await;
    srv.token("ada", UserRole::Admin).await;
    let scratch = harness::scratch("web-browser");
    for i in 0..3 {
        harness::noise_file(&scratch.path.join(format!("f{i}.csv")), 1 << 20, i);
    }
    std::fs::write(scratch.path.join("\"><script>alert(1)<!--.csv"), b"x").expect("hostile");
    harness::chown_tree(&scratch.path, &s.user);
    let archive = tempfile::tempdir().expect("archive");
    let m = &srv.manager;
    m.add_site(
        "partner",
        &SiteOptions {
            url: Some(format!(
                "sftp://{}@127.0.0.1:{}{}",
                s.user,
                s.ssh_port,
                scratch.path.display()
            )),
            password: Some(ftpman_core::Secret::new(s.password.clone())),
            host_key: Some(s.host_key.clone()),
            ..SiteOptions::default()
        },
    )
    .await
    .expect("site");
    m.add_site(
        "archive",
        &SiteOptions {
            url: Some(format!("file://{}", archive.path().display())),
            ..SiteOptions::default()
        },
    )
    .await
    .expect("site");
    m.add_job(
        "nightly",
        &JobOptions {
            from: Some("partner:/".into()),
            to: Some("archive:/in".into()),
            schedule: Some("0 3 * * *".into()),
            bwlimit: Some("1M".into()),
            ..JobOptions::default()
        },
    )
    .await
    .expect("job");
    let base = srv.base.clone();
    let shots = std::env::var("FTPMAN_SCREENSHOTS").unwrap_or_default();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("e2e.mjs")
            .args([base.as_str(), "ada", PASSWORD, shots.as_str()])
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
    assert_eq!(
        std::fs::read_dir(archive.path().join("in")).expect("delivered").count(),
        4
    );
}
