//! The commit-time engine: decides, against a snapshot read inside the write transaction, what a
//! command changes. Pure: every backend and the in-memory model commit through it, so there is
//! one implementation of the conflict and rule semantics.

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::command::{
    CommandError, ConflictScope, EditChange, ItemOutcome, ShiftEdit, SwapItem, SwapMode,
    SwapRequest, Violation, ViolationCode,
};
use crate::directory::{Agent, Zone};
use crate::ids::{AgentId, ScheduleId, ShiftId, TradeId};
use crate::schedule::{NewSchedule, Schedule, Shift};
use crate::trade::{SelfServiceSettings, Trade};
use crate::version::{
    CommitContext, ScheduleVersion, ShiftChange, ShiftState, VersionCause, VersionRecord,
};

/// How far around its week a schedule's rules look for an agent's other shifts: minimum rest is
/// at most this long, so shifts further away cannot break a rule.
pub const NEIGHBOURHOOD_MINUTES: i64 = 24 * 60;

/// What a command needs to see, read under the transaction's write lock: the schedule, the
/// touched shifts, and every agent who could receive a shift with all of their shifts within
/// [`NEIGHBOURHOOD_MINUTES`] of the week.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub schedule: Schedule,
    pub zone: Zone,
    pub shifts: HashMap<ShiftId, Shift>,
    pub agents: HashMap<AgentId, Agent>,
    /// The touched shifts that a matched trade holds, with the trade.
    pub held: HashMap<ShiftId, TradeId>,
}

impl Snapshot {
    /// The agents whose shifts and rules a swap request involves, given its touched shifts:
    /// the item agents, the counterparts, and the current owners of the touched shifts.
    pub fn involved_agents<'a>(
        items: &[SwapItem],
        touched: impl IntoIterator<Item = &'a Shift>,
    ) -> Vec<AgentId> {
        let mut ids: Vec<AgentId> = items
            .iter()
            .flat_map(|i| [Some(i.agent_id), i.counterpart_agent_id])
            .chain(touched.into_iter().map(|s| s.owner))
            .flatten()
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// What a command decided: per-item outcomes and the net shift changes to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub outcomes: Vec<ItemOutcome>,
    pub changes: Vec<ShiftChange>,
}

/// A version ready to write: the record and its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub record: VersionRecord,
    pub changes: Vec<ShiftChange>,
}

impl Commit {
    /// The version that `changes` make on top of `schedule`, or `None` if there are none.
    pub fn after(
        schedule: &Schedule,
        cause: VersionCause,
        ctx: &CommitContext,
        changes: Vec<ShiftChange>,
    ) -> Option<Self> {
        if changes.is_empty() {
            return None;
        }
        Some(Self::new(
            schedule.id,
            schedule.version.next(),
            cause,
            ctx,
            changes,
        ))
    }

    pub fn new(
        schedule_id: ScheduleId,
        version: ScheduleVersion,
        cause: VersionCause,
        ctx: &CommitContext,
        changes: Vec<ShiftChange>,
    ) -> Self {
        Self {
            record: VersionRecord {
                schedule_id,
                version,
                cause,
                actor: ctx.actor.clone(),
                request_id: ctx.request_id.clone(),
                created_at: ctx.now,
                change_count: u32::try_from(changes.len()).unwrap_or(u32::MAX),
            },
            changes,
        }
    }
}

/// The shifts of a snapshot as the command has changed them so far.
struct Working<'a> {
    snap: &'a Snapshot,
    now: Timestamp,
    week: (Timestamp, Timestamp),
    overrides: HashMap<ShiftId, ShiftState>,
    /// The overridden shifts by an owner they were given (entries can be stale: `shifts_of`
    /// checks the current state), so an agent's shifts are found without scanning every
    /// change of the command.
    gained: HashMap<AgentId, Vec<ShiftId>>,
    /// The snapshot's shifts by their owner before the command, so a rule check reads one
    /// agent's shifts instead of the whole snapshot.
    by_owner: HashMap<AgentId, Vec<&'a Shift>>,
    /// Rules not enforced for this command (what a trade's settings allow).
    waived: &'a [ViolationCode],
}

impl<'a> Working<'a> {
    fn new(snap: &'a Snapshot, now: Timestamp, waived: &'a [ViolationCode]) -> Self {
        let mut by_owner: HashMap<AgentId, Vec<&'a Shift>> = HashMap::new();
        for shift in snap.shifts.values() {
            if let Some(owner) = shift.owner {
                by_owner.entry(owner).or_default().push(shift);
            }
        }
        Self {
            snap,
            now,
            week: snap.schedule.week_window(&snap.zone),
            overrides: HashMap::new(),
            gained: HashMap::new(),
            by_owner,
            waived,
        }
    }

    fn set(&mut self, id: ShiftId, state: ShiftState) {
        if let Some(owner) = state.owner {
            let gained = self.gained.entry(owner).or_default();
            if !gained.contains(&id) {
                gained.push(id);
            }
        }
        self.overrides.insert(id, state);
    }

    fn state(&self, shift: &Shift) -> ShiftState {
        self.overrides
            .get(&shift.id)
            .copied()
            .unwrap_or_else(|| shift.state())
    }

    /// The agent's shifts as the command has left them: those they owned before it that the
    /// command did not give away, and those it gave them.
    fn shifts_of(&self, agent: AgentId) -> impl Iterator<Item = (&'a Shift, ShiftState)> + '_ {
        let owned = self
            .by_owner
            .get(&agent)
            .into_iter()
            .flatten()
            .copied()
            .filter(|s| !self.overrides.contains_key(&s.id));
        let changed = self
            .gained
            .get(&agent)
            .into_iter()
            .flatten()
            .filter(|id| self.overrides.contains_key(id))
            .filter_map(|id| self.snap.shifts.get(id));
        owned
            .chain(changed)
            .map(|s| (s, self.state(s)))
            .filter(move |(_, st)| st.owner == Some(agent))
    }

    /// The net changes so far, in shift order so that the stored history is deterministic.
    fn changes(&self) -> Vec<ShiftChange> {
        let mut changes: Vec<ShiftChange> = self
            .overrides
            .iter()
            .filter_map(|(id, after)| {
                let before = self.snap.shifts.get(id)?.state();
                (before != *after).then_some(ShiftChange {
                    shift_id: *id,
                    before: Some(before),
                    after: *after,
                })
            })
            .collect();
        changes.sort_unstable_by_key(|c| c.shift_id);
        changes
    }

    fn check_not_past(&self, shift: &Shift, start: Timestamp, out: &mut Vec<Violation>) {
        if start < self.now {
            out.push(Violation {
                code: ViolationCode::ShiftInPast,
                agent_id: None,
                shift_id: Some(shift.id),
                detail: format!(
                    "shift {} starts at {start}, before now ({}); past shifts are immutable",
                    shift.id, self.now
                ),
            });
        }
    }

    /// The rules for `agent` working `shift` with the working state as it stands (which already
    /// holds the shift as theirs).
    fn check_receiver(&self, agent_id: AgentId, shift: &Shift, out: &mut Vec<Violation>) {
        let violation = |code, detail: String| Violation {
            code,
            agent_id: Some(agent_id),
            shift_id: Some(shift.id),
            detail,
        };
        let Some(agent) = self.snap.agents.get(&agent_id) else {
            out.push(violation(
                ViolationCode::AgentNotFound,
                format!("agent {agent_id} does not exist"),
            ));
            return;
        };
        if agent.business_unit_id != self.snap.schedule.business_unit_id {
            out.push(violation(
                ViolationCode::AgentOutsideBusinessUnit,
                format!(
                    "agent {agent_id} belongs to another business unit than schedule {}",
                    shift.schedule_id
                ),
            ));
            return;
        }
        let state = self.state(shift);
        if let Some(skill) = &shift.required_skill
            && !agent.skills.contains(skill)
        {
            out.push(violation(
                ViolationCode::SkillMissing,
                format!(
                    "agent {agent_id} lacks skill `{skill}` that shift {} requires",
                    shift.id
                ),
            ));
        }
        if !agent
            .availability
            .covers(&self.snap.zone, state.start, state.end)
        {
            out.push(violation(
                ViolationCode::NotAvailable,
                format!(
                    "agent {agent_id} is not available for the whole of shift {} ({} to {}, local time {})",
                    shift.id,
                    state.start,
                    state.end,
                    self.snap.zone.name()
                ),
            ));
        }
        let rest = jiff::SignedDuration::from_mins(i64::from(agent.min_rest_minutes));
        let mut week_minutes = 0i64;
        for (other, other_state) in self.shifts_of(agent_id) {
            if other_state.start >= self.week.0 && other_state.start < self.week.1 {
                week_minutes += other_state.end.duration_since(other_state.start).as_mins();
            }
            if other.id == shift.id {
                continue;
            }
            if other_state.start < state.end && state.start < other_state.end {
                out.push(violation(
                    ViolationCode::Overlap,
                    format!(
                        "shift {} overlaps shift {} that agent {agent_id} already works",
                        shift.id, other.id
                    ),
                ));
                continue;
            }
            let gap = if other_state.start >= state.end {
                other_state.start.duration_since(state.end)
            } else {
                state.start.duration_since(other_state.end)
            };
            if gap < rest {
                out.push(violation(
                    ViolationCode::MinRest,
                    format!(
                        "only {} minutes between shift {} and shift {}; agent {agent_id} needs {} minutes of rest",
                        gap.as_mins(),
                        shift.id,
                        other.id,
                        agent.min_rest_minutes
                    ),
                ));
            }
        }
        if week_minutes > i64::from(agent.max_paid_minutes_per_week) {
            out.push(violation(
                ViolationCode::WeeklyMaxExceeded,
                format!(
                    "agent {agent_id} would work {week_minutes} paid minutes this week, over their maximum of {}",
                    agent.max_paid_minutes_per_week
                ),
            ));
        }
    }

    /// Tries to give each shift its new owner; keeps the change only if every receiver obeys
    /// the rules afterwards.
    fn try_assign(&mut self, assignments: &[(&Shift, Option<AgentId>)]) -> Vec<Violation> {
        let saved: Vec<(ShiftId, Option<ShiftState>)> = assignments
            .iter()
            .map(|(s, _)| (s.id, self.overrides.get(&s.id).copied()))
            .collect();
        for (shift, owner) in assignments {
            let mut state = self.state(shift);
            state.owner = *owner;
            self.set(shift.id, state);
        }
        let mut violations = Vec::new();
        for (shift, owner) in assignments {
            if let Some(agent) = owner {
                self.check_receiver(*agent, shift, &mut violations);
            }
        }
        violations.retain(|v| !self.waived.contains(&v.code));
        if !violations.is_empty() {
            for (id, prior) in saved {
                match prior {
                    Some(state) => self.set(id, state),
                    None => {
                        self.overrides.remove(&id);
                    }
                }
            }
        }
        violations
    }
}

/// Decides a bulk swap request against `snap`, which must hold every touched shift that exists
/// and every agent [`Snapshot::involved_agents`] names, with their shifts.
pub fn plan_swaps(
    snap: &Snapshot,
    req: &SwapRequest,
    now: Timestamp,
) -> Result<Plan, CommandError> {
    plan_swaps_waiving(snap, req, now, &[])
}

/// [`plan_swaps`] without enforcing the rules `waived` names: a trade approval under settings
/// that allow them.
pub fn plan_swaps_waiving(
    snap: &Snapshot,
    req: &SwapRequest,
    now: Timestamp,
    waived: &[ViolationCode],
) -> Result<Plan, CommandError> {
    let schedule = &snap.schedule;
    if req.items.is_empty() {
        return Err(CommandError::EmptyRequest);
    }
    if req.base.schedule() != schedule.id {
        return Err(CommandError::ScheduleNotFound(req.base.schedule()));
    }
    let base = req.base.version();
    if base > schedule.version {
        return Err(CommandError::UnknownVersion {
            schedule: schedule.id,
            requested: base,
            current: schedule.version,
        });
    }
    let new_version = schedule.version.next();
    let effective_from = req.effective_date.map(|d| snap.zone.instant(d, 0));
    let mut working = Working::new(snap, now, waived);
    let mut seen: HashSet<ShiftId> = HashSet::with_capacity(req.items.len() * 2);
    let mut outcomes = Vec::with_capacity(req.items.len());

    for item in &req.items {
        let outcome = plan_item(&mut working, item, req.scope, base, effective_from, &seen)
            .map_or_else(
                |o| o,
                |()| ItemOutcome::Applied {
                    version: new_version,
                },
            );
        seen.extend(item.shifts());
        outcomes.push(outcome);
    }

    let all_applied = outcomes.iter().all(ItemOutcome::is_applied);
    if req.mode == SwapMode::Atomic && !all_applied {
        for outcome in &mut outcomes {
            if outcome.is_applied() {
                *outcome = ItemOutcome::Skipped;
            }
        }
        return Ok(Plan {
            outcomes,
            changes: Vec::new(),
        });
    }
    Ok(Plan {
        changes: working.changes(),
        outcomes,
    })
}

/// One item against the working state; `Err` carries a non-applied outcome.
fn plan_item(
    working: &mut Working<'_>,
    item: &SwapItem,
    scope: ConflictScope,
    base: ScheduleVersion,
    effective_from: Option<Timestamp>,
    seen: &HashSet<ShiftId>,
) -> Result<(), ItemOutcome> {
    let snap = working.snap;
    let rejected = |violations| Err(ItemOutcome::Rejected { violations });
    let item_violation = |code, shift_id: Option<ShiftId>, detail: String| Violation {
        code,
        agent_id: Some(item.agent_id),
        shift_id,
        detail,
    };

    if item.original_shift_id == item.new_shift_id {
        return rejected(vec![item_violation(
            ViolationCode::SameShift,
            Some(item.new_shift_id),
            "the original and the new shift are the same shift".into(),
        )]);
    }
    let reused: Vec<Violation> = item
        .shifts()
        .into_iter()
        .filter(|id| seen.contains(id))
        .map(|id| {
            item_violation(
                ViolationCode::ShiftUsedTwice,
                Some(id),
                format!("shift {id} is used by an earlier item of this request"),
            )
        })
        .collect();
    if !reused.is_empty() {
        return rejected(reused);
    }
    let mut missing = Vec::new();
    let mut found = Vec::with_capacity(2);
    for id in item.shifts() {
        match snap.shifts.get(&id) {
            Some(shift) if shift.schedule_id == snap.schedule.id => found.push(shift),
            Some(shift) => missing.push(item_violation(
                ViolationCode::DifferentSchedule,
                Some(id),
                format!(
                    "shift {id} belongs to schedule {}, not {}",
                    shift.schedule_id, snap.schedule.id
                ),
            )),
            None => missing.push(item_violation(
                ViolationCode::ShiftNotFound,
                Some(id),
                format!("shift {id} does not exist"),
            )),
        }
    }
    let [original, new] = found[..] else {
        return rejected(missing);
    };

    let changed: Vec<Shift> = [original, new]
        .into_iter()
        .filter(|s| s.version > base)
        .cloned()
        .collect();
    let schedule_moved = scope == ConflictScope::Schedule && snap.schedule.version > base;
    if !changed.is_empty() || schedule_moved {
        return Err(ItemOutcome::Conflict {
            shifts: changed,
            current_version_id: snap.schedule.version_id(),
        });
    }

    let held: Vec<Violation> = [original, new]
        .into_iter()
        .filter_map(|s| snap.held.get(&s.id).map(|trade| (s, trade)))
        .map(|(s, trade)| {
            item_violation(
                ViolationCode::ShiftInTrade,
                Some(s.id),
                format!(
                    "shift {} is held by trade {trade}, which awaits review",
                    s.id
                ),
            )
        })
        .collect();
    if !held.is_empty() {
        return rejected(held);
    }

    let mut violations = Vec::new();
    let original_state = working.state(original);
    let new_state = working.state(new);
    if original_state.owner != Some(item.agent_id) {
        violations.push(item_violation(
            ViolationCode::ShiftNotOwned,
            Some(original.id),
            format!("agent {} does not own shift {}", item.agent_id, original.id),
        ));
    }
    if new_state.owner == Some(item.agent_id) {
        violations.push(item_violation(
            ViolationCode::SameAgent,
            Some(new.id),
            format!("agent {} already owns shift {}", item.agent_id, new.id),
        ));
    }
    if let Some(counterpart) = item.counterpart_agent_id
        && new_state.owner != Some(counterpart)
    {
        violations.push(Violation {
            code: ViolationCode::CounterpartMismatch,
            agent_id: Some(counterpart),
            shift_id: Some(new.id),
            detail: format!(
                "shift {} is not owned by counterpart agent {counterpart}",
                new.id
            ),
        });
    }
    for (shift, state) in [(original, original_state), (new, new_state)] {
        working.check_not_past(shift, state.start, &mut violations);
        if let Some(from) = effective_from
            && state.start < from
        {
            violations.push(item_violation(
                ViolationCode::BeforeEffectiveDate,
                Some(shift.id),
                format!(
                    "shift {} starts at {}, before the request's effective date",
                    shift.id, state.start
                ),
            ));
        }
    }
    if !violations.is_empty() {
        return rejected(violations);
    }
    let violations = working.try_assign(&[(new, Some(item.agent_id)), (original, new_state.owner)]);
    if violations.is_empty() {
        Ok(())
    } else {
        rejected(violations)
    }
}

/// Decides a supervisor's single-shift edit against `snap`, which must hold the shift and the
/// agent who would own it afterwards, with their shifts.
pub fn plan_edit(snap: &Snapshot, edit: &ShiftEdit, now: Timestamp) -> Result<Plan, CommandError> {
    plan_edit_waiving(snap, edit, now, &[])
}

/// [`plan_edit`] without enforcing the rules `waived` names.
pub fn plan_edit_waiving(
    snap: &Snapshot,
    edit: &ShiftEdit,
    now: Timestamp,
    waived: &[ViolationCode],
) -> Result<Plan, CommandError> {
    let shift = snap
        .shifts
        .get(&edit.shift_id)
        .filter(|s| s.schedule_id == snap.schedule.id)
        .ok_or(CommandError::ShiftNotFound(edit.shift_id))?;
    if shift.version != edit.expected_version {
        return Err(CommandError::ShiftVersionConflict {
            expected: edit.expected_version,
            current: Box::new(shift.clone()),
            current_version_id: snap.schedule.version_id(),
        });
    }
    let mut working = Working::new(snap, now, waived);
    let before = shift.state();
    let mut after = before;
    match edit.change {
        EditChange::Move { window } => {
            after.start = window.start();
            after.end = window.end();
        }
        EditChange::Reassign { agent_id } => after.owner = Some(agent_id),
        EditChange::Open => after.owner = None,
    }
    let mut violations = Vec::new();
    if after == before {
        violations.push(Violation {
            code: ViolationCode::NoChange,
            agent_id: before.owner,
            shift_id: Some(shift.id),
            detail: format!("the edit leaves shift {} as it is", shift.id),
        });
    }
    working.check_not_past(shift, before.start, &mut violations);
    if after.start != before.start {
        working.check_not_past(shift, after.start, &mut violations);
        if let Some(v) = outside_week(shift.id, after.start, working.week) {
            violations.push(v);
        }
    }
    if violations.is_empty() {
        working.set(shift.id, after);
        if let Some(owner) = after.owner {
            working.check_receiver(owner, shift, &mut violations);
        }
        violations.retain(|v| !waived.contains(&v.code));
    }
    if !violations.is_empty() {
        return Err(CommandError::Rejected(violations));
    }
    Ok(Plan {
        outcomes: vec![ItemOutcome::Applied {
            version: snap.schedule.version.next(),
        }],
        changes: working.changes(),
    })
}

/// What an agent does to one shift through self-service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SelfServiceAction {
    /// Take an open shift.
    Pickup,
    /// Give up one's own shift: it becomes open.
    Release,
}

/// Decides an agent's pickup or release of `shift_id`: the self-service policy first, then
/// the same rules and commit path as a supervisor's edit.
pub fn plan_self_service(
    snap: &Snapshot,
    shift_id: ShiftId,
    agent_id: AgentId,
    action: SelfServiceAction,
    policy: &SelfServiceSettings,
    now: Timestamp,
) -> Result<Plan, CommandError> {
    let shift = snap
        .shifts
        .get(&shift_id)
        .filter(|s| s.schedule_id == snap.schedule.id)
        .ok_or(CommandError::ShiftNotFound(shift_id))?;
    let violation = |code, detail: String| {
        Err(CommandError::Rejected(vec![Violation {
            code,
            agent_id: Some(agent_id),
            shift_id: Some(shift_id),
            detail,
        }]))
    };
    let change = match action {
        SelfServiceAction::Pickup => {
            if shift.owner.is_some() {
                return violation(
                    ViolationCode::ShiftNotOpen,
                    format!("shift {shift_id} is not open"),
                );
            }
            EditChange::Reassign { agent_id }
        }
        SelfServiceAction::Release => {
            if shift.owner != Some(agent_id) {
                return violation(
                    ViolationCode::ShiftNotOwned,
                    format!("agent {agent_id} does not own shift {shift_id}"),
                );
            }
            if !policy.allow_release {
                return violation(
                    ViolationCode::ReleaseNotAllowed,
                    "this business unit does not let agents release shifts".into(),
                );
            }
            let notice =
                jiff::SignedDuration::from_hours(i64::from(policy.release_min_hours_before_start));
            if shift.window.start().duration_since(now) < notice {
                return violation(
                    ViolationCode::TooCloseToStart,
                    format!(
                        "shift {shift_id} starts at {}: releases need {} hours' notice",
                        shift.window.start(),
                        policy.release_min_hours_before_start
                    ),
                );
            }
            if let Some(trade) = snap.held.get(&shift_id) {
                return violation(
                    ViolationCode::ShiftInTrade,
                    format!("shift {shift_id} is held by trade {trade}, which awaits review"),
                );
            }
            EditChange::Open
        }
    };
    let edit = ShiftEdit {
        shift_id,
        expected_version: shift.version,
        change,
    };
    plan_edit(snap, &edit, now)
}

/// Decides a matched trade against `snap` (which must not count the trade's own holds): it
/// conflicts if a shift of the trade changed after `base` (the version it was matched at);
/// otherwise it is a swap (or, for a shift given away, a reassignment) checked by the same
/// rules as any other, except those `waived`. `Ok` carries the plan and the swap it applies.
pub fn plan_trade(
    snap: &Snapshot,
    trade: &Trade,
    base: ScheduleVersion,
    now: Timestamp,
    waived: &[ViolationCode],
) -> Result<(Plan, Option<SwapItem>), Vec<Violation>> {
    let violation = |code, shift_id: Option<ShiftId>, detail: String| Violation {
        code,
        agent_id: trade.receiving_agent_id,
        shift_id,
        detail,
    };
    let Some(receiver) = trade.receiving_agent_id else {
        return Err(vec![violation(
            ViolationCode::AgentNotFound,
            None,
            format!("trade {} has no receiving agent", trade.id),
        )]);
    };
    let changed: Vec<Violation> = trade
        .shifts()
        .into_iter()
        .filter_map(|id| snap.shifts.get(&id))
        .filter(|s| s.version > base)
        .map(|s| {
            violation(
                ViolationCode::ShiftChangedSinceMatch,
                Some(s.id),
                format!(
                    "shift {} changed in version {}, after the trade was matched at version {base}",
                    s.id, s.version
                ),
            )
        })
        .collect();
    if !changed.is_empty() {
        return Err(changed);
    }
    let refused = |e: CommandError| match e {
        CommandError::Rejected(violations) => violations,
        other => vec![violation(
            ViolationCode::ShiftNotFound,
            Some(trade.initiating_shift_id),
            other.to_string(),
        )],
    };
    match trade.receiving_shift_id {
        Some(new_shift_id) => {
            let item = SwapItem {
                agent_id: trade.initiating_agent_id,
                original_shift_id: trade.initiating_shift_id,
                new_shift_id,
                reason_code: crate::command::ReasonCode::Preference,
                counterpart_agent_id: Some(receiver),
            };
            let req = SwapRequest {
                base: snap.schedule.version_id(),
                items: vec![item],
                effective_date: None,
                mode: SwapMode::Atomic,
                scope: ConflictScope::Shifts,
            };
            let plan = plan_swaps_waiving(snap, &req, now, waived).map_err(refused)?;
            match plan.outcomes.first() {
                Some(ItemOutcome::Applied { .. }) => Ok((plan, Some(item))),
                Some(ItemOutcome::Rejected { violations }) => Err(violations.clone()),
                _ => Err(vec![violation(
                    ViolationCode::ShiftChangedSinceMatch,
                    Some(new_shift_id),
                    "a shift of the trade changed".into(),
                )]),
            }
        }
        None => {
            let shift = snap
                .shifts
                .get(&trade.initiating_shift_id)
                .ok_or_else(|| refused(CommandError::ShiftNotFound(trade.initiating_shift_id)))?;
            let edit = ShiftEdit {
                shift_id: shift.id,
                expected_version: shift.version,
                change: EditChange::Reassign { agent_id: receiver },
            };
            plan_edit_waiving(snap, &edit, now, waived)
                .map(|plan| (plan, None))
                .map_err(refused)
        }
    }
}

/// The violation of a shift of `id` starting at `start` outside `week`, if it does.
fn outside_week(id: ShiftId, start: Timestamp, week: (Timestamp, Timestamp)) -> Option<Violation> {
    (start < week.0 || start >= week.1).then(|| Violation {
        code: ViolationCode::ShiftOutsideWeek,
        agent_id: None,
        shift_id: Some(id),
        detail: format!(
            "shift {id} would start at {start}, outside its schedule's week ({} to {})",
            week.0, week.1
        ),
    })
}

/// What an import breaks: every shift must start within the imported week. Other rules
/// (availability, rest, hours) are the planner's business at import; swaps and edits enforce
/// them from then on.
pub fn import_violations(new: &NewSchedule, zone: &Zone) -> Vec<Violation> {
    let week = new.first_version().week_window(zone);
    new.shifts
        .iter()
        .filter_map(|s| outside_week(s.id, s.window.start(), week))
        .collect()
}

/// The first version of an imported week: the schedule, its shifts, and the commit that
/// creates them (every change has no `before`).
pub fn plan_import(new: &NewSchedule, ctx: &CommitContext) -> (Schedule, Vec<Shift>, Commit) {
    let schedule = new.first_version();
    let mut shifts: Vec<Shift> = new
        .shifts
        .iter()
        .map(|s| Shift {
            id: s.id,
            schedule_id: new.id,
            owner: s.owner,
            window: s.window,
            required_skill: s.required_skill.clone(),
            activity_code: s.activity_code.clone(),
            version: ScheduleVersion::FIRST,
        })
        .collect();
    shifts.sort_unstable_by_key(|s| s.id);
    let changes = shifts
        .iter()
        .map(|s| ShiftChange {
            shift_id: s.id,
            before: None,
            after: s.state(),
        })
        .collect();
    let commit = Commit::new(
        new.id,
        ScheduleVersion::FIRST,
        VersionCause::Import,
        ctx,
        changes,
    );
    (schedule, shifts, commit)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
