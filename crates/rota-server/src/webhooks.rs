//! Webhook delivery: which targets are allowed, how deliveries are signed, and the dispatcher
//! that sends the outbox's deliveries in order per subscription and ordering key.
//!
//! Each delivery is a `POST` of the event as JSON with these headers:
//! - `Rota-Event-Id`: the event's id, the same on every attempt (de-duplicate on it);
//! - `Rota-Event-Type`, `Rota-Delivery-Attempt`;
//! - `Rota-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
//!   Receivers recompute it and reject stale timestamps to stop replays.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{KeyInit, Mac};
use rand::RngExt;
use rota_core::clock::Clock;
use rota_core::store::WebhookStore;
use rota_core::webhook::{AttemptResult, DueDelivery};
use rota_store::Store;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use rota_app::webhooks::{check_target, is_public};

use crate::config::WebhookConfig;

pub const SIGNATURE_HEADER: &str = "Rota-Signature";
pub const EVENT_ID_HEADER: &str = "Rota-Event-Id";

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Resolves names for deliveries, keeping public addresses only (unless allowed): a name
/// that resolved to a public address when subscribed cannot later lead inside.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{} resolves to no allowed address", name.as_str()).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// Sends due deliveries until shut down. Several dispatchers (one per API node) may run on
/// one database: each delivery is leased by one at a time.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    clock: Arc<dyn Clock>,
    config: WebhookConfig,
    http: reqwest::Client,
    wake: Arc<Notify>,
}

/// Queues leased per round: their deliveries go out concurrently, queue by queue.
const QUEUES: u32 = 32;

/// Deliveries leased per queue and round: sent one after another (a queue is in order), their
/// outcomes recorded together, so a busy schedule's events do not cost a transaction each.
const PER_QUEUE: u32 = 256;

impl Dispatcher {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        config: WebhookConfig,
        wake: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_secs))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: config.allow_private_targets,
            }))
            .user_agent(concat!("rota-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            clock,
            config,
            http,
            wake,
        })
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.config.poll_ms);
        loop {
            let sent = match self.round().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook dispatch failed; retrying");
                    0
                }
            };
            if sent > 0 {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Leases what is due and delivers it, queues concurrently and each queue in order (after
    /// a failure, the rest of that queue waits for the retry); records every outcome in one
    /// transaction; returns how many deliveries it leased.
    pub async fn round(&self) -> Result<usize, rota_core::store::StoreError> {
        let now = self.clock.now();
        // A queue's deliveries start only within one attempt timeout of the lease, and the
        // last one started takes at most another: the lease (three timeouts) outlasts them, so
        // no other dispatcher takes a queue this one is still sending.
        let timeout = Duration::from_secs(self.config.timeout_secs);
        let lease = jiff::SignedDuration::from_secs(
            i64::try_from(self.config.timeout_secs).unwrap_or(10) * 3,
        );
        let start_by = std::time::Instant::now() + timeout;
        let due = self
            .store
            .lease_due(
                now,
                now.saturating_add(lease).unwrap_or(now),
                QUEUES,
                PER_QUEUE,
            )
            .await?;
        let count = due.len();
        let mut queues: Vec<Vec<DueDelivery>> = Vec::new();
        for d in due {
            match queues.last_mut() {
                Some(q) if q[0].subscription_id == d.subscription_id && q[0].queue == d.queue => {
                    q.push(d);
                }
                _ => queues.push(vec![d]),
            }
        }
        let sent = queues.iter().map(|queue| async move {
            let mut outcomes = Vec::with_capacity(queue.len());
            let mut failed = false;
            for d in queue {
                let result = if failed || std::time::Instant::now() >= start_by {
                    AttemptResult::NotSent
                } else {
                    self.attempt(d).await
                };
                failed |= matches!(result, AttemptResult::Failed { .. });
                outcomes.push((d, result));
            }
            outcomes
        });
        // Every leased delivery is recorded: sent ones with their outcome, the rest of a
        // queue behind a failure as not sent, back in its queue without a counted attempt.
        let mut attempts = Vec::with_capacity(count);
        for (due, result) in futures_util::future::join_all(sent)
            .await
            .into_iter()
            .flatten()
        {
            match &result {
                AttemptResult::Delivered { .. } => {
                    metrics::counter!("rota_webhook_attempts_total", "outcome" => "delivered")
                        .increment(1);
                }
                AttemptResult::Failed { error, .. } => {
                    metrics::counter!("rota_webhook_attempts_total", "outcome" => "failed")
                        .increment(1);
                    tracing::info!(subscription = %due.subscription_id, event = %due.event.id, attempt = due.attempt, error = %error, "webhook delivery failed");
                }
                AttemptResult::NotSent => {}
            }
            attempts.push((due.delivery_id, result));
        }
        let subscriptions = self
            .store
            .record_attempts(
                &attempts,
                self.clock.now(),
                self.config.max_consecutive_failures,
            )
            .await?;
        for subscription in subscriptions {
            if !subscription.enabled
                && let Some(reason) = &subscription.disabled_reason
            {
                tracing::warn!(subscription = %subscription.id, reason = %reason, "webhook subscription disabled");
            }
        }
        Ok(count)
    }

    async fn attempt(&self, due: &DueDelivery) -> AttemptResult {
        let retry_at = || {
            let wait = rota_core::backoff::full_jitter(
                Duration::from_millis(self.config.retry_base_ms),
                Duration::from_secs(self.config.retry_cap_secs),
                due.attempt.saturating_sub(1),
                |max| rand::rng().random_range(0..=max),
            );
            let now = self.clock.now();
            jiff::SignedDuration::try_from(wait)
                .ok()
                .and_then(|wait| now.checked_add(wait).ok())
                .unwrap_or(now)
        };
        let body = match serde_json::to_vec(&due.event) {
            Ok(b) => b,
            Err(e) => {
                return AttemptResult::Failed {
                    status: None,
                    error: e.to_string(),
                    retry_at: retry_at(),
                };
            }
        };
        if let Err(e) = check_target(&due.url, self.config.allow_private_targets).await {
            return AttemptResult::Failed {
                status: None,
                error: e,
                retry_at: retry_at(),
            };
        }
        let timestamp = jiff::Timestamp::now().as_second();
        let sent = self
            .http
            .post(&due.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(EVENT_ID_HEADER, due.event.id.to_string())
            .header("Rota-Event-Type", due.event.event_type.as_str())
            .header("Rota-Delivery-Attempt", due.attempt.to_string())
            .header(SIGNATURE_HEADER, signature(&due.secret, timestamp, &body))
            .body(body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => AttemptResult::Delivered {
                status: r.status().as_u16(),
            },
            Ok(r) => AttemptResult::Failed {
                status: Some(r.status().as_u16()),
                error: format!("the receiver answered {}", r.status()),
                retry_at: retry_at(),
            },
            Err(e) => AttemptResult::Failed {
                status: None,
                error: error_chain(&e),
                retry_at: retry_at(),
            },
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_and_body() {
        // Computed independently: hmac.new(b"secret", b"1700000000.{}", hashlib.sha256)
        // .hexdigest() in Python.
        assert_eq!(
            signature("secret", 1_700_000_000, b"{}"),
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
    }
}
