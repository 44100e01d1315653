//! Conversions between stored columns and domain values, shared by both backends. Every read
//! goes through rota-core's parsers, so a row that no longer parses is reported, never trusted.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use rota_core::activity::{Activity, ActivityKind};
use rota_core::directory::{Agent, Availability, BusinessUnit, DayOfWeek, Skill, Zone};
use rota_core::ids::{AgentId, BusinessUnitId, ManagementUnitId, ScheduleId, ShiftId};
use rota_core::schedule::{ActivityCode, Schedule, ScheduleState, Shift, TimeWindow};
use rota_core::store::StoreError;
use rota_core::version::{ScheduleVersion, ShiftState, VersionCause, VersionRecord};
use uuid::Uuid;

pub fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

pub fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub fn instant(us: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(us).map_err(corrupt)
}

pub fn version(n: i64) -> Result<ScheduleVersion, StoreError> {
    u64::try_from(n)
        .ok()
        .and_then(|n| ScheduleVersion::new(n).ok())
        .ok_or_else(|| corrupt(format!("version {n}")))
}

pub fn version_i64(v: ScheduleVersion) -> i64 {
    i64::try_from(v.get()).unwrap_or(i64::MAX)
}

pub fn date(s: &str) -> Result<Date, StoreError> {
    s.parse().map_err(corrupt)
}

pub fn day_name(d: DayOfWeek) -> String {
    serde_json::to_value(d)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn business_unit(
    id: Uuid,
    name: String,
    tz: &str,
    first_day: &str,
) -> Result<BusinessUnit, StoreError> {
    Ok(BusinessUnit {
        id: BusinessUnitId::from_uuid(id),
        name,
        time_zone: Zone::parse(tz).map_err(corrupt)?,
        first_day_of_week: serde_json::from_value(serde_json::Value::String(first_day.to_owned()))
            .map_err(corrupt)?,
    })
}

pub fn skills_json(skills: &BTreeSet<Skill>) -> String {
    serde_json::to_string(skills).unwrap_or_else(|_| "[]".into())
}

pub fn availability_json(a: &Availability) -> String {
    serde_json::to_string(a).unwrap_or_else(|_| "{}".into())
}

pub fn time_off_json(windows: &[rota_core::directory::TimeOffWindow]) -> String {
    serde_json::to_string(windows).unwrap_or_else(|_| "[]".into())
}

#[allow(clippy::too_many_arguments)]
pub fn agent(
    id: Uuid,
    bu: Uuid,
    mu: Option<Uuid>,
    name: String,
    skills: &str,
    max_paid: i64,
    min_rest: i64,
    availability: &str,
    time_off: &str,
) -> Result<Agent, StoreError> {
    Ok(Agent {
        id: AgentId::from_uuid(id),
        business_unit_id: BusinessUnitId::from_uuid(bu),
        management_unit_id: mu.map(ManagementUnitId::from_uuid),
        name,
        skills: serde_json::from_str(skills).map_err(corrupt)?,
        max_paid_minutes_per_week: u32::try_from(max_paid).map_err(corrupt)?,
        min_rest_minutes: u32::try_from(min_rest).map_err(corrupt)?,
        availability: serde_json::from_str(availability).map_err(corrupt)?,
        time_off: serde_json::from_str(time_off).map_err(corrupt)?,
    })
}

pub fn schedule(
    id: Uuid,
    bu: Uuid,
    week_start: &str,
    state: &str,
    v: i64,
) -> Result<Schedule, StoreError> {
    Ok(Schedule {
        id: ScheduleId::from_uuid(id),
        business_unit_id: BusinessUnitId::from_uuid(bu),
        week_start: date(week_start)?,
        state: ScheduleState::parse(state)
            .ok_or_else(|| corrupt(format!("schedule state {state}")))?,
        version: version(v)?,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn shift(
    id: Uuid,
    schedule_id: Uuid,
    owner: Option<Uuid>,
    start: i64,
    end: i64,
    skill: Option<String>,
    activity: String,
    activities: &str,
    v: i64,
) -> Result<Shift, StoreError> {
    let window = TimeWindow::new(instant(start)?, instant(end)?).map_err(corrupt)?;
    Ok(Shift {
        id: ShiftId::from_uuid(id),
        schedule_id: ScheduleId::from_uuid(schedule_id),
        owner: owner.map(AgentId::from_uuid),
        activities: activities_from_json(activities, &window)?.into(),
        window,
        required_skill: skill
            .map(|s| Skill::parse(&s))
            .transpose()
            .map_err(corrupt)?,
        activity_code: ActivityCode::parse(&activity).map_err(corrupt)?,
        version: version(v)?,
    })
}

/// An activity as stored: relative to its shift's start, so a move rewrites only the window.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredActivity {
    code: ActivityCode,
    kind: ActivityKind,
    paid: bool,
    skill: Option<Skill>,
    offset: i64,
    minutes: i64,
}

/// A shift's activities as stored, given its start.
pub fn activities_json(activities: &[Activity], start: Timestamp) -> String {
    let stored: Vec<StoredActivity> = activities
        .iter()
        .map(|a| StoredActivity {
            code: a.code.clone(),
            kind: a.kind,
            paid: a.paid,
            skill: a.skill.clone(),
            offset: a.start.duration_since(start).as_mins(),
            minutes: a.minutes(),
        })
        .collect();
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// A shift's stored activities laid onto its window: each at its offset from the start, and the
/// last one ending with the shift (a move that changed the length left its stored length
/// behind: the last activity takes up the difference, as `rota_core::activity::relay` says).
fn activities_from_json(doc: &str, window: &TimeWindow) -> Result<Vec<Activity>, StoreError> {
    let stored: Vec<StoredActivity> = serde_json::from_str(doc).map_err(corrupt)?;
    let at = |m: i64| {
        window
            .start()
            .checked_add(jiff::SignedDuration::from_mins(m))
            .map_err(corrupt)
    };
    let last = stored.len().saturating_sub(1);
    stored
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let start = at(a.offset)?;
            let end = if i == last {
                window.end()
            } else {
                at(a.offset + a.minutes)?
            };
            if end <= start {
                return Err(corrupt(format!(
                    "activity {i} of a shift ends before it starts"
                )));
            }
            Ok(Activity {
                start,
                end,
                code: a.code,
                kind: a.kind,
                paid: a.paid,
                skill: a.skill,
            })
        })
        .collect()
}

pub fn shift_state(owner: Option<Uuid>, start: i64, end: i64) -> Result<ShiftState, StoreError> {
    Ok(ShiftState {
        owner: owner.map(AgentId::from_uuid),
        start: instant(start)?,
        end: instant(end)?,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn version_record(
    schedule_id: Uuid,
    v: i64,
    cause: &str,
    actor: String,
    request_id: String,
    created_at: i64,
    change_count: i64,
) -> Result<VersionRecord, StoreError> {
    Ok(VersionRecord {
        schedule_id: ScheduleId::from_uuid(schedule_id),
        version: version(v)?,
        cause: VersionCause::parse(cause)
            .ok_or_else(|| corrupt(format!("version cause {cause}")))?,
        actor,
        request_id,
        created_at: instant(created_at)?,
        change_count: u32::try_from(change_count).map_err(corrupt)?,
    })
}

/// Maps a driver error to the store's meaning: a lock wait that timed out is `Busy` (retry as
/// is), a lost connection `Unavailable`, a duplicate key `AlreadyExists`.
/// What a unique violation's message says exists, as a sentence of the domain: the database's
/// own text names tables and columns.
fn existing(message: &str) -> &'static str {
    const KINDS: [(&str, &str); 8] = [
        (
            "schedules",
            "a schedule of this business unit for this week",
        ),
        ("shift_activities", "a shift with this id"),
        ("shifts", "a shift with this id"),
        ("agents", "an agent with this id"),
        ("management_units", "a management unit with this id"),
        ("business_units", "a business unit with this id"),
        ("clients", "a client with this id"),
        ("webhook", "a webhook subscription with this id"),
    ];
    KINDS
        .iter()
        .find(|(table, _)| message.contains(table))
        .map_or("a record with this key", |(_, what)| what)
}

/// Whether a database error says the database cannot take the request now, whatever the
/// request (the service answers 503 and the client retries): PostgreSQL's SQLSTATE classes 08
/// (connection), 53 (insufficient resources) and 57P (operator intervention), 25006 (a
/// read-only transaction, as on a standby after a failover), and a database that does not
/// accept connections; SQLite's FULL, READONLY, IOERR and CANTOPEN, extended codes included.
fn unavailable(code: &str, message: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code == "25006"
            || (code == "55000" && message.contains("not currently accepting connections"));
    }
    // SQLite: the primary code is the low byte of the extended one.
    code.parse::<u32>()
        .is_ok_and(|c| matches!(c & 0xff, 8 | 10 | 13 | 14))
}

pub fn db_error(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if unavailable(&code, db.message()) {
                return StoreError::Unavailable(Box::new(e));
            }
            match code.as_ref() {
                // SQLITE_BUSY, SQLITE_BUSY_SNAPSHOT, SQLITE_LOCKED; PostgreSQL serialization
                // failure, deadlock, lock not available.
                "5" | "517" | "6" | "40001" | "40P01" | "55P03" => StoreError::Busy(Box::new(e)),
                // SQLITE_CONSTRAINT_PRIMARYKEY / _UNIQUE; PostgreSQL unique_violation.
                "1555" | "2067" | "23505" => {
                    StoreError::AlreadyExists(existing(db.message()).into())
                }
                _ => StoreError::Backend(Box::new(e)),
            }
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolClosed => StoreError::Unavailable(Box::new(e)),
        _ => StoreError::Backend(Box::new(e)),
    }
}

/// The hot reads of a write transaction (touched shifts, involved agents and their shifts)
/// come back as one JSON array aggregated by the database instead of one row each: the SQLite
/// driver hands every row across threads, which cost more than the query itself.
#[derive(serde::Deserialize)]
struct ShiftJson(
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<String>,
    String,
    String,
    i64,
);

#[derive(serde::Deserialize)]
struct AgentJson(
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    i64,
    String,
    String,
);

fn uuid_text(s: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(s).map_err(corrupt)
}

/// SQLite renders a NULL blob through `hex()` as an empty string.
fn optional_uuid(s: Option<String>) -> Result<Option<Uuid>, StoreError> {
    s.filter(|s| !s.is_empty())
        .map(|s| uuid_text(&s))
        .transpose()
}

pub fn slots_from_json(doc: &str) -> Result<Vec<rota_core::schedule::ShiftSlot>, StoreError> {
    #[derive(serde::Deserialize)]
    struct SlotJson(String, Option<String>, i64, i64, Option<String>, i64);
    let rows: Vec<SlotJson> = serde_json::from_str(doc).map_err(corrupt)?;
    rows.into_iter()
        .map(|SlotJson(id, owner, start, end, skill, v)| {
            Ok(rota_core::schedule::ShiftSlot {
                id: rota_core::ids::ShiftId::from_uuid(uuid_text(&id)?),
                owner: optional_uuid(owner)?.map(rota_core::ids::AgentId::from_uuid),
                window: rota_core::schedule::TimeWindow::new(instant(start)?, instant(end)?)
                    .map_err(corrupt)?,
                required_skill: skill
                    .map(|s| rota_core::directory::Skill::parse(&s))
                    .transpose()
                    .map_err(corrupt)?,
                version: version(v)?,
            })
        })
        .collect()
}

pub fn roster_from_json(doc: &str) -> Result<Vec<rota_core::directory::RosterEntry>, StoreError> {
    #[derive(serde::Deserialize)]
    struct RosterJson(String, String, String);
    let rows: Vec<RosterJson> = serde_json::from_str(doc).map_err(corrupt)?;
    rows.into_iter()
        .map(|RosterJson(id, name, skills)| {
            Ok(rota_core::directory::RosterEntry {
                id: rota_core::ids::AgentId::from_uuid(uuid_text(&id)?),
                name,
                skills: serde_json::from_str(&skills).map_err(corrupt)?,
            })
        })
        .collect()
}

pub fn shifts_from_json(doc: &str) -> Result<Vec<Shift>, StoreError> {
    let rows: Vec<ShiftJson> = serde_json::from_str(doc).map_err(corrupt)?;
    rows.into_iter()
        .map(
            |ShiftJson(id, schedule, owner, start, end, skill, activity, activities, v)| {
                shift(
                    uuid_text(&id)?,
                    uuid_text(&schedule)?,
                    optional_uuid(owner)?,
                    start,
                    end,
                    skill,
                    activity,
                    &activities,
                    v,
                )
            },
        )
        .collect()
}

pub fn agents_from_json(doc: &str) -> Result<Vec<Agent>, StoreError> {
    let rows: Vec<AgentJson> = serde_json::from_str(doc).map_err(corrupt)?;
    rows.into_iter()
        .map(
            |AgentJson(id, bu, mu, name, skills, max_paid, min_rest, availability, time_off)| {
                agent(
                    uuid_text(&id)?,
                    uuid_text(&bu)?,
                    optional_uuid(mu)?,
                    name,
                    &skills,
                    max_paid,
                    min_rest,
                    &availability,
                    &time_off,
                )
            },
        )
        .collect()
}
