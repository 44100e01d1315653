//! `Idempotency-Key` (IETF httpapi draft): the same key with the same request replays the
//! recorded result without running it again; the same key with another request is
//! `IDEMPOTENCY_KEY_REUSED`; the same key while the first request runs is
//! `IDEMPOTENCY_IN_PROGRESS`. Keys are scoped to the client. Versioned commands record their
//! key and result in their own transaction, so a crash can never leave a change without its
//! key, and a request costs one write.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Mutex, PoisonError};

use rota_core::store::{
    ClaimOutcome, IdempotencyClaim, IdempotencyRecord, IdempotencyStore, StoreError,
};
use rota_core::version::CommitContext;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::App;
use crate::error::{AppError, AppResult};

/// What identifies "the same request" for a key: method, path, the input as parsed and
/// re-serialised (so formatting does not matter), and the headers that change the meaning.
pub fn fingerprint<B: Serialize>(
    method: &str,
    path: &str,
    body: &B,
    meaningful_headers: &[Option<&str>],
) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update(b"\n");
    hash.update(path.as_bytes());
    hash.update(b"\n");
    hash.update(serde_json::to_vec(body).unwrap_or_default());
    for h in meaningful_headers {
        hash.update(b"\n");
        hash.update(h.unwrap_or("").as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A key as the request gave it, checked.
pub(crate) fn parse_key(raw: &str) -> AppResult<String> {
    let key = rota_api::headers::IdempotencyKey::parse(raw.trim()).ok_or_else(|| {
        AppError::validation(
            "Idempotency-Key",
            "must be at most 255 printable ASCII characters, not only quotes",
        )
    })?;
    Ok(key.to_owned())
}

/// Requests of this process that hold a key right now: a second request with the same key
/// answers `IDEMPOTENCY_IN_PROGRESS` at once instead of queueing behind the first.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, String)>>);

struct Entered<'a> {
    in_flight: &'a InFlight,
    key: (String, String),
}

impl InFlight {
    fn enter(&self, claim: &IdempotencyClaim) -> AppResult<Entered<'_>> {
        let key = (claim.client.clone(), claim.key.clone());
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !held.insert(key.clone()) {
            return Err(AppError::IdempotencyInProgress);
        }
        Ok(Entered {
            in_flight: self,
            key,
        })
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let mut held = self
            .in_flight
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        held.remove(&self.key);
    }
}

/// The answer a stored key gives, or `None` when the key is free.
fn answer<T: DeserializeOwned>(found: ClaimOutcome) -> AppResult<Option<Outcome<T>>> {
    match found {
        ClaimOutcome::Claimed => Ok(None),
        ClaimOutcome::Replay(json) => {
            let value = serde_json::from_str(&json).map_err(AppError::internal)?;
            Ok(Some(Outcome {
                value,
                replayed: true,
            }))
        }
        ClaimOutcome::InProgress => Err(AppError::IdempotencyInProgress),
        ClaimOutcome::Mismatch => Err(AppError::IdempotencyKeyReused),
    }
}

/// How a command keeps its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// The command records its key and result itself, in its own transaction
    /// (`ctx.idempotency`), so a request costs one write transaction; if another node recorded
    /// the key first, the command rolls back and the stored answer is given.
    InTransaction,
    /// A command made of several transactions (or none of the version history's): the key is
    /// claimed first and the result recorded after.
    Claimed,
}

/// Runs `command` at most once per key of the caller, with this request's commit context (the
/// caller is the actor the version history records).
pub(crate) async fn once<T, F, Fut>(
    app: &App,
    mut ctx: CommitContext,
    key: Option<String>,
    fingerprint: String,
    recording: Recording,
    command: F,
) -> AppResult<Outcome<T>>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(CommitContext) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let Some(key) = key else {
        return Ok(Outcome::ran(command(ctx).await?));
    };
    let claim = IdempotencyClaim {
        client: ctx.actor.clone(),
        key,
    };
    let _entered = app.in_flight.enter(&claim)?;
    if recording == Recording::InTransaction {
        let stored = app.store.lookup(&claim, &fingerprint, ctx.now).await?;
        if let Some(replay) = answer(stored)? {
            return Ok(replay);
        }
        let keep = jiff::SignedDuration::try_from(app.settings.idempotency_ttl)
            .map_err(AppError::internal)?;
        ctx.idempotency = Some(IdempotencyRecord {
            claim: claim.clone(),
            request_hash: fingerprint.clone(),
            expires_at: ctx.now.saturating_add(keep).map_err(AppError::internal)?,
        });
        let now = ctx.now;
        return match command(ctx).await {
            Ok(result) => Ok(Outcome::ran(result)),
            Err(StoreError::KeyTaken) => {
                let stored = app.store.lookup(&claim, &fingerprint, now).await?;
                answer(stored)?.ok_or(AppError::IdempotencyInProgress)
            }
            // The same request on another node may have committed while this one waited for
            // its lock, and then this one's check read that request's own change ("an
            // overlapping request", "another version"): the key, recorded with that change,
            // says so, and its answer is the answer.
            Err(e) => match app.store.lookup(&claim, &fingerprint, now).await {
                Ok(ClaimOutcome::Replay(json)) => {
                    answer(ClaimOutcome::Replay(json))?.ok_or(AppError::IdempotencyInProgress)
                }
                _ => Err(e.into()),
            },
        };
    }
    let outcome = app
        .store
        .claim(
            &claim,
            &fingerprint,
            ctx.now,
            app.settings.claim_lease,
            app.settings.idempotency_ttl,
        )
        .await?;
    if let Some(replay) = answer(outcome)? {
        return Ok(replay);
    }
    match command(ctx).await {
        Ok(result) => {
            let json = serde_json::to_string(&result).map_err(AppError::internal)?;
            app.store.complete(&claim, &json).await?;
            Ok(Outcome::ran(result))
        }
        Err(e) => {
            if let Err(release) = app.store.release(&claim).await {
                tracing::warn!(error = %release, "could not release an idempotency claim; it will lapse");
            }
            Err(e.into())
        }
    }
}

/// A command's result, run now or replayed from its key.
#[derive(Debug)]
pub struct Outcome<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Outcome<T> {
    pub(crate) fn ran(value: T) -> Self {
        Self {
            value,
            replayed: false,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U> {
        Outcome {
            value: f(self.value),
            replayed: self.replayed,
        }
    }
}
