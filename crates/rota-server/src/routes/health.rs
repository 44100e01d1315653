//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use rota_api::health::Health;

use crate::error::ApiError;
use crate::startup::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        database: None,
        host: None,
    })
}

/// Ready when the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "The database answers", body = Health), (status = 503, description = "Database unreachable or busy (SERVICE_UNAVAILABLE), with Retry-After", body = rota_api::problem::Problem, content_type = "application/problem+json")))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    state.app.store().ping().await?;
    Ok(Json(Health {
        status: "ok".into(),
        database: Some(state.app.store().backend().into()),
        host: state.app.store().host(),
    }))
}
