//! Logs, settings (with a real test e-mail), users, tokens, nodes, status, metrics, health,
//! readiness and the OpenAPI document, over the API.

use crate::harness::servers;
use crate::support::{Auth, PASSWORD, TestServer};
use ftpman_core::model::UserRole;
use ftpman_web::WebConfig;
use reqwest::Method;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_users_tokens_logs_and_operations() {
    if crate::harness::skip_without_servers() {
        return;
    }
    let s = servers();
    let srv = TestServer::start(WebConfig::default()).await;
    let root = srv.token("root", UserRole::Admin).await;
    let admin = Auth::Token(root.clone());

    // Settings: every known key, a secret one write-only; a real test e-mail.
    let smtp_password = "smtp-secret-never-shown";
    for (key, value) in [
        ("smtp.host", "127.0.0.1".to_string()),
        ("smtp.port", s.smtp_port.to_string()),
        ("smtp.tls", "none".to_string()),
        ("smtp.from", "ftpman@example.test".to_string()),
    ] {
        let a = srv
            .call(
                &admin,
                Method::PUT,
                &format!("/api/v1/settings/{key}"),
                Some(json!({"value": value})),
            )
            .await;
        assert_eq!(a.status, 204, "{key}: {}", a.text);
    }
    let a = srv
        .call(
            &admin,
            Method::PUT,
            "/api/v1/settings/webhook.url",
            Some(json!({"value": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.text);
    // A webhook URL carries a chat service's token: sealed, and never shown again.
    let a = srv.call(&admin, Method::GET, "/api/v1/settings", None).await;
    assert!(!a.text.contains("127.0.0.1:9/hook"), "{}", a.text);
    assert!(a.text.contains("webhook.url"), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::PUT,
            "/api/v1/settings/smtp.port",
            Some(json!({"value": "lots"})),
        )
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (422, "invalid_input"), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::PUT,
            "/api/v1/settings/colour",
            Some(json!({"value": "red"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("key")), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::PUT,
            "/api/v1/settings/smtp.host",
            Some(json!({"val": "x"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("val")), "{}", a.text);
    let a = srv.call(&admin, Method::GET, "/api/v1/settings", None).await;
    let settings = a.json();
    let find = |k: &str| {
        settings
            .as_array()
            .expect("list")
            .iter()
            .find(|v| v["key"] == json!(k))
            .cloned()
            .expect(k)
    };
    assert_eq!(find("smtp.host")["value"], json!("127.0.0.1"));
    assert_eq!(find("smtp.password")["set"], json!(false));
    let before = std::fs::read_dir(s.maildir.join("new")).map(|d| d.count()).unwrap_or(0);
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/settings/smtp/test",
            Some(json!({"to": "ops@example.test"})),
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.text);
    let after = std::fs::read_dir(s.maildir.join("new")).map(|d| d.count()).unwrap_or(0);
    assert!(after > before, "the test e-mail reached the SMTP listener");
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/settings/smtp/test",
            Some(json!({"to": "not an address"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("email")), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::PUT,
            "/api/v1/settings/smtp.password",
            Some(json!({"value": smtp_password})),
        )
        .await;
    assert_eq!(a.status, 204, "{}", a.text);
    let a = srv.call(&admin, Method::GET, "/api/v1/settings", None).await;
    let secret = a
        .json()
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["key"] == json!("smtp.password"))
        .cloned()
        .expect("listed");
    assert_eq!(
        (secret["value"].clone(), secret["set"].clone()),
        (json!(null), json!(true)),
        "{}",
        a.text
    );
    let a = srv
        .call(&admin, Method::DELETE, "/api/v1/settings/smtp.tls", None)
        .await;
    assert_eq!(a.status, 204);
    let a = srv
        .call(&admin, Method::DELETE, "/api/v1/settings/smtp.tls", None)
        .await;
    assert_eq!(a.status, 404);

    // Users: added with a role, listed without hashes, never the last admin removed.
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "vera", "password": PASSWORD, "role": "viewer"})),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["role"].clone()),
        (201, json!("viewer")),
        "{}",
        a.text
    );
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "short", "password": "short"})),
        )
        .await;
    assert_eq!(
        (a.status, a.error().1.as_deref()),
        (422, Some("password")),
        "{}",
        a.text
    );
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "x", "password": PASSWORD, "role": "boss"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("role")), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "vera", "password": PASSWORD})),
        )
        .await;
    assert_eq!(a.status, 409, "{}", a.text);
    let a = srv.call(&admin, Method::GET, "/api/v1/users", None).await;
    assert!(!a.text.contains("argon2"), "{}", a.text);
    assert_eq!(a.json().as_array().map(Vec::len), Some(2));
    // A role changed; a password reset ends the user's sessions; the last admin keeps the role.
    let vera = srv.sign_in("vera", PASSWORD).await;
    assert_eq!(srv.call(&vera, Method::GET, "/api/v1/session", None).await.status, 200);
    let a = srv
        .call(
            &admin,
            Method::PATCH,
            "/api/v1/users/vera",
            Some(json!({"role": "operator"})),
        )
        .await;
    assert_eq!(
        (a.status, a.json()["role"].clone()),
        (200, json!("operator")),
        "{}",
        a.text
    );
    assert_eq!(
        srv.call(&vera, Method::GET, "/api/v1/session", None).await.status,
        200,
        "a new role keeps the session"
    );
    let new_pw = "a fresh password for vera";
    let a = srv
        .call(
            &admin,
            Method::PATCH,
            "/api/v1/users/vera",
            Some(json!({"password": new_pw})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert!(!a.text.contains(new_pw));
    assert_eq!(
        srv.call(&vera, Method::GET, "/api/v1/session", None).await.status,
        401,
        "a reset ends sessions"
    );
    srv.sign_in("vera", new_pw).await;
    let a = srv
        .call(
            &admin,
            Method::PATCH,
            "/api/v1/users/root",
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("role")), "{}", a.text);
    let a = srv
        .call(
            &admin,
            Method::PATCH,
            "/api/v1/users/nobody",
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(a.status, 404, "{}", a.text);
    let a = srv.call(&admin, Method::DELETE, "/api/v1/users/root", None).await;
    assert_eq!((a.status, a.error().0.as_str()), (409, "conflict"), "{}", a.text);
    let a = srv.call(&admin, Method::DELETE, "/api/v1/users/vera", None).await;
    assert_eq!(a.status, 204);
    let a = srv.call(&admin, Method::DELETE, "/api/v1/users/vera", None).await;
    assert_eq!(a.status, 404);

    // Tokens: shown once, listed without the secret, scoped, revocable.
    let a = srv
        .call(
            &admin,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "airflow", "role": "operator"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let made = a.json();
    let secret = made["secret"].as_str().expect("secret").to_string();
    assert!(secret.starts_with("ftpman_"));
    let id = made["token"]["id"].as_i64().expect("id");
    let a = srv
        .call(&Auth::Token(secret.clone()), Method::GET, "/api/v1/session", None)
        .await;
    assert_eq!(
        (a.json()["username"].clone(), a.json()["role"].clone()),
        (json!("root"), json!("operator"))
    );
    let a = srv.call(&admin, Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(a.json().as_array().map(Vec::len), Some(2));
    let a = srv
        .call(&admin, Method::POST, "/api/v1/tokens", Some(json!({"name": " "})))
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("name")), "{}", a.text);
    let a = srv
        .call(&admin, Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(a.status, 204);
    let a = srv
        .call(&Auth::Token(secret.clone()), Method::GET, "/api/v1/session", None)
        .await;
    assert_eq!(a.status, 401);
    let a = srv
        .call(&admin, Method::DELETE, &format!("/api/v1/tokens/{id}"), None)
        .await;
    assert_eq!(a.status, 404);

    // Logs: the audit trail, filtered and paged.
    let a = srv
        .call(&admin, Method::GET, "/api/v1/logs?component=audit&limit=2", None)
        .await;
    let page = a.json();
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2), "{}", a.text);
    assert!(
        page["items"][0]["message"]
            .as_str()
            .expect("message")
            .contains("revoked"),
        "{}",
        a.text
    );
    let next = page["next"].as_i64().expect("next");
    let a = srv
        .call(
            &admin,
            Method::GET,
            &format!("/api/v1/logs?component=audit&limit=2&cursor={next}"),
            None,
        )
        .await;
    assert!(a.json()["items"][0]["id"].as_i64().expect("id") < next);
    let a = srv.call(&admin, Method::GET, "/api/v1/logs?level=loud", None).await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("level")), "{}", a.text);
    let a = srv
        .call(&admin, Method::GET, "/api/v1/logs?level=error&since=1h", None)
        .await;
    assert_eq!(a.status, 200, "{}", a.text);

    // Nodes, status, health, readiness, metrics, the API's description.
    let a = srv.call(&admin, Method::GET, "/api/v1/status", None).await;
    assert_eq!((a.status, a.json()["backend"].clone()), (200, json!("sqlite")));
    let a = srv.call(&admin, Method::GET, "/api/v1/nodes", None).await;
    assert_eq!(a.status, 200);
    assert!(a.json().is_array());
    let a = srv.call(&Auth::None, Method::GET, "/healthz", None).await;
    assert_eq!((a.status, a.text.as_str()), (200, "ok\n"));
    let a = srv.call(&Auth::None, Method::GET, "/readyz", None).await;
    assert_eq!((a.status, a.text.as_str()), (200, "ready\n"));
    let a = srv.call(&admin, Method::GET, "/metrics", None).await;
    assert_eq!(a.status, 200);
    assert!(
        a.headers["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/plain; version=0.0.4")
    );
    for name in [
        "ftpman_runs_queued 0",
        "ftpman_active_transfers 0",
        "# TYPE ftpman_run_duration_seconds histogram",
    ] {
        assert!(a.text.contains(name), "{name} in {}", a.text);
    }
    let a = srv.call(&admin, Method::GET, "/api/v1/openapi.json", None).await;
    let doc = a.json();
    assert!(
        doc["openapi"].as_str().expect("version").starts_with("3.1"),
        "{}",
        &a.text[..100]
    );
    assert!(doc["paths"]["/api/v1/jobs/{name}/run"]["post"].is_object());
    assert!(doc["components"]["schemas"]["RunView"].is_object());

    srv.assert_no_secrets(&[smtp_password, &root, &s.password], &["POST /api/v1/tokens"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_scheduler() {
    let srv = TestServer::start(WebConfig {
        scheduler: true,
        ..WebConfig::default()
    })
    .await;
    let a = srv.call(&Auth::None, Method::GET, "/readyz", None).await;
    assert_eq!(
        (a.status, a.text.as_str()),
        (503, "not ready: the scheduler is not running\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_keeps_browsers_to_this_origin() {
    let srv = TestServer::start(WebConfig::default()).await;
    let admin = Auth::Token(srv.token("ada", UserRole::Admin).await);
    for (who, path) in [
        (&admin, "/"),
        (&admin, "/jobs"),
        (&admin, "/api/v1/jobs"),
        (&Auth::None, "/login"),
        (&Auth::None, "/assets/app.css"),
        (&Auth::None, "/no/such/page"),
    ] {
        let a = srv.call(who, Method::GET, path, None).await;
        let h = |name: &str| {
            a.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let csp = h("content-security-policy");
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(h("x-frame-options"), "DENY", "{path}");
    }
}
