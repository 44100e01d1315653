//! The typed client SDK for the rota HTTP API (token handling, the retry policy, the bulk
//! batch runner). Its client arrives with the "rota-client and rota batch" work; until then
//! this crate only fixes its place in the workspace and its dependency on the wire types.
#![forbid(unsafe_code)]

pub use rota_api;
