//! Running the service: health and readiness, rate-limit headers and 429, metrics, the OpenAPI document, an unreachable database.

use reqwest::Method;
use rota_api::paging::Paging;
use rota_api::problem::ErrorCode;
use rota_client::{CallOptions, ClientError};
use rota_core::auth::Role;

use crate::common::problem_code;
use crate::strict::{spawn, spawn_with};

#[tokio::test]
async fn health_readiness_directory_and_availability() {
    let app = spawn().await;
    assert_eq!(
        app.client.ready().await.unwrap().body.unwrap().database,
        Some("sqlite".into())
    );
    let units = app
        .client
        .business_units(&Paging::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(units.items[0].id, app.world.bu.id);
    let agents = app
        .client
        .agents(
            app.world.bu.id,
            &Paging {
                offset: 0,
                limit: 2,
            },
        )
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(
        (agents.items.len(), agents.total, agents.next_offset),
        (2, 4, Some(2))
    );
    let agent = app.world.agents[0].id;
    let inverted: rota_core::directory::AvailabilityDoc = serde_json::from_value(
        serde_json::json!({"weekly": [{"day": "monday", "start": "17:00", "end": "09:00"}]}),
    )
    .unwrap();
    let err = app
        .client
        .set_availability(agent, &inverted)
        .await
        .unwrap_err();
    // Well-formed (the document's types and formats), refused by a rule across its fields.
    assert_eq!(problem_code(&err), (422, ErrorCode::Unprocessable));
    let overlapping: rota_core::directory::AvailabilityDoc = serde_json::from_value(serde_json::json!({"weekly": [
        {"day": "monday", "start": "08:00", "end": "12:00"}, {"day": "monday", "start": "11:00", "end": "14:00"}]}))
    .unwrap();
    let updated = app
        .client
        .set_availability(agent, &overlapping)
        .await
        .unwrap()
        .body
        .unwrap();
    let doc = rota_core::directory::AvailabilityDoc::from(&updated.availability);
    assert_eq!(
        (
            doc.weekly.len(),
            doc.weekly[0].start.as_str(),
            doc.weekly[0].end.as_str()
        ),
        (1, "08:00", "14:00")
    );
    let err = app
        .client
        .send_raw(Method::GET, "/no/such/route", None, &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(err.status(), 404);
    assert_eq!(err.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn every_api_response_carries_rate_limit_headers_and_an_exhausted_client_gets_429() {
    let app = spawn_with(|c| {
        // One token a minute: however slow the machine, none comes back during the test.
        c.rate_limit_per_minute = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let first = app.client.business_units(&Paging::default()).await.unwrap();
    assert_eq!(first.headers["x-ratelimit-limit"], "1");
    assert_eq!(first.headers["x-ratelimit-remaining"], "2");
    assert_eq!(first.headers["ratelimit-policy"], "\"per-client\";q=1;w=60");
    assert!(
        first.headers["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"per-client\";r=2;t=")
    );
    app.client.business_units(&Paging::default()).await.unwrap();
    app.client.business_units(&Paging::default()).await.unwrap();
    let err = app
        .client
        .business_units(&Paging::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (429, ErrorCode::RateLimited));
    let ClientError::Problem { headers, .. } = &err else {
        panic!()
    };
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    // Buckets are per client.
    let other = app.as_client(Role::Supervisor, None, None).await;
    other.business_units(&Paging::default()).await.unwrap();
}

#[tokio::test]
async fn metrics_count_requests_and_swap_outcomes_and_unrouted_errors_are_problems() {
    let app = spawn().await;
    app.client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &CallOptions::default())
        .await
        .unwrap();
    let response = app
        .anonymous
        .send_raw(Method::GET, "/metrics", None, &CallOptions::default())
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(text.contains("rota_swaps_applied_total"), "{status} {text}");
    assert!(
        text.contains("route=\"/api/v2/wfm/schedules/shift-swaps\""),
        "{text}"
    );
    assert!(
        text.contains("rota_http_request_duration_seconds_bucket"),
        "{text}"
    );
    let wrong_method = app
        .client
        .send_raw(
            Method::DELETE,
            "/api/v2/wfm/schedules/shift-swaps",
            None,
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.headers()["content-type"],
        "application/problem+json"
    );
    let problem: rota_api::problem::Problem = wrong_method.json().await.unwrap();
    assert!(!problem.request_id.is_empty());
}

#[tokio::test]
async fn the_openapi_document_is_3_1_covers_every_endpoint_and_has_examples() {
    let app = spawn().await;
    let response = app
        .anonymous
        .send_raw(Method::GET, "/openapi.json", None, &CallOptions::default())
        .await
        .unwrap();
    let doc: serde_json::Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("post", "/oauth/token"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/api/v2/wfm/business-units"),
        ("get", "/api/v2/wfm/business-units/{businessUnitId}/agents"),
        ("put", "/api/v2/wfm/agents/{agentId}/availability"),
        ("get", "/api/v2/wfm/schedules"),
        ("post", "/api/v2/wfm/schedules"),
        ("get", "/api/v2/wfm/schedules/{scheduleId}"),
        ("get", "/api/v2/wfm/schedules/{scheduleId}/versions"),
        (
            "get",
            "/api/v2/wfm/schedules/{scheduleId}/versions/{versionId}",
        ),
        ("post", "/api/v2/wfm/schedules/{scheduleId}/publish"),
        ("post", "/api/v2/wfm/shifts/{shiftId}/edits"),
        ("post", "/api/v2/wfm/schedules/shift-swaps"),
        ("get", "/api/v2/wfm/agents/me/schedule"),
        ("post", "/api/v2/wfm/agents/me/shifts/{shiftId}/pickup"),
        ("post", "/api/v2/wfm/agents/me/shifts/{shiftId}/release"),
        ("post", "/api/v2/wfm/trades"),
        ("get", "/api/v2/wfm/trades"),
        ("get", "/api/v2/wfm/trades/{tradeId}"),
        ("post", "/api/v2/wfm/trades/{tradeId}/match"),
        ("get", "/api/v2/wfm/trades/{tradeId}/match-check"),
        ("post", "/api/v2/wfm/trades/{tradeId}/cancel"),
        ("post", "/api/v2/wfm/trades/reviews"),
        (
            "post",
            "/api/v2/wfm/business-units/{businessUnitId}/webhooks",
        ),
        (
            "get",
            "/api/v2/wfm/business-units/{businessUnitId}/webhooks",
        ),
        ("get", "/api/v2/wfm/webhooks/{webhookId}"),
        ("patch", "/api/v2/wfm/webhooks/{webhookId}"),
        ("delete", "/api/v2/wfm/webhooks/{webhookId}"),
        ("get", "/api/v2/wfm/webhooks/{webhookId}/deliveries"),
        (
            "get",
            "/api/v2/wfm/business-units/{businessUnitId}/settings",
        ),
        (
            "put",
            "/api/v2/wfm/business-units/{businessUnitId}/settings",
        ),
        ("put", "/api/v2/wfm/schedules/{scheduleId}/requirements"),
        ("get", "/api/v2/wfm/schedules/{scheduleId}/coverage"),
        (
            "get",
            "/api/v2/wfm/business-units/{businessUnitId}/held-changes",
        ),
        ("get", "/api/v2/wfm/held-changes/{heldChangeId}"),
        ("post", "/api/v2/wfm/held-changes/{heldChangeId}/decision"),
        ("post", "/api/v2/wfm/time-off-requests"),
        ("get", "/api/v2/wfm/time-off-requests"),
        ("get", "/api/v2/wfm/time-off-requests/{timeOffId}"),
        ("post", "/api/v2/wfm/time-off-requests/{timeOffId}/decision"),
        ("post", "/api/v2/wfm/time-off-requests/{timeOffId}/cancel"),
        ("get", "/api/v2/wfm/agents/{agentId}/time-off-balances"),
        (
            "put",
            "/api/v2/wfm/agents/{agentId}/time-off-balances/{code}",
        ),
        (
            "put",
            "/api/v2/wfm/business-units/{businessUnitId}/time-off-allowances",
        ),
        (
            "get",
            "/api/v2/wfm/business-units/{businessUnitId}/time-off-allowances",
        ),
        ("post", "/api/v2/users"),
        ("post", "/api/v2/users/{userId}/sign-in-links"),
    ];
    for (method, path) in expected {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is not documented"
        );
    }
    let documented: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(
        documented,
        expected.len(),
        "an operation is documented that the test does not know"
    );
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["SwapRequestBody"]["example"]["shiftSwaps"].is_array());
    assert_eq!(schemas["Problem"]["example"]["code"], "VERSION_CONFLICT");
    let swap = &doc["paths"]["/api/v2/wfm/schedules/shift-swaps"]["post"]["responses"];
    for status in ["200", "409", "412", "422", "429"] {
        assert!(swap[status].is_object(), "shift-swaps lacks {status}");
    }
    let docs = app
        .anonymous
        .send_raw(Method::GET, "/docs", None, &CallOptions::default())
        .await
        .unwrap();
    assert!(
        docs.text()
            .await
            .unwrap()
            .contains("/api/v2/wfm/schedules/shift-swaps")
    );
}

#[tokio::test]
async fn an_unreachable_database_is_503_with_retry_after() {
    let app = spawn().await;
    // Authenticate first: with the database gone, even the token lookup cannot be made.
    app.store.close().await;
    let err = app
        .client
        .business_units(&Paging::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (503, ErrorCode::ServiceUnavailable));
    let ClientError::Problem { headers, problem } = &err else {
        panic!()
    };
    assert_eq!(headers["retry-after"], "1");
    assert!(!problem.detail.contains("sqlite"), "{}", problem.detail);
    let ready = app.anonymous.ready().await.unwrap_err();
    assert_eq!(problem_code(&ready).0, 503);
}
