//! Access control over the whole router: the routes are read from the OpenAPI document the
//! router is built with (not a hand-made list), and each is called anonymously, as a viewer
//! and as an operator. Then: revoked tokens, ended and expired sessions, cross-site requests,
//! sign-in throttling with the source address in the audit trail, and the reverse-proxy setup.

use crate::support::{Auth, PASSWORD, TestServer, session_cookie};
use ftpman_core::model::UserRole;
use ftpman_web::WebConfig;
use ftpman_web::client::IpRange;
use reqwest::Method;
use serde_json::json;

/// Every (method, path template) the router serves.
fn every_route() -> Vec<(Method, String)> {
    let doc = serde_json::to_value(ftpman_web::openapi()).expect("document");
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            if let Ok(m) = method.to_uppercase().parse::<Method>() {
                routes.push((m, path.clone()));
            }
        }
    }
    assert!(routes.len() > 40, "the document lists every route: {}", routes.len());
    routes
}

fn concrete(path: &str) -> String {
    path.replace("{name}", "nosuch")
        .replace("{id}", "424242")
        .replace("{key}", "smtp.host")
}

const PUBLIC: &[(&str, &str)] = &[("GET", "/healthz"), ("GET", "/readyz"), ("POST", "/api/v1/session")];

fn only_admins(path: &str) -> bool {
    ["/api/v1/settings", "/api/v1/users"]
        .iter()
        .any(|p| path.starts_with(p))
}

fn operator_may_change(path: &str) -> bool {
    path.starts_with("/api/v1/jobs")
        || path.starts_with("/api/v1/groups")
        || path.starts_with("/api/v1/runs")
        || path == "/api/v1/sites/{name}/test"
        || path == "/api/v1/sites/{name}/files"
        || path.starts_with("/api/v1/tokens")
        || path == "/api/v1/session"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_is_guarded_by_role() {
    let srv = TestServer::start(WebConfig::default()).await;
    let viewer = Auth::Token(srv.token("vic", UserRole::Viewer).await);
    let operator = Auth::Token(srv.token("otto", UserRole::Operator).await);
    let routes = every_route();
    for (method, path) in &routes {
        let url = concrete(path);
        let public = PUBLIC.iter().any(|(m, p)| *m == method.as_str() && p == path);
        let a = srv.call(&Auth::None, method.clone(), &url, Some(json!({}))).await;
        if public {
            assert_ne!(a.status, 401, "{method} {path} is public: {}", a.text);
        } else {
            assert_eq!(a.status, 401, "{method} {path} refuses anonymous requests: {}", a.text);
            assert_eq!(a.error().0, "unauthorized");
        }
        if public || (*method == Method::DELETE && path == "/api/v1/session") {
            continue;
        }
        let reads = *method == Method::GET;
        let a = srv.call(&viewer, method.clone(), &url, Some(json!({}))).await;
        let viewer_may = reads && !only_admins(path) && path != "/api/v1/sites/{name}/files";
        if viewer_may {
            assert_ne!(a.status, 403, "a viewer may {method} {path}: {}", a.text);
        } else {
            assert_eq!(a.status, 403, "a viewer may not {method} {path}: {}", a.text);
            assert_eq!(a.error().0, "forbidden");
        }
        let a = srv.call(&operator, method.clone(), &url, Some(json!({}))).await;
        let operator_may = !only_admins(path) && (reads || operator_may_change(path));
        if operator_may {
            assert_ne!(a.status, 403, "an operator may {method} {path}: {}", a.text);
        } else {
            assert_eq!(a.status, 403, "an operator may not {method} {path}: {}", a.text);
        }
        assert_ne!(a.status / 100, 5, "{method} {path}: {}", a.text);
    }
    // Nothing changed: the refused changes never reached a handler.
    assert_eq!(srv.manager.sites().await.expect("sites").len(), 0);
    assert_eq!(srv.manager.users().await.expect("users").len(), 2);
    srv.assert_no_secrets(&[PASSWORD], &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_tokens_and_cross_site_requests() {
    let srv = TestServer::start(WebConfig::default()).await;
    srv.token("ada", UserRole::Admin).await;
    let session = srv.sign_in("ada", PASSWORD).await;
    let Auth::Session { cookie, csrf } = session.clone() else {
        unreachable!()
    };
    let a = srv.call(&session, Method::GET, "/api/v1/session", None).await;
    assert_eq!((a.status, a.json()["csrf_token"].clone()), (200, json!(csrf)));

    // The cookie is HttpOnly and SameSite=Strict, and not Secure over plain HTTP.
    let a = srv
        .call(
            &Auth::None,
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "ada", "password": PASSWORD})),
        )
        .await;
    let set = a.headers["set-cookie"].to_str().expect("cookie").to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/"),
        "{set}"
    );
    assert!(!set.contains("Secure"), "{set}");

    let site = |name: &str| json!({"name": name, "url": "file:///tmp", "create": false});
    let with_cookie = |extra: &[(&'static str, &'static str)]| {
        let mut h = vec![("cookie", format!("ftpman_session={cookie}"))];
        h.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        h
    };
    let send = |headers: Vec<(&'static str, String)>, name: &'static str| {
        let srv = &srv;
        async move {
            let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            srv.send(&Auth::None, Method::POST, "/api/v1/sites", Some(site(name)), &refs)
                .await
        }
    };
    // A cross-site POST with a valid cookie is refused, however it is dressed.
    for headers in [
        with_cookie(&[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")]),
        with_cookie(&[("origin", "https://evil.example")]),
        with_cookie(&[("sec-fetch-site", "same-site")]),
        with_cookie(&[("origin", "null")]),
        with_cookie(&[]),
        with_cookie(&[("x-csrf-token", "0123456789abcdef0123456789abcdef")]),
    ] {
        let a = send(headers.clone(), "evil").await;
        assert_eq!(
            (a.status, a.error().0.as_str()),
            (403, "forbidden"),
            "{headers:?}: {}",
            a.text
        );
    }
    assert!(srv.manager.sites().await.expect("sites").is_empty());
    // From ftpman's own page (same origin), or with the session's CSRF token: accepted.
    let host = srv.base.trim_start_matches("http://").to_string();
    let origin = format!("http://{host}");
    let mut own = with_cookie(&[("sec-fetch-site", "same-origin")]);
    own.push(("origin", origin));
    assert_eq!(send(own, "own").await.status, 201);
    let mut scripted = with_cookie(&[]);
    scripted.push(("x-csrf-token", csrf.clone()));
    assert_eq!(send(scripted, "scripted").await.status, 201);

    // Signing out ends the session on the server: the cookie no longer works.
    let a = srv.call(&session, Method::DELETE, "/api/v1/session", None).await;
    assert_eq!(a.status, 204);
    assert!(a.headers["set-cookie"].to_str().expect("cookie").contains("Max-Age=0"));
    let a = srv.call(&session, Method::GET, "/api/v1/sites", None).await;
    assert_eq!((a.status, a.error().0.as_str()), (401, "unauthorized"));

    // Signing in again from a browser that has a session replaces it: the old one ends.
    let first = srv.sign_in("ada", PASSWORD).await;
    let Auth::Session { cookie: old_cookie, .. } = first.clone() else {
        unreachable!()
    };
    let a = srv
        .send(
            &Auth::None,
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "ada", "password": PASSWORD})),
            &[("cookie", &format!("ftpman_session={old_cookie}"))],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_ne!(
        session_cookie(&a).expect("a new cookie"),
        old_cookie,
        "a new secret at each sign-in"
    );
    assert_eq!(
        srv.call(&first, Method::GET, "/api/v1/sites", None).await.status,
        401,
        "the old session ended"
    );

    // An expired session is refused.
    let expiring = srv.sign_in("ada", PASSWORD).await;
    assert_eq!(
        srv.call(&expiring, Method::GET, "/api/v1/sites", None).await.status,
        200
    );
    let pool = sqlx::SqlitePool::connect(&srv.db_url).await.expect("db");
    sqlx::query("UPDATE web_sessions SET expires_at = 0")
        .execute(&pool)
        .await
        .expect("expire");
    let a = srv.call(&expiring, Method::GET, "/api/v1/sites", None).await;
    assert_eq!(a.status, 401, "{}", a.text);

    // A revoked token is refused; a made-up one too.
    let token = srv.token("ada", UserRole::Viewer).await;
    assert_eq!(
        srv.call(&Auth::Token(token.clone()), Method::GET, "/api/v1/jobs", None)
            .await
            .status,
        200
    );
    let id = srv.manager.tokens().await.expect("tokens").last().expect("token").id;
    srv.manager.revoke_token(id).await.expect("revoke");
    let a = srv.call(&Auth::Token(token), Method::GET, "/api/v1/jobs", None).await;
    assert_eq!((a.status, a.error().0.as_str()), (401, "unauthorized"));
    assert_eq!(a.headers["www-authenticate"], "Bearer");
    let a = srv
        .call(&Auth::Token("ftpman_madeup".into()), Method::GET, "/api/v1/jobs", None)
        .await;
    assert_eq!(a.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ins_are_throttled_and_audited_with_their_source() {
    let srv = TestServer::start(WebConfig::default()).await;
    srv.token("bob", UserRole::Operator).await;
    let wrong = json!({"username": "bob", "password": "not bob's password"});
    for _ in 0..5 {
        let a = srv
            .call(&Auth::None, Method::POST, "/api/v1/session", Some(wrong.clone()))
            .await;
        assert_eq!((a.status, a.error().0.as_str()), (401, "unauthorized"), "{}", a.text);
        assert!(session_cookie(&a).is_none());
    }
    // Now even the right password waits.
    let right = json!({"username": "bob", "password": PASSWORD});
    let a = srv
        .call(&Auth::None, Method::POST, "/api/v1/session", Some(right))
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (429, "rate_limited"), "{}", a.text);
    let wait: u64 = a.headers["retry-after"]
        .to_str()
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!(wait > 800 && wait <= 900, "{wait}");
    // Another user from another address is not affected... but from this address, the address
    // count goes on: 20 failures from one address block it for every name.
    let a = srv
        .call(
            &Auth::None,
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "nobody", "password": "x"})),
        )
        .await;
    assert_eq!(a.status, 401);
    let logs = srv
        .manager
        .logs_page(&ftpman_core::manager::LogFilter {
            component: Some("audit".into()),
            ..Default::default()
        })
        .await
        .expect("logs");
    let failed: Vec<_> = logs
        .items
        .iter()
        .filter(|e| e.message.starts_with("failed sign-in as 'bob' from 127.0.0.1"))
        .collect();
    assert_eq!(failed.len(), 5);
    assert_eq!(failed[0].context["source"], json!("127.0.0.1"));
    assert!(
        logs.items
            .iter()
            .any(|e| e.message.contains("refused: too many failed attempts"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_under_a_base_path() {
    let srv = TestServer::start(WebConfig {
        base_path: "/mft".into(),
        trusted_proxies: vec![IpRange::parse("127.0.0.1").expect("range")],
        ..WebConfig::default()
    })
    .await;
    assert!(srv.base.ends_with("/mft"));
    srv.token("pat", UserRole::Admin).await;
    assert_eq!(srv.call(&Auth::None, Method::GET, "/healthz", None).await.status, 200);
    let outside = srv.base.trim_end_matches("/mft").to_string();
    let resp = reqwest::get(format!("{outside}/healthz")).await.expect("get");
    assert_eq!(resp.status().as_u16(), 404, "nothing outside the base path");
    let a = srv
        .send(
            &Auth::None,
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "pat", "password": PASSWORD})),
            &[
                ("x-forwarded-for", "198.51.100.23"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "mft.example.test"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let set = a.headers["set-cookie"].to_str().expect("cookie").to_string();
    assert!(set.contains("; Secure") && set.contains("Path=/mft"), "{set}");
    let cookie = session_cookie(&a).expect("cookie");
    // The browser's origin is the proxy's public name.
    let a = srv
        .send(
            &Auth::None,
            Method::POST,
            "/api/v1/jobs/nosuch/run",
            None,
            &[
                ("cookie", &format!("ftpman_session={cookie}")),
                ("origin", "https://mft.example.test"),
                ("x-forwarded-host", "mft.example.test"),
            ],
        )
        .await;
    assert_eq!(a.status, 404, "passes the CSRF check: {}", a.text);
    let logs = srv.manager.logs(None, 20).await.expect("logs");
    assert!(
        logs.iter().any(|e| e.message == "'pat' signed in from 198.51.100.23"),
        "the client's address, from the proxy: {:?}",
        logs.iter().map(|e| &e.message).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_tokens_login_csrf_and_wrong_methods() {
    let srv = TestServer::start(WebConfig::default()).await;
    let admin = Auth::Token(srv.token("ada", UserRole::Admin).await);
    let operator = Auth::Token(srv.token("otto", UserRole::Operator).await);
    // An operator makes, sees and revokes their own tokens only.
    let a = srv
        .call(
            &operator,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "cron", "role": "operator"})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let own = a.json()["token"]["id"].as_i64().expect("id");
    let a = srv
        .call(
            &operator,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "more", "role": "admin"})),
        )
        .await;
    assert_eq!((a.status, a.error().1.as_deref()), (422, Some("role")), "{}", a.text);
    let a = srv.call(&operator, Method::GET, "/api/v1/tokens", None).await;
    let users: Vec<String> = a
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["username"].as_str().expect("user").to_string())
        .collect();
    assert_eq!(users, ["otto", "otto"]);
    let admins = srv.call(&admin, Method::GET, "/api/v1/tokens", None).await.json();
    let ada_token = admins
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["username"] == json!("ada"))
        .expect("ada's")["id"]
        .clone();
    let a = srv
        .call(&operator, Method::DELETE, &format!("/api/v1/tokens/{ada_token}"), None)
        .await;
    assert_eq!(a.status, 404, "someone else's token is not theirs to see: {}", a.text);
    assert_eq!(
        srv.call(&operator, Method::DELETE, &format!("/api/v1/tokens/{own}"), None)
            .await
            .status,
        204
    );
    // A sign-in posted from another site's page is refused (login CSRF).
    let a = srv
        .send(
            &Auth::None,
            Method::POST,
            "/api/v1/session",
            Some(json!({"username": "ada", "password": PASSWORD})),
            &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")],
        )
        .await;
    assert_eq!((a.status, a.error().0.as_str()), (403, "forbidden"), "{}", a.text);
    assert!(session_cookie(&a).is_none());
    // A method a route does not take: the API's error shape.
    let a = srv.call(&admin, Method::PUT, "/api/v1/jobs", Some(json!({}))).await;
    assert_eq!(a.status, 405, "{}", a.text);
    assert_eq!(a.error().0, "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_guarded_by_role() {
    let srv = TestServer::start(WebConfig::default()).await;
    let viewer = Auth::Token(srv.token("vic", UserRole::Viewer).await);
    let operator = Auth::Token(srv.token("otto", UserRole::Operator).await);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for (method, path) in ftpman_web::pages::PAGES {
        let method: Method = method.parse().expect("method");
        let url = format!("{}{}", srv.base, concrete(path));
        let public = *path == "/login";
        let anonymous = client.request(method.clone(), &url).send().await.expect("send");
        let status = anonymous.status().as_u16();
        if public {
            assert_ne!(status, 401, "{method} {path} is public");
        } else if method == Method::GET {
            assert_eq!(status, 303, "{method} {path} sends a stranger to sign in");
            let to = anonymous.headers()["location"].to_str().expect("location").to_string();
            assert_eq!(
                to,
                format!("/login?next={path}")
                    .replace("{id}", "424242")
                    .replace("{name}", "nosuch")
            );
        } else {
            assert_eq!(status, 401, "{method} {path} refuses anonymous requests");
        }
        if public || *path == "/logout" {
            continue;
        }
        // The roles the dashboard's guide promises, written out here rather than derived.
        let needs = match (method.as_str(), *path) {
            (_, p) if p.starts_with("/settings") => UserRole::Admin,
            ("GET", "/sites/new" | "/sites/{name}/edit") => UserRole::Admin,
            ("GET", "/jobs/new" | "/jobs/{name}/edit") => UserRole::Operator,
            ("GET", _) => UserRole::Viewer,
            (_, "/sites/{name}/test") => UserRole::Operator,
            (_, p) if p.starts_with("/sites") => UserRole::Admin,
            (_, p) if p.starts_with("/jobs") || p.starts_with("/runs") || p == "/upload" => UserRole::Operator,
            _ => UserRole::Admin,
        };
        let a = srv.call(&viewer, method.clone(), concrete(path).as_str(), None).await;
        if needs == UserRole::Viewer {
            assert_ne!(a.status, 403, "a viewer may {method} {path}");
        } else {
            assert_eq!(a.status, 403, "a viewer may not {method} {path}");
        }
        let a = srv.call(&operator, method.clone(), concrete(path).as_str(), None).await;
        if needs == UserRole::Admin {
            assert_eq!(a.status, 403, "only an admin may {method} {path}");
        } else {
            assert_ne!(a.status, 403, "an operator may {method} {path}");
        }
        assert_ne!(a.status / 100, 5, "{method} {path}: {}", a.text);
    }
}
