//! The API over real HTTP, driven through rota-client: the server on port 0 over its own SQLite
//! file. One binary with a module per area, so the helpers are written and compiled once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the test loudly

mod access;
mod browser;
mod common;
mod contract;
mod coverage;
mod faults;
mod hardening;
mod idempotency;
mod operations;
mod portal;
mod replay;
mod stored_forms;
mod strict;
mod swaps;
mod time_off;
mod trades;
mod webhooks;
