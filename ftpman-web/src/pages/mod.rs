//! The dashboard's pages: server-rendered HTML (askama, escaping by default) over the same core
//! calls as the API, made livelier by the project's own small script. Every page is useful
//! without script; none refers to any other host. One module per part of the dashboard.

mod charts;
mod dashboard;
mod flash;
mod groups;
mod icons;
mod job_form;
mod jobs;
mod logs;
mod render;
mod runs;
mod session;
mod settings;
mod site_form;
mod sites;
mod upload;
mod users;

use crate::auth::{Caller, csrf_token};
use crate::error::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Router, middleware};
pub use flash::Flash;
use ftpman_core::ManagerError;
use ftpman_core::manager::ErrorKind;
use ftpman_core::model::UserRole;
use render::{duration, pill, when};

/// Every page route, as (method, path): the router below serves exactly these, and the access
/// tests walk them.
pub const PAGES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/logout"),
    ("GET", "/sites"),
    ("GET", "/sites/new"),
    ("POST", "/sites/new"),
    ("GET", "/sites/{name}"),
    ("GET", "/sites/{name}/edit"),
    ("POST", "/sites/{name}/edit"),
    ("POST", "/sites/{name}/remove"),
    ("POST", "/sites/{name}/test"),
    ("POST", "/sites/{name}/pin"),
    ("GET", "/jobs"),
    ("GET", "/jobs/new"),
    ("POST", "/jobs/new"),
    ("GET", "/jobs/{name}"),
    ("GET", "/jobs/{name}/edit"),
    ("POST", "/jobs/{name}/edit"),
    ("POST", "/jobs/{name}/run"),
    ("POST", "/jobs/{name}/dry-run"),
    ("POST", "/jobs/{name}/enable"),
    ("POST", "/jobs/{name}/disable"),
    ("POST", "/jobs/{name}/remove"),
    ("GET", "/runs"),
    ("GET", "/runs/{id}"),
    ("POST", "/runs/{id}/cancel"),
    ("GET", "/logs"),
    ("GET", "/upload"),
    ("POST", "/upload"),
    ("GET", "/settings"),
    ("POST", "/settings/smtp-test"),
    ("POST", "/settings/users"),
    ("POST", "/settings/users/{name}"),
    ("POST", "/settings/users/{name}/remove"),
    ("POST", "/settings/tokens"),
    ("POST", "/settings/tokens/{id}/revoke"),
    ("POST", "/settings/{key}"),
];

/// The page routes.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::dashboard))
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/sites", get(sites::sites))
        .route("/sites/new", get(site_form::new_site).post(site_form::add_site))
        .route("/sites/{name}", get(sites::site_page))
        .route(
            "/sites/{name}/edit",
            get(site_form::edit_site).post(site_form::save_site),
        )
        .route("/sites/{name}/remove", post(sites::remove_site))
        .route("/sites/{name}/test", post(sites::site_test))
        .route("/sites/{name}/pin", post(sites::site_pin))
        .route("/jobs", get(jobs::jobs))
        .route("/jobs/new", get(job_form::new_job).post(job_form::add_job))
        .route("/jobs/{name}", get(jobs::job_page))
        .route("/jobs/{name}/edit", get(job_form::edit_job).post(job_form::save_job))
        .route("/jobs/{name}/run", post(jobs::run_now))
        .route("/jobs/{name}/dry-run", post(jobs::dry_run))
        .route("/jobs/{name}/enable", post(jobs::enable))
        .route("/jobs/{name}/disable", post(jobs::disable))
        .route("/jobs/{name}/remove", post(jobs::remove_job))
        .route("/groups/{name}", get(groups::group_page))
        .route("/groups/{name}/run", post(groups::run_now))
        .route("/runs", get(runs::runs))
        .route("/runs/{id}", get(runs::run))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/logs", get(logs::logs))
        .route("/upload", get(upload::upload_page).post(upload::upload))
        .route("/settings", get(settings::settings))
        .route("/settings/smtp-test", post(settings::smtp_test))
        .route("/settings/users", post(users::add_user))
        .route("/settings/users/{name}", post(users::edit_user))
        .route("/settings/users/{name}/remove", post(users::remove_user))
        .route("/settings/tokens", post(users::create_token))
        .route("/settings/tokens/{id}/revoke", post(users::revoke_token))
        .route("/settings/{key}", post(settings::set_setting))
        .layer(middleware::from_fn_with_state(state.clone(), flash::carry))
}

/// A failed page: a short page saying what went wrong, with the status of its kind.
pub struct PageError(ApiError);

impl From<ManagerError> for PageError {
    fn from(e: ManagerError) -> Self {
        PageError(e.into())
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError(e)
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
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} · ftpman</title></head><body><main><h1>{t}</h1><p>{m}</p><p>Go back to the page before to try again.</p></main></body></html>",
            t = status.canonical_reason().unwrap_or("Error"),
            m = render::escape(&self.0.message),
        );
        (status, Html(body)).into_response()
    }
}

type PageResult = Result<Response, PageError>;

/// Who is asking, and the message the page before left for them (see [`flash`]).
pub struct Frame {
    caller: Caller,
    flash: Option<Flash>,
}

impl Frame {
    /// The caller's role (a viewer's when nobody is signed in).
    fn role(&self) -> UserRole {
        self.caller
            .principal
            .as_ref()
            .map(|p| p.role)
            .unwrap_or(UserRole::Viewer)
    }

    /// Whether the caller's role covers `role`.
    fn can(&self, role: UserRole) -> bool {
        self.role().covers(role)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Frame {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| PageError(ApiError::new(ErrorKind::Internal, "the access check did not run")))?;
        let flash = parts.extensions.get::<Flash>().cloned();
        Ok(Frame { caller, flash })
    }
}

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
    toast: Option<Flash>,
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

async fn layout(s: &AppState, frame: &Frame, title: &str, current: &str) -> Result<Layout, PageError> {
    let caller = &frame.caller;
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
    // Nobody is shown the way to a page their role may not open.
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
        toast: frame.flash.clone(),
    })
}

/// A name as one segment of a URL path (names are plain, but a link never trusts that).
fn segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn page(t: impl Template) -> PageResult {
    Ok(Html(t.render()?).into_response())
}

/// Where a field error goes on a form: the field it names and its message, or a message for the
/// whole form when it names none.
struct FormError {
    field: String,
    message: String,
    general: Option<String>,
}

impl FormError {
    fn none() -> FormError {
        FormError {
            field: String::new(),
            message: String::new(),
            general: None,
        }
    }

    /// The error beside its field when the form has that field, else above the form.
    fn on(e: Option<&ManagerError>, fields: &[&str]) -> FormError {
        match e {
            None => FormError::none(),
            Some(e) => match e.field().filter(|f| fields.contains(f)) {
                Some(f) => FormError {
                    field: f.to_string(),
                    message: e.to_string(),
                    general: None,
                },
                None => FormError {
                    field: String::new(),
                    message: String::new(),
                    general: Some(e.to_string()),
                },
            },
        }
    }
}

/// Whether an error is the user's to correct on the form they sent (shown beside the field),
/// rather than a failure of the page.
fn correctable(e: &ManagerError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::InvalidInput | ErrorKind::AlreadyExists | ErrorKind::NotFound | ErrorKind::HostKeyUnknown
    ) && (e.kind() != ErrorKind::NotFound || e.field().is_some())
}

/// A run as a row of a table.
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
    dry_run: bool,
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
        error: ftpman_core::validate::visible(r.error.as_deref().unwrap_or_default()),
        dry_run: r.dry_run,
    }
}
