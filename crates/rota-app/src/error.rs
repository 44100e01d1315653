//! The application's failures, in the words of what went wrong: each edge maps them once (the
//! API to problem+json, the portal to a page) and nothing below an edge knows HTTP.

use rota_api::problem::{ErrorCode, FieldError};
use rota_api::swaps::ItemResult;
use rota_core::command::{CommandError, ItemOutcome};
use rota_core::store::StoreError;

/// Why a command or a read did not happen. Each variant names its stable [`ErrorCode`]
/// ([`AppError::code`]); the code decides the HTTP status of the API edge.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request is malformed: a field does not parse or is out of its range.
    #[error("{detail}")]
    Validation {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// Well-formed, but refused by a rule the operation states (`UNPROCESSABLE`).
    #[error("{detail}")]
    Unprocessable {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("{0}")]
    NotFound(String),
    /// No credentials.
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
    #[error("rate limit exceeded; retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("a request with this Idempotency-Key is still being processed; retry later")]
    IdempotencyInProgress,
    #[error("{0}")]
    Unavailable(String),
    /// A refusal with its own code (trades, webhooks, time off, held changes).
    #[error("{detail}")]
    Refused { code: ErrorCode, detail: String },
    /// A fault of the service: the cause is logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type AppResult<T> = Result<T, AppError>;

/// `TOO_MANY_ITEMS` naming `field` when a list of the request holds more than `max`: every
/// list a request carries has a bound (docs/API.md lists them).
pub fn bounded(field: &str, len: usize, max: usize) -> AppResult<()> {
    if len > max {
        Err(AppError::TooManyItems {
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

/// An id of the request parsed, or `VALIDATION_FAILED` naming its field.
pub fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> AppResult<T>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e: T::Err| AppError::validation(field, e.to_string()))
}

impl AppError {
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

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    /// The stable code of this failure; its HTTP status is [`ErrorCode::status`].
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation { .. } => ErrorCode::ValidationFailed,
            Self::Unprocessable { .. } => ErrorCode::Unprocessable,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Unauthenticated(_) | Self::InvalidToken(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Conflict { .. } => ErrorCode::VersionConflict,
            Self::UnknownVersion(_) => ErrorCode::UnknownVersion,
            Self::RuleViolation { .. } => ErrorCode::RuleViolation,
            Self::PreconditionFailed(_) => ErrorCode::PreconditionFailed,
            Self::TooManyItems { .. } => ErrorCode::TooManyItems,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::IdempotencyKeyReused => ErrorCode::IdempotencyKeyReused,
            Self::IdempotencyInProgress => ErrorCode::IdempotencyInProgress,
            Self::Unavailable(_) => ErrorCode::ServiceUnavailable,
            Self::Refused { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The cause chain of an internal error, for the log (never for the person asking).
    pub fn cause_chain(&self) -> Option<String> {
        let Self::Internal(cause) = self else {
            return None;
        };
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        Some(chain)
    }
}

impl From<StoreError> for AppError {
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

impl From<CommandError> for AppError {
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
                    outcome: ItemOutcome::Conflict {
                        shifts: vec![(**current).clone()],
                        current_version_id,
                    },
                }],
            },
            CommandError::Rejected(violations) => Self::RuleViolation {
                detail: format!("the change breaks {} rule(s)", violations.len()),
                items: vec![ItemResult {
                    index: 0,
                    outcome: ItemOutcome::Rejected { violations },
                }],
            },
        }
    }
}

impl From<rota_core::trade::TradeError> for AppError {
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

impl From<rota_core::timeoff::TimeOffError> for AppError {
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
                        outcome: ItemOutcome::Rejected { violations },
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
