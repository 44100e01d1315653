//! The rota HTTP service.
//!
//! - [`startup`]: `Application::build(config)` then `run_until_stopped(shutdown)`.
//! - [`auth`]: OAuth 2.0 client credentials, bearer tokens, the caller extractor.
//! - [`config`]: configuration and its defaults.
//! - [`routes`]: one module per resource, each returning its `Router<AppState>`.
//! - [`error`]: the one mapping from failures to problem+json.
//! - [`request_id`]: request ids and their aliases.
//! - [`extract`]: JSON and query extraction with field-path errors.
//! - [`command`]: the one path of a write command (caller, request id, key, fingerprint).
//! - [`idempotency`]: `Idempotency-Key` handling.
//! - [`openapi`]: the OpenAPI 3.1 document and the rendered reference.
//! - [`portal`]: the pages agents and supervisors use in the browser.
//! - [`rate_limit`]: per-client token buckets and their headers.
//! - [`sign_in`]: throttled token issuance and failed authentication.
//! - [`telemetry`]: Prometheus metrics.
//! - [`webhooks`]: webhook targets, signatures and the dispatcher.
#![forbid(unsafe_code)]

pub mod auth;
pub mod command;
pub mod config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod portal;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod sign_in;
pub mod startup;
pub mod telemetry;
pub mod webhooks;

pub use config::Config;
pub use startup::{AppState, Application};
