//! The self-service portal during the publish window: agents with their own tokens release and
//! pick up shifts, trade same-time shifts and save their availability; a supervisor approves
//! trades and moves open shifts. It runs at a set pace of committed schedule versions, since a
//! committed version, not a click, is what makes a whole-schedule version stale. On top of the
//! pace, agents ask for days off in the weeks after the published one (unpaid `personal` days,
//! which the business unit's default policy leaves to a supervisor), and a supervisor approves
//! three in four and denies the rest: time off planned ahead touches no shift of this week.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rota_api::schedules::EditBody;
use rota_api::timeoff::{NewTimeOffBody, TimeOffDecisionBody};
use rota_api::trades::{
    MatchBody, NewTradeBody, ReviewBody, ReviewDecision, ReviewItem, ReviewOutcome,
};
use rota_client::{CallOptions, Client};
use rota_core::command::{EditChange, ItemOutcome};
use rota_core::directory::AvailabilityDoc;
use rota_core::ids::{AgentId, ShiftId};
use rota_core::schedule::TimeWindow;
use rota_core::timeoff::{Days, TimeOffState};
use rota_core::trade::Interval;
use rota_scenario::Scenario;
use tokio_util::sync::CancellationToken;

/// What the portal knows of the week at the start, and how it picks actions.
#[derive(Clone)]
pub struct PortalPlan {
    /// Owned shifts by owner (the portal's agents release these).
    owned: HashMap<AgentId, Vec<ShiftId>>,
    open: Vec<ShiftId>,
    /// Pairs with the same window and skill, owned by two agents: safe trades.
    tradeable: Vec<(ShiftId, ShiftId, AgentId, AgentId)>,
    /// Open shifts and their windows, for supervisor moves.
    moves: Vec<(ShiftId, jiff::Timestamp, jiff::Timestamp)>,
    availability: HashMap<AgentId, AvailabilityDoc>,
    /// The first day off the portal asks for: a day into the week after the published one, so
    /// that no shift of the published week (one starting late on its last day runs into the
    /// next) meets approved time off and the batch's swaps stay valid.
    later_weeks: jiff::civil::Date,
}

/// What the portal did besides its paced commits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortalTally {
    pub time_off_requested: u64,
    pub time_off_approved: u64,
    pub time_off_denied: u64,
}

impl PortalPlan {
    pub fn new(s: &Scenario, tradeable: &[(ShiftId, ShiftId)]) -> Self {
        let mut owned: HashMap<AgentId, Vec<ShiftId>> = HashMap::new();
        let mut open = Vec::new();
        let mut moves = Vec::new();
        for shift in &s.schedule.shifts {
            match shift.owner {
                Some(o) => owned.entry(o).or_default().push(shift.id),
                None => {
                    open.push(shift.id);
                    moves.push((shift.id, shift.window.start(), shift.window.end()));
                }
            }
        }
        let owners: HashMap<ShiftId, AgentId> = s
            .schedule
            .shifts
            .iter()
            .filter_map(|x| Some((x.id, x.owner?)))
            .collect();
        let tradeable = tradeable
            .iter()
            .filter_map(|(a, b)| Some((*a, *b, *owners.get(a)?, *owners.get(b)?)))
            .collect();
        let availability = s
            .agents
            .iter()
            .map(|a| (a.id, AvailabilityDoc::from(&a.availability)))
            .collect();
        Self {
            owned,
            open,
            tradeable,
            moves,
            availability,
            later_weeks: s
                .schedule
                .week_start
                .checked_add(jiff::Span::new().days(8))
                .unwrap_or(s.schedule.week_start),
        }
    }

    /// An open shift a supervisor may move: its id and window.
    pub fn movable(&self) -> Option<(ShiftId, jiff::Timestamp, jiff::Timestamp)> {
        self.moves.first().copied()
    }

    /// The agents the portal acts for: the first `sample` by id and every owner of a
    /// tradeable shift.
    pub fn agents(&self, sample: usize) -> Vec<AgentId> {
        let mut ids: Vec<AgentId> = self.availability.keys().copied().collect();
        ids.sort_unstable();
        ids.truncate(sample);
        ids.extend(self.tradeable.iter().flat_map(|t| [t.2, t.3]));
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Who works in the portal: each agent's client (bound to one node) and a supervisor's client
/// per node.
#[derive(Clone)]
pub struct PortalUsers {
    pub agents: HashMap<AgentId, Client>,
    pub supervisors: Vec<Client>,
}

/// Runs the portal until `stop`: every `1 / rate` seconds on average (each gap drawn
/// uniformly from half to one and a half of it, as people do not act on a clock) it makes one
/// change that commits a schedule version, trying other actions when the rules refuse one; an
/// availability save and a time-off request now and then come on top. Counts the versions it
/// committed in `commits`; answers what it did besides.
pub async fn run(
    plan: PortalPlan,
    users: PortalUsers,
    rate: f64,
    seed: u64,
    commits: tokio::sync::watch::Sender<u64>,
    stop: CancellationToken,
) -> PortalTally {
    let tally = Arc::new(std::sync::Mutex::new(PortalTally::default()));
    if rate <= 0.0 || users.agents.is_empty() {
        return PortalTally::default();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut ids: Vec<AgentId> = users.agents.keys().copied().collect();
    ids.sort_unstable();
    let state = Arc::new(tokio::sync::Mutex::new(State {
        trades: plan.tradeable.clone(),
        moved: 0,
    }));
    let plan = Arc::new(plan);
    let ids = Arc::new(ids);
    let mut in_flight = tokio::task::JoinSet::new();
    let mut next = tokio::time::Instant::now();
    loop {
        next += Duration::from_secs_f64(rng.random_range(0.5..1.5) / rate);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep_until(next) => {}
        }
        let act = Act {
            plan: Arc::clone(&plan),
            users: users.clone(),
            ids: Arc::clone(&ids),
            state: Arc::clone(&state),
            seed: rng.random(),
        };
        let committed = commits.clone();
        in_flight.spawn(async move {
            if act.commit_one().await {
                committed.send_modify(|n| *n += 1);
            }
        });
        if rng.random_bool(0.3) {
            let agent = ids[rng.random_range(0..ids.len())];
            if let Some(doc) = plan.availability.get(&agent).cloned() {
                let client = users.agents[&agent].clone();
                in_flight.spawn(async move {
                    // Saved as it was: the rules the batch meets stay the same.
                    let _ = client.set_availability(agent, &doc).await;
                });
            }
        }
        if rng.random_bool(0.25) {
            let agent = ids[rng.random_range(0..ids.len())];
            let day = plan
                .later_weeks
                .checked_add(jiff::Span::new().days(rng.random_range(0..28)))
                .unwrap_or(plan.later_weeks);
            let approve = rng.random_bool(0.75);
            let (client, supervisor) = (users.agents[&agent].clone(), users.supervisors[0].clone());
            let tally = Arc::clone(&tally);
            in_flight.spawn(async move {
                time_off(&client, &supervisor, day, approve, &tally).await;
            });
        }
        while in_flight.try_join_next().is_some() {}
    }
    while in_flight.join_next().await.is_some() {}
    *tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An agent asks for `day` off; a supervisor decides. An agent who already asked for that day
/// is refused (`CONFLICTING_TIME_OFF_REQUEST`), which counts as nothing.
async fn time_off(
    agent: &Client,
    supervisor: &Client,
    day: jiff::civil::Date,
    approve: bool,
    tally: &std::sync::Mutex<PortalTally>,
) {
    let body = NewTimeOffBody {
        agent_id: None,
        code: "personal".into(),
        days: Some(Days {
            first: day,
            last: day,
        }),
        start: None,
        end: None,
        note: Some("planned ahead in the portal".into()),
    };
    let Some(request) = agent
        .request_time_off(&body, &CallOptions::default())
        .await
        .ok()
        .and_then(|r| r.into_body().ok())
    else {
        return;
    };
    let count = |f: fn(&mut PortalTally)| {
        f(&mut tally
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner));
    };
    count(|t| t.time_off_requested += 1);
    let decision = TimeOffDecisionBody {
        expected_version: request.version,
        approve,
        override_rules: false,
        reason: (!approve).then(|| "the team is short that day".to_owned()),
    };
    let decided = supervisor
        .decide_time_off(request.id, &decision, &CallOptions::default())
        .await
        .ok()
        .and_then(|r| r.into_body().ok());
    match decided.map(|r| r.state) {
        Some(TimeOffState::Approved) => count(|t| t.time_off_approved += 1),
        Some(TimeOffState::Denied) => count(|t| t.time_off_denied += 1),
        _ => {}
    }
}

/// What the portal's actions change as they go.
struct State {
    trades: Vec<(ShiftId, ShiftId, AgentId, AgentId)>,
    moved: usize,
}

/// One paced portal change.
struct Act {
    plan: Arc<PortalPlan>,
    users: PortalUsers,
    ids: Arc<Vec<AgentId>>,
    state: Arc<tokio::sync::Mutex<State>>,
    seed: u64,
}

/// Actions tried for one paced change before the portal waits for its next turn.
const TRIES: usize = 6;

impl Act {
    /// Tries actions until one commits a version; answers whether one did.
    async fn commit_one(&self) -> bool {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        for _ in 0..TRIES {
            let roll: f64 = rng.random();
            let agent = self.ids[rng.random_range(0..self.ids.len())];
            let committed = if roll < 0.3 {
                self.release(agent, &mut rng).await
            } else if roll < 0.55 {
                self.pickup(agent, &mut rng).await
            } else if roll < 0.8 {
                self.trade().await
            } else {
                self.move_open_shift(rng.random_range(0..self.users.supervisors.len()))
                    .await
            };
            if committed {
                return true;
            }
        }
        false
    }

    /// An agent releases one of their shifts (sometimes one the batch wants).
    async fn release(&self, agent: AgentId, rng: &mut ChaCha8Rng) -> bool {
        let Some(shifts) = self.plan.owned.get(&agent).filter(|s| !s.is_empty()) else {
            return false;
        };
        let shift = shifts[rng.random_range(0..shifts.len())];
        // A release the coverage guard holds for a supervisor commits nothing (yet).
        self.users.agents[&agent]
            .release(shift)
            .await
            .ok()
            .and_then(|r| r.into_body().ok())
            .is_some_and(|b| b.committed_version.is_some())
    }

    /// An agent picks up an open shift (the rules may refuse it).
    async fn pickup(&self, agent: AgentId, rng: &mut ChaCha8Rng) -> bool {
        if self.plan.open.is_empty() {
            return false;
        }
        let shift = self.plan.open[rng.random_range(0..self.plan.open.len())];
        self.users.agents[&agent].pickup(shift).await.is_ok()
    }

    /// Two agents trade a pair of same-time shifts: offer, match, a supervisor approves.
    async fn trade(&self) -> bool {
        let Some((a, b, x, y)) = self.state.lock().await.trades.pop() else {
            return false;
        };
        let (Some(offerer), Some(taker)) = (self.users.agents.get(&x), self.users.agents.get(&y))
        else {
            return false;
        };
        let expires = jiff::Timestamp::now()
            .checked_add(jiff::SignedDuration::from_hours(1))
            .unwrap_or(jiff::Timestamp::MAX);
        let (Ok(from), Ok(to)) = (
            "2000-01-01T00:00:00Z".parse(),
            "2100-01-01T00:00:00Z".parse(),
        ) else {
            return false;
        };
        let Ok(any_time) = Interval::new(from, to) else {
            return false;
        };
        let offer = NewTradeBody {
            shift_id: a,
            target_agent_id: None,
            acceptable_intervals: vec![any_time.into()],
            expires_at: expires,
        };
        let Ok(trade) = offerer
            .create_trade(&offer)
            .await
            .and_then(|r| r.into_body())
        else {
            return false;
        };
        let matched = taker
            .match_trade(
                trade.id,
                &MatchBody {
                    version: trade.version,
                    shift_id: Some(b),
                },
            )
            .await;
        let Some(matched) = matched.ok().and_then(|r| r.into_body().ok()) else {
            return false;
        };
        let review = ReviewBody {
            reviews: vec![ReviewItem {
                trade_id: matched.id,
                version: matched.version,
                decision: ReviewDecision::Approve,
                reason: None,
            }],
        };
        let reviewer = &self.users.supervisors[0];
        let reviewed = reviewer
            .review_trades(&review)
            .await
            .ok()
            .and_then(|r| r.into_body().ok());
        reviewed.is_some_and(|r| {
            r.results
                .first()
                .is_some_and(|r| r.outcome == ReviewOutcome::Approved)
        })
    }

    /// A supervisor moves an open shift by half an hour, and later back.
    async fn move_open_shift(&self, node: usize) -> bool {
        let (shift, start, end, offset) = {
            let mut state = self.state.lock().await;
            let moves = &self.plan.moves;
            if moves.is_empty() {
                return false;
            }
            let (shift, start, end) = moves[state.moved % moves.len()];
            let offset = if (state.moved / moves.len()).is_multiple_of(2) {
                30
            } else {
                0
            };
            state.moved += 1;
            (shift, start, end, offset)
        };
        let by = jiff::SignedDuration::from_mins(offset);
        let (Ok(s), Ok(e)) = (start.checked_add(by), end.checked_add(by)) else {
            return false;
        };
        let client = &self.users.supervisors[node];
        // The first try names version 1; a conflict answers with the shift's current version,
        // so the second try needs no extra read.
        let mut expected = 1;
        for _ in 0..2 {
            let Ok(window) = TimeWindow::new(s, e) else {
                return false;
            };
            let body = EditBody {
                expected_version: expected,
                change: EditChange::Move { window }.into(),
            };
            match client
                .edit_shift(shift, &body, &CallOptions::default())
                .await
            {
                Ok(_) => return true,
                Err(e) => {
                    let current = e
                        .problem()
                        .and_then(|p| p.items.first())
                        .and_then(|i| match &i.outcome {
                            ItemOutcome::Conflict { shifts, .. } => {
                                shifts.first().map(|s| s.version.get())
                            }
                            _ => None,
                        });
                    match current {
                        Some(v) => expected = v,
                        None => return false,
                    }
                }
            }
        }
        false
    }
}
