//! Who may call which route: the one table every request passes through (the [`crate::auth`]
//! middleware asks it before any handler runs). A route it does not name needs an admin, so a
//! new route is closed until it is placed here.
//!
//! - `viewer` reads: sites and their folders, jobs, groups, runs, logs, nodes, status, metrics, the API
//!   description, their own API tokens.
//! - `operator` also adds, edits, runs and cancels jobs and groups, tests sites, uploads and downloads,
//!   and makes and revokes their own API tokens.
//! - `admin` does everything, including sites, settings (and their page), users and everyone's
//!   tokens.

use axum::http::Method;
use ftpman_core::model::UserRole;

/// What a route requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No sign-in (health checks, the sign-in itself).
    Anyone,
    /// A signed-in user or token whose role covers this one.
    Role(UserRole),
}

/// Routes answered without sign-in.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/session"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/assets/app.css"),
    ("GET", "/assets/app.js"),
];

/// Routes (by prefix) only admins may read, as well as change.
const ADMIN_ONLY: &[&str] = &["/api/v1/settings", "/api/v1/users", "/settings"];

/// Changes operators may make (by prefix; the site routes are the actions on a site that
/// change nothing stored).
const OPERATOR_CHANGES: &[&str] = &[
    "/api/v1/jobs",
    "/api/v1/groups",
    "/api/v1/runs",
    "/api/v1/sites/{name}/test",
    "/api/v1/sites/{name}/files",
    "/api/v1/tokens",
    // The pages' actions: test a site, add and edit jobs, run now, cancel.
    "/sites/{name}/test",
    "/upload",
    "/jobs",
    "/groups",
    "/runs",
];

/// Pages that are forms for a change: opened only by those who may make it.
const FORMS: &[(&str, UserRole)] = &[
    ("/sites/new", UserRole::Admin),
    ("/sites/{name}/edit", UserRole::Admin),
    ("/jobs/new", UserRole::Operator),
    ("/jobs/{name}/edit", UserRole::Operator),
];

fn under(route: &str, prefix: &str) -> bool {
    route == prefix || route.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
}

/// What calling `method` on `route` (the route's template, `/api/v1/jobs/{name}`) requires.
pub fn required(method: &Method, route: &str) -> Access {
    if PUBLIC.iter().any(|(m, r)| *m == method.as_str() && *r == route) {
        return Access::Anyone;
    }
    if route == "/api/v1/session" || route == "/logout" {
        // Who am I, and signing out: anyone signed in.
        return Access::Role(UserRole::Viewer);
    }
    if ADMIN_ONLY.iter().any(|p| under(route, p)) {
        return Access::Role(UserRole::Admin);
    }
    if let Some((_, role)) = FORMS.iter().find(|(r, _)| *r == route) {
        return Access::Role(*role);
    }
    let reads = method == Method::GET || method == Method::HEAD;
    if reads && route != "/api/v1/sites/{name}/files" {
        return Access::Role(UserRole::Viewer);
    }
    if OPERATOR_CHANGES.iter().any(|p| under(route, p)) {
        return Access::Role(UserRole::Operator);
    }
    Access::Role(UserRole::Admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let role = |m: Method, r: &str| required(&m, r);
        assert_eq!(role(Method::GET, "/healthz"), Access::Anyone);
        assert_eq!(role(Method::POST, "/api/v1/session"), Access::Anyone);
        assert_eq!(role(Method::DELETE, "/api/v1/session"), Access::Role(UserRole::Viewer));
        assert_eq!(role(Method::GET, "/api/v1/jobs"), Access::Role(UserRole::Viewer));
        assert_eq!(
            role(Method::POST, "/api/v1/jobs/{name}/run"),
            Access::Role(UserRole::Operator)
        );
        assert_eq!(role(Method::POST, "/api/v1/sites"), Access::Role(UserRole::Admin));
        assert_eq!(
            role(Method::POST, "/api/v1/sites/{name}/test"),
            Access::Role(UserRole::Operator)
        );
        assert_eq!(
            role(Method::GET, "/api/v1/sites/{name}/files"),
            Access::Role(UserRole::Operator)
        );
        assert_eq!(role(Method::GET, "/api/v1/users"), Access::Role(UserRole::Admin));
        assert_eq!(role(Method::GET, "/api/v1/tokens"), Access::Role(UserRole::Viewer));
        assert_eq!(role(Method::POST, "/api/v1/tokens"), Access::Role(UserRole::Operator));
        assert_eq!(
            role(Method::DELETE, "/api/v1/tokens/{id}"),
            Access::Role(UserRole::Operator)
        );
        assert_eq!(role(Method::GET, "/api/v1/settingsx"), Access::Role(UserRole::Viewer));
        assert_eq!(role(Method::GET, "/sites/new"), Access::Role(UserRole::Admin));
        assert_eq!(role(Method::POST, "/sites/new"), Access::Role(UserRole::Admin));
        assert_eq!(role(Method::GET, "/jobs/{name}/edit"), Access::Role(UserRole::Operator));
        assert_eq!(
            role(Method::POST, "/jobs/{name}/disable"),
            Access::Role(UserRole::Operator)
        );
        assert_eq!(
            role(Method::POST, "/settings/users/{name}"),
            Access::Role(UserRole::Admin)
        );
        assert_eq!(
            role(Method::PUT, "/api/v1/somewhere-new"),
            Access::Role(UserRole::Admin)
        );
    }
}
