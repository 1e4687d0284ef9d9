//! Every kind of [`ManagerError`], each provoked by its real cause through the `Manager` the
//! frontends use, against the real servers where a server is the cause.

use ftpman_testkit as harness;

use ftpman_core::manager::{ErrorKind, JobOptions, SiteOptions};
use ftpman_core::model::Trigger;
use ftpman_core::{KeySource, Manager, ManagerError, Secret};
use harness::{scratch, servers};
use std::time::Duration;

const KEY: [u8; 32] = [3u8; 32];

async fn manager() -> (Manager, tempfile::TempDir) {
    harness::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ftpman.db").display());
    let m = Manager::open_with_key(&url, Some(KeySource::Key(Box::new(KEY))))
        .await
        .unwrap();
    (m, dir)
}

fn local(dir: &std::path::Path) -> SiteOptions {
    SiteOptions {
        url: Some(format!("file://{}", dir.display())),
        ..SiteOptions::default()
    }
}

fn sftp(password: &str, host_key: Option<&str>) -> SiteOptions {
    let s = servers();
    SiteOptions {
        url: Some(format!("sftp://{}@127.0.0.1:{}/tmp", s.user, s.ssh_port)),
        password: Some(Secret::new(password.to_string())),
        host_key: host_key.map(str::to_string),
        timeout: Some("5s".into()),
        ..SiteOptions::default()
    }
}

#[track_caller]
fn kind_of<T: std::fmt::Debug>(r: Result<T, ManagerError>) -> (ErrorKind, ManagerError) {
    let e = r.expect_err("the operation fails");
    (e.kind(), e)
}

/// A manager with a local site `files` and a job `nightly` from `files:/out` to `files:/in`.
async fn with_a_job() -> (Manager, tempfile::TempDir, harness::Scratch) {
    let (m, db) = manager().await;
    let folder = scratch("kinds");
    std::fs::create_dir_all(folder.path.join("out")).unwrap();
    m.add_site("files", &local(&folder.path)).await.unwrap();
    m.add_job("nightly", &job("0 2 * * *")).await.unwrap();
    (m, db, folder)
}

fn job(schedule: &str) -> JobOptions {
    JobOptions {
        from: Some("files:/out".into()),
        to: Some("files:/in".into()),
        schedule: Some(schedule.into()),
        ..JobOptions::default()
    }
}

macro_rules! kind_test {
    ($name:ident, $body:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            // Each uses scratch folders in the test users' homes, or the servers themselves.
            if crate::harness::skip_without_servers() {
                return;
            }
            $body.await;
        }
    };
}

kind_test!(not_found, async {
    let (m, _db, _f) = with_a_job().await;
    let (kind, e) = kind_of(m.job("nightly-export").await);
    assert_eq!(kind, ErrorKind::NotFound, "{e}");
});

kind_test!(invalid_input_names_the_field, async {
    let (m, _db, _f) = with_a_job().await;
    let (kind, e) = kind_of(m.add_job("bad", &job("61 * * * *")).await);
    assert_eq!((kind, e.field()), (ErrorKind::InvalidInput, Some("schedule")), "{e}");
});

kind_test!(already_exists, async {
    let (m, _db, f) = with_a_job().await;
    let (kind, e) = kind_of(m.add_site("files", &local(&f.path)).await);
    assert_eq!(kind, ErrorKind::AlreadyExists, "{e}");
});

kind_test!(in_use, async {
    let (m, _db, _f) = with_a_job().await;
    let (kind, e) = kind_of(m.remove_site("files").await);
    assert_eq!(kind, ErrorKind::InUse, "{e}");
});

kind_test!(conflict, async {
    // A run that already ended cannot be cancelled.
    let (m, _db, _f) = with_a_job().await;
    let run = m.run_job("nightly", false, Trigger::Manual).await.unwrap();
    let (kind, e) = kind_of(m.cancel_run(run.id).await);
    assert_eq!(kind, ErrorKind::Conflict, "{e}");
});

kind_test!(cancelled, async {
    let (m, _db, f) = with_a_job().await;
    std::fs::write(f.path.join("out/big.bin"), vec![1u8; 4 << 20]).unwrap();
    let slow = JobOptions {
        bwlimit: Some("1M".into()),
        ..JobOptions::default()
    };
    m.edit_job("nightly", &slow).await.unwrap();
    let handle = m.start_run("nightly", false, Trigger::Manual).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.cancel().await.unwrap();
    let (kind, e) = kind_of(handle.wait().await);
    assert_eq!(kind, ErrorKind::Cancelled, "{e}");
    assert!(!f.path.join("in/big.bin").exists());
});

kind_test!(connection_failed, async {
    // Nothing listens there.
    let (m, _db, _f) = with_a_job().await;
    let closed_port = harness::ClosedPort::new();
    let closed = closed_port.port();
    let gone = SiteOptions {
        url: Some(format!("ftp://u@127.0.0.1:{closed}/")),
        password: Some(Secret::new("pw".to_string())),
        ..SiteOptions::default()
    };
    m.add_site("gone", &gone).await.unwrap();
    let (kind, e) = kind_of(m.list("gone", "/").await);
    assert_eq!(kind, ErrorKind::ConnectionFailed, "{e}");
});

kind_test!(host_key_unknown, async {
    // An SFTP site added without a pin, the offered key not accepted.
    let (m, _db, _f) = with_a_job().await;
    let (kind, e) = kind_of(m.add_site("partner", &sftp(&servers().password, None)).await);
    assert_eq!(kind, ErrorKind::HostKeyUnknown, "{e}");
});

kind_test!(host_key_changed, async {
    // The pin is another key's.
    let (m, _db, _f) = with_a_job().await;
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    m.add_site("changed", &sftp(&servers().password, Some(wrong)))
        .await
        .unwrap();
    let (kind, e) = kind_of(m.list("changed", "/").await);
    assert_eq!(kind, ErrorKind::HostKeyChanged, "{e}");
});

kind_test!(authentication_failed, async {
    // A wrong password at the real sshd.
    let (m, _db, _f) = with_a_job().await;
    m.add_site("wrongpw", &sftp("not-the-password", Some(&servers().host_key)))
        .await
        .unwrap();
    let (kind, e) = kind_of(m.list("wrongpw", "/").await);
    assert_eq!(kind, ErrorKind::AuthenticationFailed, "{e}");
});

kind_test!(transfer_failed, async {
    // The server refuses the write: a folder the test user may not write.
    let (m, _db, f) = with_a_job().await;
    let locked = tempfile::tempdir().unwrap();
    std::fs::set_permissions(locked.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut partner = sftp(&servers().password, Some(&servers().host_key));
    partner.url = Some(format!(
        "sftp://{}@127.0.0.1:{}{}",
        servers().user,
        servers().ssh_port,
        locked.path().display()
    ));
    m.add_site("partner", &partner).await.unwrap();
    let file = f.path.join("upload.csv");
    std::fs::write(&file, "x").unwrap();
    let (kind, e) = kind_of(m.upload("partner:/", &[file], &mut |_, _| {}).await);
    assert_eq!(kind, ErrorKind::TransferFailed, "{e}");
});

kind_test!(unauthorized, async {
    // The database opened with another key.
    let (_m, db, _f) = with_a_job().await;
    let url = format!("sqlite://{}", db.path().join("ftpman.db").display());
    let other_key = Some(KeySource::Key(Box::new([4u8; 32])));
    let (kind, e) = kind_of(Manager::open_with_key(&url, other_key).await.map(|_| ()));
    assert_eq!(kind, ErrorKind::Unauthorized, "{e}");
});

kind_test!(internal, async {
    // A stored value this version cannot read.
    let (m, db, _f) = with_a_job().await;
    let url = format!("sqlite://{}", db.path().join("ftpman.db").display());
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE jobs SET conflict = 'sideways' WHERE name = 'nightly'")
        .execute(&raw)
        .await
        .unwrap();
    let (kind, e) = kind_of(m.job("nightly").await);
    assert_eq!(kind, ErrorKind::Internal, "{e}");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_from_json_take_the_flags_names_and_their_checks() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let (m, _db) = manager().await;
    let folder = scratch("json-options");
    let site: SiteOptions = serde_json::from_value(
        serde_json::json!({"url": format!("file://{}", folder.path.display()), "max_connections": 2}),
    )
    .unwrap();
    m.add_site("files", &site).await.unwrap();
    // A name that is not a flag is refused, not ignored.
    assert!(serde_json::from_value::<JobOptions>(serde_json::json!({"form": "files:/"})).is_err());
    let job: JobOptions = serde_json::from_value(serde_json::json!({
        "from": "files:/out", "to": "files:/in", "schedule": "0 25 * * *", "on_conflict": "rename"
    }))
    .unwrap();
    let e = m.add_job("nightly", &job).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::InvalidInput, Some("schedule")),
        "{e}"
    );
    // A server site without a password is refused before anything is saved.
    let ftp: SiteOptions = serde_json::from_value(serde_json::json!({"url": "ftp://bob@127.0.0.1:21/"})).unwrap();
    let e = m.add_site("partner", &ftp).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (ErrorKind::InvalidInput, Some("password")),
        "{e}"
    );
    let with: SiteOptions =
        serde_json::from_value(serde_json::json!({"url": "ftp://bob@127.0.0.1:21/", "password": "s3cret-pw"})).unwrap();
    assert!(
        !format!("{with:?}").contains("s3cret-pw"),
        "a secret never shows in a Debug"
    );
}
