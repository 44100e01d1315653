//! Time off over real HTTP: an agent's request answered by the policy, a supervisor's
//! decision and override, balances, cancellation, and who may do what (no agent acts for
//! another; a supervisor of another unit sees nothing).

use crate::common::{TestApp, problem_code, spawn};
use rota_api::problem::ErrorCode;
use rota_api::timeoff::{
    BalanceBody, NewTimeOffBody, TimeOffCancelBody, TimeOffDecisionBody, TimeOffQuery,
};
use rota_client::{CallOptions, Client, ClientError};
use rota_core::auth::Role;
use rota_core::command::{ItemOutcome, ViolationCode};
use rota_core::store::DirectoryStore;
use rota_core::timeoff::{Days, TimeOffRequest, TimeOffState};

fn tuesday(agent: Option<rota_core::ids::AgentId>) -> NewTimeOffBody {
    let d = jiff::civil::date(2026, 12, 1);
    NewTimeOffBody {
        agent_id: agent,
        code: "vacation".into(),
        days: Some(Days { first: d, last: d }),
        start: None,
        end: None,
        note: Some("a wedding".into()),
    }
}

fn codes(e: &ClientError) -> Vec<ViolationCode> {
    let p = e.problem().unwrap();
    match &p.items[0].outcome {
        ItemOutcome::Rejected { violations } => violations.iter().map(|v| v.code).collect(),
        other => panic!("{other:?}"),
    }
}

async fn request(client: &Client, body: &NewTimeOffBody) -> Result<TimeOffRequest, ClientError> {
    Ok(client
        .request_time_off(body, &CallOptions::default())
        .await?
        .body
        .unwrap())
}

async fn supervisor(app: &TestApp) -> Client {
    app.client(Role::Supervisor, None).await
}

#[tokio::test]
async fn an_agent_asks_a_supervisor_overrides_and_no_one_acts_for_another() {
    let app = spawn(|_| {}).await;
    let (me, other) = (app.agent(0).await, app.agent(1).await);
    let boss = supervisor(&app).await;
    // For oneself: pending, since the default policy leaves every request to a supervisor,
    // with the balance it lacks named.
    let mine = request(&me, &tuesday(None)).await.unwrap();
    assert_eq!(mine.state, TimeOffState::Pending);
    assert_eq!(mine.agent_id, app.world.agents[0].id);
    assert_eq!(mine.violations[0].code, ViolationCode::InsufficientBalance);
    // Never for another agent, nor their request seen, cancelled or decided.
    let theirs = request(&me, &tuesday(Some(app.world.agents[1].id)))
        .await
        .unwrap_err();
    assert_eq!(problem_code(&theirs), (403, ErrorCode::Forbidden));
    let read = other.time_off(mine.id).await.unwrap_err();
    assert_eq!(problem_code(&read), (404, ErrorCode::NotFound));
    let cancel = TimeOffCancelBody {
        expected_version: mine.version,
    };
    let cancelled = other
        .cancel_time_off(mine.id, &cancel, &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&cancelled), (404, ErrorCode::NotFound));
    let approve = |override_rules| TimeOffDecisionBody {
        expected_version: mine.version,
        approve: true,
        override_rules,
        reason: Some("covered by the team".into()),
    };
    let self_approved = me
        .decide_time_off(mine.id, &approve(true), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&self_approved), (403, ErrorCode::Forbidden));
    let listed = me
        .time_off_requests(&TimeOffQuery {
            agent_id: Some(app.world.agents[1].id),
            ..TimeOffQuery::default()
        })
        .await
        .unwrap_err();
    assert_eq!(problem_code(&listed), (403, ErrorCode::Forbidden));
    let balance = me
        .set_time_off_balance(
            app.world.agents[0].id,
            "vacation",
            &BalanceBody { minutes: 10_000 },
            &CallOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(problem_code(&balance), (403, ErrorCode::Forbidden));
    // A supervisor of another business unit sees nothing of it.
    let dallas = rota_core::testkit::business_unit("Dallas");
    app.store.create_business_unit(&dallas).await.unwrap();
    let elsewhere = app.client_in(Role::Supervisor, Some(dallas.id), None).await;
    let hidden = elsewhere.time_off(mine.id).await.unwrap_err();
    assert_eq!(problem_code(&hidden), (404, ErrorCode::NotFound));

    // The supervisor's approval fails on the balance until they override it.
    let refused = boss
        .decide_time_off(mine.id, &approve(false), &CallOptions::default())
        .await
        .unwrap_err();
    assert_eq!(problem_code(&refused), (422, ErrorCode::RuleViolation));
    assert_eq!(codes(&refused), vec![ViolationCode::InsufficientBalance]);
    let approved = boss
        .decide_time_off(mine.id, &approve(true), &CallOptions::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(approved.state, TimeOffState::Approved);
    let decision = approved.decision.clone().unwrap();
    assert_eq!(
        decision.overridden,
        vec![ViolationCode::InsufficientBalance]
    );
    assert_eq!(decision.reason.as_deref(), Some("covered by the team"));
    // Agent 0 worked shifts 15 and 20 on Tuesday? World::disjoint(4, 20) has shift 15 (Tue
    // 06:00): trimmed away whole, so opened; the paid hour is deducted.
    assert_eq!(approved.deducted_minutes, 60);
    assert_eq!(app.owner(15).await, None);
    let balances = me
        .time_off_balances(app.world.agents[0].id)
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(balances[0].minutes, -60);
    // Overlapping again is refused with its code.
    let again = request(&me, &tuesday(None)).await.unwrap_err();
    assert_eq!(problem_code(&again), (422, ErrorCode::RuleViolation));
    assert_eq!(
        codes(&again),
        vec![ViolationCode::ConflictingTimeOffRequest]
    );
    // The agent cancels (before the cutoff): the hour comes back, the shift stays open.
    let cancel = |version| {
        let (me, id) = (me.clone(), mine.id);
        async move {
            let body = TimeOffCancelBody {
                expected_version: version,
            };
            me.cancel_time_off(id, &body, &CallOptions::default()).await
        }
    };
    let done = cancel(approved.version).await.unwrap().body.unwrap();
    assert_eq!(done.state, TimeOffState::Cancelled);
    let balances = me.time_off_balances(app.world.agents[0].id).await.unwrap();
    assert_eq!(balances.body.unwrap()[0].minutes, 0);
    assert_eq!(app.owner(15).await, None);
    let stale = cancel(approved.version).await.unwrap_err();
    assert_eq!(
        problem_code(&stale),
        (409, ErrorCode::TimeOffVersionConflict)
    );
    let listed = me
        .time_off_requests(&TimeOffQuery::default())
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(listed.total, 1);
}

#[tokio::test]
async fn bad_requests_are_refused_with_their_field_and_retries_are_safe() {
    let app = spawn(|_| {}).await;
    let me = app.agent(0).await;
    let mut both = tuesday(None);
    both.start = Some(app.at(200));
    both.end = Some(app.at(201));
    let e = request(&me, &both).await.unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::Unprocessable));
    let mut unknown = tuesday(None);
    unknown.code = "sabbatical".into();
    let e = request(&me, &unknown).await.unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::Unprocessable));
    assert!(e.problem().unwrap().detail.contains("sabbatical"));
    let mut backwards = tuesday(None);
    backwards.days = None;
    backwards.start = Some(app.at(201));
    backwards.end = Some(app.at(200));
    let e = request(&me, &backwards).await.unwrap_err();
    assert_eq!(problem_code(&e), (422, ErrorCode::Unprocessable));
    let mut soon = tuesday(None);
    soon.days = None;
    soon.start = Some(app.at(1));
    soon.end = Some(app.at(2));
    let e = request(&me, &soon).await.unwrap_err();
    assert_eq!(codes(&e), vec![ViolationCode::TooCloseToStart]);
    // The same key and body answer the first request again, not a second one (which would
    // conflict with the first).
    let keyed = CallOptions::default().header("Idempotency-Key", "tuesday-off");
    let first = me.request_time_off(&tuesday(None), &keyed).await.unwrap();
    let second = me.request_time_off(&tuesday(None), &keyed).await.unwrap();
    assert_eq!(
        first.body.unwrap().id,
        second.body.unwrap().id,
        "a retry filed a second request"
    );
    let listed = me
        .time_off_requests(&TimeOffQuery::default())
        .await
        .unwrap();
    assert_eq!(listed.body.unwrap().total, 1);
}

/// The same time-off request and the same decision, with one key, sent to two nodes of one
/// PostgreSQL database at once: each is done once, and both nodes answer what was done (one of
/// them as a replay), never an "overlapping request" or a version conflict of its own making.
#[tokio::test]
async fn one_key_sent_to_two_nodes_at_once_is_done_once_and_answered_alike_on_postgres() {
    use rota_store::{PgStore, Store};
    let Ok(url) = std::env::var("ROTA_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("ROTA_REQUIRE_POSTGRES").is_none(),
            "ROTA_REQUIRE_POSTGRES is set: time off across nodes must be checked on PostgreSQL"
        );
        eprintln!("skipped time off across nodes: ROTA_TEST_DATABASE_URL is not set");
        return;
    };
    let schema = format!("rota_test_{}", uuid::Uuid::now_v7().simple());
    let connect =
        || async { Store::Postgres(PgStore::connect(&url, Some(&schema)).await.unwrap()) };
    let app = crate::common::serve_store(
        connect().await,
        rota_core::testkit::World::disjoint(4, 20),
        true,
        |_| {},
    )
    .await;
    let (b, _node_b) = app.another_node(connect().await).await;
    let on = |client: &Client, base: &str| Client::new(base).with_bearer(client.bearer().unwrap());
    let agent = app.agent(0).await;
    let boss = supervisor(&app).await;
    let (agent_b, boss_b) = (on(&agent, &b), on(&boss, &b));
    let replayed = |headers: &reqwest::header::HeaderMap| {
        headers
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true")
    };
    for i in 0..10 {
        let day = jiff::civil::date(2026, 12, 1)
            .checked_add(jiff::Span::new().days(i))
            .unwrap();
        let body = NewTimeOffBody {
            days: Some(Days {
                first: day,
                last: day,
            }),
            ..tuesday(None)
        };
        let key = CallOptions::default().header("Idempotency-Key", &format!("ask-{i}"));
        let (first, second) = tokio::join!(
            agent.request_time_off(&body, &key),
            agent_b.request_time_off(&body, &key)
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first.body, second.body, "request {i}");
        assert_eq!(
            usize::from(replayed(&first.headers)) + usize::from(replayed(&second.headers)),
            1,
            "request {i}: one ran, one replayed"
        );
        let asked = first.body.unwrap();
        let decision = TimeOffDecisionBody {
            expected_version: asked.version,
            approve: true,
            override_rules: true,
            reason: Some("covered".into()),
        };
        let key = CallOptions::default().header("Idempotency-Key", &format!("decide-{i}"));
        let (first, second) = tokio::join!(
            boss.decide_time_off(asked.id, &decision, &key),
            boss_b.decide_time_off(asked.id, &decision, &key)
        );
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!(first.body, second.body, "decision {i}");
        assert_eq!(first.body.unwrap().state, TimeOffState::Approved);
    }
    // Each asked for once: ten requests of the agent's, no more.
    let all = app
        .admin
        .time_off_requests(&TimeOffQuery {
            agent_id: Some(app.world.agents[0].id),
            business_unit_id: None,
            state: None,
            offset: 0,
            limit: 100,
        })
        .await
        .unwrap()
        .body
        .unwrap();
    assert_eq!(all.items.len(), 10, "{all:?}");
    drop(app);
    let _ = PgStore::drop_schema(&url, &schema).await;
}
