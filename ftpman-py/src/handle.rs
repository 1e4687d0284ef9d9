//! A run started from Python: its id at once, its events one by one (or as an async
//! iterator), a way to cancel it from any thread, and its end.

use crate::errors::to_py;
use crate::wait::{Waited, block, wait};
use ftpman_core::Manager;
use ftpman_core::manager::RunHandle as CoreHandle;
use pyo3::prelude::*;
use std::sync::Arc;
use tokio::sync::Mutex;

/// A run in progress.
#[pyclass(frozen, module = "ftpman._ftpman")]
pub struct RunHandle {
    id: i64,
    manager: Manager,
    inner: Arc<Mutex<Option<CoreHandle>>>,
}

async fn next_event(inner: Arc<Mutex<Option<CoreHandle>>>) -> Option<String> {
    let mut guard = inner.lock().await;
    let handle = guard.as_mut()?;
    let event = handle.next_event().await?;
    serde_json::to_string(&event).ok()
}

async fn finish(manager: Manager, inner: Arc<Mutex<Option<CoreHandle>>>, id: i64) -> PyResult<String> {
    let handle = inner.lock().await.take();
    let outcome = match handle {
        Some(h) => h.wait().await,
        // Taken by a wait that was interrupted (Ctrl-C): follow the run through the store.
        None => loop {
            match manager.run_record(id).await {
                Ok(run) if run.status == ftpman_core::model::RunStatus::Cancelled => {
                    break Err(ftpman_core::ManagerError::Cancelled { run: Box::new(run) });
                }
                Ok(run) if run.status.is_final() => break Ok(run),
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
                Err(e) => break Err(e),
            }
        },
    };
    let run = match outcome {
        Ok(run) => run,
        Err(ftpman_core::ManagerError::Cancelled { run }) => {
            let view = manager.run_view_with_files(run.id).await.map_err(to_py)?;
            let json = serde_json::to_string(&view).unwrap_or_default();
            return Err(
                crate::errors::raise("cancelled", format!("run {} was cancelled", run.id), None, None).tap_run(json),
            );
        }
        Err(e) => return Err(to_py(e)),
    };
    let view = manager.run_view_with_files(run.id).await.map_err(to_py)?;
    serde_json::to_string(&view).map_err(|e| crate::errors::invalid("run", e.to_string()))
}

/// Attaches the cancelled run (JSON) to a `Cancelled` exception as its `run_json`.
trait TapRun {
    fn tap_run(self, json: String) -> PyErr;
}

impl TapRun for PyErr {
    fn tap_run(self, json: String) -> PyErr {
        Python::attach(|py| {
            let _ = self.value(py).setattr("run_json", json);
        });
        self
    }
}

impl RunHandle {
    pub fn new(manager: Manager, handle: CoreHandle) -> RunHandle {
        RunHandle {
            id: handle.id(),
            manager,
            inner: Arc::new(Mutex::new(Some(handle))),
        }
    }

    /// Follows the run to its end, calling `progress` with each event; Ctrl-C or a raising
    /// callback cancels the run, waits for it to stop, and raises.
    pub fn follow(&self, py: Python<'_>, progress: Option<Py<PyAny>>) -> PyResult<String> {
        let stop = |py: Python<'_>, e: PyErr| -> PyErr {
            let m = self.manager.clone();
            let id = self.id;
            let _ = wait(py, async move { m.cancel_run(id).await });
            let _ = wait(py, finish(self.manager.clone(), self.inner.clone(), self.id));
            e
        };
        if let Some(callback) = progress {
            loop {
                match wait(py, next_event(self.inner.clone())) {
                    Waited::Done(Some(event)) => {
                        if let Err(e) = callback.call1(py, (event,)) {
                            return Err(stop(py, e));
                        }
                    }
                    Waited::Done(None) => break,
                    Waited::Interrupted(e) => return Err(stop(py, e)),
                }
            }
        }
        match wait(py, finish(self.manager.clone(), self.inner.clone(), self.id)) {
            Waited::Done(r) => r,
            Waited::Interrupted(e) => Err(stop(py, e)),
        }
    }
}

#[pymethods]
impl RunHandle {
    /// The run's id.
    #[getter]
    fn id(&self) -> i64 {
        self.id
    }

    /// The next event as JSON; `None` once the run has ended.
    fn next_event(&self, py: Python<'_>) -> PyResult<Option<String>> {
        block(py, async { Ok(next_event(self.inner.clone()).await) })
    }

    /// The awaitable twin of `next_event`.
    fn next_event_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = self.inner.clone();
        pyo3_async_runtimes::tokio::future_into_py(py, async move { Ok(next_event(inner).await) })
    }

    /// Asks the run to stop (from any thread or process); returns the run as JSON.
    fn cancel(&self, py: Python<'_>) -> PyResult<String> {
        let m = self.manager.clone();
        let id = self.id;
        block(py, async move {
            let run = m.cancel_run(id).await.map_err(to_py)?;
            let view = m.run_view(&run).await.map_err(to_py)?;
            serde_json::to_string(&view).map_err(|e| crate::errors::invalid("run", e.to_string()))
        })
    }

    /// Waits for the end: the run with its files as JSON (`Cancelled` if it was cancelled).
    /// Ctrl-C cancels the run, then raises KeyboardInterrupt.
    fn wait(&self, py: Python<'_>) -> PyResult<String> {
        self.follow(py, None)
    }

    /// The awaitable twin of `wait`.
    fn wait_async<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (m, inner, id) = (self.manager.clone(), self.inner.clone(), self.id);
        pyo3_async_runtimes::tokio::future_into_py(py, finish(m, inner, id))
    }
}
