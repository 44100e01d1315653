//! The supervisor's webhook subscriptions: each with whether it delivers (and why not), its
//! delivery log, and turning it off or back on (its pending deliveries then resume in order).
//! Through the API's own update.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use rota_api::webhooks::SubscriptionPatch;
use rota_core::auth::Action;
use rota_core::directory::BusinessUnit;
use rota_core::ids::{BusinessUnitId, SubscriptionId};
use rota_core::store::{PageRequest, WebhookStore};
use serde::Deserialize;

use super::view::{self, Chrome};
use super::{OrPage, PageResult, PortalError, Posted, Visitor, render};
use crate::PortalState;
use rota_app::webhooks::update;

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/units/{bu}/webhooks", get(list))
        .route("/portal/units/{bu}/webhooks/{id}", get(log))
        .route("/portal/units/{bu}/webhooks/{id}/enabled", post(switch))
}

/// The business unit of the path, when the visitor may do this page's work there.
async fn unit(
    state: &PortalState,
    visitor: &Visitor,
    raw: &str,
) -> Result<BusinessUnit, PortalError> {
    super::unit(state, visitor, raw, Action::Configure).await
}

struct SubscriptionRow {
    id: SubscriptionId,
    url: String,
    events: String,
    enabled: bool,
    why_off: String,
    failures: u32,
}

fn row(s: &rota_core::webhook::Subscription) -> SubscriptionRow {
    SubscriptionRow {
        id: s.id,
        url: s.url.clone(),
        events: s
            .events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        enabled: s.enabled,
        why_off: s.disabled_reason.clone().unwrap_or_default(),
        failures: s.consecutive_failures,
    }
}

#[derive(Template)]
#[template(path = "portal/webhooks.html")]
struct ListPage {
    chrome: Chrome,
    bu: BusinessUnitId,
    subscriptions: Vec<SubscriptionRow>,
}

async fn list(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path(bu): Path<String>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let found = state
        .app
        .store()
        .subscriptions(bu.id, PageRequest::new(0, 200))
        .await
        .or_page(&visitor)?;
    Ok(render(
        StatusCode::OK,
        &ListPage {
            chrome: visitor.chrome("Webhooks"),
            bu: bu.id,
            subscriptions: found.items.iter().map(row).collect(),
        },
    ))
}

struct DeliveryRow {
    event: String,
    sequence: u64,
    state: &'static str,
    attempts: u32,
    last: String,
    when: String,
}

#[derive(Template)]
#[template(path = "portal/webhook_log.html")]
struct LogPage {
    chrome: Chrome,
    csrf: String,
    key: String,
    bu: BusinessUnitId,
    subscription: SubscriptionRow,
    deliveries: Vec<DeliveryRow>,
}

async fn log(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path((bu, id)): Path<(String, String)>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let not_found = || PortalError::not_found(&visitor, format!("no webhook subscription {id}"));
    let sid: SubscriptionId = id.parse().map_err(|_| not_found())?;
    let subscription = state
        .app
        .store()
        .subscription(sid)
        .await
        .map_err(|_| not_found())?;
    if subscription.business_unit_id != bu.id {
        return Err(not_found());
    }
    let zone = &bu.time_zone;
    let deliveries = state
        .app
        .store()
        .deliveries(sid, PageRequest::new(0, 100))
        .await
        .or_page(&visitor)?
        .items
        .into_iter()
        .map(|d| DeliveryRow {
            event: d.event_type.as_str().to_owned(),
            sequence: d.sequence,
            state: d.state.as_str(),
            attempts: d.attempts,
            last: match (d.last_status, &d.last_error) {
                (Some(status), _) => format!("HTTP {status}"),
                (None, Some(e)) => e.clone(),
                (None, None) => String::new(),
            },
            when: match d.delivered_at {
                Some(at) => format!("delivered {}", view::when(at, zone)),
                None => format!("next try {}", view::when(d.next_attempt_at, zone)),
            },
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &LogPage {
            chrome: visitor.chrome("Webhook deliveries"),
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            bu: bu.id,
            subscription: row(&subscription),
            deliveries,
        },
    ))
}

#[derive(Deserialize)]
struct SwitchForm {
    enabled: bool,
}

async fn switch(Path((bu, id)): Path<(String, String)>, posted: Posted<SwitchForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        form,
        ..
    } = posted;
    let unit = unit(&state, &visitor, &bu).await?;
    let patch = SubscriptionPatch {
        url: None,
        events: None,
        enabled: Some(form.enabled),
    };
    let id = rota_app::parse_id("webhookId", &id).or_page(&visitor)?;
    update(&state.app, &visitor.caller, id, &patch)
        .await
        .or_page(&visitor)?;
    Ok(Redirect::to(&format!("/portal/units/{}/webhooks/{id}", unit.id)).into_response())
}
