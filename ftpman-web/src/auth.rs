//! The one access check, laid over every route: who is asking (a bearer token, or the session
//! cookie), whether a cookie-carrying change really comes from ftpman's own pages (CSRF), and
//! whether their role allows the route ([`crate::policy`]). Handlers only ever see a [`Caller`]
//! that passed.

use crate::client::Client;
use crate::error::ApiError;
use crate::policy::{self, Access};
use crate::state::AppState;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ftpman_core::manager::ErrorKind;
use ftpman_core::model::Principal;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ftpman_session";
/// The header a script sends its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is calling, once the access check passed.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user and the role in force; `None` on a public route called anonymously.
    pub principal: Option<Principal>,
    /// The session's secret, when the caller came with the session cookie.
    pub session: Option<String>,
    /// The client.
    pub client: Client,
}

impl Caller {
    /// The signed-in user (public routes have none).
    pub fn user(&self) -> Result<&Principal, ApiError> {
        self.principal
            .as_ref()
            .ok_or_else(|| ApiError::new(ErrorKind::Unauthorized, "sign in first"))
    }
}

/// The CSRF token of a session: derived from its secret, so that nothing more is stored, and
/// useless without it (a page of ftpman's own is given it; another site cannot read it).
pub fn csrf_token(session_secret: &str) -> String {
    Sha256::digest(format!("ftpman-csrf\0{session_secret}").as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether what a browser says of a request's origin (`Sec-Fetch-Site`, `Origin`) names no
/// other site. A client that sends neither (a script, curl) passes here.
fn browser_same_origin(headers: &HeaderMap, client: &Client) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && site != "same-origin"
        && site != "none"
    {
        return false;
    }
    if let Some(origin) = text("origin") {
        let host = origin.split_once("://").map(|(_, h)| h).unwrap_or("");
        if origin == "null" || client.host.as_deref() != Some(host) {
            return false;
        }
    }
    true
}

/// Whether a change sent with the session cookie comes from ftpman's own pages: the browser's
/// `Sec-Fetch-Site` and `Origin` must not name another site, and a client that sends neither
/// must send the session's CSRF token.
fn same_origin(headers: &HeaderMap, client: &Client, session: &str) -> bool {
    if !browser_same_origin(headers, client) {
        return false;
    }
    let said = headers.contains_key("sec-fetch-site") || headers.contains_key("origin");
    said || headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t == csrf_token(session))
}

fn refuse(kind: ErrorKind, message: &str) -> Response {
    let mut response = ApiError::new(kind, message).into_response();
    if kind == ErrorKind::Unauthorized {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    response
}

/// The middleware: identifies, checks and admits (or refuses) every request.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let client = Client::of(peer, req.headers(), &state.config.trusted_proxies);
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    let route = matched
        .strip_prefix(state.config.base_path.as_str())
        .unwrap_or(&matched)
        .to_string();
    let access = policy::required(req.method(), &route);
    let mut caller = Caller {
        principal: None,
        session: None,
        client: client.clone(),
    };
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if access == Access::Anyone {
        // A sign-in posted from another site's page would sign the browser in as the
        // attacker's user (login CSRF): a browser's own headers say where it comes from.
        if !safe && !browser_same_origin(req.headers(), &client) {
            return refuse(ErrorKind::Forbidden, "refused: a sign-in sent from another site (CSRF)");
        }
        req.extensions_mut().insert(caller);
        return next.run(req).await;
    }
    let headers = req.headers();
    if let Some(token) = bearer(headers) {
        match state.manager.verify_token(token).await {
            Ok(p) => caller.principal = Some(p),
            Err(e) if e.kind() == ErrorKind::Unauthorized => {
                return refuse(
                    ErrorKind::Unauthorized,
                    "the API token is not valid (unknown or revoked)",
                );
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else if let Some(secret) = cookie(headers, SESSION_COOKIE) {
        match state.manager.session(secret).await {
            Ok(p) => {
                caller.principal = Some(p);
                caller.session = Some(secret.to_string());
            }
            Err(e) if e.kind() == ErrorKind::Unauthorized => {
                return refuse(ErrorKind::Unauthorized, "the session has ended; sign in again");
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let Some(principal) = caller.principal.clone() else {
        // A person opening a page is sent to sign in, and brought back afterwards.
        let page = !route.starts_with("/api/") && route != "/metrics";
        if page && *req.method() == Method::GET {
            // The path as the browser asked for it (a nested router sees it without the base).
            let uri = req
                .extensions()
                .get::<axum::extract::OriginalUri>()
                .map(|o| o.0.clone())
                .unwrap_or_else(|| req.uri().clone());
            let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let next: String = back
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            let to = format!("{}/login?next={next}", state.config.base_path);
            return axum::response::Redirect::to(&to).into_response();
        }
        return refuse(
            ErrorKind::Unauthorized,
            "sign in (POST /api/v1/session) or send Authorization: Bearer <token>",
        );
    };
    if let Some(secret) = &caller.session
        && !safe
        && !same_origin(req.headers(), &client, secret)
    {
        return refuse(
            ErrorKind::Forbidden,
            "refused: a change sent with the session cookie from another site (CSRF)",
        );
    }
    if let Access::Role(needed) = access
        && !principal.role.covers(needed)
    {
        return refuse(
            ErrorKind::Forbidden,
            &format!("'{}' is {}; this needs {needed}", principal.username, principal.role),
        );
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
