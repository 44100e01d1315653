//! The rota HTTP service: the API edge over the application layer (`rota-app`), and the
//! composition root that mounts it and the portal (`rota-portal`) on one listener.
//!
//! - [`startup`]: `Application::build(config)` then `run_until_stopped(shutdown)`.
//! - [`auth`]: OAuth 2.0 client credentials, bearer tokens, the caller extractor.
//! - [`body`]: a request's body within its time (408 after).
//! - [`config`]: configuration and its defaults.
//! - [`routes`]: one module per resource, each returning its `Router<AppState>`.
//! - [`error`]: the one mapping from failures to problem+json.
//! - [`request_id`]: request ids and their aliases.
//! - [`extract`]: JSON and query extraction with field-path errors.
//! - [`command`]: a write request's command (caller, request id, key, method and path).
//! - [`idempotency`]: `Idempotency-Key` and `Idempotent-Replayed` on the wire.
//! - [`openapi`]: the OpenAPI 3.1 document and the rendered reference.
//! - [`rate_limit`]: per-client token buckets and their headers.
//! - [`telemetry`]: Prometheus metrics.
//! - [`webhooks`]: webhook signatures and the dispatcher.
#![forbid(unsafe_code)]

pub mod auth;
pub mod body;
pub mod command;
pub mod config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod webhooks;

pub use config::Config;
pub use startup::{AppState, Application};
