//! Waiting on the core from Python: the GIL released, the future driven on the shared runtime,
//! and Ctrl-C (a pending signal) noticed every tenth of a second.

use pyo3::prelude::*;
use std::future::Future;
use std::time::Duration;

/// The one Tokio runtime every call and every asyncio awaitable uses.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    pyo3_async_runtimes::tokio::get_runtime()
}

/// How a wait ended.
pub enum Waited<T> {
    /// The future finished.
    Done(T),
    /// A signal handler raised (KeyboardInterrupt): the future was not finished.
    Interrupted(PyErr),
}

/// Drives `fut` to its end with the GIL released; between slices, lets Python run its signal
/// handlers, and stops waiting if one raises.
pub fn wait<F, T>(py: Python<'_>, fut: F) -> Waited<T>
where
    F: Future<Output = T> + Send,
    T: Send,
{
    py.detach(|| {
        let mut fut = std::pin::pin!(fut);
        loop {
            let slice = runtime().block_on(async { tokio::time::timeout(Duration::from_millis(100), &mut fut).await });
            match slice {
                Ok(v) => return Waited::Done(v),
                Err(_) => {
                    if let Err(e) = Python::attach(|py| py.check_signals()) {
                        return Waited::Interrupted(e);
                    }
                }
            }
        }
    })
}

/// [`wait`] for an operation that may simply be abandoned when interrupted.
pub fn block<F, T>(py: Python<'_>, fut: F) -> PyResult<T>
where
    F: Future<Output = PyResult<T>> + Send,
    T: Send,
{
    match wait(py, fut) {
        Waited::Done(v) => v,
        Waited::Interrupted(e) => Err(e),
    }
}

/// Sends this process's log events (at `info` and up, from ftpman) into the system log of the
/// first database opened, as `ftpman serve` and the CLI do for theirs, and warnings to standard
/// error (`FTPMAN_LOG` sets that level). Installed once per process.
pub fn start_system_log(store: std::sync::Arc<dyn ftpman_core::Store>) {
    use tracing_subscriber::prelude::*;
    static STARTED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    STARTED.get_or_init(|| {
        let _entered = runtime().enter();
        let (log, _task) = ftpman_core::syslog::SystemLog::start(store);
        let console = tracing_subscriber::EnvFilter::try_from_env("FTPMAN_LOG").unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::registry()
            .with(log.layer())
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    .with_filter(console),
            )
            .try_init();
    });
}
