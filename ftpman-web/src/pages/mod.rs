//! The dashboard's pages: server-rendered HTML (askama, escaping by default) over the same core
//! calls as the API, made livelier by the project's own small script. Every page is useful
//! without script; none refers to any other host.

mod charts;
mod icons;
mod render;

use crate::auth::{Caller, SESSION_COOKIE, csrf_token};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use ftpman_core::manager::ErrorKind;
use ftpman_core::model::{RunStatus, UserRole};
use ftpman_core::{ManagerError, Secret};
use render::{duration, pill, when};
use serde::Deserialize;

/// Every page route, as (method, path): the router below serves exactly these, and the access
/// tests walk them.
pub const PAGES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/sites"),
    ("GET", "/sites/{name}"),
    ("POST", "/sites/{name}/test"),
    ("POST", "/sites/{name}/pin"),
    ("GET", "/jobs"),
    ("GET", "/jobs/new"),
    ("POST", "/jobs/new"),
    ("GET", "/jobs/{name}/edit"),
    ("POST", "/jobs/{name}/edit"),
    ("POST", "/jobs/{name}/run"),
    ("GET", "/runs"),
    ("GET", "/runs/{id}"),
    ("POST", "/runs/{id}/cancel"),
    ("GET", "/logs"),
    ("GET", "/upload"),
    ("POST", "/upload"),
    ("GET", "/settings"),
    ("POST", "/settings/smtp-test"),
    ("POST", "/settings/{key}"),
];

/// The page routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/sites", get(sites))
        .route("/sites/{name}", get(site_page))
        .route("/sites/{name}/test", post(site_test))
        .route("/sites/{name}/pin", post(site_pin))
        .route("/jobs", get(jobs))
        .route("/jobs/new", get(new_job).post(add_job))
        .route("/jobs/{name}/edit", get(edit_job).post(save_job))
        .route("/jobs/{name}/run", post(run_now))
        .route("/runs", get(runs))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/cancel", post(cancel))
        .route("/logs", get(logs))
        .route("/upload", get(upload_page).post(upload))
        .route("/settings", get(settings))
        .route("/settings/smtp-test", post(smtp_test))
        .route("/settings/{key}", post(set_setting))
}

/// A failed page: a short page saying what went wrong, with the status of its kind.
pub struct PageError(ApiError);

impl From<ManagerError> for PageError {
    fn from(e: ManagerError) -> Self {
        PageError(e.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError(ApiError::new(
            ErrorKind::Internal,
            format!("page could not be drawn: {e}"),
        ))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status.unwrap_or_else(|| ApiError::status_of(self.0.kind));
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · ftpman</title></head><body><main><h1>{t}</h1><p>{m}</p><p><a href=\"javascript:history.back()\">Back</a></p></main></body></html>",
            t = status.canonical_reason().unwrap_or("Error"),
            m = render::escape(&self.0.message),
        );
        (status, Html(body)).into_response()
    }
}

type PageResult = Result<Response, PageError>;

/// What every page's frame shows.
pub struct Layout {
    title: String,
    base: String,
    asset_version: &'static str,
    user: String,
    role: String,
    csrf: String,
    cluster_ok: bool,
    cluster_text: String,
    nav: Vec<NavItem>,
    icons: Icons,
}

struct Icons {
    menu: &'static str,
}

struct NavItem {
    href: &'static str,
    label: &'static str,
    icon: &'static str,
    current: bool,
}

async fn layout(s: &AppState, caller: &Caller, title: &str, current: &str) -> Result<Layout, PageError> {
    let user = caller.user().map_err(PageError)?;
    let nodes = s.manager.store().nodes().await.map_err(ManagerError::from)?;
    let now = chrono::Utc::now();
    let late = nodes
        .iter()
        .filter(|n| now - n.heartbeat_at > chrono::Duration::seconds(90))
        .count();
    let up = nodes.len() - late;
    let cluster_text = match (up, late) {
        (0, 0) => "no scheduler running".to_string(),
        (up, 0) => format!("{up} node{} up", if up == 1 { "" } else { "s" }),
        (up, late) => format!("{up} up, {late} late"),
    };
    let nav = [
        ("/", "Dashboard", icons::DASHBOARD),
        ("/sites", "Sites", icons::SITE),
        ("/jobs", "Jobs", icons::JOB),
        ("/runs", "Runs", icons::RUN),
        ("/logs", "Logs", icons::LOG),
        ("/upload", "Upload", icons::UPLOAD),
        ("/settings", "Settings", icons::SETTINGS),
    ]
    .into_iter()
    // Only admins may open the settings: nobody else is shown the way there.
    .filter(|(href, _, _)| match *href {
        "/settings" => user.role == UserRole::Admin,
        "/upload" => user.role.covers(UserRole::Operator),
        _ => true,
    })
    .map(|(href, label, icon)| NavItem {
        href,
        label,
        icon,
        current: href == current,
    })
    .collect();
    Ok(Layout {
        title: title.to_string(),
        base: s.config.base_path.clone(),
        asset_version: crate::assets::version(),
        user: user.username.clone(),
        role: user.role.to_string(),
        csrf: caller.session.as_deref().map(csrf_token).unwrap_or_default(),
        cluster_ok: late == 0 && up > 0,
        cluster_text,
        nav,
        icons: Icons { menu: icons::MENU },
    })
}

fn page(t: impl Template) -> PageResult {
    Ok(Html(t.render()?).into_response())
}

// --- sign-in -----------------------------------------------------------------------------

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
struct NextQuery {
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

async fn login_page(State(s): State<AppState>, Query(q): Query<NextQuery>) -> PageResult {
    page(LoginPage {
        base: s.config.base_path.clone(),
        asset_version: crate::assets::version(),
        next: safe_next(&s, q.next.as_deref()),
        username: String::new(),
        error: None,
    })
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

async fn login(
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

async fn logout(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    if let Some(secret) = &caller.session {
        s.manager.logout(secret).await?;
    }
    let mut r = Redirect::to(&format!("{}/login", s.config.base_path)).into_response();
    if let Some(c) = crate::api::session::session_cookie(&s, "", 0, caller.client.https) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

// --- dashboard ---------------------------------------------------------------------------

struct Stat {
    value: String,
    label: &'static str,
    note: String,
}

struct RunRow {
    id: i64,
    job: String,
    status: String,
    trigger: String,
    created: String,
    started: String,
    when: String,
    duration: String,
    files: String,
    bytes: String,
    error: String,
}

fn run_row(r: &ftpman_core::manager::views::RunView) -> RunRow {
    RunRow {
        id: r.id,
        job: r.job.clone(),
        status: pill(&r.status),
        trigger: r.trigger.clone(),
        created: when(Some(&r.created_at)),
        started: when(r.started_at.as_deref()),
        when: when(r.finished_at.as_deref().or(Some(&r.created_at))),
        duration: r.duration_s.map(duration).unwrap_or_else(|| "–".into()),
        files: format!("{}/{}", r.transferred, r.found),
        bytes: ftpman_core::validate::format_bytes(r.bytes.max(0) as u64),
        error: r.error.clone().unwrap_or_default(),
    }
}

struct FireRow {
    job: String,
    at: String,
    schedule: String,
}

struct NodeRow {
    id: String,
    started: String,
    heartbeat: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    layout: Layout,
    stats: Vec<Stat>,
    runs_chart: String,
    bytes_chart: String,
    running: Vec<RunRow>,
    failures: Vec<RunRow>,
    fires: Vec<FireRow>,
    nodes: Vec<NodeRow>,
}

fn rate(r: Option<f64>) -> String {
    r.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "–".into())
}

async fn dashboard(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    let layout = layout(&s, &caller, "Dashboard", "/").await?;
    let sum = s.manager.summary(chrono::Utc::now()).await?;
    let stats = vec![
        Stat {
            value: sum.sites.to_string(),
            label: "sites",
            note: String::new(),
        },
        Stat {
            value: sum.jobs.to_string(),
            label: "jobs",
            note: format!("{} enabled", sum.enabled_jobs),
        },
        Stat {
            value: sum.runs_today.to_string(),
            label: "runs today",
            note: String::new(),
        },
        Stat {
            value: rate(sum.success_rate_7d),
            label: "succeeded, 7 days",
            note: String::new(),
        },
        Stat {
            value: rate(sum.success_rate_30d),
            label: "succeeded, 30 days",
            note: String::new(),
        },
        Stat {
            value: ftpman_core::validate::format_bytes(sum.bytes_30d.max(0) as u64),
            label: "moved, 30 days",
            note: String::new(),
        },
    ];
    page(DashboardPage {
        runs_chart: charts::runs_per_day(&sum.days),
        bytes_chart: charts::bytes_per_day(&sum.days),
        running: sum.running.iter().map(run_row).collect(),
        failures: sum.recent_failures.iter().map(run_row).collect(),
        fires: sum
            .next_fires
            .iter()
            .map(|f| FireRow {
                job: f.job.clone(),
                at: when(Some(&f.at)),
                schedule: f.schedule.clone(),
            })
            .collect(),
        nodes: sum
            .nodes
            .iter()
            .map(|n| NodeRow {
                id: n.id.clone(),
                started: when(Some(&n.started_at)),
                heartbeat: when(Some(&n.heartbeat_at)),
            })
            .collect(),
        layout,
        stats,
    })
}

// --- sites and jobs ----------------------------------------------------------------------

struct SiteRow {
    name: String,
    protocol: String,
    url: String,
    credentials: String,
    max_connections: u32,
}

#[derive(Template)]
#[template(path = "sites.html")]
struct SitesPage {
    layout: Layout,
    sites: Vec<SiteRow>,
}

async fn sites(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    let layout = layout(&s, &caller, "Sites", "/sites").await?;
    let sites = s
        .manager
        .sites()
        .await?
        .iter()
        .map(|site| {
            let v = ftpman_core::manager::views::SiteView::from(site);
            let mut creds = Vec::new();
            if v.has_password {
                creds.push("password set");
            }
            if v.has_private_key {
                creds.push("key set");
            }
            if v.host_key.is_some() {
                creds.push("host key pinned");
            }
            if v.cert_fingerprint.is_some() {
                creds.push("certificate pinned");
            }
            SiteRow {
                name: v.name,
                protocol: v.protocol,
                url: v.url,
                credentials: if creds.is_empty() {
                    "–".into()
                } else {
                    creds.join(", ")
                },
                max_connections: v.max_connections,
            }
        })
        .collect();
    page(SitesPage { layout, sites })
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
    name: String,
    protocol: String,
    url: String,
    credentials: String,
    host_key: String,
    path: String,
    parent: Option<String>,
    entries: Vec<EntryRow>,
    list_error: Option<String>,
    test: Option<TestResult>,
    can_test: bool,
    can_pin: bool,
    can_download: bool,
}

#[derive(Deserialize)]
struct FolderQuery {
    path: Option<String>,
}

async fn site_view(s: &AppState, caller: &Caller, name: &str, path: &str, test: Option<TestResult>) -> PageResult {
    let site = s.manager.site(name).await?;
    let layout = layout(s, caller, &format!("Site {name}"), "/sites").await?;
    let role = caller.user().map(|p| p.role).unwrap_or(UserRole::Viewer);
    let v = ftpman_core::manager::views::SiteView::from(&site);
    let (entries, list_error) = match s.manager.list(name, path).await {
        Ok(mut entries) => {
            entries.sort_by(|a, b| {
                (b.kind == ftpman_core::transport::EntryKind::Dir)
                    .cmp(&(a.kind == ftpman_core::transport::EntryKind::Dir))
                    .then(a.name.cmp(&b.name))
            });
            let rows = entries
                .iter()
                .map(|e| {
                    let view = ftpman_core::manager::views::EntryView::from(e);
                    EntryRow {
                        dir: view.kind == "dir",
                        size: if view.kind == "dir" {
                            String::new()
                        } else {
                            ftpman_core::validate::format_bytes(view.size)
                        },
                        mtime: when(view.mtime.as_deref()),
                        name: view.name,
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
        name: v.name.clone(),
        protocol: v.protocol.clone(),
        url: v.url.clone(),
        credentials: [
            v.has_password.then_some("password set"),
            v.has_private_key.then_some("key set"),
            v.cert_fingerprint.is_some().then_some("certificate pinned"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", "),
        host_key: v.host_key.clone().unwrap_or_else(|| "–".into()),
        path: path.to_string(),
        parent,
        entries,
        list_error,
        test,
        can_test: role.covers(UserRole::Operator),
        can_pin: role.covers(UserRole::Admin),
        can_download: role.covers(UserRole::Operator),
    })
}

async fn site_page(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(q): Query<FolderQuery>,
) -> PageResult {
    let path = q.path.filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
    site_view(&s, &caller, &name, &path, None).await
}

async fn site_test(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> PageResult {
    let outcome = s.manager.test_site(&name).await?;
    let v = ftpman_core::manager::views::SiteTestView::from(&outcome);
    let test = TestResult {
        ok: v.ok,
        connect: v.connect_ms.map(|ms| duration(ms as f64 / 1000.0)).unwrap_or_default(),
        list: v.list_ms.map(|ms| duration(ms as f64 / 1000.0)).unwrap_or_default(),
        entries: v.root_entries.unwrap_or(0),
        message: v.message.unwrap_or_default(),
        advice: v.advice.unwrap_or_default(),
        offered: v.offered_host_key,
    };
    site_view(&s, &caller, &name, "/", Some(test)).await
}

#[derive(Deserialize)]
struct PinForm {
    host_key: String,
}

async fn site_pin(State(s): State<AppState>, Path(name): Path<String>, Form(f): Form<PinForm>) -> PageResult {
    let opts = ftpman_core::manager::SiteOptions {
        host_key: Some(f.host_key),
        ..Default::default()
    };
    s.manager.edit_site(&name, &opts).await?;
    Ok(Redirect::to(&format!("{}/sites/{name}", s.config.base_path)).into_response())
}

struct JobRow {
    name: String,
    enabled: bool,
    from: String,
    to: String,
    schedule: String,
    next: String,
    history: Vec<(i64, String)>,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    layout: Layout,
    jobs: Vec<JobRow>,
    can_run: bool,
    error: Option<String>,
}

async fn jobs(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    let layout = layout(&s, &caller, "Jobs", "/jobs").await?;
    let can_run = caller
        .user()
        .map(|p| p.role.covers(UserRole::Operator))
        .unwrap_or(false);
    let all = s.manager.jobs().await?;
    let views = s.manager.job_views(&all).await?;
    let mut rows = Vec::with_capacity(views.len());
    for v in views {
        let fires = s.manager.next_fires(&v.name, 1).await.unwrap_or_default();
        let history = s
            .manager
            .runs_page(&ftpman_core::manager::RunFilter {
                job: Some(v.name.clone()),
                limit: Some(10),
                ..Default::default()
            })
            .await?
            .items
            .iter()
            .rev()
            .map(|r| (r.id, r.status.as_str().to_string()))
            .collect();
        rows.push(JobRow {
            next: when(fires.first().map(|t| t.to_rfc3339()).as_deref()),
            name: v.name,
            enabled: v.enabled,
            from: v.from,
            to: v.to,
            schedule: v.schedule.text,
            history,
        });
    }
    page(JobsPage {
        layout,
        jobs: rows,
        can_run,
        error: None,
    })
}

async fn run_now(State(s): State<AppState>, Path(name): Path<String>) -> PageResult {
    let handle = s
        .manager
        .start_run(&name, false, ftpman_core::model::Trigger::Manual)
        .await?;
    Ok(Redirect::to(&format!("{}/runs/{}", s.config.base_path, handle.id())).into_response())
}

// --- the job form ------------------------------------------------------------------------

/// What the job form holds, as typed (kept as it was when a value is refused).
#[derive(Deserialize, Default)]
#[serde(default)]
struct JobFormValues {
    name: String,
    from: String,
    to: String,
    include: String,
    exclude: String,
    recursive: Option<String>,
    schedule: String,
    tz: String,
    min_age: String,
    after: String,
    on_conflict: String,
    parallel: String,
    retries: String,
    bwlimit: String,
    notify: String,
    email: String,
    csrf: String,
}

struct JobFormView {
    name: String,
    from: String,
    to: String,
    include: String,
    exclude: String,
    recursive: bool,
    schedule: String,
    tz: String,
    min_age: String,
    after: String,
    parallel: String,
    retries: String,
    bwlimit: String,
    email: String,
}

#[derive(Template)]
#[template(path = "job_form.html")]
struct JobFormPage {
    layout: Layout,
    editing: bool,
    v: JobFormView,
    sites: Vec<String>,
    conflicts: Vec<(String, bool)>,
    notifies: Vec<(String, bool)>,
    schedule_words: String,
    error_field: String,
    error_message: String,
    general_error: Option<String>,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn given(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl JobFormValues {
    /// The options the core reads; a number that does not parse is refused naming its field.
    fn options(&self, editing: bool) -> Result<ftpman_core::manager::JobOptions, ManagerError> {
        let number = |field: &str, text: &str| -> Result<Option<u32>, ManagerError> {
            match given(text) {
                None => Ok(None),
                Some(t) => t.parse().map(Some).map_err(|_| {
                    ftpman_core::ValidationError::new(field, format!("'{t}' is not a whole number")).into()
                }),
            }
        };
        Ok(ftpman_core::manager::JobOptions {
            from: given(&self.from),
            to: given(&self.to),
            include: Some(list(&self.include)),
            exclude: Some(list(&self.exclude)),
            recursive: Some(self.recursive.is_some()),
            min_age: given(&self.min_age),
            schedule: given(&self.schedule),
            tz: given(&self.tz),
            // An emptied schedule makes the job manual.
            manual: given(&self.schedule).is_none() && editing,
            after: given(&self.after),
            on_conflict: given(&self.on_conflict),
            parallel: number("parallel", &self.parallel)?,
            retries: number("retries", &self.retries)?,
            bwlimit: Some(given(&self.bwlimit).unwrap_or_else(|| "none".into())),
            notify: given(&self.notify),
            email: Some(list(&self.email)),
            ..Default::default()
        })
    }

    fn view(&self) -> JobFormView {
        JobFormView {
            name: self.name.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            recursive: self.recursive.is_some(),
            schedule: self.schedule.clone(),
            tz: self.tz.clone(),
            min_age: self.min_age.clone(),
            after: self.after.clone(),
            parallel: self.parallel.clone(),
            retries: self.retries.clone(),
            bwlimit: self.bwlimit.clone(),
            email: self.email.clone(),
        }
    }

    fn from_job(j: &ftpman_core::manager::views::JobView) -> JobFormValues {
        JobFormValues {
            name: j.name.clone(),
            from: j.from.clone(),
            to: j.to.clone(),
            include: j.include.join(", "),
            exclude: j.exclude.join(", "),
            recursive: j.recursive.then(|| "on".to_string()),
            schedule: j.schedule.cron.clone().unwrap_or_default(),
            tz: j.schedule.tz.clone().unwrap_or_default(),
            min_age: j.min_age.clone(),
            after: j.after.clone(),
            on_conflict: j.on_conflict.clone(),
            parallel: j.parallel.to_string(),
            retries: j.retries.to_string(),
            bwlimit: j.bwlimit.clone().unwrap_or_default(),
            notify: j.notify.clone(),
            email: j.email.join(", "),
            csrf: String::new(),
        }
    }
}

async fn job_form(
    s: &AppState,
    caller: &Caller,
    editing: bool,
    values: &JobFormValues,
    error: Option<&ManagerError>,
) -> Result<String, PageError> {
    let title = if editing {
        format!("Edit {}", values.name)
    } else {
        "Add a job".into()
    };
    let layout = layout(s, caller, &title, "/jobs").await?;
    let sites = s.manager.sites().await?.into_iter().map(|x| x.name).collect();
    let pick = |options: &[&str], current: &str, default: &str| -> Vec<(String, bool)> {
        let current = if current.is_empty() { default } else { current };
        options.iter().map(|o| (o.to_string(), *o == current)).collect()
    };
    let schedule_words = match given(&values.schedule) {
        None => "No schedule: the job runs when started.".to_string(),
        Some(cron) => s
            .manager
            .describe_schedule(&cron, given(&values.tz).as_deref(), 1)
            .map(|(text, _)| text)
            .unwrap_or_default(),
    };
    let (error_field, error_message, general_error) = match error {
        None => (String::new(), String::new(), None),
        Some(e) => match e.field() {
            Some(f) => (f.to_string(), e.to_string(), None),
            None => (String::new(), String::new(), Some(e.to_string())),
        },
    };
    Ok(JobFormPage {
        layout,
        editing,
        v: values.view(),
        sites,
        conflicts: pick(
            &["replace-own", "overwrite", "skip", "rename", "fail"],
            &values.on_conflict,
            "replace-own",
        ),
        notifies: pick(&["never", "failure", "always"], &values.notify, "never"),
        schedule_words,
        error_field,
        error_message,
        general_error,
    }
    .render()?)
}

async fn new_job(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    let values = JobFormValues {
        parallel: "4".into(),
        retries: "3".into(),
        ..Default::default()
    };
    Ok(Html(job_form(&s, &caller, false, &values, None).await?).into_response())
}

async fn add_job(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(f): Form<JobFormValues>,
) -> PageResult {
    let result = match f.options(false) {
        Ok(opts) => s.manager.add_job(f.name.trim(), &opts).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("{}/jobs", s.config.base_path)).into_response()),
        Err(e)
            if e.kind() == ErrorKind::InvalidInput
                || e.kind() == ErrorKind::AlreadyExists
                || e.kind() == ErrorKind::NotFound =>
        {
            let body = job_form(&s, &caller, false, &f, Some(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn edit_job(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> PageResult {
    let job = s.manager.job(&name).await?;
    let view = s.manager.job_views(std::slice::from_ref(&job)).await?.remove(0);
    let values = JobFormValues::from_job(&view);
    Ok(Html(job_form(&s, &caller, true, &values, None).await?).into_response())
}

async fn save_job(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Form(mut f): Form<JobFormValues>,
) -> PageResult {
    f.name = name.clone();
    let result = match f.options(true) {
        Ok(opts) => s.manager.edit_job(&name, &opts).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("{}/jobs", s.config.base_path)).into_response()),
        Err(e) if e.kind() == ErrorKind::InvalidInput || e.kind() == ErrorKind::NotFound && e.field().is_some() => {
            let body = job_form(&s, &caller, true, &f, Some(&e)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

// --- runs --------------------------------------------------------------------------------

#[derive(Deserialize)]
struct RunsQuery {
    job: Option<String>,
    status: Option<String>,
    cursor: Option<i64>,
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    layout: Layout,
    runs: Vec<RunRow>,
    job: String,
    status: String,
    statuses: Vec<(String, bool)>,
    next: Option<i64>,
    error: Option<String>,
}

const STATUSES: &[&str] = &[
    "",
    "queued",
    "running",
    "succeeded",
    "partial",
    "failed",
    "skipped",
    "cancelled",
    "interrupted",
];

async fn runs(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<RunsQuery>,
) -> PageResult {
    let layout = layout(&s, &caller, "Runs", "/runs").await?;
    let job = q.job.unwrap_or_default();
    let status = q.status.unwrap_or_default();
    let statuses = STATUSES.iter().map(|v| (v.to_string(), *v == status)).collect();
    let filter = ftpman_core::manager::RunFilter {
        job: (!job.is_empty()).then(|| job.clone()),
        status: status.parse::<RunStatus>().ok(),
        before: q.cursor,
        limit: Some(50),
        ..Default::default()
    };
    let (rows, next, error) = match s.manager.runs_page(&filter).await {
        Ok(p) => (
            s.manager.run_views(&p.items).await?.iter().map(run_row).collect(),
            p.next,
            None,
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => (Vec::new(), None, Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    page(RunsPage {
        layout,
        runs: rows,
        job,
        status,
        statuses,
        next,
        error,
    })
}

struct RunFacts {
    id: i64,
    job: String,
    status: String,
    trigger: String,
    dry_run: bool,
    final_state: bool,
    found: i64,
    transferred: i64,
    skipped: i64,
    failed: i64,
    bytes: String,
    duration: String,
    started: String,
    node: String,
    error: String,
}

struct FileRow {
    source: String,
    target: String,
    size: String,
    duration: String,
    status: String,
    error: String,
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    layout: Layout,
    run: RunFacts,
    files: Vec<FileRow>,
    more_files: bool,
}

const FILES_SHOWN: i64 = 500;

async fn run(State(s): State<AppState>, Extension(caller): Extension<Caller>, Path(id): Path<i64>) -> PageResult {
    let record = s.manager.run_record(id).await?;
    let layout = layout(&s, &caller, &format!("Run {id}"), "/runs").await?;
    let v = s.manager.run_view(&record).await?;
    let files = s.manager.run_files_page(id, 0, FILES_SHOWN).await?;
    page(RunPage {
        layout,
        more_files: files.next.is_some(),
        files: files
            .items
            .iter()
            .map(|f| FileRow {
                source: f.source_path.clone(),
                target: f.target_path.clone(),
                size: ftpman_core::validate::format_bytes(f.size.max(0) as u64),
                duration: duration(f.duration.as_secs_f64()),
                status: pill(f.status.as_str()),
                error: f.error.clone().unwrap_or_default(),
            })
            .collect(),
        run: RunFacts {
            id: v.id,
            job: v.job.clone(),
            status: pill(&v.status),
            trigger: v.trigger.clone(),
            dry_run: v.dry_run,
            final_state: record.status.is_final(),
            found: v.found,
            transferred: v.transferred,
            skipped: v.skipped,
            failed: v.failed,
            bytes: ftpman_core::validate::format_bytes(v.bytes.max(0) as u64),
            duration: v.duration_s.map(duration).unwrap_or_else(|| "–".into()),
            started: when(v.started_at.as_deref()),
            node: v.node.clone().unwrap_or_else(|| "–".into()),
            error: v.error.clone().unwrap_or_default(),
        },
    })
}

async fn cancel(State(s): State<AppState>, Path(id): Path<i64>) -> PageResult {
    s.manager.cancel_run(id).await?;
    Ok(Redirect::to(&format!("{}/runs/{id}", s.config.base_path)).into_response())
}

// --- logs --------------------------------------------------------------------------------

#[derive(Deserialize)]
struct LogsQuery {
    level: Option<String>,
    component: Option<String>,
    job: Option<String>,
    cursor: Option<i64>,
}

struct LogRow {
    time: String,
    level: String,
    component: String,
    message: String,
}

#[derive(Template)]
#[template(path = "logs.html")]
struct LogsPage {
    layout: Layout,
    entries: Vec<LogRow>,
    level: String,
    levels: Vec<(String, bool)>,
    component: String,
    job: String,
    next: Option<i64>,
    error: Option<String>,
}

async fn logs(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<LogsQuery>,
) -> PageResult {
    let layout = layout(&s, &caller, "Logs", "/logs").await?;
    let level = q.level.unwrap_or_default();
    let component = q.component.unwrap_or_default();
    let job = q.job.unwrap_or_default();
    let filter = ftpman_core::manager::LogFilter {
        level: level.parse().ok(),
        component: (!component.is_empty()).then(|| component.clone()),
        job: (!job.is_empty()).then(|| job.clone()),
        before: q.cursor,
        limit: Some(100),
        ..Default::default()
    };
    let page_of = s.manager.logs_page(&filter).await?;
    let entries = page_of
        .items
        .iter()
        .map(|e| LogRow {
            time: when(Some(&e.time.to_rfc3339())),
            level: e.level.as_str().to_string(),
            component: e.component.clone(),
            message: e.message.clone(),
        })
        .collect();
    let levels = ["", "info", "warn", "error"]
        .iter()
        .map(|v| (v.to_string(), *v == level))
        .collect();
    page(LogsPage {
        layout,
        entries,
        level,
        levels,
        component,
        job,
        next: page_of.next,
        error: None,
    })
}

// --- settings ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    layout: Layout,
    settings: Vec<ftpman_core::manager::views::SettingInfoView>,
    to: String,
    notice: Option<String>,
    error_field: String,
    error_message: String,
    general_error: Option<String>,
}

async fn settings_view(
    s: &AppState,
    caller: &Caller,
    to: String,
    notice: Option<String>,
    error: Option<(&str, &ManagerError)>,
) -> Result<String, PageError> {
    let layout = layout(s, caller, "Settings", "/settings").await?;
    let (error_field, error_message, general_error) = match error {
        None => (String::new(), String::new(), None),
        Some((field, e)) => match e.kind() {
            ErrorKind::InvalidInput => (field.to_string(), e.to_string(), None),
            _ => (String::new(), String::new(), Some(e.to_string())),
        },
    };
    Ok(SettingsPage {
        layout,
        settings: s.manager.setting_infos().await?,
        to,
        notice,
        error_field,
        error_message,
        general_error,
    }
    .render()?)
}

async fn settings(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    Ok(Html(settings_view(&s, &caller, String::new(), None, None).await?).into_response())
}

#[derive(Deserialize)]
struct SettingForm {
    value: String,
}

async fn set_setting(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(key): Path<String>,
    Form(f): Form<SettingForm>,
) -> PageResult {
    let known = s.manager.setting_infos().await?;
    let secret = known.iter().any(|k| k.key == key && k.secret);
    // An empty secret field leaves the secret as it is (it is never shown, so it is never sent back).
    if secret && f.value.is_empty() {
        return Ok(Redirect::to(&format!("{}/settings", s.config.base_path)).into_response());
    }
    let result = if f.value.trim().is_empty() {
        s.manager.unset_setting(&key).await.map(|_| ())
    } else {
        s.manager.set_setting(&key, f.value.trim()).await
    };
    match result {
        Ok(()) => {
            let body = settings_view(&s, &caller, String::new(), Some(format!("{key} saved")), None).await?;
            Ok(Html(body).into_response())
        }
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            let body = settings_view(&s, &caller, String::new(), None, Some((&key, &e))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Html(body)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct SmtpTestForm {
    to: String,
}

async fn smtp_test(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    Form(f): Form<SmtpTestForm>,
) -> PageResult {
    match s.manager.smtp_test(&f.to).await {
        Ok(()) => {
            let notice = Some(format!("a test e-mail went to {}", f.to));
            Ok(Html(settings_view(&s, &caller, f.to, notice, None).await?).into_response())
        }
        Err(e) => {
            let status = if e.kind() == ErrorKind::InvalidInput {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::BAD_GATEWAY
            };
            let body = settings_view(&s, &caller, f.to.clone(), None, Some(("email", &e))).await?;
            Ok((status, Html(body)).into_response())
        }
    }
}

// --- upload ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    layout: Layout,
    sites: Vec<(String, bool)>,
    path: String,
    limit: String,
    notice: Option<String>,
    error: Option<String>,
}

async fn upload_view(
    s: &AppState,
    caller: &Caller,
    site: &str,
    path: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<String, PageError> {
    let layout = layout(s, caller, "Upload", "/upload").await?;
    let sites = s
        .manager
        .sites()
        .await?
        .into_iter()
        .map(|x| {
            let chosen = x.name == site;
            (x.name, chosen)
        })
        .collect();
    Ok(UploadPage {
        layout,
        sites,
        path: path.to_string(),
        limit: ftpman_core::validate::format_bytes(s.config.upload_limit),
        notice,
        error,
    }
    .render()?)
}

async fn upload_page(State(s): State<AppState>, Extension(caller): Extension<Caller>) -> PageResult {
    Ok(Html(upload_view(&s, &caller, "", "/", None, None).await?).into_response())
}

/// The upload form: its text fields come first (the form puts them before the files), then
/// the files, each streamed to the site as it arrives.
async fn upload(
    State(s): State<AppState>,
    Extension(caller): Extension<Caller>,
    mut form: axum::extract::Multipart,
) -> PageResult {
    let (mut site, mut path, mut overwrite) = (String::new(), "/".to_string(), false);
    let outcome = loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break Err(ApiError::invalid("file", "choose at least one file")),
            Err(e) => break Err(ApiError::malformed(Some("file".into()), e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            // The first file, then the rest, through the API's own upload.
            let first = crate::api::files::store_part(&s, &site, &path, overwrite, field).await;
            break match first {
                Ok(first) => crate::api::files::store_parts(&s, &site, &path, overwrite, &mut form)
                    .await
                    .map(|rest| std::iter::once(first).chain(rest).collect::<Vec<_>>()),
                Err(e) => Err(e),
            };
        }
        let value = field.text().await.unwrap_or_default();
        match name.as_str() {
            "site" => site = value,
            "path" => {
                path = if value.trim().is_empty() {
                    "/".into()
                } else {
                    value.trim().to_string()
                }
            }
            "overwrite" => overwrite = value == "on",
            _ => {}
        }
    };
    match outcome {
        Ok(files) => {
            let names: Vec<String> = files
                .iter()
                .map(|f| format!("{} ({})", f.name, ftpman_core::validate::format_bytes(f.bytes)))
                .collect();
            let notice = Some(format!("uploaded to {site}:{path}: {}", names.join(", ")));
            Ok(Html(upload_view(&s, &caller, &site, &path, notice, None).await?).into_response())
        }
        Err(e) => {
            let status = e.status.unwrap_or_else(|| ApiError::status_of(e.kind));
            let body = upload_view(&s, &caller, &site, &path, None, Some(e.message)).await?;
            Ok((status, Html(body)).into_response())
        }
    }
}
