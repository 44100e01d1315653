//! Webhook subscriptions and their delivery log; the business unit's self-service and trade
//! settings.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt;
use rota_core::auth::Action;
use rota_core::ids::{BusinessUnitId, SubscriptionId};
use rota_core::store::{DirectoryStore, SubscriptionUpdate, TradeStore, WebhookStore};
use rota_core::trade::BusinessUnitSettings;
use rota_core::webhook::{Delivery, EventType, NewSubscription, Subscription};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::routes::{page, parse_id};
use crate::startup::AppState;
use rota_api::paging::Paging;
use rota_api::problem::ErrorCode;
use rota_api::webhooks::{CreatedSubscription, NewSubscriptionBody, SubscriptionPatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v2/wfm/business-units/{businessUnitId}/webhooks",
            get(list).post(create),
        )
        .route(
            "/api/v2/wfm/webhooks/{webhookId}",
            get(read).patch(update).delete(remove),
        )
        .route(
            "/api/v2/wfm/webhooks/{webhookId}/deliveries",
            get(deliveries),
        )
        .route(
            "/api/v2/wfm/business-units/{businessUnitId}/settings",
            get(read_settings).put(write_settings),
        )
}

fn check_events(events: &[EventType]) -> Result<Vec<EventType>, ApiError> {
    crate::error::bounded("events", events.len(), 64)?;
    if events.is_empty() {
        return Err(ApiError::validation("events", "at least one event type"));
    }
    let mut events = events.to_vec();
    events.sort_unstable();
    events.dedup();
    Ok(events)
}

async fn check_url(state: &AppState, url: &str) -> Result<String, ApiError> {
    crate::webhooks::check_target(url, state.config.webhooks.allow_private_targets)
        .await
        .map(|u| u.to_string())
        .map_err(|detail| ApiError::Refused {
            code: ErrorCode::InvalidWebhookUrl,
            detail,
        })
}

/// Subscribes a URL to a business unit's events. Each delivery is signed (see docs/API.md);
/// events of changes committed after the subscription are delivered, in order per schedule.
#[utoipa::path(operation_id = "create_webhook", post, path = "/api/v2/wfm/business-units/{businessUnitId}/webhooks", tag = "webhooks",
    params(("businessUnitId" = uuid::Uuid, Path, description = "Business unit id")), request_body = NewSubscriptionBody,
    responses((status = 201, description = "The subscription and its secret (shown once)", body = CreatedSubscription), crate::openapi::Problems),
    security(("bearer" = [])))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(bu): Path<String>,
    ApiJson(body): ApiJson<NewSubscriptionBody>,
) -> Result<Response, ApiError> {
    let bu: BusinessUnitId = parse_id("id", &bu)?;
    caller.require(Action::Configure, bu)?;
    state.store.business_unit(bu).await?;
    let events = check_events(&body.events)?;
    let url = check_url(&state, &body.url).await?;
    let secret = match body.secret {
        Some(s) if s.len() < 16 => {
            return Err(ApiError::validation("secret", "at least 16 characters"));
        }
        Some(s) => s,
        None => URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>()),
    };
    let subscription = Subscription {
        id: SubscriptionId::new(),
        business_unit_id: bu,
        url,
        events,
        enabled: true,
        disabled_reason: None,
        consecutive_failures: 0,
        created_at: state.clock.now(),
    };
    state
        .store
        .create_subscription(&NewSubscription {
            subscription: subscription.clone(),
            secret: secret.clone(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedSubscription {
            subscription,
            secret,
        }),
    )
        .into_response())
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
    caller.require(Action::Configure, bu)?;
    Ok(Json(page(
        state.store.subscriptions(bu, (&paging).into()).await?,
    )))
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> Result<Subscription, ApiError> {
    let subscription = state.store.subscription(parse_id("id", id)?).await?;
    caller.require(Action::Configure, subscription.business_unit_id)?;
    Ok(subscription)
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
    Ok(Json(owned(&state, &caller, &id).await?))
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
    Ok(Json(run_update(&state, &caller, &id, &body).await?))
}

/// A change to a subscription (turning it off or on, its URL, its events): what the API and
/// the portal both run.
pub(crate) async fn run_update(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: &SubscriptionPatch,
) -> Result<Subscription, ApiError> {
    let subscription = owned(state, caller, id).await?;
    let url = match &body.url {
        Some(u) => Some(check_url(state, u).await?),
        None => None,
    };
    let events = body.events.as_deref().map(check_events).transpose()?;
    let update = SubscriptionUpdate {
        url,
        events,
        enabled: body.enabled,
    };
    Ok(state
        .store
        .update_subscription(subscription.id, &update)
        .await?)
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
    let subscription = owned(&state, &caller, &id).await?;
    state.store.delete_subscription(subscription.id).await?;
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
    let subscription = owned(&state, &caller, &id).await?;
    Ok(Json(page(
        state
            .store
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
    caller.require(Action::ReadDirectory, bu)?;
    state.store.business_unit(bu).await?;
    Ok(Json(state.store.settings(bu).await?))
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
    caller.require(Action::Configure, bu)?;
    state.store.business_unit(bu).await?;
    settings.time_off.validate()?;
    state.store.set_settings(bu, &settings).await?;
    Ok(Json(settings))
}
