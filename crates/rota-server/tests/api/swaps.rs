//! Swaps, schedules and their history, edits, auth and roles, idempotency, rate limits,
//! metrics and the OpenAPI document.

use std::sync::Arc;

use reqwest::Method;
use rota_api::paging::Paging;
use rota_api::problem::ErrorCode;
use rota_api::schedules::{EditBody, ReadQuery, VersionsBody, VersionsQuery};
use rota_api::swaps::{SwapItemBody, SwapRequestBody};
use rota_client::{CallOptions, Client, ClientError};
use rota_core::auth::Role;
use rota_core::clock::FixedClock;
use rota_core::command::{EditChange, ItemOutcome};
use rota_core::ids::ScheduleId;
use rota_core::schedule::TimeWindow;
use rota_core::store::{DirectoryStore, ScheduleStore};
use rota_core::testkit::World;
use rota_core::version::{ScheduleVersion, ScheduleVersionId, VersionCause};
use rota_server::{Application, Config};
use rota_store::{Durability, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

struct TestApp {
    /// Authenticated as an admin.
    client: Client,
    /// Not authenticated.
    anonymous: Client,
    store: Store,
    world: World,
    clock: Arc<FixedClock>,
    admin_id: String,
    /// The server; stops when dropped.
    app: crate::common::TestApp,
}

async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// The `World::disjoint(4, 16)` week, imported but not published, on a server with the
/// default rate limits and small request limits (so the limit errors are cheap to reach).
async fn spawn_with(tune: impl FnOnce(&mut Config)) -> TestApp {
    let app = crate::common::spawn_world(World::disjoint(4, 16), false, |config| {
        let defaults = Config::default();
        config.rate_limit_per_minute = defaults.rate_limit_per_minute;
        config.rate_limit_burst = defaults.rate_limit_burst;
        config.max_swap_items = 5;
        config.body_limit_bytes = 16 * 1024;
        tune(config);
    })
    .await;
    TestApp {
        client: app.admin.clone(),
        anonymous: app.anonymous.clone(),
        store: app.store.clone(),
        world: app.world.clone(),
        clock: Arc::clone(&app.clock),
        admin_id: app.admin_id.clone(),
        app,
    }
}

impl TestApp {
    /// A client of `role`, scoped as given, with a fresh token.
    async fn as_client(
        &self,
        role: Role,
        bu: Option<rota_core::ids::BusinessUnitId>,
        agent: Option<usize>,
    ) -> Client {
        self.app.client_in(role, bu, agent).await
    }
}

impl TestApp {
    fn version_id(&self, v: u64) -> String {
        ScheduleVersionId::new(self.world.schedule.id, ScheduleVersion::new(v).unwrap()).to_string()
    }

    /// A swap body: (agent, original shift, new shift) by index into the world.
    fn body(&self, base: u64, items: &[(usize, usize, usize)]) -> SwapRequestBody {
        SwapRequestBody {
            schedule_version_id: self.version_id(base),
            shift_swaps: items
                .iter()
                .map(|&(a, o, n)| SwapItemBody {
                    agent_id: self.world.agents[a].id.to_string(),
                    original_shift_id: self.world.schedule.shifts[o].id.to_string(),
                    new_shift_id: self.world.schedule.shifts[n].id.to_string(),
                    reason_code: "personal".into(),
                    counterpart_agent_id: None,
                })
                .collect(),
            effective_date: None,
            mode: None,
            conflict_scope: None,
        }
    }

    async fn version(&self) -> u64 {
        self.store
            .schedule(self.world.schedule.id)
            .await
            .unwrap()
            .version
            .get()
    }
}

use crate::common::problem_code;

// World::disjoint(4, _): shift k is owned by agent k % 5, and open when k % 5 == 4.

#[tokio::test]
async fn a_swap_applies_and_the_history_and_etag_follow() {
    let app = spawn().await;
    let reply = app
        .client
        .shift_swaps(
            &app.body(1, &[(0, 0, 1), (2, 2, 4)]),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    let body = reply.body.unwrap();
    assert_eq!(body.committed_version, Some(2));
    assert_eq!(body.schedule_version_id, app.version_id(2));
    assert!(body.results.iter().all(|r| r.outcome.is_applied()));

    let id = app.world.schedule.id;
    let schedule = app
        .client
        .schedule(id, &ReadQuery::with_limit(3), &CallOptions::default())
        .await
        .unwrap();
    let etag = schedule.etag().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", app.version_id(2)));
    let schedule_body = schedule.body.unwrap();
    assert_eq!(schedule_body.shifts.items.len(), 3);
    assert_eq!(schedule_body.shifts.total, 16);
    let not_modified = app
        .client
        .schedule(
            id,
            &ReadQuery::default(),
            &CallOptions::default().header("If-None-Match", &etag),
        )
        .await
        .unwrap();
    assert_eq!(not_modified.status, 304);

    let versions = app.client.versions(id, &VersionsQuery::default()).await;
    let VersionsBody::Page(versions) = versions.unwrap().body.unwrap() else {
        panic!("a page of versions");
    };
    assert_eq!(versions.total, 2);
    assert_eq!(versions.items[0].record.cause, VersionCause::BulkSwap);
    let since = VersionsQuery {
        since: Some(app.version_id(1)),
        ..VersionsQuery::default()
    };
    let since = app.client.versions(id, &since).await.unwrap().body.unwrap();
    let VersionsBody::Changes(since) = since else {
        panic!("the changes since a version");
    };
    assert_eq!(since.len(), 1);
    let as_of = app
        .client
        .schedule_as_of(id, app.version_id(1).parse().unwrap())
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(as_of.shifts[0].owner, Some(app.world.agents[0].id));
}

#[tokio::test]
async fn stale_version_on_touched_shift_returns_409_with_current_version() {
    let app = spawn().await;
    app.client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &CallOptions::default())
        .await
        .unwrap();
    // Untouched shifts from the stale version 1: applies.
    let ok = app
        .client
        .shift_swaps(&app.body(1, &[(2, 2, 3)]), &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(ok.body.unwrap().committed_version, Some(3));
    // Shift 1 changed in version 2: 409 with the current version and the shift's state.
    let err = app
        .client
        .shift_swaps(&app.body(1, &[(1, 1, 5)]), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (409, ErrorCode::VersionConflict));
    let p = err.problem().unwrap();
    assert_eq!(
        p.current_schedule_version_id.as_deref(),
        Some(app.version_id(3).as_str())
    );
    match &p.items[0].outcome {
        ItemOutcome::Conflict { shifts, .. } => {
            assert_eq!(shifts[0].id, app.world.schedule.shifts[1].id);
            assert_eq!(shifts[0].owner, Some(app.world.agents[0].id));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(app.version().await, 3);
}

#[tokio::test]
async fn if_match_asks_for_the_whole_schedule_check() {
    let app = spawn().await;
    app.client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &CallOptions::default())
        .await
        .unwrap();
    let stale = format!("\"{}\"", app.version_id(1));
    let err = app
        .client
        .shift_swaps(
            &app.body(1, &[(2, 2, 3)]),
            &CallOptions::default().header("If-Match", &stale),
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (412, ErrorCode::PreconditionFailed));
    let fresh = format!("\"{}\"", app.version_id(2));
    let ok = app
        .client
        .shift_swaps(
            &app.body(2, &[(2, 2, 3)]),
            &CallOptions::default().header("If-Match", &fresh),
        )
        .await
        .unwrap();
    assert_eq!(ok.body.unwrap().committed_version, Some(3));
}

#[tokio::test]
async fn rule_violations_are_422_in_atomic_mode_and_reported_per_item_in_partial_mode() {
    let app = spawn().await;
    // Agent 0 does not own shift 1.
    let err = app
        .client
        .shift_swaps(
            &app.body(1, &[(0, 0, 2), (0, 1, 3)]),
            &CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (422, ErrorCode::RuleViolation));
    let p = err.problem().unwrap();
    assert_eq!(p.items[0].outcome, ItemOutcome::Skipped);
    assert!(
        matches!(&p.items[1].outcome, ItemOutcome::Rejected { violations } if violations[0].code.as_str() == "SHIFT_NOT_OWNED")
    );
    assert_eq!(app.version().await, 1);
    let mut partial = app.body(1, &[(0, 0, 2), (0, 1, 3)]);
    partial.mode = Some(rota_core::command::SwapMode::Partial);
    let body = app
        .client
        .shift_swaps(&partial, &CallOptions::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert!(body.results[0].outcome.is_applied());
    assert!(matches!(
        body.results[1].outcome,
        ItemOutcome::Rejected { .. }
    ));
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let app = spawn().await;
    let post = |body: Vec<u8>| {
        let client = app.client.clone();
        async move {
            let r = client
                .send_raw(
                    Method::POST,
                    "/api/v2/wfm/schedules/shift-swaps",
                    Some((body, "application/json")),
                    &CallOptions::default(),
                )
                .await
                .unwrap();
            rota_client::decode::<serde_json::Value>(r)
                .await
                .unwrap_err()
        }
    };
    let malformed = post(b"{\"scheduleVersionId\": ".to_vec()).await;
    assert_eq!(problem_code(&malformed), (400, ErrorCode::ValidationFailed));
    let wrong_type = post(br#"{"scheduleVersionId": 5, "shiftSwaps": []}"#.to_vec()).await;
    assert_eq!(
        wrong_type.problem().unwrap().errors[0].field,
        "scheduleVersionId"
    );
    let unknown =
        post(br#"{"scheduleVersionId": "x", "shiftSwaps": [], "batch_size": 50}"#.to_vec()).await;
    assert!(
        unknown.problem().unwrap().detail.contains("batch_size"),
        "{unknown}"
    );
    let huge = post(vec![b' '; 20 * 1024]).await;
    assert_eq!(problem_code(&huge), (413, ErrorCode::PayloadTooLarge));
    let mut bad_ids = app.body(1, &[(0, 0, 1)]);
    bad_ids.shift_swaps[0].agent_id = "not-a-uuid".into();
    bad_ids.effective_date = Some("2026-13-40".into());
    let err = app
        .client
        .shift_swaps(&bad_ids, &CallOptions::default())
        .await
        .unwrap_err();
    let fields: Vec<&str> = err
        .problem()
        .unwrap()
        .errors
        .iter()
        .map(|e| e.field.as_str())
        .collect();
    assert_eq!(fields, ["effectiveDate", "shiftSwaps[0].agentId"]);
    let too_many = app.body(1, &[(0, 0, 1); 6]);
    let err = app
        .client
        .shift_swaps(&too_many, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (422, ErrorCode::TooManyItems));
    let ahead = app.body(9, &[(0, 0, 1)]);
    let err = app
        .client
        .shift_swaps(&ahead, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (422, ErrorCode::UnknownVersion));
    let err = get(
        &app.client,
        "/api/v2/wfm/schedules/nope",
        &CallOptions::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(problem_code(&err), (400, ErrorCode::ValidationFailed));
    let err = app
        .client
        .schedule(
            ScheduleId::new(),
            &ReadQuery::default(),
            &CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (404, ErrorCode::NotFound));
    assert_eq!(app.version().await, 1);
}

#[tokio::test]
async fn request_ids_are_honoured_under_each_alias_and_recorded_in_the_history() {
    let app = spawn().await;
    for name in [
        "X-Request-Id",
        "X-Genesys-Request-Id",
        "ININ-Correlation-Id",
    ] {
        let reply = app
            .client
            .health_with(&CallOptions::default().header(name, &format!("rid-{name}")))
            .await
            .unwrap();
        assert_eq!(reply.request_id(), Some(format!("rid-{name}").as_str()));
        assert_eq!(reply.headers.get(name).unwrap(), &format!("rid-{name}"));
    }
    let generated = app.client.health().await.unwrap();
    assert!(generated.request_id().is_some_and(|id| id.len() >= 32));
    let err = app
        .client
        .schedule(
            ScheduleId::new(),
            &ReadQuery::default(),
            &CallOptions::default().header("X-Genesys-Request-Id", "gen-404"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().request_id, "gen-404");
    app.client
        .shift_swaps(
            &app.body(1, &[(0, 0, 1)]),
            &CallOptions::default().header("ININ-Correlation-Id", "batch-7"),
        )
        .await
        .unwrap();
    let versions = app
        .store
        .versions(app.world.schedule.id, rota_core::store::PageRequest::all())
        .await
        .unwrap();
    assert_eq!(versions.items[0].request_id, "batch-7");
}

#[tokio::test]
async fn a_stale_shift_edit_is_409_and_a_fresh_one_applies() {
    let app = spawn().await;
    let shift = app.world.schedule.shifts[0].id;
    let open = EditBody {
        expected_version: 1,
        change: EditChange::Open,
    };
    app.client
        .edit_shift(shift, &open, &CallOptions::default())
        .await
        .unwrap();
    let err = app
        .client
        .edit_shift(shift, &open, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (409, ErrorCode::VersionConflict));
    let reassign = EditBody {
        expected_version: 2,
        change: EditChange::Reassign {
            agent_id: app.world.agents[1].id,
        },
    };
    let reply = app
        .client
        .edit_shift(shift, &reassign, &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(reply.body.unwrap().committed_version, Some(3));
}

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
async fn an_idempotency_key_replays_the_first_result_and_refuses_another_body() {
    let app = spawn().await;
    let key = CallOptions::default().header("Idempotency-Key", "batch-1:item-0");
    let first = app
        .client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &key)
        .await
        .unwrap();
    assert!(first.headers.get("idempotent-replayed").is_none());
    let first = first.body.unwrap();
    // The answer was "lost": the same request again is replayed, not applied again.
    let again = app
        .client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &key)
        .await
        .unwrap();
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body.unwrap(), first);
    assert_eq!(app.version().await, 2);
    let other = app
        .client
        .shift_swaps(&app.body(1, &[(2, 2, 3)]), &key)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&other), (422, ErrorCode::IdempotencyKeyReused));
    // A refused (atomic, conflicting) request is replayed as refused, with the same body.
    let stale = CallOptions::default().header("Idempotency-Key", "batch-1:item-1");
    let refused = app
        .client
        .shift_swaps(&app.body(1, &[(1, 1, 3)]), &stale)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&refused), (409, ErrorCode::VersionConflict));
    let replayed = app
        .client
        .shift_swaps(&app.body(1, &[(1, 1, 3)]), &stale)
        .await
        .unwrap_err();
    let ClientError::Problem { problem, headers } = replayed else {
        panic!()
    };
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(problem.items, refused.problem().unwrap().items);
    assert_eq!(app.version().await, 2);
}

#[tokio::test]
async fn an_invalid_request_does_not_hold_its_key_and_a_running_one_is_409() {
    let app = spawn().await;
    let key = CallOptions::default().header("Idempotency-Key", "k-1");
    let mut bad = app.body(1, &[(0, 0, 1)]);
    bad.shift_swaps[0].agent_id = "x".into();
    assert_eq!(
        problem_code(&app.client.shift_swaps(&bad, &key).await.unwrap_err()).0,
        400
    );
    let ahead = app.body(7, &[(0, 0, 1)]);
    assert_eq!(
        problem_code(&app.client.shift_swaps(&ahead, &key).await.unwrap_err()).0,
        422
    );
    app.client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &key)
        .await
        .unwrap();
    // Another request with the same body holds "k-2" and is still running.
    use rota_core::store::IdempotencyStore;
    let body = app.body(2, &[(2, 2, 3)]);
    let claim = rota_core::store::IdempotencyClaim {
        client: app.admin_id.clone(),
        key: "k-2".into(),
    };
    let hash = rota_app::idempotency::fingerprint(
        "POST",
        "/api/v2/wfm/schedules/shift-swaps",
        &body,
        &[None],
    );
    let held = app
        .store
        .claim(
            &claim,
            &hash,
            app.world.now,
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(held, rota_core::store::ClaimOutcome::Claimed);
    let k2 = CallOptions::default().header("Idempotency-Key", "k-2");
    let err = app.client.shift_swaps(&body, &k2).await.unwrap_err();
    assert_eq!(problem_code(&err), (409, ErrorCode::IdempotencyInProgress));
    let mut other = body.clone();
    other.mode = Some(rota_core::command::SwapMode::Partial);
    let err = app.client.shift_swaps(&other, &k2).await.unwrap_err();
    assert_eq!(problem_code(&err), (422, ErrorCode::IdempotencyKeyReused));
    assert_eq!(app.version().await, 2);
}

#[tokio::test]
async fn tokens_come_from_client_credentials_and_expire() {
    let app = spawn().await;
    let err = app
        .anonymous
        .business_units(&Paging::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (401, ErrorCode::Unauthenticated));
    let ClientError::Problem { headers, .. } = &err else {
        panic!()
    };
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let wrong = app.anonymous.clone().with_bearer("not-a-token");
    assert_eq!(
        problem_code(&wrong.business_units(&Paging::default()).await.unwrap_err()).0,
        401
    );
    let c = rota_app::tokens::create_client(&app.store, Role::Supervisor, None, None)
        .await
        .unwrap();
    assert!(
        app.anonymous
            .token(&c.client_id, "wrong-secret")
            .await
            .is_err()
    );
    // Form-field credentials work as well as HTTP Basic.
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        c.client_id, c.client_secret
    );
    let response = app
        .anonymous
        .send_raw(
            Method::POST,
            "/oauth/token",
            Some((form.into_bytes(), "application/x-www-form-urlencoded")),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token: rota_api::oauth::TokenResponse = response.json().await.unwrap();
    assert_eq!(
        (token.token_type.as_str(), token.expires_in),
        ("bearer", 3600)
    );
    let supervisor = app.anonymous.clone().with_bearer(&token.access_token);
    supervisor.business_units(&Paging::default()).await.unwrap();
    app.clock.set(
        app.world
            .now
            .checked_add(jiff::SignedDuration::from_secs(3601))
            .unwrap(),
    );
    let expired = supervisor
        .business_units(&Paging::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&expired).0, 401);
    // RFC 6750 §3.1: a token that failed says so in the challenge; none at all does not.
    let challenge = |e: &ClientError| {
        let ClientError::Problem { headers, .. } = e else {
            panic!("{e}")
        };
        headers["www-authenticate"].to_str().unwrap().to_owned()
    };
    assert!(challenge(&expired).contains("error=\"invalid_token\""));
    assert!(!challenge(&err).contains("error="));
    let bad_grant = app
        .anonymous
        .send_raw(
            Method::POST,
            "/oauth/token",
            Some((
                b"grant_type=password".to_vec(),
                "application/x-www-form-urlencoded",
            )),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(bad_grant.status(), 400);
    let body: serde_json::Value = bad_grant.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    // RFC 6749 §5.2: no grant_type at all is a malformed request, not an unsupported grant.
    let no_grant = app
        .anonymous
        .send_raw(
            Method::POST,
            "/oauth/token",
            Some((
                format!(
                    "client_id={}&client_secret={}",
                    c.client_id, c.client_secret
                )
                .into_bytes(),
                "application/x-www-form-urlencoded",
            )),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(no_grant.status(), 400);
    let body: serde_json::Value = no_grant.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn agents_see_only_their_own_published_shifts_and_cannot_swap_or_edit() {
    let app = spawn().await;
    let agent = app
        .as_client(Role::Agent, Some(app.world.bu.id), Some(1))
        .await;
    let id = app.world.schedule.id;
    // Draft schedules are not shown to agents.
    let err = agent
        .schedule(id, &ReadQuery::default(), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (403, ErrorCode::Forbidden));
    app.client
        .publish(id, &CallOptions::default())
        .await
        .unwrap();
    let mine = agent
        .schedule(id, &ReadQuery::default(), &CallOptions::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert!(!mine.shifts.items.is_empty());
    assert!(
        mine.shifts
            .items
            .iter()
            .all(|s| s.owner == Some(app.world.agents[1].id))
    );
    let other = ReadQuery {
        agent_id: Some(app.world.agents[0].id.to_string()),
        ..ReadQuery::default()
    };
    assert_eq!(
        problem_code(
            &agent
                .schedule(id, &other, &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    assert_eq!(
        problem_code(
            &agent
                .versions(id, &VersionsQuery::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    let err = agent
        .shift_swaps(&app.body(2, &[(1, 1, 0)]), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (403, ErrorCode::Forbidden));
    let shift = app.world.schedule.shifts[1].id;
    let open = EditBody {
        expected_version: 1,
        change: EditChange::Open,
    };
    assert_eq!(
        problem_code(
            &agent
                .edit_shift(shift, &open, &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        403
    );
    let doc: rota_core::directory::AvailabilityDoc = serde_json::from_value(
        serde_json::json!({"weekly": [{"day": "monday", "start": "08:00", "end": "12:00"}]}),
    )
    .unwrap();
    agent
        .set_availability(app.world.agents[1].id, &doc)
        .await
        .unwrap();
    let err = agent
        .set_availability(app.world.agents[0].id, &doc)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&err), (403, ErrorCode::Forbidden));
    assert_eq!(app.version().await, 2);
}

#[tokio::test]
async fn a_supervisor_scoped_to_one_business_unit_finds_nothing_in_another() {
    let app = spawn().await;
    let elsewhere = rota_core::testkit::business_unit("Dallas");
    app.store.create_business_unit(&elsewhere).await.unwrap();
    let supervisor = app
        .as_client(Role::Supervisor, Some(elsewhere.id), None)
        .await;
    let err = supervisor
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &CallOptions::default())
        .await
        .unwrap_err();
    // Outside its unit nothing exists for it: 404, naming nothing of the other unit.
    assert_eq!(problem_code(&err), (404, ErrorCode::NotFound));
    let id = app.world.schedule.id;
    assert_eq!(
        problem_code(
            &supervisor
                .schedule(id, &ReadQuery::default(), &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    assert_eq!(
        problem_code(
            &supervisor
                .publish(id, &CallOptions::default())
                .await
                .unwrap_err()
        )
        .0,
        404
    );
    let units = supervisor
        .business_units(&Paging::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(
        units.items.iter().map(|b| b.id).collect::<Vec<_>>(),
        vec![elsewhere.id]
    );
    // Its listing of one is paged like any other: past the end it is empty.
    let past = Paging {
        offset: 1,
        limit: 10,
    };
    let page = supervisor
        .business_units(&past)
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!((page.items.len(), page.total, page.offset), (0, 1, 1));
    // In its own unit the same role may swap, and the history names the client.
    let home = app
        .as_client(Role::Supervisor, Some(app.world.bu.id), None)
        .await;
    home.shift_swaps(&app.body(1, &[(0, 0, 1)]), &CallOptions::default())
        .await
        .unwrap();
    let versions = app
        .store
        .versions(app.world.schedule.id, rota_core::store::PageRequest::all())
        .await
        .unwrap();
    assert!(versions.items[0].actor.starts_with("rota-"));
    assert_eq!(app.version().await, 2);
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

#[tokio::test]
async fn a_batch_applies_every_still_valid_swap_once_while_writers_change_the_same_shifts_and_reports_stale_ones()
 {
    use rota_client::batch::{BatchItem, BatchRunner, FinalStatus};
    use rota_client::retry::{Retrier, RetryBudget, RetryPolicy};
    let app = spawn_with(|c| c.max_swap_items = 50).await;
    let w = &app.world;
    // Pairs of neighbouring shifts with two different owners (shift k is agent k % 5's; 4 is open).
    let items: Vec<BatchItem> = (0..w.schedule.shifts.len() - 1)
        .step_by(2)
        .filter(|k| k % 5 != 4 && (k + 1) % 5 != 4)
        .enumerate()
        .map(|(index, k)| BatchItem {
            index,
            swap: SwapItemBody {
                agent_id: w.agents[k % 5].id.to_string(),
                original_shift_id: w.schedule.shifts[k].id.to_string(),
                new_shift_id: w.schedule.shifts[k + 1].id.to_string(),
                reason_code: "supervisor".into(),
                counterpart_agent_id: Some(w.agents[(k + 1) % 5].id.to_string()),
            },
        })
        .collect();
    // The plan was made at version 1. Since then shift 0 changed hands (the first swap's
    // intent is stale) and shifts 2 and 6 moved within their slots (owners unchanged: those
    // swaps conflict with the plan's version but are still valid).
    let edit = |k: usize, change: EditChange| {
        let client = app.client.clone();
        let store = app.store.clone();
        let shift = w.schedule.shifts[k].id;
        async move {
            // The batch may swap the shift between the read and the edit: read again then.
            for _ in 0..20 {
                let version = store.shift(shift).await.unwrap().version.get();
                let body = EditBody {
                    expected_version: version,
                    change,
                };
                match client
                    .edit_shift(shift, &body, &CallOptions::default())
                    .await
                {
                    Ok(_) => return,
                    Err(e) if problem_code(&e).1 == ErrorCode::VersionConflict => continue,
                    Err(e) => panic!("{e:?}"),
                }
            }
            panic!("the edit of shift {shift} kept conflicting");
        }
    };
    edit(
        0,
        EditChange::Reassign {
            agent_id: w.agents[3].id,
        },
    )
    .await;
    for k in [2usize, 6] {
        let start = w.schedule.shifts[k]
            .window
            .start()
            .checked_add(jiff::SignedDuration::from_mins(15))
            .unwrap();
        let end = start
            .checked_add(jiff::SignedDuration::from_mins(45))
            .unwrap();
        edit(
            k,
            EditChange::Move {
                window: TimeWindow::new(start, end).unwrap(),
            },
        )
        .await;
    }
    let mut runner = BatchRunner {
        client: app.client.clone(),
        batch_id: "batch-1".into(),
        schedule_id: w.schedule.id,
        batch_size: 2,
        effective_date: None,
        planned_version: Some(app.version_id(1)),
        retrier: Retrier::new(RetryPolicy::default(), Some(11)),
        budget: Arc::new(std::sync::Mutex::new(RetryBudget::new(1.0, 100))),
        stats: Default::default(),
    };
    // And while the batch runs, a supervisor keeps moving shifts 10 and 12 within their slots
    // (owners unchanged: those swaps stay valid, but conflict until the moves stop).
    let writer = async {
        for round in 1..=3i64 {
            for k in [10usize, 12] {
                let start = w.schedule.shifts[k]
                    .window
                    .start()
                    .checked_add(jiff::SignedDuration::from_mins(5 * round))
                    .unwrap();
                let end = start
                    .checked_add(jiff::SignedDuration::from_mins(45))
                    .unwrap();
                edit(
                    k,
                    EditChange::Move {
                        window: TimeWindow::new(start, end).unwrap(),
                    },
                )
                .await;
            }
            tokio::task::yield_now().await;
        }
    };
    let (reports, ()) = tokio::join!(runner.run(items.clone()), writer);
    // Shifts 0, 2 and 6 conflicted with the plan's version (0 went stale, 2 and 6 were re-sent);
    // 10 and 12 did too, as often as the writer got in first.
    assert!(runner.stats.conflicts_seen >= 3, "{:?}", runner.stats);
    assert!(runner.stats.retries >= 2, "{:?}", runner.stats);
    assert_eq!(reports.len(), items.len());
    assert_eq!(reports[0].status, FinalStatus::Stale, "{:?}", reports[0]);
    for r in &reports[1..] {
        assert_eq!(r.status, FinalStatus::Applied, "{r:?}");
    }
    // Exactly once, checked against the version history: each applied swap's two shifts
    // changed hands together in exactly one bulk-swap version, as the item asked.
    let history = app.store.changes_since(w.schedule.id, None).await.unwrap();
    for (item, r) in items.iter().zip(&reports) {
        let swapped_in = history
            .iter()
            .filter(|v| v.record.cause == rota_core::version::VersionCause::BulkSwap)
            .filter(|v| {
                let after = |id: &str| {
                    v.changes
                        .iter()
                        .find(|c| c.shift_id.to_string() == id)
                        .map(|c| c.after.owner.map(|o| o.to_string()))
                };
                after(&item.swap.original_shift_id) == Some(item.swap.counterpart_agent_id.clone())
                    && after(&item.swap.new_shift_id) == Some(Some(item.swap.agent_id.clone()))
            })
            .count();
        let expected = usize::from(r.status == FinalStatus::Applied);
        assert_eq!(
            swapped_in, expected,
            "item {} ({:?}) applied {swapped_in} times",
            r.index, r.status
        );
    }
    rota_core::replay::replay(&history).unwrap();
}

#[tokio::test]
async fn a_chunk_re_sent_after_a_crash_is_replayed_not_applied_twice() {
    use rota_client::batch::{BatchItem, BatchRunner, FinalStatus};
    use rota_client::retry::{Retrier, RetryPolicy};
    let app = spawn().await;
    let w = &app.world;
    let items: Vec<BatchItem> = [(0usize, 1usize), (5, 6)]
        .iter()
        .enumerate()
        .map(|(index, &(a, b))| BatchItem {
            index,
            swap: SwapItemBody {
                agent_id: w.agents[a % 5].id.to_string(),
                original_shift_id: w.schedule.shifts[a].id.to_string(),
                new_shift_id: w.schedule.shifts[b].id.to_string(),
                reason_code: "coverage".into(),
                counterpart_agent_id: Some(w.agents[b % 5].id.to_string()),
            },
        })
        .collect();
    let runner = |client: Client| BatchRunner {
        client,
        batch_id: "nightly".into(),
        schedule_id: w.schedule.id,
        batch_size: 2,
        effective_date: None,
        planned_version: Some(app.version_id(1)),
        retrier: Retrier::new(RetryPolicy::default(), Some(5)),
        budget: Default::default(),
        stats: Default::default(),
    };
    // The first run commits the chunk; its journal line never gets written (the process dies).
    let first = runner(app.client.clone()).run_chunk(0, &items).await;
    assert!(
        first.iter().all(|r| r.status == FinalStatus::Applied),
        "{first:?}"
    );
    // The resumed run sends the same chunk under the same key: the server replays it.
    let resumed = runner(app.client.clone()).run_chunk(0, &items).await;
    assert_eq!(
        resumed
            .iter()
            .map(|r| (r.status, r.version))
            .collect::<Vec<_>>(),
        first
            .iter()
            .map(|r| (r.status, r.version))
            .collect::<Vec<_>>()
    );
    assert_eq!(app.version().await, 2);
}

#[tokio::test]
async fn a_batch_survives_a_server_restart_and_resumes_with_every_swap_applied_once() {
    use rota_client::batch::{BatchItem, BatchRunner, FinalStatus};
    use rota_client::retry::{Retrier, RetryPolicy};
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("rota.db").display());
    let store = Store::Sqlite(SqliteStore::connect(&url, Durability::Full).await.unwrap());
    let world = World::disjoint(4, 16);
    world.load(&store).await.unwrap();
    let admin = rota_app::tokens::create_client(&store, Role::Admin, None, None)
        .await
        .unwrap();
    let start = |store: Store, listen: std::net::SocketAddr| async move {
        let config = Config {
            listen,
            ..Config::default()
        };
        let app = Application::with_store(config, store, Arc::new(FixedClock::new(world.now)))
            .await
            .unwrap();
        let addr = app.local_addr().unwrap();
        let stop = CancellationToken::new();
        let serving = tokio::spawn(app.run_until_stopped(stop.clone()));
        (addr, stop, serving)
    };
    let (addr, stop, serving) = start(store, "127.0.0.1:0".parse().unwrap()).await;
    let anonymous = Client::new(&format!("http://{addr}"));
    let token = anonymous
        .token(&admin.client_id, &admin.client_secret)
        .await
        .unwrap();
    let client = anonymous.with_bearer(&token.access_token);
    let items: Vec<BatchItem> = [(0usize, 1usize), (2, 3), (5, 6), (7, 8)]
        .iter()
        .enumerate()
        .map(|(index, &(a, b))| BatchItem {
            index,
            swap: SwapItemBody {
                agent_id: world.agents[a % 5].id.to_string(),
                original_shift_id: world.schedule.shifts[a].id.to_string(),
                new_shift_id: world.schedule.shifts[b].id.to_string(),
                reason_code: "coverage".into(),
                counterpart_agent_id: Some(world.agents[b % 5].id.to_string()),
            },
        })
        .collect();
    let runner = |client: Client| BatchRunner {
        client,
        batch_id: "restart".into(),
        schedule_id: world.schedule.id,
        batch_size: 2,
        effective_date: None,
        planned_version: Some(
            ScheduleVersionId::new(world.schedule.id, ScheduleVersion::FIRST).to_string(),
        ),
        retrier: Retrier::new(
            RetryPolicy {
                base: std::time::Duration::from_millis(5),
                max_attempts: 3,
                // The server stays away longer than the batch waits out an outage.
                outage_limit: std::time::Duration::ZERO,
                ..RetryPolicy::default()
            },
            Some(9),
        ),
        budget: Default::default(),
        stats: Default::default(),
    };
    let mut first = runner(client.clone());
    let chunk0 = first.run_chunk(0, &items[0..2]).await;
    assert!(
        chunk0.iter().all(|r| r.status == FinalStatus::Applied),
        "{chunk0:?}"
    );
    // The server goes away in the middle of the batch.
    stop.cancel();
    serving.await.unwrap().unwrap();
    let chunk1 = first.run_chunk(1, &items[2..4]).await;
    assert!(
        chunk1
            .iter()
            .all(|r| r.status == FinalStatus::Failed && !r.status.is_terminal()),
        "{chunk1:?}"
    );
    // It comes back on the same address and database; the resumed batch runs what failed.
    let store = Store::Sqlite(SqliteStore::connect(&url, Durability::Full).await.unwrap());
    let (_, stop, _serving) = start(store.clone(), addr).await;
    let resumed = runner(client).run_chunk(1, &items[2..4]).await;
    assert!(
        resumed.iter().all(|r| r.status == FinalStatus::Applied),
        "{resumed:?}"
    );
    let history = store.changes_since(world.schedule.id, None).await.unwrap();
    let swaps: Vec<_> = history
        .iter()
        .filter(|v| v.record.cause == rota_core::version::VersionCause::BulkSwap)
        .collect();
    assert_eq!(swaps.len(), 2, "one version per chunk, none twice");
    assert_eq!(swaps.iter().map(|v| v.changes.len()).sum::<usize>(), 8);
    rota_core::replay::replay(&history).unwrap();
    stop.cancel();
}

#[tokio::test]
async fn concurrent_requests_with_one_key_apply_once() {
    let app = spawn().await;
    let body = app.body(1, &[(0, 0, 1)]);
    let key = CallOptions::default().header("Idempotency-Key", "together");
    let calls = (0..6).map(|_| app.client.shift_swaps(&body, &key));
    let (mut ran, mut replayed, mut busy) = (0, 0, 0);
    for reply in futures_util::future::join_all(calls).await {
        match reply {
            Ok(reply) if reply.headers.contains_key("idempotent-replayed") => replayed += 1,
            Ok(_) => ran += 1,
            Err(e) => {
                assert_eq!(problem_code(&e), (409, ErrorCode::IdempotencyInProgress));
                busy += 1;
            }
        }
    }
    assert_eq!(ran, 1, "replayed {replayed}, in progress {busy}");
    assert_eq!(app.version().await, 2);
    let again = app.client.shift_swaps(&body, &key).await.unwrap();
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.version().await, 2);
}

/// A GET of `path` as sent, for what the typed methods cannot express (a malformed id).
async fn get(
    client: &Client,
    path: &str,
    options: &CallOptions,
) -> Result<rota_client::Reply<serde_json::Value>, ClientError> {
    rota_client::decode(client.send_raw(Method::GET, path, None, options).await?).await
}
