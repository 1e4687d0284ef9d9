//! The core's operations by name, for the Python package: each takes a JSON object of
//! arguments (named like the CLI's flags) and answers the core's views as JSON.

use crate::errors::{invalid, to_py};
use crate::wait::{Waited, block, runtime, wait};
use ftpman_core::manager::views::{
    EntryView, LogView, NodeView, RunFileView, SiteTestView, SiteView, StatusView, TokenView, UserView,
};
use ftpman_core::manager::{GroupOptions, JobOptions, LogFilter, RunFilter, RunOptions, SiteOptions, TransferReport};
use ftpman_core::model::{LogLevel, RunStatus, Trigger, UserRole};
use ftpman_core::{KeySource, Manager, ManagerError, Secret};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::{Value, json};

type OpResult = Result<Value, PyErr>;

fn core(e: ManagerError) -> PyErr {
    to_py(e)
}

fn to_value<T: serde::Serialize>(v: T) -> OpResult {
    serde_json::to_value(v).map_err(|e| invalid("result", e.to_string()))
}

/// The arguments of one call.
struct Args(serde_json::Map<String, Value>);

impl Args {
    fn str(&self, k: &str) -> PyResult<String> {
        self.opt_str(k)?.ok_or_else(|| invalid(k, format!("{k} is required")))
    }

    fn opt_str(&self, k: &str) -> PyResult<Option<String>> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(invalid(k, format!("{k} must be a string"))),
        }
    }

    fn opt_i64(&self, k: &str) -> PyResult<Option<i64>> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| invalid(k, format!("{k} must be an integer"))),
        }
    }

    fn i64(&self, k: &str) -> PyResult<i64> {
        self.opt_i64(k)?.ok_or_else(|| invalid(k, format!("{k} is required")))
    }

    fn strings(&self, k: &str) -> PyResult<Vec<String>> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|_| invalid(k, format!("{k} must be a list of strings")))
            }
        }
    }

    fn time(&self, k: &str) -> PyResult<Option<chrono::DateTime<chrono::Utc>>> {
        match self.opt_str(k)? {
            None => Ok(None),
            Some(v) => ftpman_core::validate::parse_since(k, &v, chrono::Utc::now())
                .map(Some)
                .map_err(|e| core(e.into())),
        }
    }

    /// An optional value of a closed set (a run status, a log level); `expected` names the set.
    fn opt_parsed<T: std::str::FromStr>(&self, k: &str, expected: &str) -> PyResult<Option<T>> {
        self.opt_str(k)?
            .map(|v| v.parse().map_err(|_| invalid(k, format!("'{v}' is not {expected}"))))
            .transpose()
    }

    fn role(&self, k: &str) -> PyResult<UserRole> {
        Ok(self
            .opt_parsed(k, "admin, operator or viewer")?
            .unwrap_or(UserRole::Viewer))
    }

    /// The other arguments as options the core reads (`SiteOptions`, `JobOptions`): unknown
    /// names are refused there.
    fn options<T: serde::de::DeserializeOwned>(&self, skip: &[&str]) -> PyResult<T> {
        let mut rest = self.0.clone();
        rest.retain(|k, v| !skip.contains(&k.as_str()) && !v.is_null());
        serde_json::from_value(Value::Object(rest.clone())).map_err(|e| {
            let message = e.to_string();
            let field = message
                .split('`')
                .nth(1)
                .map(str::to_string)
                .or_else(|| rest.keys().find(|k| message.contains(k.as_str())).cloned())
                .unwrap_or_else(|| "options".into());
            invalid(&field, message)
        })
    }
}

/// The views of `items`, as a JSON list.
fn views<'a, T, V: serde::Serialize>(items: &'a [T], view: impl Fn(&'a T) -> V) -> OpResult {
    to_value(items.iter().map(view).collect::<Vec<_>>())
}

/// A page as the Python layer reads it: its `items`, and the cursor of the `next` page.
fn page(items: OpResult, next: Option<i64>) -> OpResult {
    Ok(json!({"items": items?, "next": next}))
}

/// The answer of an operation that answers nothing, once it is done.
fn nothing<T>(done: Result<T, ManagerError>) -> OpResult {
    done.map(|_| Value::Null).map_err(core)
}

/// The files a one-off upload or download moved.
fn transferred(report: TransferReport) -> OpResult {
    let files = report
        .files
        .iter()
        .map(|(name, bytes)| json!({"name": name, "bytes": bytes}));
    Ok(Value::Array(files.collect()))
}

async fn run_with_files(m: &Manager, id: i64) -> OpResult {
    to_value(m.run_view_with_files(id).await.map_err(core)?)
}

/// A job's or a group's run: its name, options (`dry_run`, `as_of`, `again`; a group's
/// `dry_run` is refused by the core) and trigger (`api` unless given).
fn run_args(args: &Args) -> PyResult<(String, RunOptions, Trigger)> {
    let name = args.str("name")?;
    let options: RunOptions = args.options(&["name", "trigger"])?;
    let t = trigger(args.opt_str("trigger")?.as_deref().unwrap_or("api"))?;
    Ok((name, options, t))
}

/// What is asked of a job or a group, read from the operation's name: `jobs` lists them,
/// `job` shows one, `add_job`, `edit_job`, `enable_job`, `disable_job` and `remove_job` change
/// one (likewise `groups`, `group`, `add_group`...).
#[derive(Clone, Copy, PartialEq)]
enum Action {
    List,
    Show,
    Add,
    Edit,
    SetEnabled(bool),
    Remove,
}

impl Action {
    fn of(op: &str, kind: &str) -> Option<Action> {
        if op.strip_prefix(kind) == Some("s") {
            return Some(Action::List);
        }
        Some(match op.strip_suffix(kind)? {
            "" => Action::Show,
            "add_" => Action::Add,
            "edit_" => Action::Edit,
            "enable_" => Action::SetEnabled(true),
            "disable_" => Action::SetEnabled(false),
            "remove_" => Action::Remove,
            _ => return None,
        })
    }
}

/// Defines `$name`, the [`Action`]s on one kind (jobs and groups share their shape), over the
/// core's methods for it: `view` shows one by name, as `Show` and every change but `Remove`
/// answer.
macro_rules! kind_actions {
    ($name:ident: $options:ty {
        list: $list:ident, views: $views:ident, view: $view:ident($($view_arg:expr),*),
        add: $add:ident, edit: $edit:ident, set_enabled: $set_enabled:ident, remove: $remove:ident $(,)?
    }) => {
        async fn $name(m: &Manager, action: Action, args: &Args) -> OpResult {
            let name = match action {
                Action::List => {
                    let all = m.$list().await.map_err(core)?;
                    return to_value(m.$views(&all).await.map_err(core)?);
                }
                Action::Show => args.str("name")?,
                Action::Add | Action::Edit => {
                    let opts: $options = args.options(&["name"])?;
                    let name = args.str("name")?;
                    if action == Action::Add {
                        m.$add(&name, &opts).await.map_err(core)?;
                    } else {
                        m.$edit(&name, &opts).await.map_err(core)?;
                    }
                    name
                }
                Action::SetEnabled(enabled) => {
                    let name = args.str("name")?;
                    m.$set_enabled(&name, enabled).await.map_err(core)?;
                    name
                }
                Action::Remove => return nothing(m.$remove(&args.str("name")?).await),
            };
            to_value(m.$view(&name, $($view_arg),*).await.map_err(core)?)
        }
    };
}

// A job shows its next five fires; a group, those and its latest ten runs.
kind_actions!(job_action: JobOptions {
    list: jobs, views: job_views, view: job_view_with_fires(5),
    add: add_job, edit: edit_job, set_enabled: set_job_enabled, remove: remove_job,
});
kind_actions!(group_action: GroupOptions {
    list: groups, views: group_views, view: group_view_with_runs(5, 10),
    add: add_group, edit: edit_group, set_enabled: set_group_enabled, remove: remove_group,
});

/// One operation by name.
async fn dispatch(m: Manager, op: String, args: Args) -> OpResult {
    if let Some(action) = Action::of(&op, "job") {
        return job_action(&m, action, &args).await;
    }
    if let Some(action) = Action::of(&op, "group") {
        return group_action(&m, action, &args).await;
    }
    match op.as_str() {
        "sites" => to_value(m.site_views().await.map_err(core)?),
        "site" => to_value(m.site_view(&args.str("name")?).await.map_err(core)?),
        "add_site" | "edit_site" => {
            let opts: SiteOptions = args.options(&["name"])?;
            let name = args.str("name")?;
            let site = if op == "add_site" {
                m.add_site(&name, &opts).await
            } else {
                m.edit_site(&name, &opts).await
            };
            to_value(SiteView::from(&site.map_err(core)?))
        }
        "remove_site" => nothing(m.remove_site(&args.str("name")?).await),
        "test_site" => to_value(SiteTestView::from(
            &m.test_site(&args.str("name")?).await.map_err(core)?,
        )),
        "list" => {
            let path = args.opt_str("path")?.unwrap_or_else(|| "/".into());
            views(&m.list(&args.str("site")?, &path).await.map_err(core)?, EntryView::from)
        }
        "run_group" => {
            let (name, options, t) = run_args(&args)?;
            // On a task of its own: a wait given up (Ctrl-C, a cancelled asyncio task) leaves
            // the group run to end and be recorded, never dropped in the middle of a job.
            let runner = m.clone();
            let (run, _) = tokio::spawn(async move { runner.run_group(&name, &options, t).await })
                .await
                .map_err(|e| core(ManagerError::Internal(format!("the group run's task ended: {e}"))))?
                .map_err(core)?;
            to_value(m.group_run_view(run.id).await.map_err(core)?)
        }
        "start_group_run" => {
            let (name, options, t) = run_args(&args)?;
            let run = m.start_group_run(&name, &options, t).await.map_err(core)?;
            to_value(m.group_run_view(run.id).await.map_err(core)?)
        }
        "group_run" => to_value(m.group_run_view(args.i64("id")?).await.map_err(core)?),
        "forget" => {
            let n = m
                .forget(&args.str("name")?, &args.strings("paths")?)
                .await
                .map_err(core)?;
            Ok(json!(n))
        }
        "runs" => {
            let filter = RunFilter {
                job: args.opt_str("job")?,
                status: args.opt_parsed::<RunStatus>("status", "a run status")?,
                since: args.time("since")?,
                until: args.time("until")?,
                before: args.opt_i64("cursor")?,
                limit: args.opt_i64("limit")?,
            };
            let runs = m.runs_page(&filter).await.map_err(core)?;
            page(to_value(m.run_views(&runs.items).await.map_err(core)?), runs.next)
        }
        "run" => run_with_files(&m, args.i64("id")?).await,
        "run_files" => {
            let files = m
                .run_files_page(
                    args.i64("id")?,
                    args.opt_i64("cursor")?.unwrap_or(0),
                    args.opt_i64("limit")?.unwrap_or(1000),
                )
                .await
                .map_err(core)?;
            page(views(&files.items, RunFileView::from), files.next)
        }
        "cancel_run" => {
            let run = m.cancel_run(args.i64("id")?).await.map_err(core)?;
            to_value(m.run_view(&run).await.map_err(core)?)
        }
        "logs" => {
            let filter = LogFilter {
                level: args.opt_parsed::<LogLevel>("level", "debug, info, warn or error")?,
                component: args.opt_str("component")?,
                job: args.opt_str("job")?,
                since: args.time("since")?,
                until: args.time("until")?,
                before: args.opt_i64("cursor")?,
                limit: args.opt_i64("limit")?,
            };
            let logs = m.logs_page(&filter).await.map_err(core)?;
            page(views(&logs.items, LogView::from), logs.next)
        }
        "settings" => to_value(m.setting_infos().await.map_err(core)?),
        "set_setting" => nothing(m.set_setting(&args.str("key")?, &args.str("value")?).await),
        "unset_setting" => Ok(json!(m.unset_setting(&args.str("key")?).await.map_err(core)?)),
        "smtp_test" => nothing(m.smtp_test(&args.str("to")?).await),
        "users" => views(&m.users().await.map_err(core)?, UserView::from),
        "add_user" => {
            let password = Secret::new(args.str("password")?);
            to_value(UserView::from(
                &m.add_user(&args.str("name")?, args.role("role")?, &password)
                    .await
                    .map_err(core)?,
            ))
        }
        "edit_user" => {
            let role = match args.opt_str("role")? {
                Some(_) => Some(args.role("role")?),
                None => None,
            };
            let password = args.opt_str("password")?.map(Secret::new);
            to_value(UserView::from(
                &m.edit_user(&args.str("name")?, role, password.as_ref())
                    .await
                    .map_err(core)?,
            ))
        }
        "remove_user" => nothing(m.remove_user(&args.str("name")?).await),
        "tokens" => views(&m.tokens().await.map_err(core)?, TokenView::from),
        "create_token" => {
            let (token, secret) = m
                .create_token(&args.str("user")?, &args.str("name")?, args.role("role")?)
                .await
                .map_err(core)?;
            Ok(json!({"token": to_value(TokenView::from(&token))?, "secret": secret.expose()}))
        }
        "revoke_token" => nothing(m.revoke_token(args.i64("id")?).await),
        "status" => to_value(StatusView::from(&m.status().await.map_err(core)?)),
        "nodes" => views(&m.store().nodes().await.map_err(|e| core(e.into()))?, NodeView::from),
        "summary" => to_value(m.summary(chrono::Utc::now()).await.map_err(core)?),
        "upload" => {
            let files: Vec<std::path::PathBuf> = args.strings("files")?.into_iter().map(Into::into).collect();
            transferred(
                m.upload(&args.str("target")?, &files, &mut |_, _| {})
                    .await
                    .map_err(core)?,
            )
        }
        "download" => {
            let dest = std::path::PathBuf::from(args.str("dest")?);
            transferred(
                m.download(&args.str("source")?, &dest, &mut |_, _| {})
                    .await
                    .map_err(core)?,
            )
        }
        other => Err(invalid("op", format!("no operation '{other}'"))),
    }
}

fn parse_args(args: &str) -> PyResult<Args> {
    match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(map)) => Ok(Args(map)),
        _ => Err(invalid("args", "arguments must be a JSON object")),
    }
}

/// An open ftpman database and the engine on it.
#[pyclass(frozen, module = "ftpman._ftpman")]
pub struct Core {
    manager: Manager,
}

fn trigger(name: &str) -> PyResult<Trigger> {
    name.parse()
        .map_err(|_| invalid("trigger", format!("'{name}' is not manual, api or schedule")))
}

#[pymethods]
impl Core {
    /// Opens (creating) the database at `db_url` with the key `encryption_key` (base64 of 32
    /// bytes), or from the environment when `None`.
    #[new]
    #[pyo3(signature = (db_url, encryption_key = None))]
    fn new(py: Python<'_>, db_url: String, encryption_key: Option<String>) -> PyResult<Core> {
        let key = match encryption_key {
            None => None,
            Some(k) => Some(
                KeySource::from_values(Some(&k), None, None)
                    .map_err(|e| core(ManagerError::from(ftpman_core::StoreError::from(e))))?,
            ),
        };
        let manager = block(py, async { Manager::open_with_key(&db_url, key).await.map_err(core) })?;
        crate::wait::start_system_log(manager.store().clone());
        Ok(Core { manager })
    }

    /// Runs operation `op` with JSON `args`; answers JSON.
    fn call(&self, py: Python<'_>, op: String, args: &str) -> PyResult<String> {
        let args = parse_args(args)?;
        let m = self.manager.clone();
        let value = block(py, dispatch(m, op, args))?;
        Ok(value.to_string())
    }

    /// The awaitable twin of `call`.
    fn call_async<'py>(&self, py: Python<'py>, op: String, args: &str) -> PyResult<Bound<'py, PyAny>> {
        let args = parse_args(args)?;
        let m = self.manager.clone();
        pyo3_async_runtimes::tokio::future_into_py(
            py,
            async move { dispatch(m, op, args).await.map(|v| v.to_string()) },
        )
    }

    /// Starts a run of a job now, in this process: `args` as for `call` (`name`, `dry_run`,
    /// `as_of` for a backfill, `again`).
    fn start_run(&self, py: Python<'_>, args: &str) -> PyResult<crate::handle::RunHandle> {
        let (name, options, t) = run_args(&parse_args(args)?)?;
        let m = self.manager.clone();
        let handle = block(
            py,
            async move { m.start_run_with(&name, &options, t).await.map_err(core) },
        )?;
        Ok(crate::handle::RunHandle::new(self.manager.clone(), handle))
    }

    /// The awaitable twin of `start_run`.
    fn start_run_async<'py>(&self, py: Python<'py>, args: &str) -> PyResult<Bound<'py, PyAny>> {
        let (name, options, t) = run_args(&parse_args(args)?)?;
        let m = self.manager.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move {
            let handle = m.start_run_with(&name, &options, t).await.map_err(core)?;
            Ok(crate::handle::RunHandle::new(m, handle))
        })
    }

    /// Runs a job (`args` as for `start_run`) and waits for its end: the run with its files as
    /// JSON. `progress` is called with each event (JSON); if it raises, the run is cancelled
    /// and the exception raised here. Ctrl-C cancels the run cleanly, then raises
    /// KeyboardInterrupt.
    #[pyo3(signature = (args, progress = None))]
    fn run_job(&self, py: Python<'_>, args: &str, progress: Option<Py<PyAny>>) -> PyResult<String> {
        self.start_run(py, args)?.follow(py, progress)
    }

    /// Reads a whole file of a site (for the fsspec filesystem).
    fn read_file<'py>(&self, py: Python<'py>, site: String, path: String) -> PyResult<Bound<'py, PyBytes>> {
        let m = self.manager.clone();
        let bytes = block(py, async move {
            use tokio::io::AsyncReadExt;
            let mut d = m.download_stream(&site, &path).await.map_err(core)?;
            let mut buf = Vec::with_capacity(d.entry.size as usize);
            d.reader.read_to_end(&mut buf).await.map_err(|e| {
                core(ManagerError::Io {
                    path: path.clone(),
                    source: e,
                })
            })?;
            if buf.len() as u64 != d.entry.size {
                return Err(crate::errors::raise(
                    "transfer_failed",
                    format!("site '{site}': {path}: {} of {} bytes arrived", buf.len(), d.entry.size),
                    None,
                    None,
                ));
            }
            Ok(buf)
        })?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Runs the scheduler and the web server until Ctrl-C (or SIGTERM through Python's
    /// handler); then both drain. (Its defaults are `Manager.serve`'s.)
    fn serve(
        &self,
        py: Python<'_>,
        bind: String,
        web: bool,
        scheduler: bool,
        max_runs: usize,
        base_path: String,
    ) -> PyResult<()> {
        use ftpman_core::scheduler::service::ServiceConfig;
        let lease = ftpman_core::engine::lease_from_env();
        let service =
            ServiceConfig::for_node(lease, std::time::Duration::from_secs(30), max_runs).map_err(|e| core(e.into()))?;
        let web_config = ftpman_web::WebConfig {
            base_path: ftpman_web::WebConfig::parse_base_path(&base_path).map_err(|e| invalid("base_path", e))?,
            ..ftpman_web::WebConfig::default()
        };
        let node = ftpman_web::node::NodeConfig {
            bind: web.then_some(bind),
            web: web_config,
            scheduler: scheduler.then_some(service),
        };
        let (tx, rx) = tokio::sync::watch::channel(false);
        let m = self.manager.clone();
        let task = runtime().spawn(async move {
            ftpman_web::node::run_node(m, node, rx, |_, first| {
                if let Some((user, password)) = first {
                    eprintln!(
                        "No web user existed: made '{user}' (admin) with the one-time password\n\n    {}\n",
                        password.expose()
                    );
                }
            })
            .await
            .map_err(|e| e.to_string())
        });
        let mut task = task;
        match wait(py, &mut task) {
            Waited::Done(r) => r
                .map_err(|e| invalid("serve", e.to_string()))?
                .map_err(|e| crate::errors::raise("internal", e, None, None)),
            Waited::Interrupted(e) => {
                let _ = tx.send(true);
                let _ = wait(py, task);
                Err(e)
            }
        }
    }
}
