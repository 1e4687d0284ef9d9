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
