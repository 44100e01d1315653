//! Liveness and readiness.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::ApiError;
use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "The database answers"), (status = 503, description = "Database unreachable or busy (SERVICE_UNAVAILABLE), with Retry-After", body = rota_api::problem::Problem, content_type = "application/problem+json")))]
async fn readyz(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    state.store.ping().await?;
    Ok(Json(
        serde_json::json!({"status": "ok", "database": state.store.backend()}),
    ))
}
