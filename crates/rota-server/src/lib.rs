//! The rota HTTP service: axum routes over rota-store, with auth, rate limits, idempotency and
//! the OpenAPI document. Its routes arrive with the "rota serve" work; until then this crate
//! only fixes its place in the workspace and its dependencies on core, store and api.
#![forbid(unsafe_code)]

pub use rota_core;
pub use rota_store;
