//! The storage traits every backend implements, one file per aggregate with its filters, and
//! the errors and paging they share.
//!
//! - [`idempotency`], [`auth`], [`users`]: keys, clients and tokens, portal users and
//!   sessions.
//! - [`directory`], [`schedules`], [`trades`], [`coverage`], [`time_off`], [`webhooks`]: the
//!   aggregates of the domain and the commands that change them.

use crate::command::CommandError;

mod auth;
mod coverage;
mod directory;
mod idempotency;
mod schedules;
mod time_off;
mod trades;
mod users;
mod webhooks;

pub use auth::*;
pub use coverage::*;
pub use directory::*;
pub use idempotency::*;
pub use schedules::*;
pub use time_off::*;
pub use trades::*;
pub use users::*;
pub use webhooks::*;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The command itself was refused; nothing was written.
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error("{kind} {id} does not exist")]
    NotFound { kind: &'static str, id: String },
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// Another writer held the lock past the timeout; the command can be retried as it is.
    #[error("the database is busy")]
    Busy(#[source] BoxError),
    #[error("the database is unreachable")]
    Unavailable(#[source] BoxError),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Backend(#[source] BoxError),
    /// The command's idempotency key was recorded by another request first (another node, or
    /// a claim still running); the command rolled back. Look the key up to answer.
    #[error("the idempotency key was recorded by another request")]
    KeyTaken,
    /// A trade operation was refused; nothing was written.
    #[error(transparent)]
    Trade(#[from] crate::trade::TradeError),
    /// A requirement did not fit the schedule's week or business unit; nothing was written.
    #[error(transparent)]
    Requirement(#[from] crate::coverage::RequirementError),
    /// A decision on a held change was refused; nothing was written.
    #[error(transparent)]
    Held(#[from] crate::held::HeldError),
    /// A time-off operation was refused; nothing was written.
    #[error(transparent)]
    TimeOff(#[from] crate::timeoff::TimeOffError),
}

impl StoreError {
    pub fn not_found(kind: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

/// A page of a listing: `offset` items skipped, at most `limit` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u32,
}

impl PageRequest {
    pub const MAX_LIMIT: u32 = 1000;

    /// A page of at most [`Self::MAX_LIMIT`] items.
    pub fn new(offset: u64, limit: u32) -> Self {
        Self {
            offset,
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    pub const fn all() -> Self {
        Self {
            offset: 0,
            limit: u32::MAX,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
}

impl<T> Page<T> {
    pub fn next_offset(&self) -> Option<u64> {
        let end = self.offset + self.items.len() as u64;
        (end < self.total).then_some(end)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
