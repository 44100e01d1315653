//! Webhook subscriptions (create, change, turn off and on, delete) and the business unit's
//! settings, each for a caller who may configure the unit.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngExt;
use rota_api::problem::ErrorCode;
use rota_api::webhooks::{CreatedSubscription, NewSubscriptionBody, SubscriptionPatch};
use rota_core::auth::Action;
use rota_core::ids::{BusinessUnitId, SubscriptionId};
use rota_core::store::{DirectoryStore, SubscriptionUpdate, TradeStore, WebhookStore};
use rota_core::trade::BusinessUnitSettings;
use rota_core::webhook::{EventType, NewSubscription, Subscription};

use crate::App;
use crate::caller::Caller;
use crate::command::Command;
use crate::error::{AppError, AppResult, bounded};
use crate::idempotency::{Outcome, Recording};

pub mod targets;

pub use targets::{check_target, is_public};

fn check_events(events: &[EventType]) -> AppResult<Vec<EventType>> {
    bounded("events", events.len(), 64)?;
    if events.is_empty() {
        return Err(AppError::validation("events", "at least one event type"));
    }
    let mut events = events.to_vec();
    events.sort_unstable();
    events.dedup();
    Ok(events)
}

async fn check_url(app: &App, url: &str) -> AppResult<String> {
    check_target(url, app.settings().allow_private_webhook_targets)
        .await
        .map(|u| u.to_string())
        .map_err(|detail| AppError::Refused {
            code: ErrorCode::InvalidWebhookUrl,
            detail,
        })
}

/// The subscription, if the caller may configure its business unit.
pub async fn owned(app: &App, caller: &Caller, id: SubscriptionId) -> AppResult<Subscription> {
    let subscription = app.store().subscription(id).await?;
    caller.require(
        Action::Configure,
        subscription.business_unit_id,
        ("webhook subscription", id),
    )?;
    Ok(subscription)
}

/// Subscribes a URL to a business unit's events; the secret is shown once (and to a retry of
/// the same request under its key, which answers the same subscription instead of making a
/// second).
pub async fn create(
    cmd: &Command,
    bu: BusinessUnitId,
    body: NewSubscriptionBody,
) -> AppResult<Outcome<CreatedSubscription>> {
    let (app, caller) = (&cmd.app, &cmd.caller);
    caller.require(Action::Configure, bu, ("business unit", bu))?;
    app.store().business_unit(bu).await?;
    let events = check_events(&body.events)?;
    let url = check_url(app, &body.url).await?;
    let secret = match &body.secret {
        Some(s) if s.len() < 16 => {
            return Err(AppError::validation("secret", "at least 16 characters"));
        }
        Some(s) => s.clone(),
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
        created_at: app.clock().now(),
    };
    let store = app.store().clone();
    cmd.once(&body, Recording::Claimed, |_| async move {
        store
            .create_subscription(&NewSubscription {
                subscription: subscription.clone(),
                secret: secret.clone(),
            })
            .await?;
        Ok(CreatedSubscription {
            subscription,
            secret,
        })
    })
    .await
}

/// A change to a subscription (turning it off or on, its URL, its events).
pub async fn update(
    app: &App,
    caller: &Caller,
    id: SubscriptionId,
    body: &SubscriptionPatch,
) -> AppResult<Subscription> {
    let subscription = owned(app, caller, id).await?;
    let url = match &body.url {
        Some(u) => Some(check_url(app, u).await?),
        None => None,
    };
    let events = body.events.as_deref().map(check_events).transpose()?;
    let update = SubscriptionUpdate {
        url,
        events,
        enabled: body.enabled,
    };
    Ok(app
        .store()
        .update_subscription(subscription.id, &update)
        .await?)
}

/// Deletes a subscription with its delivery log.
pub async fn delete(app: &App, caller: &Caller, id: SubscriptionId) -> AppResult<()> {
    let subscription = owned(app, caller, id).await?;
    Ok(app.store().delete_subscription(subscription.id).await?)
}

/// Replaces the business unit's self-service, trade and time-off settings.
pub async fn set_settings(
    app: &App,
    caller: &Caller,
    bu: BusinessUnitId,
    settings: &BusinessUnitSettings,
) -> AppResult<()> {
    caller.require(Action::Configure, bu, ("business unit", bu))?;
    app.store().business_unit(bu).await?;
    settings.time_off.validate()?;
    Ok(app.store().set_settings(bu, settings).await?)
}
