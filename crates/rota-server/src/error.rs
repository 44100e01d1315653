//! The one place that maps failures to HTTP: status, stable code, problem+json body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rota_api::problem::{CONTENT_TYPE, ErrorCode, FieldError, Problem};
use rota_app::AppError;
use rota_core::store::StoreError;

use crate::request_id::RequestId;

/// A failure as the API reports it: the application's, or one only HTTP has. Built without
/// the request id; [`ApiError::into_problem`] adds it, so handlers stay free of plumbing.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error("the request body is larger than the service accepts")]
    PayloadTooLarge,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("the request body did not arrive in time; nothing was done, send it again")]
    BodyTimeout,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::App(e.into())
    }
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        Self::App(AppError::validation(field, message))
    }

    pub fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        Self::App(AppError::unprocessable(field, message))
    }

    pub(crate) fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::App(e) => {
                let code = e.code();
                (
                    StatusCode::from_u16(code.status())
                        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    code,
                )
            }
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::ValidationFailed),
            Self::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, ErrorCode::RequestTimeout),
        }
    }

    pub fn into_problem(self, request_id: &RequestId) -> Response {
        let (status, code) = self.status_and_code();
        crate::telemetry::error(code.as_str());
        if let Self::App(app) = &self
            && let Some(chain) = app.cause_chain()
        {
            tracing::error!(request_id = %request_id, cause = %chain, "internal error");
        }
        let invalid_token = matches!(self, Self::App(AppError::InvalidToken(_)));
        let retry_after = match &self {
            Self::App(AppError::RateLimited { retry_after }) => Some(*retry_after),
            Self::App(AppError::Unavailable(_)) => Some(1),
            _ => None,
        };
        let detail = match &self {
            Self::App(AppError::Internal(_)) => {
                format!("an internal error occurred; quote request id {request_id}")
            }
            other => other.to_string(),
        };
        let (current_schedule_version_id, items, errors) = match self {
            Self::App(AppError::Conflict {
                current_version_id,
                items,
                ..
            }) => (Some(current_version_id), items, Vec::new()),
            Self::App(AppError::RuleViolation { items, .. }) => (None, items, Vec::new()),
            Self::App(
                AppError::Validation { errors, .. } | AppError::Unprocessable { errors, .. },
            ) => (None, Vec::new(), errors),
            Self::App(AppError::TooManyItems { field, max, .. }) => (
                None,
                Vec::new(),
                vec![FieldError {
                    field,
                    message: format!("at most {max} items"),
                }],
            ),
            _ => (None, Vec::new(), Vec::new()),
        };
        let problem = Problem {
            kind: Problem::type_uri(code),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code,
            request_id: request_id.to_string(),
            current_schedule_version_id,
            items,
            errors,
        };
        let mut response = (status, axum::Json(problem)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1: a request without a token gets the bare challenge; one with a
            // token that failed gets `invalid_token`, so a client knows to fetch a new one.
            let challenge = if invalid_token {
                "Bearer realm=\"rota\", error=\"invalid_token\""
            } else {
                "Bearer realm=\"rota\""
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(seconds) = retry_after
            && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// Handlers return `ApiError`; the request-id middleware turns it into the problem body with
/// the request id (it travels in the response extensions until then).
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The status is final already, so the layers between here and the request-id layer
        // (metrics, the request log) see what the client will see.
        let mut response = self.status_and_code().0.into_response();
        response
            .extensions_mut()
            .insert(PendingProblem(std::sync::Arc::new(std::sync::Mutex::new(
                Some(self),
            ))));
        response
    }
}

/// An error waiting for its request id.
#[derive(Clone)]
pub struct PendingProblem(pub std::sync::Arc<std::sync::Mutex<Option<ApiError>>>);

impl ApiError {
    /// The problem for an error answer that no handler produced (the router's 405, a
    /// timeout's 503), so that every failure has the same shape.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => AppError::NotFound("no such route".into()).into(),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::REQUEST_TIMEOUT => Self::BodyTimeout,
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
                AppError::Unavailable("the request took too long; retry".into()).into()
            }
            s if s.is_client_error() => AppError::Validation {
                detail: s.canonical_reason().unwrap_or("bad request").to_owned(),
                errors: Vec::new(),
            }
            .into(),
            s => AppError::Internal(format!("unexpected status {s}").into()).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error only HTTP has answers with the status its code is documented under (the
    /// application's errors take theirs from their code).
    #[test]
    fn an_edge_error_answers_with_the_status_its_code_is_documented_under() {
        let (status, code) = ApiError::PayloadTooLarge.status_and_code();
        assert_eq!(status.as_u16(), code.status());
        let (status, code) = ApiError::validation("f", "m").status_and_code();
        assert_eq!((status.as_u16(), code), (400, ErrorCode::ValidationFailed));
    }
}
