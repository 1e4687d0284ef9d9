//! Signing in and out.

use super::{PageResult, page};
use crate::auth::{Caller, SESSION_COOKIE};
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect};
use ftpman_core::Secret;
use ftpman_core::manager::ErrorKind;
use serde::Deserialize;
#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    base: String,
    asset_version: &'static str,
    next: String,
    username: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// Where to go after signing in: only a path of this site, never another host.
fn safe_next(s: &AppState, next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') && !n.contains(['\r', '\n']) => {
            n.to_string()
        }
        _ => format!("{}/", s.config.base_path),
    }
}

pub(super) async fn login_page(State(s): State<AppState>, Query(q): Query<NextQuery>) -> PageResult {
    page(LoginPage {
        base: s.config.base_path.clone(),
        asset_version: crate::assets::version(),
        next: safe_next(&s, q.next.as_deref()),
        username: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

pub(super) async fn login(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> PageResult {
    let next = safe_next(&s, f.next.as_deref());
    match s
        .manager
        .login(&f.username, &Secret::new(f.password), &caller.client.addr.to_string())
        .await
    {
        Ok((_, secret)) => {
            if let Some(old) = crate::auth::cookie(&headers, SESSION_COOKIE) {
                let _ = s.manager.logout(old).await;
            }
            let mut r = Redirect::to(&next).into_response();
            if let Some(c) = crate::api::session::session_cookie(
                &s,
                secret.expose(),
                ftpman_core::manager::access::SESSION_MAX.as_secs(),
                caller.client.https,
            ) {
                r.headers_mut().insert(header::SET_COOKIE, c);
            }
            Ok(r)
        }
        Err(e) if matches!(e.kind(), ErrorKind::Unauthorized | ErrorKind::RateLimited) => {
            let status = if e.kind() == ErrorKind::RateLimited {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            let body = LoginPage {
                base: s.config.base_path.clone(),
                asset_version: crate::assets::version(),
                next,
                username: f.username,
                error: Some(e.to_string()),
            }
            .render()?;
            Ok((status, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn logout(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    if let Some(secret) = &caller.session {
        s.manager.logout(secret).await?;
    }
    let mut r = Redirect::to(&format!("{}/login", s.config.base_path)).into_response();
    if let Some(c) = crate::api::session::session_cookie(&s, "", 0, caller.client.https) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}
