//! Pages of a listing: the query that asks for one and the body that answers.

use serde::{Deserialize, Serialize};

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
    #[serde(default)]
    pub offset: u64,
    #[serde(default = "default_limit")]
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
