//! Pages of a listing: the query that asks for one and the body that answers.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

/// The most items one page holds (the document's `maximum` of every `limit`).
pub const MAX_LIMIT: u32 = rota_core::store::PageRequest::MAX_LIMIT;

/// Reads `offset` as the document states it: an int64 of at least 0.
pub fn offset<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let offset = u64::deserialize(d)?;
    if i64::try_from(offset).is_err() {
        return Err(D::Error::custom(format!(
            "offset must be at most {}",
            i64::MAX
        )));
    }
    Ok(offset)
}

/// Reads a version a request expects (of a trade, a held change, a time-off request): 1 or more,
/// as the document states.
pub fn version<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let version = u32::deserialize(d)?;
    if version == 0 {
        return Err(D::Error::custom("versions start at 1"));
    }
    Ok(version)
}

/// Reads `limit` as the document states it: 1 to [`MAX_LIMIT`].
pub fn limit<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let limit = u32::deserialize(d)?;
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(D::Error::custom(format!("limit must be 1 to {MAX_LIMIT}")));
    }
    Ok(limit)
}

/// Items per page when a listing's query names no limit.
pub fn default_limit() -> u32 {
    100
}

/// Items per page of a schedule's shifts and versions when the query names no limit.
pub fn default_shift_limit() -> u32 {
    500
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[derive(utoipa::ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
    pub next_offset: Option<u64>,
}

impl From<&Paging> for rota_core::store::PageRequest {
    fn from(p: &Paging) -> Self {
        Self::new(p.offset, p.limit)
    }
}

/// Paging parameters shared by listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    #[serde(default, deserialize_with = "crate::paging::offset")]
    pub offset: u64,
    #[serde(default = "default_limit", deserialize_with = "crate::paging::limit")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: u32,
}

impl Default for Paging {
    fn default() -> Self {
        Self {
            offset: 0,
            limit: default_limit(),
        }
    }
}
