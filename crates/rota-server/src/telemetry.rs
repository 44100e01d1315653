//! Prometheus metrics: requests by route and status, latency, outcomes by error code, swaps
//! applied and conflicts; served at `GET /metrics`.

use std::sync::OnceLock;
use std::time::Instant;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rota_core::command::ItemOutcome;

use crate::startup::AppState;

/// The process-wide recorder: `metrics` has one global recorder, so every application in
/// the process (the tests start many) shares it.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("rota_http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .inspect_err(|e| tracing::error!(error = %e, "metrics buckets"))
                .ok()?
                .install_recorder()
                .inspect_err(|e| tracing::error!(error = %e, "metrics recorder"))
                .ok()
        })
        .as_ref()
}

pub fn init() {
    let _ = handle();
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(render))
}

pub fn render_text() -> String {
    handle().map(PrometheusHandle::render).unwrap_or_default()
}

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn render() -> Response {
    let body = handle().map(PrometheusHandle::render).unwrap_or_default();
    ([("content-type", "text/plain; version=0.0.4")], body).into_response()
}

pub async fn middleware(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let request_id = request
        .extensions()
        .get::<crate::request_id::RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status = response.status().as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    let status = response.status().as_u16().to_string();
    metrics::counter!("rota_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("rota_http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    response
}

/// Counts an error answer by its stable code.
pub fn error(code: &str) {
    metrics::counter!("rota_http_errors_total", "code" => code.to_owned()).increment(1);
}

/// Counts the outcomes of a swap request's items.
pub fn swap_outcomes<'a>(outcomes: impl IntoIterator<Item = &'a ItemOutcome>) {
    for outcome in outcomes {
        let name = match outcome {
            ItemOutcome::Applied { .. } => "rota_swaps_applied_total",
            ItemOutcome::Conflict { .. } => "rota_swap_conflicts_total",
            ItemOutcome::Rejected { .. } => "rota_swaps_rejected_total",
            ItemOutcome::Skipped => "rota_swaps_skipped_total",
            ItemOutcome::Held { .. } => "rota_swaps_held_total",
        };
        metrics::counter!(name).increment(1);
    }
}
