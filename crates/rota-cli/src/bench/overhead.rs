//! Part 5: what a webhook subscription (one, ten) and the coverage guard add to a 50-swap
//! request, each against the bare request on the same schedule size.
//!
//! The variants take turns request by request (the order rotating every round), so the
//! machine's drift falls on all of them alike; the figure per variant is the median of its
//! per-round ratio to the bare request of the same round. On a shared machine whose disk
//! moves by more than the effect measured, that is what can tell 1.15× from 1.25×.

use std::time::{Duration, Instant};

use anyhow::Result;
use rota_core::store::TradeStore;
use serde::Serialize;

use super::{Cursor, Week, percentile, request, subscribe_to_everything, week};

/// What a variant adds to the bare request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Bare,
    Subscribed(usize),
    Guarded,
}

impl Variant {
    const ALL: [Self; 4] = [
        Self::Bare,
        Self::Subscribed(1),
        Self::Subscribed(10),
        Self::Guarded,
    ];

    fn label(self) -> String {
        match self {
            Self::Bare => "bare".into(),
            Self::Subscribed(1) => "1 subscription".into(),
            Self::Subscribed(n) => format!("{n} subscriptions"),
            Self::Guarded => "coverage guard".into(),
        }
    }

    /// Sets the variant up on `w`: subscriptions to every event (on, with no dispatcher
    /// running: the request's cost is the outbox row its transaction writes), or the guard
    /// set to deny bulk swaps with a tolerance so wide that nothing is ever short, so every
    /// request does all of the guard's work and still applies.
    async fn prepare(self, w: &Week) -> Result<()> {
        match self {
            Self::Bare => {}
            Self::Subscribed(n) => {
                for _ in 0..n {
                    let url = "https://example.invalid/hook".to_owned();
                    subscribe_to_everything(&w.store, w.business_unit, url).await?;
                }
            }
            Self::Guarded => {
                let mut settings = w.store.settings(w.business_unit).await?;
                settings.coverage.bulk_swap = rota_core::trade::RuleAction::Deny;
                settings.coverage.tolerance = u32::MAX;
                w.store.set_settings(w.business_unit, &settings).await?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverheadRun {
    pub agents: usize,
    pub variant: String,
    pub requests: usize,
    pub p50_ms: f64,
    /// The median over rounds of this variant's request time over the bare request's.
    pub ratio_to_bare: f64,
    /// The middle half of those ratios (25th and 75th percentiles).
    pub ratio_iqr: (f64, f64),
}

const SWAPS: usize = 50;

/// Every variant on its own copy of the `agents`-agent week, in turns, for about `seconds`
/// per variant.
pub async fn measure(
    dir: &std::path::Path,
    agents: usize,
    seed: u64,
    seconds: f64,
) -> Result<Vec<OverheadRun>> {
    let mut weeks = Vec::new();
    for v in Variant::ALL {
        let w = week(
            dir,
            &format!("overhead-{agents}-{}", v.label()),
            agents,
            seed,
        )
        .await?;
        v.prepare(&w).await?;
        if let rota_store::Store::Sqlite(sqlite) = &w.store {
            sqlite.checkpoint().await?;
        }
        let cursor = Cursor {
            pairs: w.groups.concat(),
            next: 0,
        };
        weeks.push((w, cursor));
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); weeks.len()];
    let started = Instant::now();
    let mut round = 0;
    while round < 10 || started.elapsed().as_secs_f64() < seconds * weeks.len() as f64 {
        for k in 0..weeks.len() {
            let i = (round + k) % weeks.len();
            let (w, cursor) = &mut weeks[i];
            times[i].push(request(w, cursor, SWAPS).await?);
        }
        round += 1;
    }
    for (w, _) in &weeks {
        w.store.close().await;
    }
    let bare = times[0].clone();
    Ok(Variant::ALL
        .into_iter()
        .zip(times)
        .map(|(v, mut t)| {
            let mut ratios: Vec<f64> = t
                .iter()
                .zip(&bare)
                .map(|(x, b)| x.as_secs_f64() / b.as_secs_f64().max(1e-9))
                .collect();
            ratios.sort_by(f64::total_cmp);
            let quantile = |p: f64| ratios[((ratios.len() - 1) as f64 * p).round() as usize];
            t.sort();
            OverheadRun {
                agents,
                variant: v.label(),
                requests: t.len(),
                p50_ms: percentile(&t, 0.5),
                ratio_to_bare: quantile(0.5),
                ratio_iqr: (quantile(0.25), quantile(0.75)),
            }
        })
        .collect())
}
