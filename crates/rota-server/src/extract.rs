//! Request-body and query extraction whose failures are problem+json with the field path.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body. Malformed JSON, a wrong type or an unknown field is a 400 naming the field (a
/// value that breaks a rule across its fields reads, and its command refuses it with 422); a
/// body over the limit is a 413. A number with no fractional part is an integer, as JSON
/// Schema counts it (`1.0` where the document says integer is taken as `1`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json") || v.contains("+json"));
        if !is_json {
            return Err(ApiError::validation(
                "body",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::validation("body", e.body_text())
                }
            })?;
        // The common body reads straight into its type; only one that does not is read again
        // as a document, its whole numbers made integers and its error given a field path.
        if let Ok(value) = serde_json::from_slice(&bytes) {
            return Ok(Self(value));
        }
        let mut json: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::validation("body", e.to_string()))?;
        integers_as_integers(&mut json);
        let value = serde_path_to_error::deserialize(json).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "body".to_owned() } else { path };
            ApiError::validation(&field, e.inner().to_string())
        })?;
        Ok(Self(value))
    }
}

/// Rewrites every number with no fractional part (within the range a double holds exactly) as
/// an integer, so that `2.0` reads where an integer is expected.
fn integers_as_integers(value: &mut serde_json::Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        serde_json::Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() <= EXACT
            {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *value = serde_json::Value::from(i);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integers_as_integers),
        serde_json::Value::Object(map) => map.values_mut().for_each(integers_as_integers),
        _ => {}
    }
}

/// Query parameters, with the same error shape.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded_compat(query).map(Self)
    }
}

fn serde_urlencoded_compat<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    axum::extract::Query::<T>::try_from_uri(
        &format!("/?{query}")
            .parse()
            .map_err(|_| ApiError::validation("query", "malformed query string"))?,
    )
    .map(|q| q.0)
    .map_err(|e| ApiError::validation("query", e.body_text()))
}
