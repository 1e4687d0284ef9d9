//! The sites: the list with each site's last test, and a site's page (its facts, a connection
//! test that can pin the offered host key, and a folder browser).

use super::render::{duration, when};
use super::{Frame, Layout, PageResult, flash, layout, page};
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use ftpman_core::manager::ErrorKind;
use ftpman_core::manager::views::{EntryView, SiteTestView, SiteView};
use ftpman_core::model::UserRole;
use ftpman_core::transport::EntryKind;
use serde::Deserialize;

struct SiteRow {
    name: String,
    protocol: String,
    url: String,
    credentials: String,
    max_connections: u32,
    tested: Option<(bool, String, String)>,
}

/// What a site's secrets and pins amount to, in words ("password set, host key pinned").
fn credentials(v: &SiteView, with_host_key: bool) -> String {
    let words: Vec<&str> = [
        v.has_password.then_some("password set"),
        v.has_private_key.then_some("key set"),
        (with_host_key && v.host_key.is_some()).then_some("host key pinned"),
        v.cert_fingerprint.is_some().then_some("certificate pinned"),
        v.insecure_skip_verify.then_some("TLS not verified"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if words.is_empty() {
        "–".into()
    } else {
        words.join(", ")
    }
}

#[derive(Template)]
#[template(path = "sites.html")]
struct SitesPage {
    layout: Layout,
    sites: Vec<SiteRow>,
    can_edit: bool,
}

pub(super) async fn sites(State(s): State<AppState>, frame: Frame) -> PageResult {
    let layout = layout(&s, &frame, "Sites", "/sites").await?;
    let sites = s
        .manager
        .site_views()
        .await?
        .into_iter()
        .map(|v| SiteRow {
            credentials: credentials(&v, true),
            tested: v
                .last_test
                .as_ref()
                .map(|t| (t.ok, when(Some(&t.tested_at)), t.message.clone().unwrap_or_default())),
            name: v.name,
            protocol: v.protocol,
            url: v.url,
            max_connections: v.max_connections,
        })
        .collect();
    page(SitesPage {
        layout,
        sites,
        can_edit: frame.can(UserRole::Admin),
    })
}

struct TestResult {
    ok: bool,
    connect: String,
    list: String,
    entries: usize,
    message: String,
    advice: String,
    offered: Option<String>,
}

struct EntryRow {
    name: String,
    path: String,
    dir: bool,
    size: String,
    mtime: String,
}

#[derive(Template)]
#[template(path = "site.html")]
struct SitePage {
    layout: Layout,
    site: SiteView,
    credentials: String,
    path: String,
    parent: Option<String>,
    entries: Vec<EntryRow>,
    list_error: Option<String>,
    test: Option<TestResult>,
    can_test: bool,
    can_edit: bool,
    can_download: bool,
}

#[derive(Deserialize)]
pub(super) struct FolderQuery {
    path: Option<String>,
}

async fn site_view(s: &AppState, frame: &Frame, name: &str, path: &str, test: Option<TestResult>) -> PageResult {
    let site = s.manager.site(name).await?;
    let layout = layout(s, frame, &format!("Site {name}"), "/sites").await?;
    let v = SiteView::from(&site);
    let (entries, list_error) = match s.manager.list(name, path).await {
        Ok(mut entries) => {
            // Folders first, then by name.
            entries.sort_by(|a, b| {
                (b.kind == EntryKind::Dir)
                    .cmp(&(a.kind == EntryKind::Dir))
                    .then(a.name.cmp(&b.name))
            });
            let rows = entries
                .iter()
                .map(|e| {
                    let view = EntryView::from(e);
                    EntryRow {
                        dir: view.kind == "dir",
                        size: if view.kind == "dir" {
                            String::new()
                        } else {
                            ftpman_core::validate::format_bytes(view.size)
                        },
                        mtime: when(view.mtime.as_deref()),
                        // The name as sent, with what could disguise it made visible.
                        name: ftpman_core::validate::visible(&view.name),
                        path: view.path,
                    }
                })
                .collect();
            (rows, None)
        }
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let parent = (path != "/" && !path.is_empty()).then(|| ftpman_core::transport::path::parent(path));
    page(SitePage {
        layout,
        credentials: credentials(&v, false),
        site: v,
        path: path.to_string(),
        parent,
        entries,
        list_error,
        test,
        can_test: frame.can(UserRole::Operator),
        can_edit: frame.can(UserRole::Admin),
        can_download: frame.can(UserRole::Operator),
    })
}

pub(super) async fn site_page(
    State(s): State<AppState>,
    frame: Frame,
    Path(name): Path<String>,
    Query(q): Query<FolderQuery>,
) -> PageResult {
    let path = q.path.filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
    site_view(&s, &frame, &name, &path, None).await
}

pub(super) async fn site_test(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    let outcome = s.manager.test_site(&name).await?;
    let v = SiteTestView::from(&outcome);
    let test = TestResult {
        ok: v.ok,
        connect: v.connect_ms.map(|ms| duration(ms as f64 / 1000.0)).unwrap_or_default(),
        list: v.list_ms.map(|ms| duration(ms as f64 / 1000.0)).unwrap_or_default(),
        entries: v.root_entries.unwrap_or(0),
        message: v.message.unwrap_or_default(),
        advice: v.advice.unwrap_or_default(),
        offered: v.offered_host_key,
    };
    site_view(&s, &frame, &name, "/", Some(test)).await
}

#[derive(Deserialize)]
pub(super) struct PinForm {
    host_key: String,
}

pub(super) async fn site_pin(
    State(s): State<AppState>,
    frame: Frame,
    Path(name): Path<String>,
    Form(f): Form<PinForm>,
) -> PageResult {
    let opts = ftpman_core::manager::SiteOptions {
        host_key: Some(f.host_key.clone()),
        ..Default::default()
    };
    s.manager.edit_site(&name, &opts).await?;
    let message = format!("host key {} pinned for {name}", f.host_key);
    Ok(flash::redirect(
        &s,
        &format!("/sites/{}", super::segment(&name)),
        &message,
        frame.caller.client.https,
    ))
}

pub(super) async fn remove_site(State(s): State<AppState>, frame: Frame, Path(name): Path<String>) -> PageResult {
    let https = frame.caller.client.https;
    match s.manager.remove_site(&name).await {
        Ok(()) => Ok(flash::redirect(&s, "/sites", &format!("site {name} removed"), https)),
        // A site that jobs use stays; its page says which jobs.
        Err(e) if e.kind() == ErrorKind::InUse => Ok(flash::redirect_error(
            &s,
            &format!("/sites/{}", super::segment(&name)),
            &e.to_string(),
            https,
        )),
        Err(e) => Err(e.into()),
    }
}
