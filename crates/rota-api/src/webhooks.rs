//! Webhook subscriptions: request and response bodies.

use rota_core::webhook::{EventType, Subscription};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewSubscriptionBody {
    /// An http or https URL; private and loopback targets only where the configuration
    /// allows them.
    #[schema(format = "uri")]
    pub url: String,
    #[schema(min_items = 1)]
    pub events: Vec<EventType>,
    /// The signing secret (at least 16 characters); generated when absent.
    pub secret: Option<String>,
}

/// A new subscription with its signing secret, which is shown this once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: Subscription,
    pub secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionPatch {
    #[schema(format = "uri")]
    pub url: Option<String>,
    #[schema(min_items = 1)]
    pub events: Option<Vec<EventType>>,
    /// `true` re-enables a disabled subscription (clearing its failure count); pending
    /// deliveries resume in order.
    pub enabled: Option<bool>,
}
