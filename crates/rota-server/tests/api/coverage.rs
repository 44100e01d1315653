//! Staffing requirements, coverage and its guard over real HTTP: requirements as versions,
//! coverage now and as of a version, and each cause of change allowed, denied and held for a
//! supervisor by the business unit's settings, with the violation's fields.

use crate::common::{TestApp, problem_code, spawn_world};
use rota_api::coverage::{CoverageQuery, HeldDecisionBody, HeldQuery, RequirementsBody};
use rota_api::problem::ErrorCode;
use rota_api::schedules::EditBody;
use rota_api::trades::{MatchBody, NewTradeBody, ReviewBody, ReviewDecision, ReviewItem};
use rota_client::{CallOptions, ClientError};
use rota_core::auth::Role;
use rota_core::command::{EditChange, ItemOutcome, Violation, ViolationCode};
use rota_core::coverage::RequirementRun;
use rota_core::held::HeldState;
use rota_core::ids::HeldChangeId;
use rota_core::store::{PageRequest, ScheduleStore};
use rota_core::testkit::{World, sales, spanish};
use rota_core::trade::{BusinessUnitSettings, Interval, RuleAction, TradeState, Verdict};
use rota_core::version::VersionCause;

// World::staffed(4, 20): shift k is owned by agent k % 5 (open when k % 5 == 4), one hour
// every two hours from Monday 2026-11-30 00:00 Chicago, on queue 0-30, a break 30-45, on queue
// 45-60; every agent has `sales`, agents 0 and 2 `spanish` too. The requirement: one `sales`
// agent in each shift's intervals 1, 2 and 4, one `spanish` agent in its first.

async fn staffed(tune: impl FnOnce(&mut BusinessUnitSettings)) -> TestApp {
    let app = spawn_world(World::staffed(4, 20, RuleAction::Allow), true, |_| {}).await;
    app.set_settings(tune).await;
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
    app
}

fn violations(e: &ClientError) -> Vec<Violation> {
    let p = e.problem().unwrap();
    match &p.items[0].outcome {
        ItemOutcome::Rejected { violations } => violations.clone(),
        other => panic!("{other:?}"),
    }
}

/// The guard's violation for `skill`, checked to name the shift's first interval going from
/// one agent (15 minutes) to none.
fn short_first_interval(app: &TestApp, k: usize, violations: &[Violation], skill: &str) {
    let v = violations
        .iter()
        .find(|v| {
            v.coverage
                .as_ref()
                .is_some_and(|c| c.skill.as_str() == skill)
        })
        .unwrap_or_else(|| panic!("no violation for {skill}: {violations:?}"));
    assert_eq!(v.code, ViolationCode::CoverageBelowRequirement);
    let first = &v.coverage.as_ref().unwrap().intervals[0];
    let start = app.world.schedule.shifts[k].window.start();
    assert_eq!(first.start, start);
    assert_eq!(
        first.end,
        start
            .checked_add(jiff::SignedDuration::from_mins(15))
            .unwrap()
    );
    assert_eq!(
        (
            first.required,
            first.scheduled_minutes_before,
            first.scheduled_minutes_after
        ),
        (1, 15, 0)
    );
}

async fn newest_version(app: &TestApp) -> rota_core::version::VersionRecord {
    app.store
        .versions(app.world.schedule.id, PageRequest::new(0, 1))
        .await
        .unwrap()
        .items
        .remove(0)
}

async fn held(app: &TestApp, id: HeldChangeId) -> rota_core::held::HeldChange {
    app.admin
        .held_change(id)
        .await
        .unwrap()
        .into_body()
        .unwrap()
}

async fn decide(app: &TestApp, id: HeldChangeId, approve: bool) -> rota_core::held::HeldChange {
    let version = held(app, id).await.version;
    let supervisor = app.client(Role::Supervisor, None).await;
    supervisor
        .decide_held(
            id,
            &HeldDecisionBody {
                expected_version: version,
                approve,
                reason: Some("checked the queue".into()),
            },
            &CallOptions::default(),
        )
        .await
        .unwrap()
        .into_body()
        .unwrap()
}

/// What a command that opens shift `k` (its owner's every interval of it goes short) answered
/// under `action`, checked: applied; refused with the violation of each skill (three `sales`
/// intervals, the `spanish` one), nothing changed; or held, then approved and applied under
/// `cause`.
async fn opening_is_guarded(
    app: &TestApp,
    k: usize,
    result: Result<rota_client::Reply<rota_api::swaps::SwapResponseBody>, ClientError>,
    action: RuleAction,
    cause: VersionCause,
) {
    let owner = app.world.schedule.shifts[k].owner;
    match action {
        RuleAction::Allow => {
            assert_eq!(result.unwrap().status, 200);
            assert_eq!(app.owner(k).await, None);
        }
        RuleAction::Deny => {
            let e = result.unwrap_err();
            assert_eq!(problem_code(&e), (422, ErrorCode::RuleViolation));
            let v = violations(&e);
            short_first_interval(app, k, &v, "sales");
            short_first_interval(app, k, &v, "spanish");
            let sales_short = v
                .iter()
                .find(|v| v.coverage.as_ref().unwrap().skill == sales())
                .unwrap();
            assert_eq!(sales_short.coverage.as_ref().unwrap().intervals.len(), 3);
            assert_eq!(app.owner(k).await, owner);
        }
        RuleAction::Supervisor => {
            let reply = result.unwrap();
            assert_eq!(reply.status, 202);
            let body = reply.into_body().unwrap();
            let ItemOutcome::Held { held_change_id, .. } = body.results[0].outcome else {
                panic!("{body:?}")
            };
            let pending = held(app, held_change_id).await;
            assert_eq!(pending.cause, cause);
            assert!(!pending.requested_by.is_empty());
            assert_eq!(app.owner(k).await, owner);
            assert_eq!(
                decide(app, held_change_id, true).await.state,
                HeldState::Approved
            );
            assert_eq!(app.owner(k).await, None);
        }
    }
}

#[tokio::test]
async fn requirements_are_versions_and_coverage_reads_them_now_and_as_of_any_version() {
    let app = staffed(|_| {}).await;
    let schedule = app.world.schedule.id;
    let newest = newest_version(&app).await;
    assert_eq!(newest.cause, VersionCause::Requirements);
    let requirements_version = newest.id();

    let read = |query: CoverageQuery| {
        let admin = app.admin.clone();
        async move {
            admin
                .coverage(schedule, &query)
                .await
                .unwrap()
                .into_body()
                .unwrap()
        }
    };
    let first = app.world.schedule.shifts[0].window.start();
    let hour = first
        .checked_add(jiff::SignedDuration::from_hours(1))
        .unwrap();
    let now = read(CoverageQuery {
        skill: Some("sales".into()),
        from: Some(first),
        to: Some(hour),
        ..Default::default()
    })
    .await;
    assert_eq!(now.skills.len(), 1);
    let sales_now: Vec<(u32, i64)> = now.skills[0]
        .intervals
        .iter()
        .map(|i| (i.required, i.scheduled_minutes))
        .collect();
    // On queue 0-30 and 45-60: the break's interval has no one and needs no one.
    assert_eq!(sales_now, vec![(1, 15), (1, 15), (0, 0), (1, 15)]);
    assert_eq!(now.schedule_version_id, requirements_version.to_string());

    // Shift 4 is open: its intervals are short, and the full week lists every interval.
    let week = read(CoverageQuery::default()).await;
    let sales_week = week.skills.iter().find(|s| s.skill == sales()).unwrap();
    assert_eq!(sales_week.intervals.len(), 672);
    let open = app.world.schedule.shifts[4].window.start();
    let at_open = sales_week
        .intervals
        .iter()
        .find(|i| i.start == open)
        .unwrap();
    assert_eq!((at_open.required, at_open.gap), (1, -1.0));

    // As of the publish (before the requirement), nothing was required.
    let publish = rota_core::version::ScheduleVersionId::new(
        schedule,
        rota_core::version::ScheduleVersion::new(2).unwrap(),
    );
    let before = read(CoverageQuery {
        version_id: Some(publish.to_string()),
        ..Default::default()
    })
    .await;
    assert!(
        before
            .skills
            .iter()
            .flat_map(|s| &s.intervals)
            .all(|i| i.required == 0)
    );
    assert!(before.skills.iter().any(|s| s.skill == spanish()));

    // Bad requirements change nothing and say why.
    let bad = |runs: Vec<RequirementRun>| {
        let admin = app.admin.clone();
        async move {
            admin
                .set_requirements(
                    schedule,
                    &RequirementsBody { requirements: runs },
                    &CallOptions::default(),
                )
                .await
                .unwrap_err()
        }
    };
    let misaligned = first
        .checked_add(jiff::SignedDuration::from_mins(5))
        .unwrap();
    for runs in [
        vec![RequirementRun {
            skill: sales(),
            start: misaligned,
            required: vec![1],
        }],
        vec![RequirementRun {
            skill: sales(),
            start: first,
            required: vec![1; 673],
        }],
        vec![RequirementRun {
            skill: rota_core::directory::Skill::parse("klingon").unwrap(),
            start: first,
            required: vec![1],
        }],
        vec![
            RequirementRun {
                skill: sales(),
                start: first,
                required: vec![1, 1],
            },
            RequirementRun {
                skill: sales(),
                start: hour,
                required: vec![1],
            },
            RequirementRun {
                skill: sales(),
                start: first,
                required: vec![2],
            },
        ],
    ] {
        let e = bad(runs).await;
        assert_eq!(
            problem_code(&e),
            (422, ErrorCode::InvalidRequirement),
            "{e}"
        );
    }
    assert_eq!(newest_version(&app).await.id(), requirements_version);

    // An agent reads coverage of the published week; an integration may not review held changes.
    let agent = app.agent(0).await;
    assert!(
        agent
            .coverage(schedule, &CoverageQuery::default())
            .await
            .is_ok()
    );
    let integration = app.client(Role::Integration, None).await;
    let e = integration
        .held_changes(
            app.world.bu.id,
            &HeldQuery {
                state: None,
                offset: 0,
                limit: 10,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&e), (403, ErrorCode::Forbidden));
}

/// Agent 0 (spanish) gives shift 0 for shift 1 of agent 1 (no spanish): shift 0's first
/// interval loses its only spanish speaker.
#[tokio::test]
async fn a_bulk_swap_that_leaves_an_interval_short_is_allowed_denied_or_held_as_set() {
    for action in [RuleAction::Allow, RuleAction::Deny, RuleAction::Supervisor] {
        let app = staffed(|s| s.coverage.bulk_swap = action).await;
        let result = app.swap(&app.version_id().await, 0, 0, 1).await;
        match action {
            RuleAction::Allow => {
                assert!(
                    result.unwrap().into_body().unwrap().results[0]
                        .outcome
                        .is_applied()
                );
                assert_eq!(app.owner(0).await, Some(app.world.agents[1].id));
            }
            RuleAction::Deny => {
                let e = result.unwrap_err();
                assert_eq!(problem_code(&e), (422, ErrorCode::RuleViolation));
                let v = violations(&e);
                assert_eq!(v.len(), 1, "only spanish moved: {v:?}");
                short_first_interval(&app, 0, &v, "spanish");
                assert_eq!(app.owner(0).await, Some(app.world.agents[0].id));
            }
            RuleAction::Supervisor => {
                let body = result.unwrap().into_body().unwrap();
                assert!(body.committed_version.is_none());
                let ItemOutcome::Held {
                    held_change_id,
                    violations,
                } = &body.results[0].outcome
                else {
                    panic!("{body:?}");
                };
                short_first_interval(&app, 0, violations, "spanish");
                let pending = held(&app, *held_change_id).await;
                assert_eq!(pending.state, HeldState::Pending);
                assert_eq!(pending.cause, VersionCause::BulkSwap);
                assert_eq!(pending.shifts.len(), 2);
                assert_eq!(app.owner(0).await, Some(app.world.agents[0].id));
                let listed = app
                    .admin
                    .held_changes(
                        app.world.bu.id,
                        &HeldQuery {
                            state: Some(HeldState::Pending),
                            offset: 0,
                            limit: 10,
                        },
                    )
                    .await
                    .unwrap()
                    .into_body()
                    .unwrap();
                assert_eq!(listed.items.len(), 1);
                let approved = decide(&app, *held_change_id, true).await;
                assert_eq!(approved.state, HeldState::Approved);
                assert_eq!(
                    approved.applied_version_id.unwrap().to_string(),
                    app.version_id().await
                );
                assert_eq!(app.owner(0).await, Some(app.world.agents[1].id));
                assert_eq!(app.owner(1).await, Some(app.world.agents[0].id));
                // Decided once: a second decision is refused.
                let supervisor = app.client(Role::Supervisor, None).await;
                let again = supervisor
                    .decide_held(
                        *held_change_id,
                        &HeldDecisionBody {
                            expected_version: 2,
                            approve: false,
                            reason: None,
                        },
                        &CallOptions::default(),
                    )
                    .await
                    .unwrap_err();
                assert_eq!(problem_code(&again), (409, ErrorCode::HeldChangeDecided));
            }
        }
    }
}

#[tokio::test]
async fn a_held_change_whose_shift_changed_since_fails_on_approval_and_a_denial_changes_nothing() {
    let app = staffed(|s| s.coverage.bulk_swap = RuleAction::Supervisor).await;
    let first = app.swap(&app.version_id().await, 0, 0, 1).await.unwrap();
    let ItemOutcome::Held {
        held_change_id: stale,
        ..
    } = first.into_body().unwrap().results[0].outcome.clone()
    else {
        panic!()
    };
    // Meanwhile a supervisor moves shift 1 to agent 3 (allowed: sales stays covered).
    let s1 = app.store_shift(1).await;
    app.admin
        .edit_shift(
            app.shift(1),
            &EditBody {
                expected_version: s1.version.get(),
                change: EditChange::Reassign {
                    agent_id: app.world.agents[3].id,
                }
                .into(),
            },
            &CallOptions::default(),
        )
        .await
        .unwrap();
    let failed = decide(&app, stale, true).await;
    assert_eq!(failed.state, HeldState::Failed);
    let codes: Vec<ViolationCode> = failed
        .decision
        .unwrap()
        .violations
        .iter()
        .map(|v| v.code)
        .collect();
    assert_eq!(codes, vec![ViolationCode::ShiftChangedSinceHeld]);
    assert_eq!(app.owner(0).await, Some(app.world.agents[0].id));

    let second = app.swap(&app.version_id().await, 0, 10, 11).await.unwrap();
    let ItemOutcome::Held { held_change_id, .. } =
        second.into_body().unwrap().results[0].outcome.clone()
    else {
        panic!()
    };
    let version = app.version_id().await;
    let denied = decide(&app, held_change_id, false).await;
    assert_eq!(denied.state, HeldState::Denied);
    assert_eq!(
        denied.decision.unwrap().reason.as_deref(),
        Some("checked the queue")
    );
    assert_eq!(app.version_id().await, version, "a denial commits nothing");
}

/// A supervisor opens shift 5 (agent 0's): every interval of it that needs someone is short.
#[tokio::test]
async fn a_supervisor_edit_that_leaves_intervals_short_is_allowed_denied_or_held_as_set() {
    for action in [RuleAction::Allow, RuleAction::Deny, RuleAction::Supervisor] {
        let app = staffed(|s| s.coverage.supervisor_edit = action).await;
        let shift = app.store_shift(5).await;
        let result = app
            .admin
            .edit_shift(
                app.shift(5),
                &EditBody {
                    expected_version: shift.version.get(),
                    change: EditChange::Open.into(),
                },
                &CallOptions::default(),
            )
            .await;
        opening_is_guarded(&app, 5, result, action, VersionCause::SupervisorEdit).await;
    }
}

/// Agent 2 releases shift 2; a pickup only adds on-queue time, so no setting stops one.
#[tokio::test]
async fn a_release_that_leaves_intervals_short_is_allowed_denied_or_held_and_a_pickup_never_is() {
    for action in [RuleAction::Allow, RuleAction::Deny, RuleAction::Supervisor] {
        let app = staffed(|s| {
            s.coverage.release = action;
            s.coverage.pickup = action;
        })
        .await;
        let a2 = app.agent(2).await;
        let result = a2.release(app.shift(2)).await;
        opening_is_guarded(&app, 2, result, action, VersionCause::SelfService).await;
        // Open shift 4 is short; agent 3 picks it up whatever the setting.
        let a3 = app.agent(3).await;
        let picked = a3.pickup(app.shift(4)).await.unwrap();
        assert_eq!(picked.status, 200);
        assert_eq!(app.owner(4).await, Some(app.world.agents[3].id));
    }
}

/// Agent 0 offers shift 0 and agent 1 matches with shift 1: as the bulk swap above, the trade
/// takes shift 0's only spanish speaker away. The trade settings' `coverage` rule decides.
#[tokio::test]
async fn a_trade_that_leaves_an_interval_short_is_approved_denied_or_sent_to_a_supervisor() {
    for action in [RuleAction::Allow, RuleAction::Deny, RuleAction::Supervisor] {
        let app = staffed(|s| s.trades.rules.coverage = action).await;
        let (a0, a1) = (app.agent(0).await, app.agent(1).await);
        let start = app.world.schedule.shifts[0].window.start();
        let trade = a0
            .create_trade(&NewTradeBody {
                shift_id: app.shift(0),
                target_agent_id: None,
                acceptable_intervals: vec![
                    (Interval::new(
                        start,
                        start
                            .checked_add(jiff::SignedDuration::from_hours(24))
                            .unwrap(),
                    )
                    .unwrap())
                    .into(),
                ],
                expires_at: app.at(48),
            })
            .await
            .unwrap()
            .into_body()
            .unwrap();
        let matched = a1
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
        let check = matched.check.clone().unwrap();
        short_first_interval(&app, 0, &check.violations, "spanish");
        match action {
            RuleAction::Allow => {
                assert_eq!(matched.state, TradeState::Approved);
                assert_eq!(app.owner(0).await, Some(app.world.agents[1].id));
            }
            RuleAction::Deny => {
                assert_eq!(matched.state, TradeState::Denied);
                assert_eq!(check.verdict, Verdict::Deny);
                assert_eq!(app.owner(0).await, Some(app.world.agents[0].id));
            }
            RuleAction::Supervisor => {
                assert_eq!(matched.state, TradeState::Matched);
                assert_eq!(check.verdict, Verdict::Supervisor);
                let supervisor = app.client(Role::Supervisor, None).await;
                let reviewed = supervisor
                    .review_trades(&ReviewBody {
                        reviews: vec![ReviewItem {
                            trade_id: matched.id,
                            version: matched.version,
                            decision: ReviewDecision::Approve,
                            reason: None,
                        }],
                    })
                    .await
                    .unwrap()
                    .into_body()
                    .unwrap();
                assert_eq!(
                    reviewed.results[0].trade.as_ref().unwrap().state,
                    TradeState::Approved
                );
                assert_eq!(app.owner(0).await, Some(app.world.agents[1].id));
            }
        }
    }
}
