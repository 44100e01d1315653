//! The routes, one module per resource, merged once.

use axum::Router;

use crate::startup::AppState;

pub mod coverage;
pub mod directory;
pub mod health;
pub mod schedules;
pub mod swaps;
pub mod time_off;
pub mod trades;
pub mod users;
pub mod webhooks;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(crate::auth::router())
        .merge(crate::telemetry::router())
        .merge(crate::openapi::router())
        .merge(directory::router())
        .merge(coverage::router())
        .merge(schedules::router())
        .merge(swaps::router())
        .merge(time_off::router())
        .merge(trades::router())
        .merge(webhooks::router())
        .merge(users::router())
        .merge(crate::portal::router())
        .fallback(|| async { crate::error::ApiError::NotFound("no such route".into()) })
}

pub fn page<T>(p: rota_core::store::Page<T>) -> rota_api::schedules::Page<T> {
    rota_api::schedules::Page {
        next_offset: p.next_offset(),
        items: p.items,
        total: p.total,
        offset: p.offset,
    }
}

pub fn parse_id<T: std::str::FromStr>(field: &str, raw: &str) -> Result<T, crate::error::ApiError>
where
    T::Err: std::fmt::Display,
{
    raw.parse()
        .map_err(|e: T::Err| crate::error::ApiError::validation(field, e.to_string()))
}
