//! The one path of a write command: who asks, under which request id and idempotency key, and
//! what identifies "the same request" for that key (the method and path the edge received it
//! on, the input as parsed, and any value that changes the meaning). An edge builds a
//! [`Command`] from plain values; a command function checks the caller and calls
//! [`Command::once`]; nothing else handles keys or replays.

use std::future::Future;

use rota_core::store::StoreError;
use rota_core::version::CommitContext;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::App;
use crate::caller::Caller;
use crate::error::AppResult;
use crate::idempotency::{self, Outcome, Recording};

/// A write request's context, as plain values.
pub struct Command {
    pub app: App,
    pub caller: Caller,
    pub request_id: String,
    /// The key as the request gave it (checked when the command runs).
    key: Option<String>,
    method: String,
    path: String,
}

impl Command {
    pub fn new(
        app: App,
        caller: Caller,
        request_id: impl Into<String>,
        key: Option<String>,
        method: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        Self {
            app,
            caller,
            request_id: request_id.into(),
            key,
            method: method.into(),
            path: path.into(),
        }
    }

    /// Runs `command` at most once per key of the caller (see [`idempotency`]), with this
    /// request's commit context: the caller is the actor the version history records.
    pub(crate) async fn once<B, T, F, Fut>(
        &self,
        input: &B,
        recording: Recording,
        command: F,
    ) -> AppResult<Outcome<T>>
    where
        B: Serialize,
        T: Serialize + DeserializeOwned,
        F: FnOnce(CommitContext) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.once_varying(input, &[], recording, command).await
    }

    /// [`Command::once`] for a request whose meaning also depends on values outside its input
    /// (a conditional request's `If-Match`): the same key with another value of one is another
    /// request.
    pub(crate) async fn once_varying<B, T, F, Fut>(
        &self,
        input: &B,
        varying: &[Option<&str>],
        recording: Recording,
        command: F,
    ) -> AppResult<Outcome<T>>
    where
        B: Serialize,
        T: Serialize + DeserializeOwned,
        F: FnOnce(CommitContext) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let key = self
            .key
            .as_deref()
            .map(idempotency::parse_key)
            .transpose()?;
        let fingerprint = idempotency::fingerprint(&self.method, &self.path, input, varying);
        let ctx = CommitContext {
            actor: self.caller.0.client_id.clone(),
            request_id: self.request_id.clone(),
            now: self.app.clock.now(),
            idempotency: None,
        };
        idempotency::once(&self.app, ctx, key, fingerprint, recording, command).await
    }
}
