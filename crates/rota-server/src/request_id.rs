//! Request ids: honoured from `X-Request-Id` or the aliases contact-center tooling sends,
//! generated otherwise, echoed on every response (under the alias the client used too), and
//! put into every error body and log line.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::PendingProblem;
use crate::startup::AppState;

pub const HEADER: &str = "x-request-id";
/// Aliases sent by Genesys Cloud SDKs and tools, accepted and echoed.
pub const ALIASES: [&str; 2] = ["x-genesys-request-id", "inin-correlation-id"];

pub use rota_app::RequestId;

/// A usable incoming id: printable ASCII, at most 200 characters (it is logged and stored).
fn acceptable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?.trim();
    (!s.is_empty() && s.len() <= 200 && s.bytes().all(|b| b.is_ascii_graphic()))
        .then(|| s.to_owned())
}

pub async fn middleware(mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let (id, alias) = std::iter::once(HEADER)
        .chain(ALIASES)
        .find_map(|name| headers.get(name).and_then(acceptable).map(|id| (id, name)))
        .map_or_else(
            || (uuid::Uuid::now_v7().to_string(), None),
            |(id, name)| (id, Some(name)),
        );
    let id = RequestId::new(id);
    request.extensions_mut().insert(id.clone());
    let span = tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = tracing::Instrument::instrument(next.run(request), span).await;
    if let Some(pending) = response.extensions_mut().remove::<PendingProblem>()
        && let Some(error) = pending.0.lock().ok().and_then(|mut e| e.take())
    {
        let headers = std::mem::take(response.headers_mut());
        response = error.into_problem(&id);
        for (name, value) in headers.iter() {
            if name != axum::http::header::CONTENT_TYPE
                && name != axum::http::header::CONTENT_LENGTH
            {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
    }
    let bare_error = (response.status().is_client_error() || response.status().is_server_error())
        && !response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            // The portal's pages explain their errors themselves.
            .is_some_and(|v| v.contains("json") || v.starts_with("text/html"));
    if bare_error && response.status() != axum::http::StatusCode::UNAUTHORIZED {
        let headers = std::mem::take(response.headers_mut());
        response = crate::error::ApiError::for_status(response.status()).into_problem(&id);
        for (name, value) in headers.iter() {
            if name != axum::http::header::CONTENT_TYPE
                && name != axum::http::header::CONTENT_LENGTH
            {
                response.headers_mut().insert(name.clone(), value.clone());
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(id.as_str()) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value.clone());
        if let Some(alias) = alias.filter(|a| *a != HEADER) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(alias), value);
        }
    }
    response
}

/// The request's id as the middleware set it (a fresh one for a request that bypassed it).
pub fn of(parts: &Parts) -> RequestId {
    parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId::new(uuid::Uuid::now_v7().to_string()))
}

impl FromRequestParts<AppState> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(of(parts))
    }
}
