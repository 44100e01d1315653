//! The routes, one module per resource, merged once.

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

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
/// document and its reference). Every operation is registered from its `#[utoipa::path]`, so
/// the router serves exactly what `/openapi.json` documents: a route cannot be added to one
/// without the other.
pub fn router(state: AppState) -> Result<Router, serde_json::Error> {
    let (routes, api) = operations(&state).split_for_parts();
    let served = crate::openapi::Served::new(&state.config, api)?;
    Ok(Router::new()
        .merge(routes)
        .merge(crate::openapi::router(served))
        .fallback(|| async { ApiError::from(AppError::NotFound("no such route".into())) })
        .with_state(state))
}

/// Every operation of the API, with its part of the document.
pub fn operations(state: &AppState) -> OpenApiRouter<AppState> {
    let resources = OpenApiRouter::new()
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
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(crate::auth::router())
        .merge(crate::telemetry::router())
        .merge(resources)
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
