//! Webhooks against each backend: the outbox written with its commit, leases in order, several dispatchers and subscriptions, re-enabling, retention.

use super::*;

pub(crate) async fn subscribe(
    store: &Store,
    world: &World,
    events: Vec<rota_core::webhook::EventType>,
) -> rota_core::ids::SubscriptionId {
    use rota_core::store::WebhookStore;
    let subscription = rota_core::webhook::Subscription {
        id: rota_core::ids::SubscriptionId::new(),
        business_unit_id: world.bu.id,
        url: "http://127.0.0.1:9/hook".into(),
        events,
        enabled: true,
        disabled_reason: None,
        consecutive_failures: 0,
        created_at: world.now,
    };
    store
        .create_subscription(&rota_core::webhook::NewSubscription {
            subscription: subscription.clone(),
            secret: "s".repeat(16),
        })
        .await
        .unwrap();
    subscription.id
}

pub(crate) async fn events_are_written_with_their_commit_and_leased_in_order(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::{AttemptResult, EventType};
    let world = setup(&store, 4, 10).await;
    let id = subscribe(
        &store,
        &world,
        vec![
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied,
        ],
    )
    .await;
    let c = ctx(world.now, "e");
    for (base, item) in [(1, (0, 0, 1)), (2, (1, 0, 1))] {
        let req = swap_of(
            &world,
            ScheduleVersion::new(base).unwrap(),
            vec![item],
            SwapMode::Atomic,
        );
        assert!(
            store
                .apply_swaps(&req, &c)
                .await
                .unwrap()
                .committed
                .is_some()
        );
    }
    // A change that rolls back after writing its events leaves none.
    let mut lapsed = ctx(world.now, "rolled-back");
    lapsed.idempotency = Some(held_key(&store, world.now).await);
    let req = swap_of(
        &world,
        ScheduleVersion::new(3).unwrap(),
        vec![(2, 2, 3)],
        SwapMode::Atomic,
    );
    assert!(matches!(
        store.apply_swaps(&req, &lapsed).await,
        Err(StoreError::KeyTaken)
    ));
    let log = store.deliveries(id, PageRequest::all()).await.unwrap();
    assert_eq!(log.total, 4, "two versions and two swaps: {log:?}");

    // One queue (the schedule): only its head is leased, and leased once.
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let mut order = Vec::new();
    for _ in 0..4 {
        let due = store.lease_due(now, lease, 10, 1).await.unwrap();
        assert_eq!(due.len(), 1, "{due:?}");
        assert!(
            store.lease_due(now, lease, 10, 1).await.unwrap().is_empty(),
            "the head is leased"
        );
        order.push((due[0].event.event_type, due[0].event.sequence));
        store
            .record_attempts(
                &[(due[0].delivery_id, AttemptResult::Delivered { status: 200 })],
                now,
                3,
            )
            .await
            .unwrap();
    }
    assert_eq!(
        order.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
        vec![
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied,
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied
        ]
    );
    assert!(order.windows(2).all(|w| w[0].1 < w[1].1));
    assert!(store.lease_due(now, lease, 10, 1).await.unwrap().is_empty());
    // The log keeps delivered events until they are older than the purge's horizon.
    assert_eq!(store.purge_deliveries(now).await.unwrap(), 0);
    let later = now.checked_add(jiff::SignedDuration::from_secs(1)).unwrap();
    assert_eq!(store.purge_deliveries(later).await.unwrap(), 4);
    assert_eq!(
        store
            .deliveries(id, PageRequest::all())
            .await
            .unwrap()
            .total,
        0
    );

    // Failures count against the subscription until it is disabled.
    let req = swap_of(
        &world,
        ScheduleVersion::new(3).unwrap(),
        vec![(0, 0, 1)],
        SwapMode::Atomic,
    );
    store.apply_swaps(&req, &c).await.unwrap();
    for attempt in 1..=3 {
        let due = store.lease_due(now, lease, 10, 1).await.unwrap();
        assert_eq!(due[0].attempt, attempt);
        let failed = AttemptResult::Failed {
            status: Some(503),
            error: "down".into(),
            retry_at: now,
        };
        let subscription = store
            .record_attempts(&[(due[0].delivery_id, failed)], now, 3)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(subscription.enabled, attempt < 3, "{subscription:?}");
    }
    assert!(
        store.lease_due(now, lease, 10, 1).await.unwrap().is_empty(),
        "a disabled subscription gets nothing"
    );
}

pub(crate) async fn two_dispatchers_never_lease_the_same_delivery(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::EventType;
    let world = setup(&store, 12, 2).await;
    subscribe(&store, &world, vec![EventType::AgentAvailabilityUpdated]).await;
    // One queue per agent: twelve heads, leased by two dispatchers at once.
    for agent in &world.agents {
        store
            .set_availability(agent.id, &agent.availability)
            .await
            .unwrap();
    }
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            store.lease_due(now, lease, 4, 1),
            store.lease_due(now, lease, 4, 1)
        );
        for d in a.unwrap().into_iter().chain(b.unwrap()) {
            assert!(
                seen.insert(d.delivery_id),
                "delivery {} leased twice",
                d.delivery_id
            );
        }
    }
    assert_eq!(seen.len(), 12);
    assert!(store.lease_due(now, lease, 12, 1).await.unwrap().is_empty());
}

/// A dispatcher leases a queue's deliveries together, in order; after one fails, the ones
/// behind it go back to the queue unattempted, and the failed one leads it again.
pub(crate) async fn a_queue_is_leased_in_order_and_what_follows_a_failure_waits(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::{AttemptResult, EventType};
    let world = setup(&store, 4, 10).await;
    subscribe(&store, &world, vec![EventType::ScheduleVersionCreated]).await;
    swap_back_and_forth(&store, &world, 1, 4).await;
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let chain = store.lease_due(now, lease, 10, 3).await.unwrap();
    let versions = |due: &[rota_core::webhook::DueDelivery]| -> Vec<u64> {
        due.iter()
            .map(|d| d.event.data["version"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        versions(&chain),
        vec![2, 3, 4],
        "the head and two behind it"
    );
    assert!(
        store.lease_due(now, lease, 10, 3).await.unwrap().is_empty(),
        "the queue is leased"
    );
    let failed = AttemptResult::Failed {
        status: Some(500),
        error: "down".into(),
        retry_at: now,
    };
    let outcomes = [
        (
            chain[0].delivery_id,
            AttemptResult::Delivered { status: 204 },
        ),
        (chain[1].delivery_id, failed),
        (chain[2].delivery_id, AttemptResult::NotSent),
    ];
    let subscriptions = store.record_attempts(&outcomes, now, 3).await.unwrap();
    assert_eq!(subscriptions[0].consecutive_failures, 1);
    let again = store.lease_due(now, lease, 10, 10).await.unwrap();
    assert_eq!(versions(&again), vec![3, 4, 5]);
    assert_eq!(
        again.iter().map(|d| d.attempt).collect::<Vec<_>>(),
        vec![2, 1, 1],
        "the failed one is on its second attempt; the one not sent on its first"
    );
}

/// `rounds` swaps of shifts 0 and 1 back and forth, each its own version.
async fn swap_back_and_forth(store: &Store, world: &World, first_base: u64, rounds: u64) {
    for r in 0..rounds {
        let req = swap_of(
            world,
            ScheduleVersion::new(first_base + r).unwrap(),
            vec![(usize::from((first_base + r).is_multiple_of(2)), 0, 1)],
            SwapMode::Atomic,
        );
        let result = store.apply_swaps(&req, &ctx(world.now, "swap")).await;
        assert!(result.unwrap().committed.is_some());
    }
}

/// Leases and delivers until nothing is due: what each subscription received, in order.
async fn deliver_all(
    store: &Store,
) -> BTreeMap<rota_core::ids::SubscriptionId, Vec<rota_core::webhook::Event>> {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::AttemptResult;
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    let mut received: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for _ in 0..1000 {
        let due = store.lease_due(now, lease, 32, 1).await.unwrap();
        if due.is_empty() {
            return received;
        }
        for d in due {
            let delivered = AttemptResult::Delivered { status: 204 };
            store
                .record_attempts(&[(d.delivery_id, delivered)], now, 3)
                .await
                .unwrap();
            received.entry(d.subscription_id).or_default().push(d.event);
        }
    }
    panic!("deliveries kept coming");
}

/// The outbox writes a commit's events once, however many subscriptions want them; each of
/// ten subscriptions still gets every event once, in commit order.
pub(crate) async fn ten_subscriptions_each_get_every_event_in_commit_order(store: Store) {
    use rota_core::store::WebhookStore;
    use rota_core::webhook::EventType;
    let world = setup(&store, 4, 10).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        let types = vec![
            EventType::ScheduleVersionCreated,
            EventType::ShiftSwapApplied,
        ];
        ids.push(subscribe(&store, &world, types).await);
    }
    swap_back_and_forth(&store, &world, 1, 5).await;
    for id in &ids {
        let log = store.deliveries(*id, PageRequest::all()).await.unwrap();
        assert_eq!(log.total, 10, "five versions and five swaps each");
    }
    let received = deliver_all(&store).await;
    assert_eq!(received.len(), 10);
    let first = &received[&ids[0]];
    for events in received.values() {
        let versions: Vec<u64> = events
            .iter()
            .filter(|e| e.event_type == EventType::ScheduleVersionCreated)
            .map(|e| e.data["version"].as_u64().unwrap())
            .collect();
        assert_eq!(versions, vec![2, 3, 4, 5, 6]);
        assert!(events.windows(2).all(|w| w[0].sequence < w[1].sequence));
        let ids: Vec<_> = events.iter().map(|e| e.id).collect();
        assert_eq!(
            ids,
            first.iter().map(|e| e.id).collect::<Vec<_>>(),
            "the same events"
        );
    }
}

/// A subscription disabled by failures keeps its queue; the changes that commit meanwhile
/// join it, and turning it on again delivers all of it in commit order.
pub(crate) async fn a_re_enabled_subscription_delivers_its_backlog_in_order(store: Store) {
    use rota_core::store::{SubscriptionUpdate, WebhookStore};
    use rota_core::webhook::{AttemptResult, EventType};
    let world = setup(&store, 4, 10).await;
    let id = subscribe(&store, &world, vec![EventType::ScheduleVersionCreated]).await;
    swap_back_and_forth(&store, &world, 1, 1).await;
    let now = jiff::Timestamp::now();
    let lease = now
        .checked_add(jiff::SignedDuration::from_secs(60))
        .unwrap();
    for _ in 0..3 {
        let due = store.lease_due(now, lease, 10, 1).await.unwrap();
        let failed = AttemptResult::Failed {
            status: Some(500),
            error: "down".into(),
            retry_at: now,
        };
        store
            .record_attempts(&[(due[0].delivery_id, failed)], now, 3)
            .await
            .unwrap();
    }
    assert!(!store.subscription(id).await.unwrap().enabled);
    swap_back_and_forth(&store, &world, 2, 4).await;
    assert!(store.lease_due(now, lease, 10, 1).await.unwrap().is_empty());
    let on = SubscriptionUpdate {
        url: None,
        events: None,
        enabled: Some(true),
    };
    store.update_subscription(id, &on).await.unwrap();
    let received = deliver_all(&store).await;
    let versions: Vec<u64> = received[&id]
        .iter()
        .map(|e| e.data["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        versions,
        vec![2, 3, 4, 5, 6],
        "the failed one first, then the backlog"
    );
}

/// The delivery log's retention: a purge forgets deliveries delivered before its horizon and
/// the events nobody is owed any more, but never an event a subscription still waits for (one
/// turned off keeps its backlog, whatever its age), which it gets whole when turned on again.
pub(crate) async fn retention_forgets_what_was_delivered_and_keeps_what_is_still_owed(
    store: Store,
) {
    use rota_core::store::{SubscriptionUpdate, WebhookStore};
    use rota_core::webhook::EventType;
    let world = setup(&store, 4, 10).await;
    let types = || vec![EventType::ScheduleVersionCreated];
    let on = subscribe(&store, &world, types()).await;
    let off = subscribe(&store, &world, types()).await;
    let switch = |enabled| SubscriptionUpdate {
        url: None,
        events: None,
        enabled: Some(enabled),
    };
    store
        .update_subscription(off, &switch(false))
        .await
        .unwrap();
    swap_back_and_forth(&store, &world, 1, 2).await;
    let received = deliver_all(&store).await;
    assert_eq!(received[&on].len(), 2);
    assert!(!received.contains_key(&off));

    let later = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * 365))
        .unwrap();
    assert_eq!(
        store.purge_deliveries(later).await.unwrap(),
        2,
        "the delivered two"
    );
    let total = |id| {
        let store = store.clone();
        async move {
            store
                .deliveries(id, PageRequest::all())
                .await
                .unwrap()
                .total
        }
    };
    assert_eq!(total(on).await, 0);
    assert_eq!(total(off).await, 2, "still owed: kept whatever their age");

    store.update_subscription(off, &switch(true)).await.unwrap();
    let received = deliver_all(&store).await;
    let versions: Vec<u64> = received[&off]
        .iter()
        .map(|e| e.data["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, vec![2, 3], "the events outlived the purge whole");
    assert_eq!(store.purge_deliveries(later).await.unwrap(), 2);
    assert_eq!(total(off).await, 0);
}

conformance!(
    events_are_written_with_their_commit_and_leased_in_order,
    two_dispatchers_never_lease_the_same_delivery,
    ten_subscriptions_each_get_every_event_in_commit_order,
    a_re_enabled_subscription_delivers_its_backlog_in_order,
    retention_forgets_what_was_delivered_and_keeps_what_is_still_owed,
    a_queue_is_leased_in_order_and_what_follows_a_failure_waits,
);
