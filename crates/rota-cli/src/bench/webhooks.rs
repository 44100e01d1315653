//! The webhook dispatcher under the weekly batch: a local receiver subscribed to every event
//! (one subscription, then ten) while the batch's clients send 50-swap requests to one node on
//! SQLite. Measured: events delivered per second, the delay from a commit's answer to the
//! delivery of its `schedule.version.created` event (p50, p99), and how long after the last
//! commit the backlog is empty.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use rota_core::webhook::EventType;
use rota_demo::{Cluster, Database};
use serde::Serialize;
use tokio::sync::Notify;

use super::{clients, percentile, seed_week, subscribe_to_everything};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookRun {
    pub subscriptions: usize,
    /// Requests a second the batch's clients were paced to (0: unpaced).
    pub rate: f64,
    pub commits: usize,
    /// Events of every type, over every subscription.
    pub events_delivered: u64,
    /// From the first commit's answer to the last delivery.
    pub delivered_per_second: f64,
    pub delay_p50_ms: f64,
    pub delay_p99_ms: f64,
    /// From the last commit's answer until every subscription has every version event.
    pub drain_ms: f64,
}

/// What the receiver saw: per subscription and version, when its version event arrived.
#[derive(Default)]
struct Receipts {
    versions: HashMap<(usize, u64), Instant>,
    events: u64,
}

/// The weekly batch's clients for `seconds` (50-swap requests, `rate` a second or unpaced at
/// 0), with `subscriptions` subscriptions of a local receiver to every event.
pub async fn measure(
    dir: &std::path::Path,
    seed: u64,
    seconds: f64,
    subscriptions: usize,
    rate: f64,
) -> Result<WebhookRun> {
    let receipts = Arc::new(Mutex::new(Receipts::default()));
    let arrived = Arc::new(Notify::new());
    let receiver = {
        let (receipts, arrived) = (Arc::clone(&receipts), Arc::clone(&arrived));
        axum::Router::new().route(
            "/hook/{n}",
            axum::routing::post(move |Path(n): Path<usize>, body: Bytes| {
                let (receipts, arrived) = (Arc::clone(&receipts), Arc::clone(&arrived));
                async move {
                    let at = Instant::now();
                    let event: serde_json::Value =
                        serde_json::from_slice(&body).unwrap_or_default();
                    let mut r = receipts.lock().unwrap_or_else(|p| p.into_inner());
                    r.events += 1;
                    if event["type"] == EventType::ScheduleVersionCreated.as_str()
                        && let Some(v) = event["data"]["version"].as_u64()
                    {
                        r.versions.insert((n, v), at);
                    }
                    arrived.notify_one();
                    StatusCode::NO_CONTENT
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = listener.local_addr()?;
    let serving = tokio::spawn(async move { axum::serve(listener, receiver).await });

    let db = Database::new(None, dir)?;
    let mut cluster = Cluster::open(&db, &format!("webhooks{subscriptions}-{rate}"), 1).await?;
    let measured = async {
        let mut w = seed_week(cluster.stores[0].clone(), 2000, seed).await?;
        let bu = w.business_unit;
        for n in 0..subscriptions {
            subscribe_to_everything(&w.store, bu, format!("http://{hook}/hook/{n}")).await?;
        }
        let mut config = rota_server::Config {
            listen: "127.0.0.1:0".parse()?,
            max_swap_items: 1000,
            rate_limit_per_minute: 10_000_000,
            rate_limit_burst: 1_000_000,
            ..rota_server::Config::default()
        };
        config.webhooks.allow_private_targets = true;
        cluster.serve(&config).await?;
        let (_, _, _, acks) = clients(&mut w, &cluster, 50, seconds, rate).await?;
        let ended = Instant::now();
        let expected = acks.len() * subscriptions;
        // Every version event of every subscription, or give up after two minutes.
        let deadline = ended + Duration::from_secs(120);
        loop {
            let notified = arrived.notified();
            if receipts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .versions
                .len()
                >= expected
            {
                break;
            }
            tokio::time::timeout_at(deadline.into(), notified)
                .await
                .context("the dispatcher did not deliver every version event within 2 minutes")?;
        }
        Ok::<_, anyhow::Error>(acks)
    }
    .await;
    cluster.shut_down().await;
    serving.abort();
    let acks = measured?;
    let r = receipts.lock().unwrap_or_else(|p| p.into_inner());
    let answered: HashMap<u64, Instant> = acks.iter().copied().collect();
    let mut delays: Vec<Duration> = r
        .versions
        .iter()
        .filter_map(|((_, v), at)| {
            answered
                .get(v)
                .map(|ack| at.saturating_duration_since(*ack))
        })
        .collect();
    delays.sort();
    let first = acks
        .iter()
        .map(|(_, at)| *at)
        .min()
        .unwrap_or_else(Instant::now);
    let last_ack = acks.iter().map(|(_, at)| *at).max().unwrap_or(first);
    let last = r.versions.values().copied().max().unwrap_or(last_ack);
    Ok(WebhookRun {
        subscriptions,
        rate,
        commits: acks.len(),
        events_delivered: r.events,
        delivered_per_second: r.events as f64 / last.saturating_duration_since(first).as_secs_f64(),
        delay_p50_ms: percentile(&delays, 0.50),
        delay_p99_ms: percentile(&delays, 0.99),
        drain_ms: last.saturating_duration_since(last_ack).as_secs_f64() * 1000.0,
    })
}
