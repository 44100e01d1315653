//! Wire types of the rota HTTP API (JSON, camelCase), shared by the server and the client.
//! Request bodies take ids and dates as strings and convert into rota-core's types once, here,
//! so every malformed value is reported with its field path.
//!
//! - [`oauth`]: the token endpoint's answer.
//! - [`problem`]: the RFC 9457 error body and its stable codes.
//! - [`swaps`]: the bulk shift-swap request and response.
//! - [`schedules`]: schedules, shifts and versions as the API shows them.
#![forbid(unsafe_code)]

pub mod oauth;
pub mod problem;
pub mod schedules;
pub mod swaps;
