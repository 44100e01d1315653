//! Synthetic contact-center data: a business unit with agents, their skills and availability,
//! and one week of shifts covering round-the-clock demand. Deterministic for a given seed
//! (ids included), so a seeded database, a demo and a benchmark can be reproduced exactly.
#![forbid(unsafe_code)]

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rota_core::activity::{Activity, ActivityKind};
use rota_core::coverage::{self, RequirementRun, Slot, WeekGrid};
use rota_core::directory::{
    ALL_WEEKDAYS, Agent, Availability, BusinessUnit, DirectoryError, LocalSpan, ManagementUnit,
    Skill, Zone,
};
use rota_core::ids::{AgentId, BusinessUnitId, ManagementUnitId, ScheduleId, ShiftId};
use rota_core::schedule::{ActivityCode, NewSchedule, NewShift, Schedule, ShiftError, TimeWindow};
use rota_core::store::{CoverageStore, DirectoryStore, ScheduleStore, StoreResult};
use rota_core::version::CommitContext;
use uuid::Uuid;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Params {
    pub business_unit: String,
    pub time_zone: Zone,
    /// The local date the week starts on; the business unit's first day of week is its weekday.
    pub week_start: Date,
    pub agents: usize,
    pub seed: u64,
}

/// A generated business unit, ready to store.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub business_unit: BusinessUnit,
    pub management_units: Vec<ManagementUnit>,
    pub agents: Vec<Agent>,
    pub schedule: NewSchedule,
    /// The week's staffing requirement: one run of every interval per skill.
    pub requirements: Vec<RequirementRun>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error(transparent)]
    Shift(#[from] ShiftError),
    #[error(transparent)]
    Activity(#[from] rota_core::activity::ActivityError),
}

/// When an agent works: each pattern has its availability and the local hour its shifts start.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    Day,
    Evening,
    Night,
    Anytime,
}

impl Pattern {
    fn start_hour(self, rng: &mut ChaCha8Rng) -> u16 {
        match self {
            Self::Day => 8,
            Self::Evening => 16,
            Self::Night => 0,
            Self::Anytime => [0, 8, 16][rng.random_range(0..3)],
        }
    }

    /// Local windows per day; night workers are available across midnight.
    fn windows(self) -> Vec<(u16, u16)> {
        match self {
            Self::Day => vec![(6 * 60, 18 * 60)],
            Self::Evening => vec![(12 * 60, 24 * 60)],
            Self::Night => vec![(0, 8 * 60), (20 * 60, 24 * 60)],
            Self::Anytime => vec![(0, 24 * 60)],
        }
    }
}

pub const SHIFT_MINUTES: u16 = 8 * 60;
const SKILLS: [&str; 5] = ["phone", "chat", "email", "billing", "spanish"];

fn id(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// An 8-hour shift's day, as a contact center places it: on queue, a paid 15-minute break
/// after about two hours, an unpaid 30-minute meal after about four, another paid break after
/// about six, on queue in between. `stagger` moves the breaks and the meal by that many
/// minutes, so that a team does not leave the queue all at once.
fn day_plan(
    window: &TimeWindow,
    skill: &Skill,
    stagger: i64,
) -> Result<Vec<Activity>, ScenarioError> {
    let at = |m: i64| {
        window
            .start()
            .checked_add(jiff::SignedDuration::from_mins(m))
            .map_err(|_| ShiftError::InvalidWindow)
    };
    let marks = [
        (ActivityKind::OnQueue, true, 0),
        (ActivityKind::Break, true, 120 + stagger),
        (ActivityKind::OnQueue, true, 135 + stagger),
        (ActivityKind::Meal, false, 240 + stagger),
        (ActivityKind::OnQueue, true, 270 + stagger),
        (ActivityKind::Break, true, 360 + stagger),
        (ActivityKind::OnQueue, true, 375 + stagger),
    ];
    let mut out = Vec::with_capacity(marks.len());
    for (i, (kind, paid, from)) in marks.iter().enumerate() {
        let end = match marks.get(i + 1) {
            Some((_, _, next)) => at(*next)?,
            None => window.end(),
        };
        out.push(Activity {
            code: ActivityCode::parse(match kind {
                ActivityKind::OnQueue => skill.as_str(),
                other => other.as_str(),
            })?,
            kind: *kind,
            paid: *paid,
            skill: None,
            start: at(*from)?,
            end,
        });
    }
    Ok(rota_core::activity::validate(window, Some(skill), out)?)
}

/// How busy a local hour of a weekday is, relative to the week's peak: quiet nights, a morning
/// ramp, peaks late morning and mid-afternoon with a dip at lunch, a falling evening, and
/// quieter weekends.
fn demand_shape(weekday: jiff::civil::Weekday, minute_of_day: i64) -> f64 {
    use jiff::civil::Weekday::*;
    let hour = minute_of_day as f64 / 60.0;
    let intraday = match hour {
        h if h < 6.0 => 0.3,
        h if h < 10.0 => 0.3 + 0.7 * (h - 6.0) / 4.0,
        h if h < 12.0 => 1.0,
        h if h < 13.0 => 0.85,
        h if h < 16.0 => 0.95,
        h if h < 22.0 => 0.95 - 0.6 * (h - 16.0) / 6.0,
        _ => 0.3,
    };
    let day = match weekday {
        Monday => 1.0,
        Tuesday => 0.95,
        Wednesday | Thursday => 0.9,
        Friday => 0.85,
        Saturday => 0.55,
        Sunday => 0.45,
    };
    intraday * day
}

/// The week's requirement per skill: the demand curve scaled to the skill's busiest interval,
/// and never more than 90% of the on-queue agents the generated schedule has in the interval,
/// so the schedule meets it with a margin that a few releases can use up.
fn requirements(p: &Params, schedule: &NewSchedule, agents: &[Agent]) -> Vec<RequirementRun> {
    let zone = &p.time_zone;
    let week = (
        zone.instant(p.week_start, 0),
        zone.instant(
            p.week_start
                .checked_add(jiff::Span::new().days(7))
                .unwrap_or(p.week_start),
            0,
        ),
    );
    let grid = WeekGrid::new(week);
    let shifts: Vec<rota_core::schedule::Shift> = schedule
        .shifts
        .iter()
        .map(|s| rota_core::schedule::Shift {
            id: s.id,
            schedule_id: schedule.id,
            owner: s.owner,
            window: s.window,
            required_skill: s.required_skill.clone(),
            activity_code: s.activity_code.clone(),
            activities: s.activities.clone().into(),
            version: rota_core::version::ScheduleVersion::FIRST,
        })
        .collect();
    let agents: HashMap<AgentId, Agent> = agents.iter().map(|a| (a.id, a.clone())).collect();
    let scheduled = coverage::scheduled(&grid, &shifts, &agents);
    scheduled
        .skills()
        .map(|skill| {
            let agents =
                |slot: Slot| scheduled.get(skill, slot) as f64 / coverage::INTERVAL_MINUTES as f64;
            let peak = (0..grid.slots()).map(agents).fold(0.0, f64::max);
            let required = (0..grid.slots())
                .map(|slot| {
                    let local = zone.tz().to_datetime(grid.slot_start(slot));
                    let minute = i64::from(local.hour()) * 60 + i64::from(local.minute());
                    let wanted = (demand_shape(local.weekday(), minute) * peak).round();
                    wanted.min((agents(slot) * 0.9).floor()).max(0.0) as u32
                })
                .collect();
            RequirementRun {
                skill: skill.clone(),
                start: grid.start(),
                required,
            }
        })
        .collect()
}

/// Generates the scenario: agents in teams of about 50, each working five 8-hour shifts
/// (00:00, 08:00 or 16:00 local) on a pattern (night, day, evening or anytime), so the three
/// shifts of a day cover all 24 hours, plus about 5% open shifts; each shift with its breaks and
/// meal placed, and a staffing requirement per skill that the schedule meets.
pub fn generate(p: &Params) -> Result<Scenario, ScenarioError> {
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    // Breaks draw from a stream of their own, so that the rest of the data is what it was
    // before shifts had activities.
    let mut breaks = ChaCha8Rng::seed_from_u64(p.seed ^ 0xb4ea_c0de);
    let mut stagger = move || [-15i64, 0, 15][breaks.random_range(0..3)];
    let mut business_unit = BusinessUnit::new(
        &p.business_unit,
        p.time_zone.clone(),
        p.week_start.weekday().into(),
    )?;
    business_unit.id = BusinessUnitId::from_uuid(id(&mut rng));
    let teams = p.agents.div_ceil(50).max(1);
    let management_units = (0..teams)
        .map(|t| {
            let mut mu = ManagementUnit::new(business_unit.id, &format!("Team {}", t + 1))?;
            mu.id = ManagementUnitId::from_uuid(id(&mut rng));
            Ok(mu)
        })
        .collect::<Result<Vec<_>, DirectoryError>>()?;
    let skill = |s: &str| Skill::parse(s);
    let phone = ActivityCode::parse("phone")?;
    let schedule_id = ScheduleId::from_uuid(id(&mut rng));
    let mut agents = Vec::with_capacity(p.agents);
    let mut shifts = Vec::with_capacity(p.agents * 5 + p.agents / 4);
    let day_start = |offset: i64| -> Date {
        p.week_start
            .checked_add(jiff::Span::new().days(offset))
            .unwrap_or(p.week_start)
    };
    let at =
        |offset: i64, minute: u16| -> Timestamp { p.time_zone.instant(day_start(offset), minute) };
    // Shifts are eight hours of local time, as a contact center plans them: on a
    // daylight-saving day one lasts seven or nine real hours.
    let window = |day: i64, hour: u16| -> Result<TimeWindow, ShiftError> {
        TimeWindow::new(at(day, hour * 60), at(day, hour * 60 + SHIFT_MINUTES))
    };

    for i in 0..p.agents {
        let pattern = match rng.random_range(0..10) {
            0..=3 => Pattern::Day,
            4..=6 => Pattern::Evening,
            7..=8 => Pattern::Night,
            _ => Pattern::Anytime,
        };
        let mut skills: BTreeSet<Skill> = BTreeSet::from([skill("phone")?]);
        for s in &SKILLS[1..] {
            if rng.random_bool(0.3) {
                skills.insert(skill(s)?);
            }
        }
        let mut weekly = Vec::new();
        for day in ALL_WEEKDAYS {
            for (start, end) in pattern.windows() {
                weekly.push((day, LocalSpan::new(start, end)?));
            }
        }
        // Two days off in a row, somewhere in the week.
        let off = rng.random_range(0..7i64);
        let days_off = [off, (off + 1) % 7];
        // One agent in ten has a dated exception: unavailable on one of their days off.
        let exceptions = if rng.random_bool(0.1) {
            vec![(day_start(days_off[0]), vec![])]
        } else {
            vec![]
        };
        let agent = Agent {
            id: AgentId::from_uuid(id(&mut rng)),
            business_unit_id: business_unit.id,
            management_unit_id: Some(management_units[i % teams].id),
            name: format!("Agent {:05}", i + 1),
            skills: skills.clone(),
            max_paid_minutes_per_week: [2400, 2400, 2880][rng.random_range(0..3)],
            min_rest_minutes: [480, 600][rng.random_range(0..2)],
            availability: Availability::new(weekly, exceptions),
            time_off: Vec::new(),
        };
        let start_hour = pattern.start_hour(&mut rng);
        let extra: Vec<&Skill> = skills.iter().filter(|s| s.as_str() != "phone").collect();
        for day in (0..7).filter(|d| !days_off.contains(d)) {
            let required = if !extra.is_empty() && rng.random_bool(0.2) {
                extra[rng.random_range(0..extra.len())].clone()
            } else {
                skill("phone")?
            };
            let window = window(day, start_hour)?;
            shifts.push(NewShift::new(
                ShiftId::from_uuid(id(&mut rng)),
                Some(agent.id),
                window,
                Some(required.clone()),
                ActivityCode::parse(required.as_str())?,
                day_plan(&window, &required, stagger())?,
            )?);
        }
        agents.push(agent);
    }
    // About 5% of all shifts are open: owned shifts are 95%.
    let open = (shifts.len() * 5).div_ceil(95);
    for _ in 0..open {
        let day = rng.random_range(0..7i64);
        let hour = [0u16, 8, 16][rng.random_range(0..3)];
        let window = window(day, hour)?;
        let phone_skill = skill("phone")?;
        shifts.push(NewShift::new(
            ShiftId::from_uuid(id(&mut rng)),
            None,
            window,
            Some(phone_skill.clone()),
            phone.clone(),
            day_plan(&window, &phone_skill, stagger())?,
        )?);
    }
    let schedule = NewSchedule {
        id: schedule_id,
        business_unit_id: business_unit.id,
        week_start: p.week_start,
        shifts,
    };
    Ok(Scenario {
        requirements: requirements(p, &schedule, &agents),
        schedule,
        business_unit,
        management_units,
        agents,
    })
}

/// Pairs of owned shifts with the same window and skill (so different owners: an agent works
/// one shift a slot), in a stable order, with each shift's owner. Swapping such a pair keeps
/// every rule, so benchmarks can swap the same pairs back and forth for as long as they run.
pub fn interchangeable_pairs(
    scenario: &Scenario,
) -> (Vec<(ShiftId, ShiftId)>, HashMap<ShiftId, AgentId>) {
    let mut by_slot: HashMap<TimeWindow, Vec<(ShiftId, AgentId)>> = HashMap::new();
    for s in &scenario.schedule.shifts {
        if let (Some(owner), Some(skill)) = (s.owner, &s.required_skill)
            && skill.as_str() == "phone"
        {
            by_slot.entry(s.window).or_default().push((s.id, owner));
        }
    }
    let mut slots: Vec<_> = by_slot.into_values().collect();
    slots.sort();
    let mut pairs = Vec::new();
    let mut owners = HashMap::new();
    for slot in slots {
        for pair in slot.chunks_exact(2) {
            pairs.push((pair[0].0, pair[1].0));
            owners.insert(pair[0].0, pair[0].1);
            owners.insert(pair[1].0, pair[1].1);
        }
    }
    (pairs, owners)
}

/// The swap of an interchangeable pair by its current owners, with `owners` updated to the
/// owners after it: what the benchmarks send, round after round, over the same pairs.
pub fn swap_pair(
    (a, b): (ShiftId, ShiftId),
    owners: &mut HashMap<ShiftId, AgentId>,
) -> rota_core::command::SwapItem {
    let (oa, ob) = (owners[&a], owners[&b]);
    owners.insert(a, ob);
    owners.insert(b, oa);
    rota_core::command::SwapItem {
        agent_id: oa,
        original_shift_id: a,
        new_shift_id: b,
        reason_code: rota_core::command::ReasonCode::Preference,
        counterpart_agent_id: None,
    }
}

/// Stores `scenario` through any store: its business unit, management units and agents, its
/// week as version 1, and its requirement as version 2. Answers the schedule.
pub async fn store<S: DirectoryStore + ScheduleStore + CoverageStore>(
    store: &S,
    scenario: &Scenario,
    ctx: &CommitContext,
) -> StoreResult<Schedule> {
    store.create_business_unit(&scenario.business_unit).await?;
    for mu in &scenario.management_units {
        store.create_management_unit(mu).await?;
    }
    store.create_agents(&scenario.agents).await?;
    let schedule = store.import_schedule(&scenario.schedule, ctx).await?;
    store
        .set_requirements(schedule.id, &scenario.requirements, ctx)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;
    use jiff::civil::date;

    fn params(week: Date, seed: u64) -> Params {
        Params {
            business_unit: "Chicago".into(),
            time_zone: Zone::parse("America/Chicago").unwrap(),
            week_start: week,
            agents: 200,
            seed,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
        let a = generate(&params(date(2026, 11, 30), 7)).unwrap();
        let b = generate(&params(date(2026, 11, 30), 7)).unwrap();
        let c = generate(&params(date(2026, 11, 30), 8)).unwrap();
        assert_eq!(a.schedule, b.schedule);
        assert_eq!(a.agents, b.agents);
        assert_ne!(a.schedule, c.schedule);
    }

    #[test]
    fn about_five_percent_of_shifts_are_open_and_every_owner_is_available_and_skilled() {
        // The week of the fall-back change, so the check runs across it.
        let s = generate(&params(date(2026, 10, 26), 1)).unwrap();
        let open = s
            .schedule
            .shifts
            .iter()
            .filter(|x| x.owner.is_none())
            .count();
        let share = open as f64 / s.schedule.shifts.len() as f64;
        assert!((0.04..0.06).contains(&share), "{share}");
        let zone = &s.business_unit.time_zone;
        for shift in &s.schedule.shifts {
            let Some(owner) = shift.owner else { continue };
            let agent = s.agents.iter().find(|a| a.id == owner).unwrap();
            assert!(
                agent
                    .availability
                    .covers(zone, shift.window.start(), shift.window.end())
            );
            assert!(
                agent
                    .skills
                    .contains(shift.required_skill.as_ref().unwrap())
            );
        }
    }

    #[test]
    fn every_hour_of_the_week_is_covered() {
        let s = generate(&params(date(2026, 11, 30), 3)).unwrap();
        let zone = &s.business_unit.time_zone;
        let start = zone.instant(date(2026, 11, 30), 0);
        for hour in 0..(7 * 24) {
            let t = start.checked_add(SignedDuration::from_hours(hour)).unwrap();
            assert!(
                s.schedule
                    .shifts
                    .iter()
                    .any(|x| x.window.start() <= t && t < x.window.end()),
                "hour {hour} uncovered"
            );
        }
    }

    #[test]
    fn the_requirement_peaks_by_day_is_quieter_at_night_and_weekends_and_the_schedule_meets_it() {
        let s = generate(&params(date(2026, 11, 30), 5)).unwrap();
        let zone = &s.business_unit.time_zone;
        let phone = s
            .requirements
            .iter()
            .find(|r| r.skill.as_str() == "phone")
            .unwrap();
        assert_eq!(phone.required.len(), 672);
        // Monday 10:00-12:00 against Monday 02:00-04:00 and Sunday 10:00-12:00.
        let sum = |day: usize, hour: usize| -> u32 {
            phone.required[day * 96 + hour * 4..day * 96 + (hour + 2) * 4]
                .iter()
                .sum()
        };
        assert!(sum(0, 10) > sum(0, 2), "{} vs {}", sum(0, 10), sum(0, 2));
        assert!(sum(0, 10) > sum(6, 10), "{} vs {}", sum(0, 10), sum(6, 10));
        // Every shift has its breaks and meal, and paid time excludes the meal.
        for shift in &s.schedule.shifts {
            let kinds: Vec<ActivityKind> = shift.activities.iter().map(|a| a.kind).collect();
            assert_eq!(
                kinds.iter().filter(|k| **k == ActivityKind::Break).count(),
                2
            );
            assert_eq!(
                kinds.iter().filter(|k| **k == ActivityKind::Meal).count(),
                1
            );
        }
        // The schedule meets every interval of every skill.
        let agents: HashMap<AgentId, Agent> = s.agents.iter().map(|a| (a.id, a.clone())).collect();
        let grid = WeekGrid::new((
            zone.instant(date(2026, 11, 30), 0),
            zone.instant(date(2026, 12, 7), 0),
        ));
        let shifts: Vec<rota_core::schedule::Shift> = rota_core::engine::plan_import(
            &s.schedule,
            &CommitContext {
                actor: "test".into(),
                request_id: "test".into(),
                now: Timestamp::UNIX_EPOCH,
                idempotency: None,
            },
        )
        .1;
        let scheduled = coverage::scheduled(&grid, &shifts, &agents);
        for run in &s.requirements {
            for (slot, required) in (0..).zip(&run.required) {
                let minutes = scheduled.get(&run.skill, slot);
                assert!(
                    minutes >= i64::from(*required) * 15,
                    "{} short at interval {slot}",
                    run.skill
                );
            }
        }
    }
}
