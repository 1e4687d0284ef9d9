//! Every kind of [`ManagerError`], each provoked by its real cause through the `Manager` the
//! frontends use, against the real servers where a server is the cause.

mod harness;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_kind_from_its_real_cause() {
    let (m, db) = manager().await;
    let folder = scratch("kinds");
    m.add_site("files", &local(&folder.path)).await.unwrap();

    // not found
    let (kind, e) = kind_of(m.job("nightly").await);
    assert_eq!(kind, ErrorKind::NotFound, "{e}");

    // invalid input, naming the field
    let job = |schedule: &str| JobOptions {
        from: Some("files:/out".into()),
        to: Some("files:/in".into()),
        schedule: Some(schedule.into()),
        ..JobOptions::default()
    };
    let (kind, e) = kind_of(m.add_job("bad", &job("61 * * * *")).await);
    assert_eq!((kind, e.field()), (ErrorKind::InvalidInput, Some("schedule")), "{e}");

    // already exists
    let (kind, e) = kind_of(m.add_site("files", &local(&folder.path)).await);
    assert_eq!(kind, ErrorKind::AlreadyExists, "{e}");

    // in use
    m.add_job("nightly", &job("0 2 * * *")).await.unwrap();
    let (kind, e) = kind_of(m.remove_site("files").await);
    assert_eq!(kind, ErrorKind::InUse, "{e}");

    // conflict: a run that already ended cannot be cancelled
    std::fs::create_dir_all(folder.path.join("out")).unwrap();
    let run = m.run_job("nightly", false, Trigger::Manual).await.unwrap();
    let (kind, e) = kind_of(m.cancel_run(run.id).await);
    assert_eq!(kind, ErrorKind::Conflict, "{e}");

    // cancelled: a run stopped by a user
    std::fs::write(folder.path.join("out/big.bin"), vec![1u8; 4 << 20]).unwrap();
    m.edit_job(
        "nightly",
        &JobOptions {
            bwlimit: Some("1M".into()),
            ..JobOptions::default()
        },
    )
    .await
    .unwrap();
    let handle = m.start_run("nightly", false, Trigger::Manual).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    handle.cancel().await.unwrap();
    let (kind, e) = kind_of(handle.wait().await);
    assert_eq!(kind, ErrorKind::Cancelled, "{e}");
    assert!(!folder.path.join("in/big.bin").exists());

    // connection failed: nothing listens there
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    m.add_site(
        "gone",
        &SiteOptions {
            url: Some(format!("ftp://u@127.0.0.1:{closed}/")),
            password: Some(Secret::new("pw".to_string())),
            ..SiteOptions::default()
        },
    )
    .await
    .unwrap();
    let (kind, e) = kind_of(m.list("gone", "/").await);
    assert_eq!(kind, ErrorKind::ConnectionFailed, "{e}");

    // host key unknown: an SFTP site added without a pin, not accepted
    let (kind, e) = kind_of(m.add_site("partner", &sftp(&servers().password, None)).await);
    assert_eq!(kind, ErrorKind::HostKeyUnknown, "{e}");

    // host key changed: the pin is another key's
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    m.add_site("changed", &sftp(&servers().password, Some(wrong)))
        .await
        .unwrap();
    let (kind, e) = kind_of(m.list("changed", "/").await);
    assert_eq!(kind, ErrorKind::HostKeyChanged, "{e}");

    // authentication failed: a wrong password at the real sshd
    m.add_site("wrongpw", &sftp("not-the-password", Some(&servers().host_key)))
        .await
        .unwrap();
    let (kind, e) = kind_of(m.list("wrongpw", "/").await);
    assert_eq!(kind, ErrorKind::AuthenticationFailed, "{e}");

    // transfer failed: the server refuses the write (a folder the test user may not write)
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
    let file = folder.path.join("upload.csv");
    std::fs::write(&file, "x").unwrap();
    let (kind, e) = kind_of(m.upload("partner:/", &[file], &mut |_, _| {}).await);
    assert_eq!(kind, ErrorKind::TransferFailed, "{e}");

    // unauthorized: the database opened with another key
    let url = format!("sqlite://{}", db.path().join("ftpman.db").display());
    let (kind, e) = kind_of(
        Manager::open_with_key(&url, Some(KeySource::Key(Box::new([4u8; 32]))))
            .await
            .map(|_| ()),
    );
    assert_eq!(kind, ErrorKind::Unauthorized, "{e}");

    // internal: a stored value this version cannot read
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE jobs SET conflict = 'sideways' WHERE name = 'nightly'")
        .execute(&raw)
        .await
        .unwrap();
    let (kind, e) = kind_of(m.job("nightly").await);
    assert_eq!(kind, ErrorKind::Internal, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_from_json_take_the_flags_names_and_their_checks() {
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
