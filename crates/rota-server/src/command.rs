//! The one path of a write command: who asks, under which request id and `Idempotency-Key`,
//! and what identifies "the same request" for that key (the method and path as matched, the
//! body as parsed, and any header that changes the meaning). A handler parses its input,
//! checks the caller and calls [`Command::once`]; nothing else handles keys or replays.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method};
use rota_core::store::StoreError;
use rota_core::version::CommitContext;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::idempotency::{self, Outcome};
use crate::request_id::RequestId;
use crate::startup::AppState;

/// A write request's context, extracted before its body.
pub struct Command {
    pub state: AppState,
    pub caller: Caller,
    request_id: RequestId,
    headers: HeaderMap,
    method: Method,
    path: String,
}

impl FromRequestParts<AppState> for Command {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Ok(request_id) = RequestId::from_request_parts(parts, state).await;
        Ok(Self {
            state: state.clone(),
            caller,
            request_id,
            headers: parts.headers.clone(),
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
        })
    }
}

impl Command {
    /// The command of a portal form: the session's caller, and the form's own idempotency
    /// key (each page renders a fresh one, so a form sent twice applies once) joined with the
    /// path it was sent to, so that one rendered form with a button per shift gives each
    /// button's action a key of its own.
    pub(crate) fn from_form(
        state: &AppState,
        caller: Caller,
        request_id: RequestId,
        parts: &Parts,
        idempotency_key: Option<&str>,
    ) -> Self {
        let mut headers = HeaderMap::new();
        let key = idempotency_key.map(|k| format!("{k}@{}", parts.uri.path()));
        if let Some(key) = key.and_then(|k| k.parse().ok()) {
            headers.insert(HeaderName::from_static(idempotency::HEADER), key);
        }
        Self {
            state: state.clone(),
            caller,
            request_id,
            headers,
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// Runs `command` at most once per key of the caller (see [`idempotency::once`]; with
    /// `transactional` the command records its key in its own transaction).
    pub async fn once<B, T, F, Fut>(
        &self,
        body: &B,
        transactional: bool,
        command: F,
    ) -> Result<Outcome<T>, ApiError>
    where
        B: Serialize,
        T: Serialize + DeserializeOwned,
        F: FnOnce(CommitContext) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.once_varying(body, &[], transactional, command).await
    }

    /// [`Command::once`] for a request whose meaning also depends on the headers `varying`
    /// (a conditional request): the same key with another value of one is another request.
    pub async fn once_varying<B, T, F, Fut>(
        &self,
        body: &B,
        varying: &[HeaderName],
        transactional: bool,
        command: F,
    ) -> Result<Outcome<T>, ApiError>
    where
        B: Serialize,
        T: Serialize + DeserializeOwned,
        F: FnOnce(CommitContext) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let meaningful: Vec<Option<&str>> = varying
            .iter()
            .map(|name| self.headers.get(name).and_then(|v| v.to_str().ok()))
            .collect();
        let fingerprint =
            idempotency::fingerprint(self.method.as_str(), &self.path, body, &meaningful);
        idempotency::once(
            &self.state,
            &self.headers,
            &self.caller,
            &self.request_id,
            fingerprint,
            transactional,
            command,
        )
        .await
    }
}
