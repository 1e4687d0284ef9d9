//! ftpman-web: the web dashboard and REST API. This crate is laid out by the foundation; its
//! pages and API arrive with their own issue, as a thin axum layer over `ftpman_core::Manager`.

pub use ftpman_core::Manager;
