//! Webhook subscriptions, the delivery log, and the dispatcher's leases.

use std::future::Future;

use super::{Page, PageRequest, StoreResult};
use crate::ids::BusinessUnitId;

/// Changes to a webhook subscription; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<crate::webhook::EventType>>,
    /// Turning a subscription on also clears its failure count and disabled reason.
    pub enabled: Option<bool>,
}

/// Webhook subscriptions, the delivery log, and the dispatcher's leases.
pub trait WebhookStore: Send + Sync {
    fn create_subscription(
        &self,
        new: &crate::webhook::NewSubscription,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn subscription(
        &self,
        id: crate::ids::SubscriptionId,
    ) -> impl Future<Output = StoreResult<crate::webhook::Subscription>> + Send;
    fn subscriptions(
        &self,
        bu: BusinessUnitId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::webhook::Subscription>>> + Send;
    fn update_subscription(
        &self,
        id: crate::ids::SubscriptionId,
        update: &SubscriptionUpdate,
    ) -> impl Future<Output = StoreResult<crate::webhook::Subscription>> + Send;
    fn delete_subscription(
        &self,
        id: crate::ids::SubscriptionId,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Newest first.
    fn deliveries(
        &self,
        id: crate::ids::SubscriptionId,
        page: PageRequest,
    ) -> impl Future<Output = StoreResult<Page<crate::webhook::Delivery>>> + Send;
    /// Leases due deliveries until `lease_until`: the heads of up to `queues` queues (a queue is
    /// a subscription's pending deliveries of one ordering key, oldest first), each with up to
    /// `per_queue - 1` of the deliveries behind it. A queue's deliveries come out together and
    /// in order: the dispatcher sends them one after another. Two dispatchers never lease the
    /// same delivery (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the write lock). Pending
    /// commits are fanned out into deliveries first.
    fn lease_due(
        &self,
        now: jiff::Timestamp,
        lease_until: jiff::Timestamp,
        queues: u32,
        per_queue: u32,
    ) -> impl Future<Output = StoreResult<Vec<crate::webhook::DueDelivery>>> + Send;
    /// Forgets deliveries delivered before `before`, and the events no delivery refers to any
    /// more; returns how many deliveries.
    fn purge_deliveries(
        &self,
        before: jiff::Timestamp,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Records the attempts of a round in one transaction, in order: each failure counts
    /// against its subscription, which is disabled after `max_failures` in a row, and a
    /// delivery resets the count; returns the subscriptions as they now stand.
    fn record_attempts(
        &self,
        attempts: &[(i64, crate::webhook::AttemptResult)],
        now: jiff::Timestamp,
        max_failures: u32,
    ) -> impl Future<Output = StoreResult<Vec<crate::webhook::Subscription>>> + Send;
}
