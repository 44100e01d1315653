//! The application layer of rota: the commands and the authorised reads that every edge (the
//! HTTP API, the portal) calls, with their own error type. Nothing here knows HTTP: an edge
//! turns a request into plain values and a [`Command`], and maps [`AppError`] once.
//!
//! - [`App`]: the state the commands need (the store, the clock, the keys in flight, tokens).
//! - [`command`]: a write command's context and the one path that runs it once per key.
//! - [`idempotency`]: idempotency keys, fingerprints and replays.
//! - [`caller`]: who asks, and the one permission check.
//! - [`error`]: [`AppError`], each variant with its stable code.
//! - [`secrets`], [`tokens`], [`sign_in`]: secrets, OAuth clients and bearer tokens, the
//!   sign-in throttle.
//! - [`users`]: portal users, sign-in links, passwords and sessions.
//! - [`schedules`], [`swaps`], [`trades`], [`time_off`], [`directory`], [`coverage`],
//!   [`webhooks`]: the commands and authorised reads of each aggregate.
//! - [`batches`]: the record of a bulk swap batch started from the portal.
//! - [`housekeeping`]: what the store keeps that expires (keys, tokens, sessions, deliveries,
//!   trades), swept on a schedule.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::time::Duration;

use rota_core::clock::Clock;
use rota_store::Store;

pub mod batches;
pub mod caller;
pub mod command;
pub mod coverage;
pub mod directory;
pub mod error;
pub mod housekeeping;
pub mod idempotency;
pub mod schedules;
pub mod secrets;
pub mod sign_in;
pub mod swaps;
pub mod time_off;
pub mod tokens;
pub mod trades;
pub mod users;
pub mod webhooks;

pub use caller::{Caller, RequestId};
pub use command::Command;
pub use error::{AppError, AppResult, bounded, parse_id};
pub use idempotency::Outcome;

/// What the commands are told by the service's configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long an idempotency key and its result are kept.
    pub idempotency_ttl: Duration,
    /// How long a claimed key is held for a command of several transactions: longer than a
    /// request may take, so it lapses only for a request that died.
    pub claim_lease: Duration,
    /// Swap items accepted in one request.
    pub max_swap_items: usize,
    /// Lifetime of an access token.
    pub token_ttl: Duration,
    /// Webhook targets on loopback, private and link-local addresses allowed.
    pub allow_private_webhook_targets: bool,
    /// Sign-in throttle: tokens per client id and per address a minute, failed
    /// authentications per key a minute.
    pub tokens_per_client_minute: u32,
    pub tokens_per_address_minute: u32,
    pub failed_authentications_per_minute: u32,
}

/// The application: cheap to clone, shared by every edge of one node.
#[derive(Clone)]
pub struct App {
    store: Store,
    /// Injectable so that tests can run any week; the system clock in production.
    clock: Arc<dyn Clock>,
    settings: Arc<Settings>,
    /// Idempotency keys held by requests of this node.
    in_flight: Arc<idempotency::InFlight>,
    /// Bearer tokens this node has resolved.
    tokens: Arc<tokens::TokenCache>,
    /// Token issuance and failed authentication, throttled.
    sign_in: Arc<sign_in::SignInGuard>,
    /// Password verifications running at once: each takes argon2's 19 MiB, so a flood of
    /// sign-ins waits here instead of taking the node's memory.
    verifications: Arc<tokio::sync::Semaphore>,
    /// One password attempt at a time per username on this node, each reading the lockout
    /// after the one before it counted: concurrent attempts cannot all pass the check.
    turns: Arc<users::Turns>,
}

impl App {
    pub fn new(store: Store, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        let sign_in = sign_in::SignInGuard::new(
            settings.tokens_per_client_minute,
            settings.tokens_per_address_minute,
            settings.failed_authentications_per_minute,
        );
        Self {
            store,
            clock,
            settings: Arc::new(settings),
            in_flight: Arc::default(),
            tokens: Arc::default(),
            sign_in: Arc::new(sign_in),
            verifications: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            )),
            turns: Arc::default(),
        }
    }

    /// The store, for an edge's reads. Writes go through this crate's commands, which check
    /// the caller, keep the idempotency key and record the version.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
