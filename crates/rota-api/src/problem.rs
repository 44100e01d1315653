//! The error body every failure carries (`application/problem+json`, RFC 9457).

use serde::{Deserialize, Serialize};

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A stable, documented error code; clients match on it, never on the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[derive(utoipa::ToSchema)]
pub enum ErrorCode {
    /// 409: a shift an item touches changed after the request's base version (or, in the strict
    /// scope, the schedule did). The body carries the current version id and the conflicts.
    VersionConflict,
    /// 409 for a schedule version that does not exist (never existed, or newer than current).
    UnknownVersion,
    /// 422: items break rules; the body lists the violations per item.
    RuleViolation,
    /// 400: the request breaks the document (a type, format, pattern, bound, required
    /// field or unknown field); the body names each field.
    ValidationFailed,
    /// 422: the request matches the document, but a rule its operation's description states
    /// refuses it: fields that do not go together, a value this caller may not use, a
    /// reference to something that does not exist. The body names each field.
    Unprocessable,
    NotFound,
    Unauthenticated,
    Forbidden,
    /// 412: `If-Match` named another version than the current one.
    PreconditionFailed,
    RateLimited,
    IdempotencyKeyReused,
    IdempotencyInProgress,
    PayloadTooLarge,
    /// 408: the request's body did not arrive within its time (it stopped short, or came
    /// too slowly); the connection is closed. Nothing was done: send it again.
    RequestTimeout,
    /// 422: more swap items than the server accepts in one request.
    TooManyItems,
    /// 503: the database is unreachable or busy; retry after `Retry-After`.
    ServiceUnavailable,
    /// 500: a fault of the service; the body carries only the request id.
    Internal,
    /// 409: the trade is at another version than the request carries.
    TradeVersionConflict,
    /// 409: the trade's state does not allow the operation (an approved trade cannot be
    /// canceled, a matched one cannot be matched again).
    TradeStateConflict,
    /// 409: the trade has expired.
    TradeExpired,
    /// 409: a shift of the request is held by another matched trade.
    ShiftInTrade,
    /// 422: the trade request itself is invalid (not your shift, outside the accepted times…).
    TradeInvalid,
    /// 422: the webhook target is not an allowed URL.
    InvalidWebhookUrl,
    /// 422: a staffing requirement does not fit the schedule's week or business unit.
    InvalidRequirement,
    /// 409: the held change is at another version than the request carries.
    HeldVersionConflict,
    /// 409: the held change was already approved or denied.
    HeldChangeDecided,
    /// 409: the time-off request is at another version than the request carries.
    TimeOffVersionConflict,
    /// 409: the time-off request's state does not allow the operation (decided, cancelled).
    TimeOffState,
    /// 409: what the request creates exists already (a schedule of that week, an id in use).
    AlreadyExists,
}

impl ErrorCode {
    pub const ALL: [Self; 29] = [
        Self::VersionConflict,
        Self::UnknownVersion,
        Self::RuleViolation,
        Self::ValidationFailed,
        Self::Unprocessable,
        Self::NotFound,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::PreconditionFailed,
        Self::RateLimited,
        Self::IdempotencyKeyReused,
        Self::IdempotencyInProgress,
        Self::PayloadTooLarge,
        Self::RequestTimeout,
        Self::TooManyItems,
        Self::ServiceUnavailable,
        Self::Internal,
        Self::TradeVersionConflict,
        Self::TradeStateConflict,
        Self::TradeExpired,
        Self::ShiftInTrade,
        Self::TradeInvalid,
        Self::InvalidWebhookUrl,
        Self::InvalidRequirement,
        Self::HeldVersionConflict,
        Self::HeldChangeDecided,
        Self::TimeOffVersionConflict,
        Self::TimeOffState,
        Self::AlreadyExists,
    ];

    /// The HTTP status a problem of this code carries (`/openapi.json` lists each code under
    /// its status).
    pub const fn status(self) -> u16 {
        match self {
            Self::VersionConflict => 409,
            Self::UnknownVersion => 422,
            Self::RuleViolation => 422,
            Self::ValidationFailed => 400,
            Self::Unprocessable => 422,
            Self::NotFound => 404,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::PreconditionFailed => 412,
            Self::RateLimited => 429,
            Self::IdempotencyKeyReused => 422,
            Self::IdempotencyInProgress => 409,
            Self::PayloadTooLarge => 413,
            Self::RequestTimeout => 408,
            Self::TooManyItems => 422,
            Self::ServiceUnavailable => 503,
            Self::Internal => 500,
            Self::TradeVersionConflict => 409,
            Self::TradeStateConflict => 409,
            Self::TradeExpired => 409,
            Self::ShiftInTrade => 409,
            Self::TradeInvalid => 422,
            Self::InvalidWebhookUrl => 422,
            Self::InvalidRequirement => 422,
            Self::HeldVersionConflict => 409,
            Self::HeldChangeDecided => 409,
            Self::TimeOffVersionConflict => 409,
            Self::TimeOffState => 409,
            Self::AlreadyExists => 409,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::VersionConflict => "VERSION_CONFLICT",
            Self::UnknownVersion => "UNKNOWN_VERSION",
            Self::RuleViolation => "RULE_VIOLATION",
            Self::ValidationFailed => "VALIDATION_FAILED",
            Self::Unprocessable => "UNPROCESSABLE",
            Self::NotFound => "NOT_FOUND",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::PreconditionFailed => "PRECONDITION_FAILED",
            Self::RateLimited => "RATE_LIMITED",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::IdempotencyInProgress => "IDEMPOTENCY_IN_PROGRESS",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::TooManyItems => "TOO_MANY_ITEMS",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::TradeVersionConflict => "TRADE_VERSION_CONFLICT",
            Self::TradeStateConflict => "TRADE_STATE_CONFLICT",
            Self::TradeExpired => "TRADE_EXPIRED",
            Self::ShiftInTrade => "SHIFT_IN_TRADE",
            Self::TradeInvalid => "TRADE_INVALID",
            Self::InvalidWebhookUrl => "INVALID_WEBHOOK_URL",
            Self::InvalidRequirement => "INVALID_REQUIREMENT",
            Self::HeldVersionConflict => "HELD_VERSION_CONFLICT",
            Self::HeldChangeDecided => "HELD_CHANGE_DECIDED",
            Self::TimeOffVersionConflict => "TIME_OFF_VERSION_CONFLICT",
            Self::TimeOffState => "TIME_OFF_STATE",
            Self::AlreadyExists => "ALREADY_EXISTS",
        }
    }
}

/// One malformed field, by its JSON path (`shiftSwaps[2].agentId`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The problem body. Extension members appear only where they apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
#[schema(example = json!({
    "type": "/problems/version-conflict",
    "title": "Conflict",
    "status": 409,
    "detail": "1 of 1 swaps touch shifts that changed after the base version; nothing was applied",
    "code": "VERSION_CONFLICT",
    "requestId": "0192a137-1ed7-72ec-bac8-cd14e0482bf8",
    "currentScheduleVersionId": "AZKhNt5ycqKLNYPTwBjKmgAAAAAAAAAE",
    "items": [{
        "index": 0,
        "status": "conflict",
        "currentVersionId": "AZKhNt5ycqKLNYPTwBjKmgAAAAAAAAAE",
        "shifts": [{
            "id": "0192a136-de72-72a2-8b35-83d3c018cb01",
            "scheduleId": "0192a136-de72-72a2-8b35-83d3c018ca9a",
            "owner": "0192a136-de72-72a2-8b35-83d3c018cc10",
            "window": {"start": "2026-11-30T14:00:00Z", "end": "2026-11-30T22:00:00Z"},
            "requiredSkill": "phone",
            "activityCode": "phone",
            "version": 4
        }]
    }]
}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: ErrorCode,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<rota_core::version::ScheduleVersionId>)]
    pub current_schedule_version_id: Option<String>,
    /// Per-item outcomes of a swap request that failed as a whole (conflicts, violations).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<crate::swaps::ItemResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// The `type` URI of a code: a stable relative reference documented in docs/API.md.
    pub fn type_uri(code: ErrorCode) -> String {
        format!(
            "/problems/{}",
            code.as_str().to_ascii_lowercase().replace('_', "-")
        )
    }
}
