//! What the server's own request log says: the batch under a 429 storm, and a request cut
//! short by the handling timeout. In a test binary of its own: the log is read through a global
//! tracing subscriber, which must not see other tests' servers.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failing setup should stop the test loudly

#[path = "api/common.rs"]
mod common;

use std::sync::Arc;

use rota_api::paging::Paging;
use rota_api::swaps::SwapItemBody;
use rota_core::testkit::World;
use rota_core::version::{ScheduleVersion, ScheduleVersionId};

/// The server's request log, as the tests read it: every "request" line the telemetry
/// middleware writes, as its method and route, its status and its request id.
#[derive(Clone, Default)]
struct RequestLog(Arc<std::sync::Mutex<Vec<(String, u64, String)>>>);

/// The process's one log, installed by the first test that asks for it.
fn log() -> RequestLog {
    use tracing_subscriber::layer::SubscriberExt;
    static LOG: std::sync::OnceLock<RequestLog> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = RequestLog::default();
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(log.clone()))
            .unwrap();
        log
    })
    .clone()
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RequestLog {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Fields {
            message: String,
            method: String,
            route: String,
            status: u64,
            request_id: String,
        }
        impl tracing::field::Visit for Fields {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "status" {
                    self.status = value;
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                let text = format!("{value:?}");
                match field.name() {
                    "message" => self.message = text,
                    "method" => self.method = text,
                    "route" => self.route = text,
                    "request_id" => self.request_id = text,
                    _ => {}
                }
            }
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message == "request" {
            let line = format!("{} {}", fields.method, fields.route);
            self.0
                .lock()
                .unwrap()
                .push((line, fields.status, fields.request_id));
        }
    }
}

#[tokio::test]
async fn under_a_429_storm_the_batch_waits_as_retry_after_says() {
    use rota_client::batch::{BatchItem, BatchRunner, FinalStatus};
    use rota_client::retry::{Retrier, RetryPolicy};
    let log = log();
    let app = common::spawn_world(World::disjoint(4, 16), false, |config| {
        config.rate_limit_per_minute = 120;
        config.rate_limit_burst = 2;
    })
    .await;
    let client = app.admin.clone();
    let world = app.world.clone();
    let w = &world;
    let item = BatchItem {
        index: 0,
        swap: SwapItemBody {
            agent_id: w.agents[0].id.to_string(),
            original_shift_id: w.schedule.shifts[0].id.to_string(),
            new_shift_id: w.schedule.shifts[1].id.to_string(),
            reason_code: "coverage".into(),
            counterpart_agent_id: None,
        },
    };
    // Someone else using the same client has emptied its bucket.
    while client.business_units(&Paging::default()).await.is_ok() {}
    let mut runner = BatchRunner {
        client: client.clone(),
        batch_id: "storm".into(),
        schedule_id: w.schedule.id,
        batch_size: 1,
        effective_date: None,
        planned_version: Some(
            ScheduleVersionId::new(w.schedule.id, ScheduleVersion::FIRST).to_string(),
        ),
        retrier: Retrier::new(RetryPolicy::default(), Some(2)),
        budget: Default::default(),
        stats: Default::default(),
    };
    let report = runner.run_chunk(0, &[item]).await;
    assert_eq!(report[0].status, FinalStatus::Applied, "{report:?}");
    let statuses: Vec<u64> = log
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(line, _, _)| line.ends_with("/api/v2/wfm/schedules/shift-swaps"))
        .map(|(_, status, _)| *status)
        .collect();
    assert_eq!(statuses.first(), Some(&429), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&200), "{statuses:?}");
    // Each 429 said Retry-After: 1 (a token comes back every 0.5 s, and Retry-After is whole
    // seconds), and the runner waited that long before each retry, never less.
    let throttled = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!(runner.stats.retries, throttled as u64, "{:?}", runner.stats);
    assert!(
        runner.stats.waited >= std::time::Duration::from_secs(throttled as u64),
        "{:?} after {throttled} 429s",
        runner.stats
    );
}

#[tokio::test]
async fn a_request_cut_short_by_the_timeout_is_logged_with_its_id_and_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let log = log();
    let app = common::spawn(|config| {
        config.request_timeout = std::time::Duration::from_millis(300);
        config.body_read_timeout = std::time::Duration::from_secs(600);
    })
    .await;
    // A body that never arrives keeps the handler waiting past the handling timeout.
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /oauth/token HTTP/1.1\r\nHost: rota\r\nX-Request-Id: cut-short-1\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant",
        )
        .await
        .unwrap();
    // The server closes the connection after its answer: the rest of the body is unread.
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("cut-short-1"), "{answer}");
    let logged: Vec<_> = log
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, _, id)| id == "cut-short-1")
        .cloned()
        .collect();
    assert_eq!(
        logged,
        vec![(
            "POST /oauth/token".to_owned(),
            503,
            "cut-short-1".to_owned()
        )]
    );
    let metrics = rota_server::telemetry::render_text();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("rota_http_requests_total")
                && l.contains("route=\"/oauth/token\"")
                && l.contains("status=\"503\"")),
        "{metrics}"
    );
}
