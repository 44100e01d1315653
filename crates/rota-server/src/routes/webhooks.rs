//! Webhook subscriptions and their delivery log; the business unit's self-service and trade
//! settings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rota_api::paging::Paging;
use rota_api::webhooks::{CreatedSubscription, NewSubscriptionBody, SubscriptionPatch};
use rota_app::webhooks;
use rota_core::auth::Action;
use rota_core::ids::BusinessUnitId;
use rota_core::store::{DirectoryStore, TradeStore, WebhookStore};
use rota_core::trade::BusinessUnitSettings;
use rota_core::webhook::{Delivery, Subscription};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::command::Command;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::idempotency::Respond;
use crate::routes::{page, parse_id};
use crate::startup::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(deliveries))
        .routes(routes!(read_settings, write_settings))
}

/// Subscribes a URL to a business unit's events. Each delivery is signed (see docs/API.md);
/// events of changes committed after the subscription are delivered, in order per schedule.
#[utoipa::path(operation_id = "create_webhook", post, path = "/api/v2/wfm/business-units/{businessUnitId}/webhooks", tag = "webhooks",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id"), ("Idempotency-Key" = Option<rota_api::headers::IdempotencyKey>, Header, description = "Safe retries")), request_body = NewSubscriptionBody,
    responses((status = 201, description = "The subscription and its secret (shown once)", body = CreatedSubscription), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn create(
    cmd: Command,
    Path(bu): Path<String>,
    ApiJson(body): ApiJson<NewSubscriptionBody>,
) -> Result<Response, ApiError> {
    let bu: BusinessUnitId = parse_id("id", &bu)?;
    Ok(webhooks::create(&cmd, bu, body)
        .await?
        .respond(StatusCode::CREATED))
}

#[utoipa::path(operation_id = "list_webhooks", get, path = "/api/v2/wfm/business-units/{businessUnitId}/webhooks", tag = "webhooks",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id"), Paging),
    responses((status = 200, description = "The business unit's subscriptions", body = rota_api::schedules::Page<Subscription>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(bu): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<rota_api::schedules::Page<Subscription>>, ApiError> {
    let bu: BusinessUnitId = parse_id("id", &bu)?;
    caller.require(Action::Configure, bu, ("business unit", bu))?;
    Ok(Json(page(
        state
            .app
            .store()
            .subscriptions(bu, (&paging).into())
            .await?,
    )))
}

/// The subscription, with whether it is enabled and why not.
#[utoipa::path(operation_id = "read_webhook", get, path = "/api/v2/wfm/webhooks/{webhookId}", tag = "webhooks",
    params(("webhookId" = uuid::Uuid, Path, description = "Subscription id")),
    responses((status = 200, description = "The subscription", body = Subscription), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(
        webhooks::owned(&state.app, &caller, parse_id("id", &id)?).await?,
    ))
}

#[utoipa::path(patch, path = "/api/v2/wfm/webhooks/{webhookId}", tag = "webhooks",
    params(("webhookId" = uuid::Uuid, Path, description = "Subscription id")), request_body = SubscriptionPatch,
    responses((status = 200, description = "The subscription as changed", body = Subscription), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SubscriptionPatch>,
) -> Result<Json<Subscription>, ApiError> {
    Ok(Json(
        webhooks::update(&state.app, &caller, parse_id("id", &id)?, &body).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v2/wfm/webhooks/{webhookId}", tag = "webhooks",
    params(("webhookId" = uuid::Uuid, Path, description = "Subscription id")),
    responses((status = 204, description = "Deleted, with its delivery log"), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&state.app, &caller, parse_id("id", &id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The delivery log, newest first: state, attempts, the receiver's last status or error.
#[utoipa::path(get, path = "/api/v2/wfm/webhooks/{webhookId}/deliveries", tag = "webhooks",
    params(("webhookId" = uuid::Uuid, Path, description = "Subscription id"), Paging),
    responses((status = 200, description = "A page of deliveries", body = rota_api::schedules::Page<Delivery>), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn deliveries(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(paging): ApiQuery<Paging>,
) -> Result<Json<rota_api::schedules::Page<Delivery>>, ApiError> {
    let subscription = webhooks::owned(&state.app, &caller, parse_id("id", &id)?).await?;
    Ok(Json(page(
        state
            .app
            .store()
            .deliveries(subscription.id, (&paging).into())
            .await?,
    )))
}

/// The business unit's self-service and trade settings (defaults until set).
#[utoipa::path(get, path = "/api/v2/wfm/business-units/{businessUnitId}/settings", tag = "webhooks",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id")),
    responses((status = 200, description = "The settings", body = BusinessUnitSettings), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn read_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(bu): Path<String>,
) -> Result<Json<BusinessUnitSettings>, ApiError> {
    let bu: BusinessUnitId = parse_id("id", &bu)?;
    caller.require(Action::ReadDirectory, bu, ("business unit", bu))?;
    state.app.store().business_unit(bu).await?;
    Ok(Json(state.app.store().settings(bu).await?))
}

/// Replaces the settings; absent fields take their defaults, unknown ones are refused.
#[utoipa::path(put, path = "/api/v2/wfm/business-units/{businessUnitId}/settings", tag = "webhooks",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id")), request_body = BusinessUnitSettings,
    responses((status = 200, description = "The settings as stored", body = BusinessUnitSettings), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn write_settings(
    State(state): State<AppState>,
    caller: Caller,
    Path(bu): Path<String>,
    ApiJson(settings): ApiJson<BusinessUnitSettings>,
) -> Result<Json<BusinessUnitSettings>, ApiError> {
    let bu: BusinessUnitId = parse_id("id", &bu)?;
    webhooks::set_settings(&state.app, &caller, bu, &settings).await?;
    Ok(Json(settings))
}
