//! Agent self-service and shift trades over real HTTP: the whole trade lifecycle, the
//! automatic review by rule, holds, expiry on a controlled clock, the race of an approval
//! against a bulk swap, and who may do what.

use crate::common::{TestApp, problem_code, spawn};
use rota_api::problem::ErrorCode;
use rota_api::trades::{
    MatchBody, NewTradeBody, ReviewBody, ReviewDecision, ReviewItem, ReviewOutcome, TradeQuery,
};
use rota_client::ClientError;
use rota_core::auth::Role;
use rota_core::command::{ItemOutcome, ViolationCode};
use rota_core::ids::{ShiftId, TradeId};
use rota_core::store::{ScheduleStore, TradeStore};
use rota_core::trade::Interval;
use rota_core::trade::{RuleAction, TradeRule, TradeState, Verdict};
use rota_core::version::VersionCause;

/// The whole week as the one acceptable interval.
fn whole_week(app: &TestApp) -> Vec<Interval> {
    let start = app.world.schedule.shifts[0].window.start();
    let end = start
        .checked_add(jiff::SignedDuration::from_hours(24 * 7))
        .unwrap();
    vec![Interval::new(start, end).unwrap()]
}

fn offer(app: &TestApp, k: usize, expires_in_hours: i64) -> NewTradeBody {
    NewTradeBody {
        shift_id: app.shift(k),
        target_agent_id: None,
        acceptable_intervals: whole_week(app).into_iter().map(Into::into).collect(),
        expires_at: app.at(expires_in_hours),
    }
}

fn matching(version: u32, shift_id: Option<ShiftId>) -> MatchBody {
    MatchBody { version, shift_id }
}

fn approve(trade_id: TradeId, version: u32) -> ReviewBody {
    ReviewBody {
        reviews: vec![ReviewItem {
            trade_id,
            version,
            decision: ReviewDecision::Approve,
            reason: None,
        }],
    }
}

/// The violation codes of the first item of a RULE_VIOLATION problem.
fn violation_codes(e: &ClientError) -> Vec<ViolationCode> {
    let problem = e.problem().unwrap();
    match &problem.items[0].outcome {
        ItemOutcome::Rejected { violations } => violations.iter().map(|v| v.code).collect(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[tokio::test]
async fn an_agent_sees_their_published_week_picks_up_open_shifts_and_releases_their_own() {
    let app = spawn(|_| {}).await;
    let a0 = app.agent(0).await;
    let mine = a0
        .my_schedule(jiff::civil::date(2026, 11, 30))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let ids = |shifts: &[rota_core::schedule::Shift]| -> Vec<ShiftId> {
        shifts.iter().map(|s| s.id).collect()
    };
    let expect = |ks: &[usize]| -> Vec<ShiftId> { ks.iter().map(|&k| app.shift(k)).collect() };
    assert_eq!(
        ids(&mine.shifts),
        expect(&[0, 5, 10, 15]),
        "only my own shifts"
    );
    assert_eq!(ids(&mine.open_shifts), expect(&[4, 9, 14, 19]));
    let none = a0
        .my_schedule(jiff::civil::date(2026, 12, 7))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&none), (404, ErrorCode::NotFound));

    let picked = a0.pickup(app.shift(4)).await.unwrap().into_body().unwrap();
    assert_eq!(app.owner(4).await, Some(app.world.agents[0].id));
    let versions = app
        .store
        .versions(
            app.world.schedule.id,
            rota_core::store::PageRequest::new(0, 1),
        )
        .await
        .unwrap();
    assert_eq!(versions.items[0].cause, VersionCause::SelfService);
    assert_eq!(picked.schedule_version_id, app.version_id().await);
    let again = app.agent(1).await.pickup(app.shift(4)).await.unwrap_err();
    assert_eq!(problem_code(&again), (422, ErrorCode::RuleViolation));
    assert_eq!(violation_codes(&again), vec![ViolationCode::ShiftNotOpen]);

    let a1 = app.agent(1).await;
    a1.release(app.shift(1)).await.unwrap();
    assert_eq!(app.owner(1).await, None);
    let not_mine = a1.release(app.shift(2)).await.unwrap_err();
    assert_eq!(
        violation_codes(&not_mine),
        vec![ViolationCode::ShiftNotOwned]
    );

    app.set_settings(|s| s.self_service.release_min_hours_before_start = 24 * 30)
        .await;
    let late = a1.release(app.shift(6)).await.unwrap_err();
    assert_eq!(violation_codes(&late), vec![ViolationCode::TooCloseToStart]);
    app.set_settings(|s| s.self_service.allow_release = false)
        .await;
    let off = a1.release(app.shift(6)).await.unwrap_err();
    assert_eq!(
        violation_codes(&off),
        vec![ViolationCode::ReleaseNotAllowed]
    );
    assert_eq!(app.owner(6).await, Some(app.world.agents[1].id));

    let supervisor = app.client(Role::Supervisor, None).await;
    let refused = supervisor.pickup(app.shift(9)).await.unwrap_err();
    assert_eq!(problem_code(&refused), (403, ErrorCode::Forbidden));
}

#[tokio::test]
async fn a_trade_goes_from_offer_to_match_to_supervisor_approval_and_holds_its_shifts_meanwhile() {
    let app = spawn(|_| {}).await;
    app.set_settings(|s| s.trades.auto_review = false).await;
    let (a0, a1, a2) = (app.agent(0).await, app.agent(1).await, app.agent(2).await);
    let supervisor = app.client(Role::Supervisor, None).await;

    // Agent 0 offers shift 0 for anything in the week; agent 1 sees the offer.
    let trade = a0
        .create_trade(&offer(&app, 0, 48))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!((trade.state, trade.version), (TradeState::Unmatched, 1));
    let listed = a1
        .trades(&TradeQuery {
            state: Some("Unmatched".into()),
            ..TradeQuery::default()
        })
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert!(listed.items.iter().any(|t| t.id == trade.id));
    let id = trade.id;

    // A shift outside the acceptable times is refused; agent 1's shift 1 matches.
    let shift_1 = app.world.schedule.shifts[1].window;
    let narrow = NewTradeBody {
        acceptable_intervals: vec![
            Interval::new(shift_1.start(), shift_1.end())
                .unwrap()
                .into(),
        ],
        ..offer(&app, 5, 48)
    };
    let narrow = a0.create_trade(&narrow).await.unwrap().into_body().unwrap();
    let outside = a1
        .match_trade(narrow.id, &matching(1, Some(app.shift(6))))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&outside), (422, ErrorCode::TradeInvalid));

    let matched = a1
        .match_trade(id, &matching(1, Some(app.shift(1))))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!((matched.state, matched.version), (TradeState::Matched, 2));
    let check = matched.check.clone().unwrap();
    assert_eq!(
        check.verdict,
        Verdict::Supervisor,
        "automatic review is off"
    );
    assert!(check.violations.is_empty(), "{check:?}");
    let stale = a0.cancel_trade(id, 1).await.unwrap_err();
    assert_eq!(problem_code(&stale), (409, ErrorCode::TradeVersionConflict));
    let twice = a1
        .match_trade(id, &matching(2, Some(app.shift(6))))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&twice), (409, ErrorCode::TradeStateConflict));

    // The matched trade holds shifts 0 and 1: another trade cannot take shift 1, a bulk swap
    // touching it is refused with SHIFT_IN_TRADE, and agent 1 cannot release it.
    let other = a2
        .create_trade(&offer(&app, 2, 48))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let held = a1
        .match_trade(other.id, &matching(1, Some(app.shift(1))))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&held), (409, ErrorCode::ShiftInTrade));
    let bulk = app
        .swap(&app.version_id().await, 1, 1, 7)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&bulk), (422, ErrorCode::RuleViolation));
    assert_eq!(violation_codes(&bulk), vec![ViolationCode::ShiftInTrade]);
    let release = a1.release(app.shift(1)).await.unwrap_err();
    assert_eq!(violation_codes(&release), vec![ViolationCode::ShiftInTrade]);

    // The supervisor reviews two trades in one request: a result for each.
    let missing = rota_core::ids::TradeId::new();
    let reviewed = supervisor
        .review_trades(&ReviewBody {
            reviews: vec![
                ReviewItem {
                    reason: Some("fine".into()),
                    ..approve(id, 2).reviews.remove(0)
                },
                approve(missing, 1).reviews.remove(0),
            ],
        })
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let results = &reviewed.results;
    assert_eq!(results[0].outcome, ReviewOutcome::Approved, "{reviewed:?}");
    assert_eq!(results[1].outcome, ReviewOutcome::Failed);
    assert_eq!(results[1].error.as_ref().unwrap().code, ErrorCode::NotFound);
    assert_eq!(app.owner(0).await, Some(app.world.agents[1].id));
    assert_eq!(app.owner(1).await, Some(app.world.agents[0].id));
    let approved = a0.trade(id).await.unwrap().into_body().unwrap();
    assert_eq!(approved.state, TradeState::Approved);
    assert_eq!(
        approved.applied_version_id.unwrap().to_string(),
        app.version_id().await
    );
    let history = app
        .store
        .changes_since(app.world.schedule.id, None)
        .await
        .unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.record.cause, VersionCause::SelfService);
    assert_eq!(last.changes.len(), 2);

    // Done trades stay done; the holds are gone, so shift 1 trades again.
    let late = a0.cancel_trade(id, approved.version).await.unwrap_err();
    assert_eq!(problem_code(&late), (409, ErrorCode::TradeStateConflict));
    let rematch = a0
        .match_trade(other.id, &matching(1, Some(app.shift(1))))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!(rematch.state, TradeState::Matched);
    // The initiator cancels; the supervisor denies nothing that is not matched.
    let canceled = a2
        .cancel_trade(other.id, rematch.version)
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!(canceled.state, TradeState::Canceled);
    app.swap(&app.version_id().await, 0, 1, 7).await.unwrap();
}

#[tokio::test]
async fn the_automatic_review_allows_denies_or_defers_each_rule_as_the_business_unit_says() {
    let app = spawn(|_| {}).await;
    let (a0, a1) = (app.agent(0).await, app.agent(1).await);
    let supervisor = app.client(Role::Supervisor, None).await;
    // Every shift starts within 30 days: with 30 days of notice required, every trade breaks
    // the minimum-hours rule, and the settings decide what happens.
    for (action, pair, expected) in [
        (RuleAction::Deny, (0, 1), TradeState::Denied),
        (RuleAction::Supervisor, (5, 6), TradeState::Matched),
        (RuleAction::Allow, (10, 11), TradeState::Approved),
    ] {
        app.set_settings(|s| {
            s.trades.min_hours_before_start = 24 * 30;
            s.trades.rules.min_hours_before_start = action;
        })
        .await;
        let trade = a0
            .create_trade(&offer(&app, pair.0, 48))
            .await
            .unwrap()
            .into_body()
            .unwrap();
        let matched = a1
            .match_trade(trade.id, &matching(1, Some(app.shift(pair.1))))
            .await
            .unwrap()
            .into_body()
            .unwrap();
        assert_eq!(matched.state, expected, "{action:?}: {matched:?}");
        let check = matched.check.clone().unwrap();
        assert!(
            check
                .violations
                .iter()
                .all(|v| v.code == ViolationCode::TooCloseToStart)
        );
        assert_eq!(check.violations.len(), 2, "both shifts start too soon");
        let swapped = app.owner(pair.0).await == Some(app.world.agents[1].id);
        assert_eq!(swapped, expected == TradeState::Approved, "{action:?}");
        if action == RuleAction::Supervisor {
            assert_eq!(check.needs_supervisor, vec![TradeRule::MinHoursBeforeStart]);
            // A supervisor's approval accepts what the settings sent to them.
            let reviewed = supervisor
                .review_trades(&approve(matched.id, matched.version))
                .await
                .unwrap()
                .into_body()
                .unwrap();
            assert_eq!(
                reviewed.results[0].outcome,
                ReviewOutcome::Approved,
                "{reviewed:?}"
            );
            assert_eq!(app.owner(pair.0).await, Some(app.world.agents[1].id));
        }
    }
}

#[tokio::test]
async fn trades_expire_at_their_expiry_and_release_their_holds() {
    let app = spawn(|_| {}).await;
    app.set_settings(|s| s.trades.auto_review = false).await;
    let (a0, a1) = (app.agent(0).await, app.agent(1).await);
    let open = a0
        .create_trade(&offer(&app, 0, 10))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let held = a0
        .create_trade(&offer(&app, 5, 10))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let held = a1
        .match_trade(held.id, &matching(1, Some(app.shift(6))))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!(held.state, TradeState::Matched);

    app.clock.set(app.at(11));
    // Tokens live an hour: the clients of the earlier time have expired with it.
    let (a0, a1) = (app.agent(0).await, app.agent(1).await);
    let late = a1
        .match_trade(open.id, &matching(1, Some(app.shift(1))))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&late), (409, ErrorCode::TradeExpired));
    let expired = app.store.expire_trades(app.at(11)).await.unwrap();
    let mut ids: Vec<_> = expired.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    let mut want = vec![open.id, held.id];
    want.sort_unstable();
    assert_eq!(ids, want);
    for t in [&open, &held] {
        assert_eq!(
            a0.trade(t.id).await.unwrap().into_body().unwrap().state,
            TradeState::Expired
        );
    }
    assert!(
        app.store
            .expire_trades(app.at(11))
            .await
            .unwrap()
            .is_empty(),
        "expiry happens once"
    );
    // Nothing was swapped, and the expired trade's hold on shift 6 is gone (back at the
    // earlier time, where the admin's token is valid).
    assert_eq!(app.owner(5).await, Some(app.world.agents[0].id));
    app.clock.set(app.world.now);
    app.swap(&app.version_id().await, 1, 6, 7).await.unwrap();
}

#[tokio::test]
async fn an_approval_racing_a_bulk_swap_on_the_same_shift_has_exactly_one_winner() {
    let app = spawn(|_| {}).await;
    let agents = [
        app.agent(0).await,
        app.agent(1).await,
        app.agent(2).await,
        app.agent(3).await,
    ];
    let (mut trade_won, mut bulk_won) = (0, 0);
    // Pairs (o, n) owned by agents (o % 5, n % 5); the trade and the bulk swap ask for the
    // same exchange, so applying both would swap the shifts back.
    for (o, n) in [
        (0, 1),
        (2, 3),
        (5, 6),
        (7, 8),
        (10, 11),
        (12, 13),
        (15, 16),
        (17, 18),
    ] {
        let (x, y) = (o % 5, n % 5);
        let base = app.version_id().await;
        let trade = agents[x]
            .create_trade(&offer(&app, o, 48))
            .await
            .unwrap_or_else(|e| panic!("offering shift {o} as agent {x}: {e:?}"))
            .into_body()
            .unwrap();
        let (trade_id, match_body) = (trade.id, matching(1, Some(app.shift(n))));
        let matching = agents[y].match_trade(trade_id, &match_body);
        let bulk = app.swap(&base, x, o, n);
        let (matched, bulk) = tokio::join!(matching, bulk);
        // The bulk swap may win before the match is even checked: then the receiver's shift
        // is no longer theirs, and the match is refused naming it.
        let matched = match matched {
            Ok(reply) => reply.into_body().unwrap(),
            Err(e) => {
                assert_eq!(problem_code(&e), (422, ErrorCode::TradeInvalid));
                assert!(
                    e.problem()
                        .unwrap()
                        .detail
                        .contains(&app.shift(n).to_string())
                );
                bulk.unwrap();
                bulk_won += 1;
                assert_eq!(app.owner(o).await, Some(app.world.agents[y].id));
                assert_eq!(app.owner(n).await, Some(app.world.agents[x].id));
                continue;
            }
        };
        match (matched.state, bulk) {
            (TradeState::Approved, Err(e)) => {
                assert_eq!(problem_code(&e), (409, ErrorCode::VersionConflict));
                trade_won += 1;
            }
            (TradeState::Denied, Ok(_)) => {
                let check = matched.check.unwrap();
                assert_eq!(
                    check.violations.iter().map(|v| v.code).collect::<Vec<_>>(),
                    vec![ViolationCode::ShiftNotOwned]
                );
                bulk_won += 1;
            }
            (state, bulk) => panic!("both or neither won: trade {state}, bulk {bulk:?}"),
        }
        assert_eq!(
            app.owner(o).await,
            Some(app.world.agents[y].id),
            "swapped exactly once"
        );
        assert_eq!(app.owner(n).await, Some(app.world.agents[x].id));
    }
    eprintln!("the trade won {trade_won} races, the bulk swap {bulk_won}");
}

#[tokio::test]
async fn agents_act_only_for_themselves() {
    let app = spawn(|_| {}).await;
    let (a0, a1, a2) = (app.agent(0).await, app.agent(1).await, app.agent(2).await);
    let body = NewTradeBody {
        target_agent_id: Some(app.world.agents[1].id),
        ..offer(&app, 0, 48)
    };
    let trade = a0.create_trade(&body).await.unwrap().into_body().unwrap();
    let id = trade.id;
    // Offered to agent 1 only: agent 2 neither sees nor matches it.
    let hidden = a2
        .match_trade(id, &matching(1, Some(app.shift(2))))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&hidden), (404, ErrorCode::NotFound));
    assert!(
        a2.trades(&TradeQuery::default())
            .await
            .unwrap()
            .into_body()
            .unwrap()
            .items
            .is_empty()
    );
    // Agent 1 may match but not cancel or approve it.
    let cancel = a1.cancel_trade(id, 1).await.unwrap_err();
    assert_eq!(problem_code(&cancel), (403, ErrorCode::Forbidden));
    let review = a1.review_trades(&approve(id, 1)).await.unwrap_err();
    assert_eq!(problem_code(&review), (403, ErrorCode::Forbidden));
    // Nobody offers another agent's shift, and a supervisor has no agent to match as.
    let foreign = a0.create_trade(&offer(&app, 1, 48)).await.unwrap_err();
    assert_eq!(problem_code(&foreign), (422, ErrorCode::TradeInvalid));
    let supervisor = app.client(Role::Supervisor, None).await;
    let as_supervisor = supervisor
        .match_trade(id, &matching(1, None))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&as_supervisor), (403, ErrorCode::Forbidden));
    assert_eq!(
        a0.trade(id).await.unwrap().into_body().unwrap().version,
        1,
        "nothing changed"
    );
}

#[tokio::test]
async fn a_match_check_answers_what_the_match_would_find_and_writes_nothing() {
    let app = spawn(|_| {}).await;
    app.set_settings(|s| s.trades.auto_review = false).await;
    let (a0, a1) = (app.agent(0).await, app.agent(1).await);
    let trade = a0
        .create_trade(&offer(&app, 0, 48))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    let query = |version, shift_id| rota_api::trades::MatchCheckQuery { version, shift_id };
    let check = a1
        .match_check(trade.id, &query(trade.version, Some(app.shift(1))))
        .await
        .unwrap()
        .into_body()
        .unwrap();
    assert_eq!(check.verdict, rota_core::trade::Verdict::Supervisor);
    assert!(check.violations.is_empty(), "{:?}", check.violations);
    let unchanged = a0.trade(trade.id).await.unwrap().into_body().unwrap();
    assert_eq!(
        (unchanged.state, unchanged.version),
        (TradeState::Unmatched, 1)
    );
    // What the match itself refuses, the check refuses the same way.
    let stale = a1
        .match_check(trade.id, &query(trade.version + 1, Some(app.shift(1))))
        .await
        .unwrap_err();
    assert_eq!(stale.problem().unwrap().status, 409);
    let not_mine = a1
        .match_check(trade.id, &query(trade.version, Some(app.shift(2))))
        .await
        .unwrap_err();
    assert_eq!(not_mine.problem().unwrap().status, 422);
    let own = a0
        .match_check(trade.id, &query(trade.version, Some(app.shift(5))))
        .await
        .unwrap_err();
    assert_eq!(own.problem().unwrap().status, 422);
}

/// An agent of another business unit finds nothing of this unit's shifts: picking up, releasing,
/// offering or bringing one to a match answers exactly as a shift that does not exist, naming
/// nothing of the other unit.
#[tokio::test]
async fn an_agent_elsewhere_finds_this_units_shifts_as_if_they_did_not_exist() {
    use rota_core::store::DirectoryStore;
    let app = spawn(|_| {}).await;
    let dallas = rota_core::testkit::business_unit("Dallas");
    app.store.create_business_unit(&dallas).await.unwrap();
    let stranger = rota_core::testkit::unconstrained_agent(&dallas, "Dee");
    app.store
        .create_agents(std::slice::from_ref(&stranger))
        .await
        .unwrap();
    let c = rota_app::tokens::create_client(
        &app.store,
        Role::Agent,
        Some(dallas.id),
        Some(stranger.id),
    )
    .await
    .unwrap();
    let token = app
        .anonymous
        .token(&c.client_id, &c.client_secret)
        .await
        .unwrap();
    let dee = app.anonymous.clone().with_bearer(&token.access_token);
    // What an unknown shift answers, and what each of this unit's shifts answers instead.
    let unknown = dee.pickup(ShiftId::new()).await.unwrap_err();
    assert_eq!(problem_code(&unknown), (404, ErrorCode::NotFound));
    let shape = |e: &ClientError| {
        let p = e.problem().unwrap();
        (
            p.status,
            p.code,
            p.detail.split(' ').next().map(str::to_owned),
        )
    };
    let open = app.shift(4);
    let owned = app.shift(0);
    for (what, e) in [
        ("pickup", dee.pickup(open).await.unwrap_err()),
        ("release", dee.release(owned).await.unwrap_err()),
        (
            "offer",
            dee.create_trade(&offer(&app, 0, 48)).await.unwrap_err(),
        ),
    ] {
        assert_eq!(shape(&e), shape(&unknown), "{what}: {e}");
        let detail = &e.problem().unwrap().detail;
        assert!(
            !detail.contains(&app.world.schedule.id.to_string()),
            "{what} names the other unit's schedule: {detail}"
        );
    }
    assert_eq!(app.owner(4).await, None, "nothing changed");
    assert_eq!(app.owner(0).await, Some(app.world.agents[0].id));
}
