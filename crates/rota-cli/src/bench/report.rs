//! What `rota bench` writes: the markdown tables, the machine line and the SVG chart.

use anyhow::Result;
use rota_demo::{Strategy, share};

use super::{BenchReport, StrategyRun};

pub(super) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

pub(super) fn markdown(r: &BenchReport) -> String {
    let mut s = format!("Run of {} on {}.\n\n", r.date, r.machine);
    if !r.webhooks.is_empty() {
        s.push_str("| requests/s | subscriptions | commits | events delivered | events/s | delay p50 | delay p99 | backlog empty after |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for w in &r.webhooks {
            let rate = if w.rate > 0.0 {
                format!("{}", w.rate)
            } else {
                "unpaced".to_owned()
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.0} ms |\n",
                rate,
                w.subscriptions,
                w.commits,
                w.events_delivered,
                w.delivered_per_second,
                w.delay_p50_ms,
                w.delay_p99_ms,
                w.drain_ms
            ));
        }
        s.push('\n');
    }
    if !r.overhead.is_empty() {
        s.push_str("| agents | variant | requests | p50 | × bare (median of rounds) | middle half |\n| ---: | --- | ---: | ---: | ---: | --- |\n");
        for o in &r.overhead {
            s.push_str(&format!(
                "| {} | {} | {} | {:.2} ms | {:.2}× | {:.2}–{:.2}× |\n",
                o.agents,
                o.variant,
                o.requests,
                o.p50_ms,
                o.ratio_to_bare,
                o.ratio_iqr.0,
                o.ratio_iqr.1
            ));
        }
        s.push('\n');
    }
    if !r.throughput.is_empty() || !r.schedule_size.is_empty() {
        s.push_str("| target | agents | swaps per request | requests | swaps/s | p50 | p99 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    }
    for t in r.throughput.iter().chain(&r.schedule_size) {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.0} | {:.2} ms | {:.2} ms |\n",
            t.target, t.agents, t.batch_size, t.requests, t.swaps_per_second, t.p50_ms, t.p99_ms
        ));
    }
    for batch in [1usize, 10, 50, 200] {
        let find = |target: &str| {
            r.throughput
                .iter()
                .find(|t| t.batch_size == batch && t.target.starts_with(target))
        };
        // The store alone runs on SQLite: a ratio against HTTP on PostgreSQL would mean nothing.
        let http = find("http").filter(|t| t.target.contains("sqlite"));
        if let (Some(store), Some(http)) = (find("store"), http) {
            s.push_str(&format!(
                "\nHTTP / store at {batch} swaps per request: {:.2}",
                http.swaps_per_second / store.swaps_per_second
            ));
        }
    }
    if let [small, large] = &r.schedule_size[..] {
        s.push_str(&format!(
            "\n\nCost per request, 10,000 / 100 agents: {:.2}× (p50 {:.2} ms vs {:.2} ms)\n",
            large.p50_ms / small.p50_ms.max(1e-9),
            large.p50_ms,
            small.p50_ms
        ));
    }
    if !r.strategies.is_empty() {
        s.push_str("\n| portal rate | strategy | requests | 409s | retries | applied | stale | failed | wall | swaps/s |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    }
    for x in &r.strategies {
        s.push_str(&format!(
            "| {}/s | {} | {} | {} ({:.1}%) | {} | {} | {} | {} | {:.2} s | {:.0} |\n",
            x.portal_rate,
            x.strategy,
            x.requests,
            x.conflicts,
            x.conflict_share,
            x.retries,
            x.applied,
            x.stale,
            x.failed,
            x.wall_seconds,
            x.swaps_per_second
        ));
    }
    let run = |strategy: Strategy, rate: f64| {
        r.strategies
            .iter()
            .find(|x| x.strategy == strategy.label() && x.portal_rate == rate)
    };
    let rates: Vec<f64> =
        r.strategies
            .iter()
            .map(|x| x.portal_rate)
            .fold(Vec::new(), |mut v, x| {
                if !v.contains(&x) {
                    v.push(x);
                }
                v
            });
    if let Some(&idle) = rates.first() {
        for &rate in rates.iter().skip(1) {
            if let (Some(user), Some(rota), Some(rota_idle)) = (
                run(Strategy::UsersSetup, rate),
                run(Strategy::Rota, rate),
                run(Strategy::Rota, idle),
            ) {
                s.push_str(&format!(
                    "\nAt {rate}/s: rota's way took {:.2}× the wall time of the user's setup and {:.2}× its own with the portal idle; \
                     it retried {:.1}% of its requests and failed {} swaps, against {} for the user's setup.",
                    rota.wall_seconds / user.wall_seconds.max(1e-9),
                    rota.wall_seconds / rota_idle.wall_seconds.max(1e-9),
                    share(rota.retries, rota.requests),
                    rota.failed,
                    user.failed
                ));
            }
        }
        s.push('\n');
    }
    s
}

/// One plotted figure of a strategy run.
type Metric = fn(&StrategyRun) -> f64;

/// Three panels against the portal rate, one line per strategy: the 409 share, the failed
/// swaps, and the throughput of the weekly batch.
pub(super) fn chart(r: &BenchReport, path: &std::path::Path) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (1200, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let panels = root.split_evenly((1, 3));
    let max_rate = r
        .strategies
        .iter()
        .map(|x| x.portal_rate)
        .fold(1.0, f64::max);
    let metrics: [(&str, Metric); 3] = [
        ("409 responses, % of requests", |x| x.conflict_share),
        ("failed swaps", |x| x.failed as f64),
        ("batch throughput, swaps/s", |x| x.swaps_per_second),
    ];
    let colors = [RED, MAGENTA, BLUE, GREEN];
    for (panel, (title, metric)) in panels.iter().zip(metrics) {
        let max_y = r.strategies.iter().map(metric).fold(1.0, f64::max) * 1.1;
        let mut chart = ChartBuilder::on(panel)
            .caption(title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..max_rate * 1.05, 0.0..max_y)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("portal versions per second")
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        for (strategy, color) in Strategy::ALL.into_iter().zip(colors) {
            let points: Vec<(f64, f64)> = r
                .strategies
                .iter()
                .filter(|x| x.strategy == strategy.label())
                .map(|x| (x.portal_rate, metric(x)))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .label(strategy.label())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    points
                        .into_iter()
                        .map(|p| Circle::new(p, 3, color.filled())),
                )
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
