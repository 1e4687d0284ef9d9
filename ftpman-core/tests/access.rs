//! API tokens and web sessions through the `Manager`: shown once, hashed at rest, scoped,
//! revocable; sessions that expire; sign-ins in the audit trail.

use ftpman_testkit as harness;

use ftpman_core::manager::ErrorKind;
use ftpman_core::model::{LogQuery, UserRole};
use ftpman_core::{KeySource, Manager, Secret};

async fn manager() -> (Manager, tempfile::TempDir, String) {
    harness::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ftpman.db").display());
    let m = Manager::open_with_key(&url, Some(KeySource::Key(Box::new([6u8; 32]))))
        .await
        .unwrap();
    (m, dir, url)
}

fn pw(s: &str) -> Secret {
    Secret::new(s.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_shown_once_scoped_and_revocable() {
    let (m, _dir, url) = manager().await;
    m.add_user("ops", UserRole::Operator, &pw("a long operator password"))
        .await
        .unwrap();
    // No more than the user's own role.
    let e = m.create_token("ops", "ci", UserRole::Admin).await.unwrap_err();
    assert_eq!((e.kind(), e.field()), (ErrorKind::InvalidInput, Some("role")), "{e}");
    let (token, secret) = m.create_token("ops", "ci", UserRole::Viewer).await.unwrap();
    assert!(secret.expose().starts_with("ftpman_") && secret.expose().len() > 40);
    let who = m.verify_token(secret.expose()).await.unwrap();
    assert_eq!((who.username.as_str(), who.role), ("ops", UserRole::Viewer));
    let listed = m.tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some(), "its use is noted");
    // Hashed at rest: the secret is nowhere in the database file.
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let hashes: Vec<String> = sqlx::query_scalar("SELECT token_hash FROM api_tokens")
        .fetch_all(&raw)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 1);
    assert_ne!(hashes[0], secret.expose());
    assert!(!format!("{:?}", m.tokens().await.unwrap()).contains(secret.expose()));
    // A wrong or revoked token is refused.
    assert_eq!(
        m.verify_token("ftpman_nope").await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    m.revoke_token(token.id).await.unwrap();
    assert_eq!(
        m.verify_token(secret.expose()).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    assert_eq!(m.revoke_token(token.id).await.unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_start_with_a_password_and_end_at_sign_out() {
    let (m, _dir, url) = manager().await;
    m.add_user("ada", UserRole::Admin, &pw("correct horse battery"))
        .await
        .unwrap();
    let e = m
        .login("ada", &pw("wrong horse battery"), "192.0.2.7")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let e = m
        .login("nobody", &pw("correct horse battery"), "192.0.2.7")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    let (who, cookie) = m.login("ada", &pw("correct horse battery"), "192.0.2.8").await.unwrap();
    assert_eq!((who.username.as_str(), who.role), ("ada", UserRole::Admin));
    assert_eq!(m.session(cookie.expose()).await.unwrap(), who);
    // Another process (another node) on the same database sees the same session.
    let other = Manager::open_with_key(&url, Some(KeySource::Key(Box::new([6u8; 32]))))
        .await
        .unwrap();
    assert_eq!(other.session(cookie.expose()).await.unwrap(), who);
    m.logout(cookie.expose()).await.unwrap();
    assert_eq!(
        other.session(cookie.expose()).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    // Every attempt is in the audit trail, with where it came from.
    let audit = m
        .store()
        .logs(&LogQuery {
            component: Some("audit".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let said: Vec<&str> = audit.iter().map(|e| e.message.as_str()).collect();
    assert!(said.contains(&"failed sign-in as 'ada' from 192.0.2.7"), "{said:?}");
    assert!(said.contains(&"failed sign-in as 'nobody' from 192.0.2.7"), "{said:?}");
    assert!(said.contains(&"'ada' signed in from 192.0.2.8"), "{said:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_or_old_session_is_refused() {
    let (m, _dir, url) = manager().await;
    m.add_user("ada", UserRole::Viewer, &pw("correct horse battery"))
        .await
        .unwrap();
    let (_, idle) = m.login("ada", &pw("correct horse battery"), "127.0.0.1").await.unwrap();
    let (_, old) = m.login("ada", &pw("correct horse battery"), "127.0.0.1").await.unwrap();
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    // One session unused for three hours, one past its absolute end.
    let hash = |s: &Secret| {
        use sha2::Digest;
        sha2::Sha256::digest(s.expose().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    sqlx::query("UPDATE web_sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(now - 3 * 3600 * 1000)
        .bind(hash(&idle))
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("UPDATE web_sessions SET expires_at = $1 WHERE token_hash = $2")
        .bind(now - 1000)
        .bind(hash(&old))
        .execute(&raw)
        .await
        .unwrap();
    assert_eq!(
        m.session(idle.expose()).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    assert_eq!(
        m.session(old.expose()).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
}
