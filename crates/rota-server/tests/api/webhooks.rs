//! Webhooks end to end: a real HTTP receiver started by the test checks every signature,
//! fails its first deliveries (which come again later), and sees each schedule's events in
//! version order; a change that rolls back produces no event; a target that keeps failing
//! disables its subscription visibly; private targets are refused unless allowed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{TestApp, problem_code, spawn};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use rota_api::events::{EventPayload, WebhookEvent};
use rota_api::paging::{Page, Paging};
use rota_api::problem::ErrorCode;
use rota_api::trades::NewTradeBody;
use rota_api::webhooks::{NewSubscriptionBody, SubscriptionPatch};
use rota_core::clock::{Clock, FixedClock};
use rota_core::ids::SubscriptionId;
use rota_core::store::{
    ClaimOutcome, IdempotencyClaim, IdempotencyRecord, IdempotencyStore, ScheduleStore,
};
use rota_core::webhook::{DeliveryState, EventType};
use rota_server::config::WebhookConfig;
use rota_server::webhooks::Dispatcher;
use serde_json::Value;
use tokio::sync::Notify;

const SECRET: &str = "a-test-secret-of-some-length";

#[derive(Default)]
struct Received {
    /// Every request in arrival order: (event id, body, signature valid, answered status).
    requests: Vec<(String, Value, bool, u16)>,
    /// Requests still to fail with 500.
    fail_next: usize,
}

/// Checks `Rota-Signature: t=…,v1=…` the way a receiver would, from the raw body.
fn signature_valid(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(header) = headers.get("rota-signature").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value.to_owned()),
            Some(("v1", value)) => v1 = Some(value.to_owned()),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == v1
}

/// Starts the receiver on port 0; returns its URL and what it saw.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Received>>) {
    let seen = Arc::new(Mutex::new(Received {
        fail_next: fail_first,
        ..Received::default()
    }));
    let state = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = Arc::clone(&state);
            async move {
                let valid = signature_valid(&headers, &body);
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let id = headers["rota-event-id"].to_str().unwrap().to_owned();
                let mut s = state.lock().unwrap();
                let status = if s.fail_next > 0 {
                    s.fail_next -= 1;
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::NO_CONTENT
                };
                s.requests.push((id, event, valid, status.as_u16()));
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), seen)
}

/// A dispatcher the test steps by hand (the server runs none: `dispatch` is off), on a clock
/// of its own. It starts at the system's now, as the server's dispatcher would: deliveries are
/// due from their commit time, which is the world's (fixed, earlier) clock for schedule
/// commands and the system's for others.
struct Steps {
    dispatcher: Dispatcher,
    clock: Arc<FixedClock>,
}

impl Steps {
    fn new(app: &TestApp, max_consecutive_failures: u32) -> Self {
        let clock = Arc::new(FixedClock::new(jiff::Timestamp::now()));
        let config = WebhookConfig {
            allow_private_targets: true,
            max_consecutive_failures,
            dispatch: false,
            ..WebhookConfig::default()
        };
        let dispatcher = Dispatcher::new(
            app.store.clone(),
            clock.clone(),
            config,
            Arc::new(Notify::new()),
        )
        .unwrap();
        Self { dispatcher, clock }
    }

    /// Delivers until nothing is left to attempt: each round sends what is due; when nothing
    /// is, the clock steps past the longest retry wait, and a round that still finds nothing
    /// ends it. Bounded, so a dispatcher that never settles fails the test.
    async fn drain(&self) {
        let cap = jiff::SignedDuration::from_secs(
            i64::try_from(WebhookConfig::default().retry_cap_secs).unwrap() + 1,
        );
        for _ in 0..200 {
            if self.dispatcher.round().await.unwrap() > 0 {
                continue;
            }
            self.clock.set(self.clock.now().checked_add(cap).unwrap());
            if self.dispatcher.round().await.unwrap() == 0 {
                return;
            }
        }
        panic!("the dispatcher kept finding deliveries");
    }
}

fn no_dispatcher(config: &mut rota_server::Config) {
    config.webhooks.dispatch = false;
}

fn subscribe(url: &str, events: &[EventType], secret: Option<&str>) -> NewSubscriptionBody {
    NewSubscriptionBody {
        url: url.to_owned(),
        events: events.to_vec(),
        secret: secret.map(str::to_owned),
    }
}

/// Subscription `id`'s delivery log, as the admin reads it.
async fn delivery_log(app: &TestApp, id: SubscriptionId) -> Page<rota_core::webhook::Delivery> {
    app.admin
        .webhook_deliveries(id, &Paging::default())
        .await
        .unwrap()
        .into_body()
        .unwrap()
}

/// The delivered events (2xx answers), in arrival order.
fn delivered(r: &Received) -> Vec<Value> {
    r.requests
        .iter()
        .filter(|(.., status)| *status < 300)
        .map(|(_, event, ..)| event.clone())
        .collect()
}

#[tokio::test]
async fn deliveries_are_signed_retried_in_order_per_schedule_and_only_for_committed_changes() {
    let app = spawn(no_dispatcher).await;
    let steps = Steps::new(&app, 20);
    let (url, seen) = receiver(2).await;
    let bu = app.world.bu.id;
    let created = app
        .admin
        .create_webhook(bu, &subscribe(&url, &EventType::ALL, Some(SECRET)))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!(created.secret, SECRET);
    let id = created.subscription.id;
    let listed = app.admin.webhook(id).await.unwrap().into_body().unwrap();
    assert!(listed.enabled);

    // Four bulk swaps of shifts 0 and 1 back and forth, an availability change and a trade.
    for round in 0..4 {
        let agent = if round % 2 == 0 { 0 } else { 1 };
        app.swap(&app.version_id().await, agent, 0, 1)
            .await
            .unwrap();
    }
    let a2 = app.agent(2).await;
    let availability =
        rota_core::directory::AvailabilityDoc::from(&rota_core::directory::Availability::always());
    a2.set_availability(app.world.agents[2].id, &availability)
        .await
        .unwrap();
    a2.create_trade(&NewTradeBody {
        shift_id: app.shift(2),
        target_agent_id: None,
        acceptable_intervals: Vec::new(),
        expires_at: app.at(48),
    })
    .await
    .unwrap();
    // An atomic request that breaks a rule commits nothing, so it emits nothing.
    let refused = app
        .swap(&app.version_id().await, 3, 0, 1)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&refused).0, 422);

    // 4 versions + 4 swaps + 1 availability + 1 trade = 10 events.
    steps.drain().await;
    {
        let received = seen.lock().unwrap();
        assert!(
            received.requests.iter().all(|(_, _, valid, _)| *valid),
            "every signature checks out"
        );
        let events = delivered(&received);
        assert_eq!(events.len(), 10, "each event delivered once: {events:#?}");
        let failed: Vec<&String> = received
            .requests
            .iter()
            .filter(|(.., status)| *status >= 500)
            .map(|(id, ..)| id)
            .collect();
        assert_eq!(failed.len(), 2);
        for id in failed {
            assert!(
                events.iter().any(|e| e["id"] == id.as_str()),
                "a failed event {id} came again and was delivered"
            );
        }
        // Per schedule, in commit order: versions 3..=6 (1 is the import, 2 the publish), each
        // version's swap right after it.
        let schedule_events: Vec<(String, u64)> = events
            .iter()
            .filter(|e| {
                e["data"]["scheduleId"] == app.world.schedule.id.to_string()
                    && e["type"] != "trade.state.changed"
            })
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_owned(),
                    e["sequence"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(schedule_events.len(), 8);
        assert!(
            schedule_events.windows(2).all(|w| w[0].1 < w[1].1),
            "{schedule_events:?}"
        );
        // Every body is one of the typed events of the API document, data and all.
        let typed: Vec<WebhookEvent> = events
            .iter()
            .map(|e| serde_json::from_value(e.clone()).unwrap_or_else(|err| panic!("{err}: {e}")))
            .collect();
        let versions: Vec<u64> = typed
            .iter()
            .filter_map(|e| match &e.payload {
                EventPayload::ScheduleVersionCreated(v) => Some(v.version.get()),
                _ => None,
            })
            .collect();
        assert_eq!(versions, vec![3, 4, 5, 6]);
        let kinds = |t: EventType| typed.iter().filter(|e| e.payload.event_type() == t).count();
        assert_eq!(
            EventType::ALL.map(kinds),
            [4, 4, 1, 1, 0, 0],
            "versions, swaps, trades, availability, requirements, time off"
        );
    }

    let log = delivery_log(&app, id).await;
    assert_eq!(log.items.len(), 10);
    assert!(
        log.items
            .iter()
            .all(|d| d.state == DeliveryState::Delivered)
    );
    assert_eq!(
        log.items.iter().map(|d| d.attempts).sum::<u32>(),
        12,
        "two retries"
    );

    // A change that writes its events and then rolls back (here: its idempotency key is held
    // by another request still running, which the commit finds last) leaves no event and no
    // version behind.
    let before = app
        .store
        .schedule(app.world.schedule.id)
        .await
        .unwrap()
        .version;
    let mut ctx = rota_core::testkit::ctx(app.world.now, "rolled-back");
    let claim = IdempotencyClaim {
        client: "somebody".into(),
        key: "held".into(),
    };
    let minute = Duration::from_secs(60);
    let held = app.store.claim(&claim, "h", ctx.now, minute, minute).await;
    assert_eq!(held.unwrap(), ClaimOutcome::Claimed);
    ctx.idempotency = Some(IdempotencyRecord {
        claim,
        request_hash: "h".into(),
        expires_at: ctx.now.checked_add(minute).unwrap(),
    });
    let req = rota_core::command::SwapRequest {
        base: app
            .store
            .schedule(app.world.schedule.id)
            .await
            .unwrap()
            .version_id(),
        items: vec![rota_core::command::SwapItem {
            agent_id: app.world.agents[2].id,
            original_shift_id: app.shift(7),
            new_shift_id: app.shift(8),
            reason_code: rota_core::command::ReasonCode::Other,
            counterpart_agent_id: None,
        }],
        effective_date: None,
        mode: rota_core::command::SwapMode::Atomic,
        scope: rota_core::command::ConflictScope::Shifts,
    };
    assert!(matches!(
        app.store.apply_swaps(&req, &ctx).await,
        Err(rota_core::store::StoreError::KeyTaken)
    ));
    assert_eq!(
        app.store
            .schedule(app.world.schedule.id)
            .await
            .unwrap()
            .version,
        before
    );
    steps.drain().await;
    let log = delivery_log(&app, id).await;
    assert_eq!(
        log.items.len(),
        10,
        "no delivery for the rolled-back change"
    );
    assert_eq!(delivered(&seen.lock().unwrap()).len(), 10);
}

#[tokio::test]
async fn a_subscription_that_keeps_failing_is_disabled_visibly_and_can_be_turned_on_again() {
    let app = spawn(no_dispatcher).await;
    let steps = Steps::new(&app, 3);
    let (url, seen) = receiver(usize::MAX).await;
    let bu = app.world.bu.id;
    let created = app
        .admin
        .create_webhook(
            bu,
            &subscribe(&url, &[EventType::ScheduleVersionCreated], None),
        )
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let id = created.subscription.id;
    app.swap(&app.version_id().await, 0, 0, 1).await.unwrap();
    steps.drain().await;
    let subscription = app.admin.webhook(id).await.unwrap().into_body().unwrap();
    assert!(!subscription.enabled, "{subscription:?}");
    let reason = subscription.disabled_reason.unwrap();
    assert!(reason.contains("3 failed deliveries in a row"), "{reason}");
    assert!(reason.contains("500"), "{reason}");
    let attempts = seen.lock().unwrap().requests.len();
    assert_eq!(attempts, 3, "no attempt after it was disabled");
    let log = delivery_log(&app, id).await;
    assert_eq!(log.items[0].state, DeliveryState::Pending);
    assert_eq!(log.items[0].last_status, Some(500));

    // Turned on again (and the receiver healed), the pending event goes out.
    seen.lock().unwrap().fail_next = 0;
    let on = app
        .admin
        .update_webhook(
            id,
            &SubscriptionPatch {
                url: None,
                events: None,
                enabled: Some(true),
            },
        )
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert!(on.enabled && on.disabled_reason.is_none() && on.consecutive_failures == 0);
    steps.drain().await;
    assert_eq!(delivered(&seen.lock().unwrap()).len(), 1);
}

#[tokio::test]
async fn private_and_non_http_targets_are_refused_unless_allowed() {
    let app = spawn(|c| c.webhooks.allow_private_targets = false).await;
    let bu = app.world.bu.id;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.8/hook",
        "http://[::1]/x",
        "ftp://example.com/x",
        "not a url",
    ] {
        let err = app
            .admin
            .create_webhook(bu, &subscribe(url, &[EventType::ShiftSwapApplied], None))
            .await
            .unwrap_err();
        assert_eq!(
            problem_code(&err),
            (422, ErrorCode::InvalidWebhookUrl),
            "{url}"
        );
    }
    let agent = app.agent(0).await;
    let err = agent
        .create_webhook(
            bu,
            &subscribe(
                "https://93.184.216.34/",
                &[EventType::ShiftSwapApplied],
                None,
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (403, ErrorCode::Forbidden));
}
