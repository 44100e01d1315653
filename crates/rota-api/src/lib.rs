//! Wire types of the rota HTTP API, shared by the server and the client. The request and
//! response bodies arrive with the "rota serve" work; the domain types they convert into live
//! in rota-core.
#![forbid(unsafe_code)]

pub use rota_core;
