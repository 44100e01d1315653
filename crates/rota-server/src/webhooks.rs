//! Webhook delivery: which targets are allowed, how deliveries are signed, and the dispatcher
//! that sends the outbox's deliveries in order per subscription and ordering key.
//!
//! Each delivery is a `POST` of the event as JSON with these headers:
//! - `Rota-Event-Id`: the event's id, the same on every attempt (de-duplicate on it);
//! - `Rota-Event-Type`, `Rota-Delivery-Attempt`;
//! - `Rota-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
//!   Receivers recompute it and reject stale timestamps to stop replays.

use std::net::{IpAddr, SocketAddr};
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

/// The IPv4 blocks of the IANA special-purpose registry that are not globally reachable (and
/// the whole of 192.0.0.0/24, whose two global exceptions no webhook receiver needs), with
/// multicast and the reserved 240.0.0.0/4 (which holds the limited broadcast address).
const V4_INTERNAL: [([u8; 4], u8); 15] = [
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
];

/// The IPv6 blocks of the IANA special-purpose registry that are not globally reachable, the
/// deprecated site-local and IPv4-compatible blocks, and multicast. 2001::/23 goes whole: it
/// holds Teredo (2001::/32, which embeds IPv4 addresses) and benchmarking.
const V6_INTERNAL: [(u128, u8); 13] = [
    (0, 128),                     // unspecified
    (1, 128),                     // loopback
    (0, 96),                      // IPv4-compatible (deprecated)
    (0x0064_ff9b_0001 << 80, 48), // local-use IPv4/IPv6 translation
    (0x0100 << 112, 64),          // discard-only
    (0x2001 << 112, 23),          // IETF protocol assignments, Teredo
    (0x3fff << 112, 20),          // documentation
    (0x2001_0db8 << 96, 32),      // documentation
    (0x5f00 << 112, 16),          // segment routing SIDs
    (0xfc00 << 112, 7),           // unique local
    (0xfe80 << 112, 10),          // link-local
    (0xfec0 << 112, 10),          // site-local (deprecated)
    (0xff00 << 112, 8),           // multicast
];

fn in_block(addr: u128, (net, len): (u128, u8), bits: u32) -> bool {
    let shift = bits - u32::from(len);
    let mask = if shift >= 128 { 0 } else { u128::MAX << shift };
    (addr & mask) == (net & mask)
}

/// The IPv4 address an IPv6 address carries, where a block embeds one: mapped
/// (::ffff:0:0/96), translated (::ffff:0:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let bits = u128::from(v6);
    let low = std::net::Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    if in_block(bits, (0xffff << 32, 96), 128)
        || in_block(bits, (0xffff << 48, 96), 128)
        || in_block(bits, (0x0064_ff9b << 96, 96), 128)
    {
        return Some(low);
    }
    if in_block(bits, (0x2002 << 112, 16), 128) {
        return Some(std::net::Ipv4Addr::from(
            ((bits >> 80) & 0xffff_ffff) as u32,
        ));
    }
    None
}

/// Whether deliveries may go to `ip` without `allow_private_targets`: globally reachable
/// unicast only, by the IANA special-purpose registries, and no internal IPv4 address embedded
/// in an IPv6 one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u128::from(u32::from(v4));
            !V4_INTERNAL
                .iter()
                .any(|(net, len)| in_block(bits, (u128::from(u32::from_be_bytes(*net)), *len), 32))
        }
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let bits = u128::from(v6);
                !V6_INTERNAL.iter().any(|block| in_block(bits, *block, 128))
            }
        },
    }
}

/// Checks a subscription's URL: http or https, a host, and, unless private targets are
/// allowed, no address that is not public (a literal one, or any the name resolves to now;
/// delivery checks the resolution again, so a name cannot be pointed inside later).
pub async fn check_target(raw: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("`{raw}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "only http and https URLs are allowed, not {}",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not carry credentials; deliveries are signed instead".into());
    }
    let host = url.host().ok_or_else(|| format!("`{raw}` has no host"))?;
    if allow_private {
        return Ok(url);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host {
        url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        url::Host::Domain(name) => tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| format!("cannot resolve {name}: {e}"))?
            .collect(),
    };
    if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
        return Err(format!(
            "{} is a private, loopback or otherwise internal address; such targets are not allowed",
            bad.ip()
        ));
    }
    Ok(url)
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
    fn internal_addresses_are_not_public() {
        // One address from each block of the IANA IPv4 and IPv6 special-purpose registries that
        // is not globally reachable, and internal IPv4 addresses embedded in IPv6 every way.
        for ip in [
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "192.0.0.1",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:0:7f00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2001:2::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn targets_are_http_and_public_unless_allowed() {
        assert!(check_target("ftp://example.com/x", true).await.is_err());
        assert!(
            check_target("http://user:pw@93.184.216.34/", false)
                .await
                .is_err()
        );
        assert!(
            check_target("http://127.0.0.1:9/hook", false)
                .await
                .is_err()
        );
        assert!(check_target("http://[::1]/hook", false).await.is_err());
        assert!(check_target("http://127.0.0.1:9/hook", true).await.is_ok());
        assert!(
            check_target("https://93.184.216.34/hook", false)
                .await
                .is_ok()
        );
    }

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
