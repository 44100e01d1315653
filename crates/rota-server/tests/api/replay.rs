//! Every mutating operation of the SDK (`rota_client::ops::ALL`) is safe to retry, and this
//! suite says how for each: replayed from its `Idempotency-Key` (the same request under the
//! same key answers the first result, marked `Idempotent-Replayed`, and changes nothing more),
//! or safe by what it is (a value that replaces the stored one; a create that refuses a
//! second). An operation added to the SDK without a case here fails
//! `every_mutating_operation_says_how_a_retry_is_safe`.

use std::future::Future;
use std::pin::Pin;

use reqwest::Method;
use rota_api::coverage::{HeldDecisionBody, RequirementsBody};
use rota_api::schedules::{EditBody, ImportBody, ImportShift};
use rota_api::timeoff::{
    AllowancesBody, BalanceBody, NewTimeOffBody, TimeOffCancelBody, TimeOffDecisionBody,
};
use rota_api::trades::{
    CancelBody, MatchBody, NewTradeBody, ReviewBody, ReviewDecision, ReviewItem,
};
use rota_api::webhooks::NewSubscriptionBody;
use rota_client::ops::{self, Operation};
use rota_client::{CallOptions, Client};
use rota_core::auth::Role;
use rota_core::command::{EditChange, ItemOutcome};
use rota_core::directory::AvailabilityDoc;
use rota_core::ids::TradeId;
use rota_core::store::{
    CoverageStore, HeldFilter, PageRequest, ScheduleStore, TimeOffFilter, TimeOffStore,
    TradeFilter, TradeStore, WebhookStore,
};
use rota_core::testkit::World;
use rota_core::timeoff::{Allowance, Days};
use rota_core::trade::{Interval, RuleAction};
use rota_core::webhook::EventType;

use crate::common::{TestApp, spawn, spawn_world};

/// The request a case retries: who sends it, where, with what body.
pub(crate) struct Retried {
    client: Client,
    method: Method,
    path: String,
    body: Option<serde_json::Value>,
}

pub(crate) type Setup = fn() -> Pin<Box<dyn Future<Output = (TestApp, Retried)> + Send>>;

/// How a retry of an operation is safe.
pub(crate) enum Retry {
    /// Replayed from its key: the case sets up the world and names the request.
    Replayed(Setup),
    /// Safe without a key, for the reason given.
    ByNature(&'static str),
}

fn retried(
    client: Client,
    op: &Operation,
    params: &[&(dyn std::fmt::Display + Sync)],
    body: impl serde::Serialize,
) -> Retried {
    Retried {
        client,
        method: op.method.clone(),
        path: op.path(params),
        body: Some(serde_json::to_value(body).unwrap()),
    }
}

fn bodiless(client: Client, op: &Operation, params: &[&(dyn std::fmt::Display + Sync)]) -> Retried {
    Retried {
        client,
        method: op.method.clone(),
        path: op.path(params),
        body: None,
    }
}

fn whole_week(app: &TestApp) -> Vec<Interval> {
    let start = app.world.schedule.shifts[0].window.start();
    let end = start
        .checked_add(jiff::SignedDuration::from_hours(24 * 7))
        .unwrap();
    vec![Interval::new(start, end).unwrap()]
}

fn offer(app: &TestApp, k: usize) -> NewTradeBody {
    NewTradeBody {
        shift_id: app.shift(k),
        target_agent_id: None,
        acceptable_intervals: whole_week(app).into_iter().map(Into::into).collect(),
        expires_at: app.at(48),
    }
}

/// Agent 0's offer of shift 0, matched by agent 1 with shift 1, left for a supervisor.
async fn matched_trade(app: &TestApp) -> (TradeId, u32) {
    app.set_settings(|s| s.trades.auto_review = false).await;
    let trade = app
        .agent(0)
        .await
        .create_trade(&offer(app, 0))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let matched = app
        .agent(1)
        .await
        .match_trade(
            trade.id,
            &MatchBody {
                version: trade.version,
                shift_id: Some(app.shift(1)),
            },
        )
        .await
        .unwrap()
        .into_body()
        .unwrap();
    (matched.id, matched.version)
}

fn tuesday() -> NewTimeOffBody {
    let d = jiff::civil::date(2026, 12, 1);
    NewTimeOffBody {
        agent_id: None,
        code: "vacation".into(),
        days: Some(Days { first: d, last: d }),
        start: None,
        end: None,
        note: None,
    }
}

/// The cases, by operation.
pub(crate) fn cases() -> Vec<(Operation, Retry)> {
    vec![
        (
            ops::SET_AVAILABILITY,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let doc: AvailabilityDoc = serde_json::from_value(serde_json::json!({
                        "weekly": [{"day": "monday", "start": "08:00", "end": "17:00"}]
                    }))
                    .unwrap();
                    let agent = app.world.agents[0].id;
                    let r = retried(app.admin.clone(), &ops::SET_AVAILABILITY, &[&agent], doc);
                    (app, r)
                })
            }),
        ),
        (
            ops::IMPORT_SCHEDULE,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let start = app.world.schedule.shifts[0].window.start();
                    let next_week = |h: i64| {
                        start
                            .checked_add(jiff::SignedDuration::from_hours(24 * 7 + h))
                            .unwrap()
                    };
                    let body = ImportBody {
                        business_unit_id: app.world.bu.id.to_string(),
                        week_start: jiff::civil::date(2026, 12, 7),
                        shifts: vec![ImportShift {
                            id: None,
                            agent_id: Some(app.world.agents[0].id.to_string()),
                            start: next_week(1),
                            end: next_week(2),
                            required_skill: None,
                            activity_code: "work".into(),
                            activities: Vec::new(),
                        }],
                    };
                    let r = retried(app.admin.clone(), &ops::IMPORT_SCHEDULE, &[], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::PUBLISH,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn_world(World::disjoint(4, 20), false, |_| {}).await;
                    let id = app.world.schedule.id;
                    let r = bodiless(app.admin.clone(), &ops::PUBLISH, &[&id]);
                    (app, r)
                })
            }),
        ),
        (
            ops::EDIT_SHIFT,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let shift = app.store_shift(0).await;
                    let body = EditBody {
                        expected_version: shift.version.get(),
                        change: EditChange::Open.into(),
                    };
                    let r = retried(app.admin.clone(), &ops::EDIT_SHIFT, &[&shift.id], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::SHIFT_SWAPS,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let body = rota_api::swaps::SwapRequestBody {
                        schedule_version_id: app.version_id().await,
                        shift_swaps: vec![rota_api::swaps::SwapItemBody {
                            agent_id: app.world.agents[0].id.to_string(),
                            original_shift_id: app.shift(0).to_string(),
                            new_shift_id: app.shift(1).to_string(),
                            reason_code: "supervisor".into(),
                            counterpart_agent_id: None,
                        }],
                        effective_date: None,
                        mode: None,
                        conflict_scope: None,
                    };
                    let r = retried(app.admin.clone(), &ops::SHIFT_SWAPS, &[], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::PICKUP,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let shift = app.shift(4);
                    let r = bodiless(app.agent(0).await, &ops::PICKUP, &[&shift]);
                    (app, r)
                })
            }),
        ),
        (
            ops::RELEASE,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let shift = app.shift(1);
                    let r = bodiless(app.agent(1).await, &ops::RELEASE, &[&shift]);
                    (app, r)
                })
            }),
        ),
        (
            ops::CREATE_TRADE,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let body = offer(&app, 0);
                    let r = retried(app.agent(0).await, &ops::CREATE_TRADE, &[], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::MATCH_TRADE,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    app.set_settings(|s| s.trades.auto_review = false).await;
                    let trade = app
                        .agent(0)
                        .await
                        .create_trade(&offer(&app, 0))
                        .await
                        .unwrap()
                        .into_body()
                        .unwrap();
                    let body = MatchBody {
                        version: trade.version,
                        shift_id: Some(app.shift(1)),
                    };
                    let r = retried(app.agent(1).await, &ops::MATCH_TRADE, &[&trade.id], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::CANCEL_TRADE,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let trade = app
                        .agent(0)
                        .await
                        .create_trade(&offer(&app, 0))
                        .await
                        .unwrap()
                        .into_body()
                        .unwrap();
                    let body = CancelBody {
                        version: trade.version,
                    };
                    let r = retried(app.agent(0).await, &ops::CANCEL_TRADE, &[&trade.id], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::REVIEW_TRADES,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let (trade_id, version) = matched_trade(&app).await;
                    let body = ReviewBody {
                        reviews: vec![ReviewItem {
                            trade_id,
                            version,
                            decision: ReviewDecision::Approve,
                            reason: None,
                        }],
                    };
                    let r = retried(
                        app.client(Role::Supervisor, None).await,
                        &ops::REVIEW_TRADES,
                        &[],
                        body,
                    );
                    (app, r)
                })
            }),
        ),
        (
            ops::CREATE_WEBHOOK,
            Retry::Replayed(|| {
                Box::pin(async {
                    // No dispatcher: the subscription is to a loopback port nobody serves.
                    let app = spawn(|c| c.webhooks.dispatch = false).await;
                    let body = NewSubscriptionBody {
                        url: "http://127.0.0.1:9/hook".into(),
                        events: vec![EventType::ScheduleVersionCreated],
                        secret: None,
                    };
                    let bu = app.world.bu.id;
                    let r = retried(app.admin.clone(), &ops::CREATE_WEBHOOK, &[&bu], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::UPDATE_WEBHOOK,
            Retry::ByNature(
                "the patch sets the values it names; the same patch again changes nothing",
            ),
        ),
        (
            ops::DELETE_WEBHOOK,
            Retry::ByNature(
                "a subscription deleted again is gone already (404), nothing else changes",
            ),
        ),
        (
            ops::SET_SETTINGS,
            Retry::ByNature("the settings replace the stored ones whole"),
        ),
        (
            ops::SET_REQUIREMENTS,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app =
                        spawn_world(World::staffed(4, 20, RuleAction::Allow), true, |_| {}).await;
                    let body = RequirementsBody {
                        requirements: app.world.requirements.clone(),
                    };
                    let id = app.world.schedule.id;
                    let r = retried(app.admin.clone(), &ops::SET_REQUIREMENTS, &[&id], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::DECIDE_HELD,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app =
                        spawn_world(World::staffed(4, 20, RuleAction::Allow), true, |_| {}).await;
                    app.set_settings(|s| s.coverage.bulk_swap = RuleAction::Supervisor)
                        .await;
                    app.admin
                        .set_requirements(
                            app.world.schedule.id,
                            &RequirementsBody {
                                requirements: app.world.requirements.clone(),
                            },
                            &CallOptions::default(),
                        )
                        .await
                        .unwrap();
                    let held = app
                        .swap(&app.version_id().await, 0, 0, 1)
                        .await
                        .unwrap()
                        .into_body()
                        .unwrap();
                    let ItemOutcome::Held { held_change_id, .. } = held.results[0].outcome else {
                        panic!("the swap was not held: {held:?}");
                    };
                    let version = app.store.held_change(held_change_id).await.unwrap().version;
                    let body = HeldDecisionBody {
                        expected_version: version,
                        approve: true,
                        reason: None,
                    };
                    let r = retried(
                        app.client(Role::Supervisor, None).await,
                        &ops::DECIDE_HELD,
                        &[&held_change_id],
                        body,
                    );
                    (app, r)
                })
            }),
        ),
        (
            ops::REQUEST_TIME_OFF,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let r = retried(app.agent(0).await, &ops::REQUEST_TIME_OFF, &[], tuesday());
                    (app, r)
                })
            }),
        ),
        (
            ops::DECIDE_TIME_OFF,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let asked = app
                        .agent(0)
                        .await
                        .request_time_off(&tuesday(), &CallOptions::default())
                        .await
                        .unwrap()
                        .into_body()
                        .unwrap();
                    let body = TimeOffDecisionBody {
                        expected_version: asked.version,
                        approve: false,
                        override_rules: false,
                        reason: None,
                    };
                    let r = retried(
                        app.client(Role::Supervisor, None).await,
                        &ops::DECIDE_TIME_OFF,
                        &[&asked.id],
                        body,
                    );
                    (app, r)
                })
            }),
        ),
        (
            ops::CANCEL_TIME_OFF,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let me = app.agent(0).await;
                    let asked = me
                        .request_time_off(&tuesday(), &CallOptions::default())
                        .await
                        .unwrap()
                        .into_body()
                        .unwrap();
                    let body = TimeOffCancelBody {
                        expected_version: asked.version,
                    };
                    let r = retried(me, &ops::CANCEL_TIME_OFF, &[&asked.id], body);
                    (app, r)
                })
            }),
        ),
        (
            ops::SET_BALANCE,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let agent = app.world.agents[0].id;
                    let r = retried(
                        app.admin.clone(),
                        &ops::SET_BALANCE,
                        &[&agent, &"vacation"],
                        BalanceBody { minutes: 480 },
                    );
                    (app, r)
                })
            }),
        ),
        (
            ops::SET_ALLOWANCES,
            Retry::Replayed(|| {
                Box::pin(async {
                    let app = spawn(|_| {}).await;
                    let body = AllowancesBody {
                        allowances: vec![Allowance {
                            group: "all".into(),
                            date: jiff::civil::date(2026, 12, 1),
                            agents: 2,
                        }],
                    };
                    let bu = app.world.bu.id;
                    let r = retried(
                        app.client(Role::Supervisor, None).await,
                        &ops::SET_ALLOWANCES,
                        &[&bu],
                        body,
                    );
                    (app, r)
                })
            }),
        ),
        (
            ops::CREATE_USER,
            Retry::ByNature(
                "a retried create answers ALREADY_EXISTS and changes nothing; no recorded answer may hold a sign-in link",
            ),
        ),
        (
            ops::SIGN_IN_LINK,
            Retry::ByNature(
                "each request makes a fresh one-time link; an unused extra link expires and no recorded answer may hold one",
            ),
        ),
    ]
}

fn mutating(op: &Operation) -> bool {
    op.method != Method::GET && *op != ops::TOKEN
}

#[test]
fn every_mutating_operation_says_how_a_retry_is_safe() {
    let cases = cases();
    let missing: Vec<String> = ops::ALL
        .iter()
        .filter(|op| mutating(op))
        .filter(|op| !cases.iter().any(|(c, _)| c == *op))
        .map(|op| format!("{} {}", op.method, op.template))
        .collect();
    assert!(missing.is_empty(), "no replay case for {missing:?}");
    for (op, retry) in &cases {
        if let Retry::ByNature(why) = retry {
            assert!(why.len() > 20, "{}: say why a retry is safe", op.template);
        }
        assert!(
            mutating(op),
            "{} {} changes nothing",
            op.method,
            op.template
        );
        assert_eq!(
            cases.iter().filter(|(c, _)| c == op).count(),
            1,
            "{} twice",
            op.template
        );
    }
}

/// What a retry applied twice would change: the version history, trades, time off, held
/// changes and subscriptions of the world's unit.
async fn census(app: &TestApp) -> [u64; 5] {
    let bu = Some(app.world.bu.id);
    let one = PageRequest::new(0, 1);
    let store = &app.store;
    [
        store
            .versions(app.world.schedule.id, one)
            .await
            .unwrap()
            .total,
        store
            .trades(
                TradeFilter {
                    business_unit: bu,
                    ..TradeFilter::default()
                },
                one,
            )
            .await
            .unwrap()
            .total,
        store
            .time_off_requests(
                TimeOffFilter {
                    business_unit: bu,
                    ..TimeOffFilter::default()
                },
                one,
            )
            .await
            .unwrap()
            .total,
        store
            .held_changes(
                HeldFilter {
                    business_unit: bu,
                    ..HeldFilter::default()
                },
                one,
            )
            .await
            .unwrap()
            .total,
        store
            .subscriptions(app.world.bu.id, one)
            .await
            .unwrap()
            .total,
    ]
}

async fn send(r: &Retried, key: &str) -> (u16, bool, serde_json::Value) {
    let body = r
        .body
        .as_ref()
        .map(|b| (serde_json::to_vec(b).unwrap(), "application/json"));
    let response = r
        .client
        .send_raw(
            r.method.clone(),
            &r.path,
            body,
            &CallOptions::default().header("Idempotency-Key", key),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let replayed = response
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, replayed, json)
}

#[tokio::test]
async fn every_keyed_operation_replays_its_first_answer_and_changes_nothing_more() {
    for (op, retry) in cases() {
        let Retry::Replayed(setup) = retry else {
            continue;
        };
        let (app, request) = setup().await;
        let key = format!("replay-{}", op.template);
        let before = census(&app).await;
        let (status, replayed, first) = send(&request, &key).await;
        assert!(
            (200..300).contains(&status),
            "{} {}: {status} {first}",
            op.method,
            op.template
        );
        assert!(
            !replayed,
            "{}: the first answer is not a replay",
            op.template
        );
        let once = census(&app).await;

        let (again_status, again_replayed, again) = send(&request, &key).await;
        assert!(
            again_replayed,
            "{}: the retry ran again ({again_status} {again})",
            op.template
        );
        assert_eq!(
            (again_status, &again),
            (status, &first),
            "{}: another answer",
            op.template
        );
        assert_eq!(
            census(&app).await,
            once,
            "{}: the retry changed something (before {before:?})",
            op.template
        );
        if std::env::var_os("ROTA_BLESS_STORED_FORMS").is_some() {
            crate::stored_forms::bless(&app, &op, &key).await;
        }
    }
}
