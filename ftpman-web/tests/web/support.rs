//! A real `ftpman` web server for one test (in this process, on a loopback port, over a fresh
//! database), and an HTTP client that keeps every response body so that a test can prove no
//! stored secret was ever sent.

use ftpman_core::model::UserRole;
use ftpman_core::{KeySource, Manager, Secret};
use ftpman_web::{AppState, WebConfig};
use reqwest::Method;
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// A password long enough for the users the tests make.
pub const PASSWORD: &str = "correct horse battery staple";

/// A server and its database.
pub struct TestServer {
    pub base: String,
    pub manager: Manager,
    pub db_url: String,
    pub _dir: Option<tempfile::TempDir>,
    stop: tokio::sync::watch::Sender<bool>,
    bodies: Arc<Mutex<Vec<(String, String)>>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Token(String),
    /// The session cookie and its CSRF token.
    Session {
        cookie: String,
        csrf: String,
    },
}

/// An answer: status, headers and body (as JSON when it is JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The error's kind and field, for a failed request.
    pub fn error(&self) -> (String, Option<String>) {
        let v = self.json();
        let e = &v["error"];
        assert!(e.is_object(), "not an error body: {}", self.text);
        (
            e["kind"].as_str().expect("kind").to_string(),
            e["field"].as_str().map(str::to_string),
        )
    }
}

impl TestServer {
    /// A server over a new SQLite database.
    pub async fn start(config: WebConfig) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("ftpman.db").display());
        let mut server = TestServer::start_on(&url, config).await;
        server._dir = Some(dir);
        server
    }

    /// A server over the database at `url`.
    pub async fn start_on(url: &str, config: WebConfig) -> TestServer {
        crate::harness::init_logs();
        let manager = Manager::open_with_key(url, Some(KeySource::Key(Box::new([7u8; 32]))))
            .await
            .expect("open the database");
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = AppState::new(manager.clone(), config.clone(), stopping.clone());
        let mut until = stopping;
        tokio::spawn(ftpman_web::serve(listener, state, async move {
            let _ = until.wait_for(|s| *s).await;
        }));
        TestServer {
            base: format!("http://{addr}{}", config.base_path),
            manager,
            db_url: url.to_string(),
            _dir: None,
            stop,
            bodies: Arc::default(),
        }
    }

    /// Sends a request; `body` as JSON when given.
    pub async fn call(&self, auth: &Auth, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.send(auth, method, path, body, &[]).await
    }

    /// Sends a request with extra headers.
    pub async fn send(
        &self,
        auth: &Auth,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let client = reqwest::Client::new();
        let mut req = client.request(method.clone(), format!("{}{path}", self.base));
        req = match auth {
            Auth::None => req,
            Auth::Token(t) => req.bearer_auth(t),
            Auth::Session { cookie, csrf } => req
                .header("cookie", format!("ftpman_session={cookie}"))
                .header("x-csrf-token", csrf),
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.answer(&format!("{method} {path}"), req).await
    }

    /// Sends a prepared request and keeps its answer's body.
    pub async fn answer(&self, what: &str, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.unwrap_or_else(|e| panic!("{what}: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        self.bodies
            .lock()
            .expect("bodies")
            .push((what.to_string(), text.clone()));
        Answer { status, headers, text }
    }

    /// A request builder with `auth` on it, for bodies `call` does not make (multipart).
    pub fn request(&self, auth: &Auth, method: Method, path: &str) -> reqwest::RequestBuilder {
        let req = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        match auth {
            Auth::None => req,
            Auth::Token(t) => req.bearer_auth(t),
            Auth::Session { cookie, csrf } => req
                .header("cookie", format!("ftpman_session={cookie}"))
                .header("x-csrf-token", csrf),
        }
    }

    /// Adds a user with `role` and returns a token of that role for them.
    pub async fn token(&self, user: &str, role: UserRole) -> String {
        if self
            .manager
            .users()
            .await
            .expect("users")
            .iter()
            .all(|u| u.username != user)
        {
            self.manager
                .add_user(user, role, &Secret::new(PASSWORD.to_string()))
                .await
                .expect("add user");
        }
        let (_, secret) = self.manager.create_token(user, "tests", role).await.expect("token");
        secret.expose().to_string()
    }

    /// Signs `user` in through the API: the session cookie and CSRF token.
    pub async fn sign_in(&self, user: &str, password: &str) -> Auth {
        let a = self
            .call(
                &Auth::None,
                Method::POST,
                "/api/v1/session",
                Some(serde_json::json!({"username": user, "password": password})),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.text);
        let cookie = session_cookie(&a).expect("a session cookie");
        Auth::Session {
            cookie,
            csrf: a.json()["csrf_token"].as_str().expect("csrf").to_string(),
        }
    }

    /// Fails if any body seen so far contains one of `secrets` (except in the answers named in
    /// `allowed`, which show a secret once by design).
    pub fn assert_no_secrets(&self, secrets: &[&str], allowed: &[&str]) {
        let bodies = self.bodies.lock().expect("bodies");
        assert!(!bodies.is_empty());
        for (what, body) in bodies.iter() {
            for s in secrets {
                if s.len() >= 6 && body.contains(s) && !allowed.iter().any(|a| a == what) {
                    panic!("the answer to {what} contains a stored secret: {body}");
                }
            }
        }
    }
}

/// The session cookie an answer sets.
pub fn session_cookie(a: &Answer) -> Option<String> {
    a.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("ftpman_session="))
        .map(|v| v.split(';').next().unwrap_or("").to_string())
        .filter(|v| !v.is_empty())
}
