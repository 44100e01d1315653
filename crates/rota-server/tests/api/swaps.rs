//! Swaps, schedules and their history, edits, request ids, and the batch runner against a
//! changing schedule and a restarted server.

use std::sync::Arc;

use reqwest::Method;
use rota_api::problem::ErrorCode;
use rota_api::schedules::{EditBody, ReadQuery, VersionsBody, VersionsQuery};
use rota_api::swaps::SwapItemBody;
use rota_client::{CallOptions, Client};
use rota_core::auth::Role;
use rota_core::clock::FixedClock;
use rota_core::command::{EditChange, ItemOutcome};
use rota_core::ids::ScheduleId;
use rota_core::schedule::TimeWindow;
use rota_core::store::ScheduleStore;
use rota_core::testkit::World;
use rota_core::version::{ScheduleVersion, ScheduleVersionId, VersionCause};
use rota_server::{Application, Config};
use rota_store::{Durability, SqliteStore, Store};
use tokio_util::sync::CancellationToken;

use crate::common::problem_code;
use crate::strict::{get, spawn, spawn_with};

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
        change: EditChange::Open.into(),
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
        }
        .into(),
    };
    let reply = app
        .client
        .edit_shift(shift, &reassign, &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(reply.body.unwrap().committed_version, Some(3));
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
                    change: change.into(),
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
    // And it names the request that applied each swap (the first run's), not its own.
    assert_eq!(
        resumed
            .iter()
            .map(|r| r.request_ids.clone())
            .collect::<Vec<_>>(),
        first
            .iter()
            .map(|r| r.request_ids.clone())
            .collect::<Vec<_>>()
    );
    assert!(resumed.iter().all(|r| r.attempts == 1), "{resumed:?}");
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
