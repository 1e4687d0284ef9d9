//! ftpman-core: the domain model, the store, secrets, and the traits the job engine drives.
//!
//! Every frontend (CLI, web, Python) starts from a [`Manager`], which opens the [`store::Store`],
//! checks the encryption key, and hands out what the frontends need. Business rules live here and
//! only here.

pub mod engine;
pub mod manager;
pub mod metrics;
pub mod model;
pub mod notifier;
pub mod scheduler;
pub mod secrets;
pub mod store;
pub mod syslog;
pub mod transport;
pub mod validate;

pub use manager::{Manager, ManagerError, ManagerResult};
pub use secrets::{KeySource, Secret};
pub use store::{Store, StoreError};
pub use validate::ValidationError;

/// Installs ring as the process's rustls crypto provider (once; later calls do nothing). Every
/// TLS user in ftpman (FTPS, SMTP, webhooks, PostgreSQL) uses ring, and rustls refuses to guess
/// when a crate could pick another.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
