//! The one place that maps failures to HTTP: status, stable code, problem+json body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rota_api::problem::{CONTENT_TYPE, ErrorCode, FieldError, Problem};
use rota_api::swaps::ItemResult;
use rota_core::command::CommandError;
use rota_core::store::StoreError;

use crate::request_id::RequestId;

/// A failure as the API reports it. Built without the request id; [`ApiError::into_problem`]
/// adds it, so handlers stay free of plumbing.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Well-formed, but refused by a rule the operation states (422 `UNPROCESSABLE`).
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    NotFound(String),
    /// No bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// A bearer token that is unknown or expired (RFC 6750 §3.1 `invalid_token`).
    #[error("{0}")]
    InvalidToken(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{detail}")]
    Conflict {
        detail: String,
        current_version_id: String,
        items: Vec<ItemResult>,
    },
    #[error("{0}")]
    UnknownVersion(String),
    #[error("{detail}")]
    RuleViolation {
        detail: String,
        items: Vec<ItemResult>,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("`{field}` has {got} items; at most {max} are accepted")]
    TooManyItems {
        field: String,
        max: usize,
        got: usize,
    },
    #[error("the request body is larger than the service accepts")]
    PayloadTooLarge,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("rate limit exceeded; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    #[error("{0}")]
    Unavailable(String),
    /// A refusal with its own code, answered with the code's status (trades, webhooks, time
    /// off, held changes).
    #[error("{detail}")]
    Refused { code: ErrorCode, detail: String },
    /// A fault of the service: the cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// 422 `TOO_MANY_ITEMS` naming `field` when a list of the request holds more than `max`: every
/// list a request body carries has a bound (docs/API.md lists them).
pub fn bounded(field: &str, len: usize, max: usize) -> Result<(), ApiError> {
    if len > max {
        Err(ApiError::TooManyItems {
            field: field.to_owned(),
            max,
            got: len,
        })
    } else {
        Ok(())
    }
}

/// The detail and the field list of an error about one field.
fn about(field: &str, message: String) -> (String, Vec<FieldError>) {
    (
        format!("{field}: {message}"),
        vec![FieldError {
            field: field.to_owned(),
            message,
        }],
    )
}

impl ApiError {
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let (detail, errors) = about(field, message.into());
        Self::Validation { detail, errors }
    }

    /// A request that matches the document but breaks a rule the operation states, about
    /// `field`.
    pub fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        let (detail, errors) = about(field, message.into());
        Self::Unprocessable { detail, errors }
    }

    pub(crate) fn status_and_code(&self) -> (StatusCode, ErrorCode) {
        match self {
            Self::Unprocessable { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::Unprocessable)
            }
            Self::Validation { .. } => (StatusCode::BAD_REQUEST, ErrorCode::ValidationFailed),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Unauthenticated(_) | Self::InvalidToken(_) => {
                (StatusCode::UNAUTHORIZED, ErrorCode::Unauthenticated)
            }
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            Self::Conflict { .. } => (StatusCode::CONFLICT, ErrorCode::VersionConflict),
            Self::UnknownVersion(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::UnknownVersion)
            }
            Self::RuleViolation { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::RuleViolation)
            }
            Self::PreconditionFailed(_) => (
                StatusCode::PRECONDITION_FAILED,
                ErrorCode::PreconditionFailed,
            ),
            Self::TooManyItems { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::TooManyItems)
            }
            Self::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::ValidationFailed),
            Self::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited),
            Self::IdempotencyKeyReused => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::IdempotencyKeyReused,
            ),
            Self::IdempotencyInProgress => (StatusCode::CONFLICT, ErrorCode::IdempotencyInProgress),
            Self::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::ServiceUnavailable,
            ),
            Self::Refused { code, .. } => (
                StatusCode::from_u16(code.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
                *code,
            ),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal),
        }
    }

    pub fn into_problem(self, request_id: &RequestId) -> Response {
        let (status, code) = self.status_and_code();
        crate::telemetry::error(code.as_str());
        if let Self::Internal(cause) = &self {
            let mut chain = cause.to_string();
            let mut source = cause.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(request_id = %request_id, cause = %chain, "internal error");
        }
        let invalid_token = matches!(self, Self::InvalidToken(_));
        let retry_after = match &self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::Unavailable(_) => Some(1),
            _ => None,
        };
        let detail = match &self {
            Self::Internal(_) => {
                format!("an internal error occurred; quote request id {request_id}")
            }
            other => other.to_string(),
        };
        let (current_schedule_version_id, items, errors) = match self {
            Self::Conflict {
                current_version_id,
                items,
                ..
            } => (Some(current_version_id), items, Vec::new()),
            Self::RuleViolation { items, .. } => (None, items, Vec::new()),
            Self::Validation { errors, .. } | Self::Unprocessable { errors, .. } => {
                (None, Vec::new(), errors)
            }
            Self::TooManyItems { field, max, .. } => (
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Command(c) => c.into(),
            StoreError::NotFound { kind, id } => {
                Self::NotFound(format!("{kind} {id} does not exist"))
            }
            StoreError::AlreadyExists(what) => Self::Refused {
                code: ErrorCode::AlreadyExists,
                detail: format!("{what} already exists"),
            },
            StoreError::Busy(_) => Self::Unavailable("the database is busy; retry".into()),
            StoreError::Unavailable(_) => {
                Self::Unavailable("the database is unreachable; retry".into())
            }
            StoreError::Trade(t) => t.into(),
            StoreError::Requirement(r) => Self::Refused {
                code: ErrorCode::InvalidRequirement,
                detail: r.to_string(),
            },
            StoreError::Held(h) => {
                use rota_core::held::HeldError;
                let code = match &h {
                    HeldError::NotFound(_) => return Self::NotFound(h.to_string()),
                    HeldError::VersionConflict { .. } => ErrorCode::HeldVersionConflict,
                    HeldError::Decided(_) => ErrorCode::HeldChangeDecided,
                };
                Self::Refused {
                    code,
                    detail: h.to_string(),
                }
            }
            StoreError::TimeOff(t) => t.into(),
            StoreError::KeyTaken => Self::IdempotencyInProgress,
            other @ (StoreError::Corrupt(_) | StoreError::Backend(_)) => {
                Self::Internal(Box::new(other))
            }
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::ScheduleNotFound(_) | CommandError::ShiftNotFound(_) => {
                Self::NotFound(e.to_string())
            }
            CommandError::UnknownVersion { .. } => Self::UnknownVersion(e.to_string()),
            CommandError::EmptyRequest => {
                Self::validation("shiftSwaps", "at least one swap is required")
            }
            CommandError::ShiftVersionConflict {
                ref current,
                current_version_id,
                ..
            } => Self::Conflict {
                detail: e.to_string(),
                current_version_id: current_version_id.to_string(),
                items: vec![ItemResult {
                    index: 0,
                    outcome: rota_core::command::ItemOutcome::Conflict {
                        shifts: vec![(**current).clone()],
                        current_version_id,
                    },
                }],
            },
            CommandError::Rejected(violations) => Self::RuleViolation {
                detail: format!("the change breaks {} rule(s)", violations.len()),
                items: vec![ItemResult {
                    index: 0,
                    outcome: rota_core::command::ItemOutcome::Rejected { violations },
                }],
            },
        }
    }
}

impl From<rota_core::trade::TradeError> for ApiError {
    fn from(e: rota_core::trade::TradeError) -> Self {
        use rota_core::trade::TradeError;
        let code = match &e {
            TradeError::NotFound(_) => return Self::NotFound(e.to_string()),
            TradeError::Forbidden(_) => return Self::Forbidden(e.to_string()),
            TradeError::VersionConflict { .. } => ErrorCode::TradeVersionConflict,
            TradeError::InvalidTransition { .. } => ErrorCode::TradeStateConflict,
            TradeError::Expired(_) => ErrorCode::TradeExpired,
            TradeError::ShiftInTrade { .. } => ErrorCode::ShiftInTrade,
            TradeError::Invalid(_) => ErrorCode::TradeInvalid,
        };
        Self::Refused {
            code,
            detail: e.to_string(),
        }
    }
}

impl ApiError {
    /// The problem for an error answer that no handler produced (the router's 405, a
    /// timeout's 503), so that every failure has the same shape.
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::NotFound("no such route".into()),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::REQUEST_TIMEOUT
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => {
                Self::Unavailable("the request took too long; retry".into())
            }
            s if s.is_client_error() => Self::Validation {
                detail: s.canonical_reason().unwrap_or("bad request").to_owned(),
                errors: Vec::new(),
            },
            s => Self::Internal(format!("unexpected status {s}").into()),
        }
    }
}

impl From<rota_core::timeoff::TimeOffError> for ApiError {
    fn from(e: rota_core::timeoff::TimeOffError) -> Self {
        use rota_core::timeoff::TimeOffError;
        let detail = e.to_string();
        match e {
            TimeOffError::NotFound(_) => Self::NotFound(detail),
            TimeOffError::Invalid(message) => Self::unprocessable("timeOff", message),
            TimeOffError::UnknownCode(_) => Self::unprocessable("code", detail),
            TimeOffError::Refused(violations) | TimeOffError::RulesFailed(violations) => {
                Self::RuleViolation {
                    detail,
                    items: vec![ItemResult {
                        index: 0,
                        outcome: rota_core::command::ItemOutcome::Rejected { violations },
                    }],
                }
            }
            TimeOffError::VersionConflict { .. } => Self::Refused {
                code: ErrorCode::TimeOffVersionConflict,
                detail,
            },
            TimeOffError::WrongState { .. } => Self::Refused {
                code: ErrorCode::TimeOffState,
                detail,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status each error answers with is the one `/openapi.json` lists its code under.
    #[test]
    fn every_error_answers_with_the_status_its_code_is_documented_under() {
        let errors = [
            ApiError::validation("f", "m"),
            ApiError::unprocessable("f", "m"),
            ApiError::NotFound("x".into()),
            ApiError::Unauthenticated("x".into()),
            ApiError::InvalidToken("x".into()),
            ApiError::Forbidden("x".into()),
            ApiError::Conflict {
                detail: "x".into(),
                current_version_id: "v".into(),
                items: Vec::new(),
            },
            ApiError::UnknownVersion("x".into()),
            ApiError::RuleViolation {
                detail: "x".into(),
                items: Vec::new(),
            },
            ApiError::PreconditionFailed("x".into()),
            ApiError::TooManyItems {
                field: "f".into(),
                max: 1,
                got: 2,
            },
            ApiError::PayloadTooLarge,
            ApiError::RateLimited { retry_after: 1 },
            ApiError::IdempotencyKeyReused,
            ApiError::IdempotencyInProgress,
            ApiError::Unavailable("x".into()),
            ApiError::Internal("x".into()),
        ];
        for e in errors {
            let (status, code) = e.status_and_code();
            assert_eq!(status.as_u16(), code.status(), "{e:?}");
        }
    }
}
