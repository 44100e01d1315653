//! A write request's [`Command`]: the caller, the request id, the `Idempotency-Key` and the
//! method and path as matched, taken from the request before its body.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
pub use rota_app::Command;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::idempotency;
use crate::startup::AppState;

impl FromRequestParts<AppState> for Command {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        // A key that is not text is no key: the command refuses it as malformed.
        let key = parts
            .headers
            .get(idempotency::HEADER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        Ok(Command::new(
            state.app.clone(),
            caller,
            crate::request_id::of(parts).to_string(),
            key,
            parts.method.as_str(),
            parts.uri.path(),
        ))
    }
}
