//! Business units, their agents, and agent availability.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rota_api::paging::Paging;
use rota_api::schedules::Page;
use rota_core::directory::{Agent, AvailabilityDoc, BusinessUnit};
use rota_core::ids::{AgentId, BusinessUnitId};
use rota_core::store::DirectoryStore;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{page, parse_id};
use crate::auth::Caller;
use crate::command::Command;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::Respond;
use crate::startup::AppState;
use rota_core::auth::Action;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_business_units))
        .routes(routes!(list_agents))
        .routes(routes!(set_availability))
}

#[utoipa::path(get, path = "/api/v2/wfm/business-units", tag = "directory", params(Paging),
    responses((status = 200, description = "Business units the client may see", body = rota_api::schedules::Page<rota_core::directory::BusinessUnit>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn list_business_units(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<BusinessUnit>>, ApiError> {
    // A client confined to one business unit sees that one only.
    if let Some(own) = caller.0.business_unit {
        let bu = state.app.store().business_unit(own).await?;
        // A listing of one, paged like any other.
        let items = if paging.offset == 0 && paging.limit > 0 {
            vec![bu]
        } else {
            Vec::new()
        };
        return Ok(Json(Page {
            items,
            total: 1,
            offset: paging.offset,
            next_offset: None,
        }));
    }
    Ok(Json(page(
        state.app.store().business_units((&paging).into()).await?,
    )))
}

#[utoipa::path(get, path = "/api/v2/wfm/business-units/{businessUnitId}/agents", tag = "directory",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id"), Paging),
    responses((status = 200, description = "Agents, paged", body = rota_api::schedules::Page<rota_core::directory::Agent>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn list_agents(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<Page<Agent>>, ApiError> {
    let id: BusinessUnitId = parse_id("id", &id)?;
    caller.require(Action::ReadDirectory, id, ("business unit", id))?;
    state.app.store().business_unit(id).await?;
    Ok(Json(page(
        state.app.store().agents(id, (&paging).into()).await?,
    )))
}

/// Replaces an agent's availability; windows are normalised (merged) and empty or inverted
/// ones rejected before anything is stored.
#[utoipa::path(put, path = "/api/v2/wfm/agents/{agentId}/availability", tag = "directory",
    params(("agentId" = uuid::Uuid, Path, description = "Agent id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")),
    request_body = rota_core::directory::AvailabilityDoc,
    responses((status = 200, description = "The agent with normalised availability (overlapping windows merged)", body = rota_core::directory::Agent), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn set_availability(
    cmd: Command,
    Path(id): Path<String>,
    ApiJson(doc): ApiJson<AvailabilityDoc>,
) -> Result<Response, ApiError> {
    let id: AgentId = parse_id("agentId", &id)?;
    let done = rota_app::directory::set_availability(&cmd, id, doc).await?;
    Ok(done.respond(StatusCode::OK))
}
