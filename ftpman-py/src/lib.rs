//! The extension module behind `import ftpman`: a thin layer over [`ftpman_core::Manager`].
//! Requests and answers cross as JSON (the core's views, the same the CLI's `--json` and the
//! web API give), so that the Python package above it shapes them into its own classes; every
//! wait releases the GIL and runs on one shared Tokio runtime.

mod errors;
mod handle;
mod ops;
mod wait;

use handle::RunHandle;
use pyo3::prelude::*;

#[pymodule]
fn _ftpman(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ops::Core>()?;
    m.add_class::<RunHandle>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
