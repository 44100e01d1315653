//! Idempotency keys: claimed, recorded with a command's result, replayed.

use std::future::Future;

use super::StoreResult;

/// A request's claim on an idempotency key, scoped to the calling client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyClaim {
    pub client: String,
    pub key: String,
}

/// A command's idempotency key as the command records it, in its own transaction, with its
/// result: the key, the request's fingerprint, and when the key is forgotten.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyRecord {
    pub claim: IdempotencyClaim,
    pub request_hash: String,
    pub expires_at: jiff::Timestamp,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The key is this request's: run it.
    Claimed,
    /// The same request already completed: here is its recorded result (JSON).
    Replay(String),
    /// The same key is held by a request still running.
    InProgress,
    /// The key was used for a different request.
    Mismatch,
}

/// Idempotency keys. The result of a command is recorded by the command's own transaction
/// (see [`IdempotencyClaim`] in the commit context); `complete` is for requests that change
/// nothing versioned.
pub trait IdempotencyStore: Send + Sync {
    /// Claims `claim` for a request whose fingerprint is `request_hash`. A claim without a
    /// result lapses after `lease`; a key is forgotten after `keep`.
    fn claim(
        &self,
        claim: &IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
        lease: std::time::Duration,
        keep: std::time::Duration,
    ) -> impl Future<Output = StoreResult<ClaimOutcome>> + Send;
    /// What a claim of `claim` would find, without claiming: `Claimed` when the key is free
    /// (never used, forgotten, or its claim lapsed).
    fn lookup(
        &self,
        claim: &IdempotencyClaim,
        request_hash: &str,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<ClaimOutcome>> + Send;
    fn complete(
        &self,
        claim: &IdempotencyClaim,
        result: &str,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Gives a claim up (the request failed before changing anything), so a retry runs.
    fn release(&self, claim: &IdempotencyClaim) -> impl Future<Output = StoreResult<()>> + Send;
    /// Deletes keys past their keeping time; returns how many.
    fn purge_idempotency(
        &self,
        now: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
}
