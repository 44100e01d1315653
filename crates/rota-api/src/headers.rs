//! Request headers with rules of their own, as schemas the document's parameters point to.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

/// `Idempotency-Key`: at most 255 printable ASCII characters (no spaces), not all of them `"`;
/// quotes around it are taken off (the structured-field form `"key"` names the same key as
/// `key`). A request carrying one is applied at most once; the same key with the same request
/// answers the recorded result.
pub struct IdempotencyKey;

impl IdempotencyKey {
    pub const MAX_LEN: usize = 255;
    pub const PATTERN: &'static str = "^[!-~]*[!#-~][!-~]*$";

    /// The key a header value names, if it follows the rule above.
    pub fn parse(raw: &str) -> Option<&str> {
        let ok = raw.len() <= Self::MAX_LEN
            && raw.bytes().all(|b| b.is_ascii_graphic())
            && raw.bytes().any(|b| b != b'"');
        ok.then(|| raw.trim_matches('"'))
    }
}

impl utoipa::PartialSchema for IdempotencyKey {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(Self::PATTERN))
            .min_length(Some(1))
            .max_length(Some(Self::MAX_LEN))
            .description(Some(
                "Makes a retry safe: the same key and request answer the recorded result \
                 (Idempotent-Replayed: true); the same key with another request is 422 \
                 IDEMPOTENCY_KEY_REUSED.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for IdempotencyKey {}
