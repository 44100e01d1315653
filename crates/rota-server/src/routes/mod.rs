//! The routes, one module per resource, merged once.

use axum::Router;

use rota_app::AppError;

use crate::error::ApiError;
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

/// The API edge: the resources under `/api`, each request of theirs authenticated and
/// rate-limited per client; beside them what needs no caller (health, tokens, metrics, the
/// document and its reference).
pub fn router(state: AppState) -> Router {
    let resources = Router::new()
        .merge(directory::router())
        .merge(coverage::router())
        .merge(schedules::router())
        .merge(swaps::router())
        .merge(time_off::router())
        .merge(trades::router())
        .merge(webhooks::router())
        .merge(users::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::rate_limit::middleware,
        ));
    Router::new()
        .merge(health::router())
        .merge(crate::auth::router())
        .merge(crate::telemetry::router())
        .merge(crate::openapi::router())
        .merge(resources)
        .fallback(|| async { ApiError::from(AppError::NotFound("no such route".into())) })
        .with_state(state)
}

pub fn page<T>(p: rota_core::store::Page<T>) -> rota_api::schedules::Page<T> {
    rota_api::schedules::Page {
        next_offset: p.next_offset(),
        items: p.items,
        total: p.total,
        offset: p.offset,
    }
}

pub use rota_app::parse_id;
