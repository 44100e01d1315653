//! rota's domain: the weekly schedule of shifts, its version history, and the commands that
//! change it. No IO here; the storage backends implement the traits in [`store`].
//!
//! - [`activity`]: what a shift is made of: on-queue time, breaks, meals, meetings.
//! - [`coverage`]: staffing requirements, coverage per skill and interval, and its guard.
//! - [`auth`]: API clients, roles, principals and what each may do.
//! - [`backoff`]: full-jitter exponential backoff.
//! - [`clock`]: the injectable clock.
//! - [`ids`]: identifier newtypes.
//! - [`directory`]: business units, management units, agents, skills, availability.
//! - [`schedule`]: schedules, shifts, time windows.
//! - [`version`]: versions, version ids, version records and shift changes.
//! - [`command`]: swap requests, shift edits, outcomes, violations.
//! - [`held`]: changes the coverage guard held for a supervisor.
//! - [`engine`]: the commit-time decision of what a command changes (conflicts and rules).
//! - [`replay`]: rebuilding a schedule from its history.
//! - [`memory`]: an in-memory schedule committing through the engine.
//! - [`store`]: the storage traits.
//! - [`timeoff`]: time-off requests, balances, allowances and the approval policy.
//! - [`trade`]: shift trades and the business unit's self-service and trade settings.
//! - [`webhook`]: events, webhook subscriptions and deliveries.
//! - `testkit` (feature `testkit`): fixtures, the reference model and the property-test harness.
#![forbid(unsafe_code)]

pub mod activity;
pub mod auth;
pub mod backoff;
pub mod clock;
pub mod command;
pub mod coverage;
pub mod directory;
pub mod engine;
pub mod held;
pub mod ids;
pub mod memory;
pub mod replay;
pub mod schedule;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod timeoff;
pub mod trade;
pub mod version;
pub mod webhook;
