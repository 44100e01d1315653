//! `Idempotency-Key` (IETF httpapi draft): the same key with the same request replays the
//! recorded result without running it again (`Idempotent-Replayed: true`); the same key with
//! another request is 422; the same key while the first request runs is 409. Keys are scoped
//! to the client. Versioned commands record their key and result in their own transaction, so
//! a crash can never leave a change without its key, and a request costs one write.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rota_core::store::{
    ClaimOutcome, IdempotencyClaim, IdempotencyRecord, IdempotencyStore, StoreError,
};
use rota_core::version::CommitContext;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::startup::AppState;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED: &str = "idempotent-replayed";

/// What identifies "the same request" for a key: method, path, the body as parsed and
/// re-serialised (so formatting does not matter), and headers that change the meaning.
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

fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(raw) = headers.get(HEADER) else {
        return Ok(None);
    };
    let raw = raw.to_str().unwrap_or_default().trim();
    let key = rota_api::headers::IdempotencyKey::parse(raw).ok_or_else(|| {
        ApiError::validation(
            "Idempotency-Key",
            "must be at most 255 printable ASCII characters, not only quotes",
        )
    })?;
    Ok(Some(key.to_owned()))
}

/// Requests of this process that hold a key right now: a second request with the same key
/// answers 409 at once instead of queueing behind the first.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, String)>>);

struct Entered<'a> {
    in_flight: &'a InFlight,
    key: (String, String),
}

impl InFlight {
    fn enter(&self, claim: &IdempotencyClaim) -> Result<Entered<'_>, ApiError> {
        let key = (claim.client.clone(), claim.key.clone());
        let mut held = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !held.insert(key.clone()) {
            return Err(ApiError::IdempotencyInProgress);
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
fn answer<T: DeserializeOwned>(found: ClaimOutcome) -> Result<Option<Outcome<T>>, ApiError> {
    match found {
        ClaimOutcome::Claimed => Ok(None),
        ClaimOutcome::Replay(json) => {
            let value = serde_json::from_str(&json).map_err(|e| ApiError::Internal(Box::new(e)))?;
            Ok(Some(Outcome {
                value,
                replayed: true,
            }))
        }
        ClaimOutcome::InProgress => Err(ApiError::IdempotencyInProgress),
        ClaimOutcome::Mismatch => Err(ApiError::IdempotencyKeyReused),
    }
}

/// Runs `command` at most once per key of the caller, with this request's commit context (the
/// caller is the actor the version history records).
///
/// `transactional`: the command records its key and result itself, in its own transaction
/// (`ctx.idempotency`), so a request costs one write transaction; if another node recorded the
/// key first, the command rolls back and the stored answer is given. Otherwise (commands made
/// of several transactions) the key is claimed first and the result recorded after.
pub async fn once<T, F, Fut>(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    request_id: &RequestId,
    fingerprint: String,
    transactional: bool,
    command: F,
) -> Result<Outcome<T>, ApiError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce(CommitContext) -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut ctx = CommitContext {
        actor: caller.0.client_id.clone(),
        request_id: request_id.to_string(),
        now: state.clock.now(),
        idempotency: None,
    };
    let Some(key) = key(headers)? else {
        return Ok(Outcome::ran(command(ctx).await?));
    };
    let claim = IdempotencyClaim {
        client: caller.0.client_id.clone(),
        key,
    };
    let _entered = state.in_flight.enter(&claim)?;
    if transactional {
        let stored = state.store.lookup(&claim, &fingerprint, ctx.now).await?;
        if let Some(replay) = answer(stored)? {
            return Ok(replay);
        }
        let keep = jiff::SignedDuration::try_from(state.config.idempotency_ttl)
            .map_err(|e| ApiError::Internal(Box::new(e)))?;
        ctx.idempotency = Some(IdempotencyRecord {
            claim: claim.clone(),
            request_hash: fingerprint.clone(),
            expires_at: ctx
                .now
                .saturating_add(keep)
                .map_err(|e| ApiError::Internal(Box::new(e)))?,
        });
        let now = ctx.now;
        return match command(ctx).await {
            Ok(result) => Ok(Outcome::ran(result)),
            Err(StoreError::KeyTaken) => {
                let stored = state.store.lookup(&claim, &fingerprint, now).await?;
                answer(stored)?.ok_or(ApiError::IdempotencyInProgress)
            }
            Err(e) => Err(e.into()),
        };
    }
    // A claim outlives the request's own timeout, so it lapses only for a request that died.
    let lease = state.config.request_timeout * 2 + Duration::from_secs(1);
    let outcome = state
        .store
        .claim(
            &claim,
            &fingerprint,
            ctx.now,
            lease,
            state.config.idempotency_ttl,
        )
        .await?;
    if let Some(replay) = answer(outcome)? {
        return Ok(replay);
    }
    match command(ctx).await {
        Ok(result) => {
            let json =
                serde_json::to_string(&result).map_err(|e| ApiError::Internal(Box::new(e)))?;
            state.store.complete(&claim, &json).await?;
            Ok(Outcome::ran(result))
        }
        Err(e) => {
            if let Err(release) = state.store.release(&claim).await {
                tracing::warn!(error = %release, "could not release an idempotency claim; it will lapse");
            }
            Err(e.into())
        }
    }
}

/// What [`once`] returns: the command's result, run now or replayed from its key.
#[derive(Debug)]
pub struct Outcome<T> {
    pub value: T,
    pub replayed: bool,
}

impl<T> Outcome<T> {
    fn ran(value: T) -> Self {
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

impl<T: Serialize> Outcome<T> {
    /// The result as JSON with `status`, marked `Idempotent-Replayed` when it is a replay.
    pub fn respond(self, status: StatusCode) -> Response {
        let mut response = (status, axum::Json(self.value)).into_response();
        mark_replayed(&mut response, self.replayed);
        response
    }

    /// [`Self::respond`] with the status the value decides, so a replay answers as the first
    /// time did.
    pub fn respond_by(self, status: impl FnOnce(&T) -> StatusCode) -> Response {
        let status = status(&self.value);
        self.respond(status)
    }
}

pub fn mark_replayed(response: &mut Response, replayed: bool) {
    if replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
}
