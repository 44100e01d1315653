//! Wire types of the rota HTTP API (JSON, camelCase), shared by the server and the client.
//! Request bodies take ids and dates as strings and convert into rota-core's types once, here,
//! so every malformed value is reported with its field path.
//!
//! - [`coverage`]: staffing requirements, coverage, and changes held by its guard.
//! - [`events`]: the body of each webhook delivery, typed per event.
//! - [`headers`]: request headers with rules of their own (`Idempotency-Key`).
//! - [`health`]: liveness and readiness answers.
//! - [`oauth`]: the token endpoint's request and answer.
//! - [`paging`]: listing pages and the query that asks for one.
//! - [`problem`]: the RFC 9457 error body and its stable codes.
//! - [`swaps`]: the bulk shift-swap request and response.
//! - [`schedules`]: schedules, shifts and versions as the API shows them; import and edit bodies.
//! - [`timeoff`]: time-off requests, decisions, balances and allowances.
//! - [`trades`]: agent self-service and shift trades.
//! - [`users`]: portal users and their one-time sign-in links.
//! - [`webhooks`]: webhook subscriptions.
#![forbid(unsafe_code)]

pub mod coverage;
pub mod events;
pub mod headers;
pub mod health;
pub mod oauth;
pub mod paging;
pub mod problem;
pub mod schedules;
pub mod swaps;
pub mod timeoff;
pub mod trades;
pub mod users;
pub mod webhooks;
