//! The agent's week: my shifts (and the published weeks after it) in the business unit's
//! time, what changed in it since I last looked, open shifts to pick up, and release.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use jiff::civil::Date;
use rota_core::directory::{Agent, BusinessUnit};
use rota_core::engine::SelfServiceAction;
use rota_core::ids::{AgentId, ShiftId};
use rota_core::schedule::{Schedule, ScheduleState, Shift};
use rota_core::store::{DirectoryStore, PageRequest, ScheduleStore, ShiftFilter, UserStore};
use rota_core::version::ScheduleVersion;
use serde::Deserialize;

use super::view::{self, Chrome, StaleChange, StalePage};
use super::{OrPage, PageResult, PortalError, Posted, Visitor, render};
use crate::PortalState;
use rota_app::AppError;

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/me", get(week))
        .route("/portal/me/seen", post(mark_seen))
        .route("/portal/me/shifts/{shift}/pickup", post(pickup))
        .route("/portal/me/shifts/{shift}/release", post(release))
}

/// The agent a visitor is, and their business unit; 403 for anyone else.
pub(super) async fn whoami(
    state: &PortalState,
    visitor: &Visitor,
) -> Result<(Agent, BusinessUnit), PortalError> {
    let id = visitor
        .caller
        .me()
        .map_err(|_| PortalError::not_allowed(visitor, "use the agent pages"))?;
    let agent = state.app.store().agent(id).await.or_page(visitor)?;
    let bu = state
        .app
        .store()
        .business_unit(agent.business_unit_id)
        .await
        .or_page(visitor)?;
    Ok((agent, bu))
}

/// The first day of the week of `bu` that holds `day`.
pub fn week_of(bu: &BusinessUnit, day: Date) -> Date {
    let first: jiff::civil::Weekday = bu.first_day_of_week.into();
    let back = i64::from(day.weekday().since(first));
    day.checked_sub(jiff::Span::new().days(back)).unwrap_or(day)
}

/// The week a page asked for (`?week=YYYY-MM-DD`, any day of it) or the current one.
pub fn asked_week(state: &PortalState, bu: &BusinessUnit, asked: Option<&str>) -> Date {
    let today = state
        .app
        .clock()
        .now()
        .to_zoned_datetime(bu.time_zone.tz().clone())
        .date();
    let day = asked.and_then(|s| s.parse::<Date>().ok()).unwrap_or(today);
    week_of(bu, day)
}

pub fn shift_week(week: Date, weeks: i64) -> Date {
    week.checked_add(jiff::Span::new().weeks(weeks))
        .unwrap_or(week)
}

/// Agent names of a business unit, for pages that say who.
pub async fn names(
    state: &PortalState,
    bu: &BusinessUnit,
) -> rota_core::store::StoreResult<HashMap<AgentId, String>> {
    // The lean roster: names are all these pages need of an agent.
    Ok(state
        .app
        .store()
        .roster(bu.id)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}

pub fn name_of(names: &HashMap<AgentId, String>, agent: Option<AgentId>) -> String {
    agent.map_or_else(
        || "open".to_owned(),
        |a| names.get(&a).cloned().unwrap_or_else(|| a.to_string()),
    )
}

#[derive(Deserialize)]
struct WeekQuery {
    #[serde(default)]
    week: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// A shift as a row of the agent's page.
struct ShiftRow {
    id: ShiftId,
    version: u64,
    day: String,
    times: String,
    skill: String,
    activities: String,
}

impl ShiftRow {
    fn of_slot(slot: &rota_core::schedule::ShiftSlot, zone: &rota_core::directory::Zone) -> Self {
        Self {
            id: slot.id,
            version: slot.version.get(),
            day: slot
                .window
                .start()
                .to_zoned_datetime(zone.tz().clone())
                .strftime("%a %-d %b")
                .to_string(),
            times: view::times(slot.window.start(), slot.window.end(), zone),
            skill: slot
                .required_skill
                .as_ref()
                .map_or_else(String::new, |s| s.as_str().to_owned()),
            activities: String::new(),
        }
    }

    fn of(shift: &Shift, zone: &rota_core::directory::Zone) -> Self {
        Self {
            id: shift.id,
            version: shift.version.get(),
            day: shift
                .window
                .start()
                .to_zoned_datetime(zone.tz().clone())
                .strftime("%a %-d %b")
                .to_string(),
            times: view::times(shift.window.start(), shift.window.end(), zone),
            skill: shift
                .required_skill
                .as_ref()
                .map_or_else(String::new, |s| s.as_str().to_owned()),
            activities: shift
                .activities
                .iter()
                .filter(|a| a.code.as_str() != shift.activity_code.as_str())
                .map(|a| format!("{} {}", a.code.as_str(), view::times(a.start, a.end, zone)))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// One change to the agent's shifts since they last looked.
struct ChangeRow {
    text: String,
    by: String,
}

#[derive(Template)]
#[template(path = "portal/my_week.html")]
struct WeekPage {
    chrome: Chrome,
    csrf: String,
    key: String,
    unit: String,
    zone: String,
    week: String,
    prev: String,
    next: String,
    published: bool,
    version: u64,
    mine: Vec<ShiftRow>,
    open: Vec<ShiftRow>,
    changes: Vec<ChangeRow>,
    notice: Option<String>,
}

async fn published(
    state: &PortalState,
    visitor: &Visitor,
    bu: &BusinessUnit,
    week: Date,
) -> Result<Option<Schedule>, PortalError> {
    Ok(state
        .app
        .store()
        .find_schedule(bu.id, week)
        .await
        .or_page(visitor)?
        .filter(|s| s.state == ScheduleState::Published))
}

async fn week(
    State(state): State<PortalState>,
    visitor: Visitor,
    Query(q): Query<WeekQuery>,
) -> PageResult {
    let (agent, bu) = whoami(&state, &visitor).await?;
    let week = asked_week(&state, &bu, q.week.as_deref());
    let schedule = published(&state, &visitor, &bu, week).await?;
    let zone = &bu.time_zone;
    let (mut mine, mut open, mut changes, mut version) = (Vec::new(), Vec::new(), Vec::new(), 0);
    if let Some(schedule) = &schedule {
        version = schedule.version.get();
        let own = ShiftFilter {
            agent: Some(agent.id),
            ..ShiftFilter::default()
        };
        let unowned = ShiftFilter {
            open: true,
            ..ShiftFilter::default()
        };
        let (own, unowned) = tokio::join!(
            state
                .app
                .store()
                .shifts(schedule.id, own, PageRequest::all()),
            state.app.store().shift_slots(schedule.id, unowned),
        );
        mine = own
            .or_page(&visitor)?
            .items
            .iter()
            .map(|s| ShiftRow::of(s, zone))
            .collect();
        // The open shifts this agent could take: those needing no skill or one they have.
        open = unowned
            .or_page(&visitor)?
            .iter()
            .filter(|s| {
                s.required_skill
                    .as_ref()
                    .is_none_or(|skill| agent.skills.contains(skill))
            })
            .map(|s| ShiftRow::of_slot(s, zone))
            .collect();
        let seen = state
            .app
            .store()
            .seen_version(visitor.user().id, schedule.id)
            .await
            .or_page(&visitor)?;
        changes = changes_since(&state, &visitor, &bu, schedule, seen, agent.id).await?;
    }
    let notice = q.done.as_deref().map(|d| match d {
        "picked" => "You picked up the shift.".to_owned(),
        "released" => "You released the shift; it is open for others now.".to_owned(),
        "held" => "Your change waits for a supervisor: it would leave coverage short.".to_owned(),
        "offered" => "Your trade is offered.".to_owned(),
        _ => String::new(),
    });
    Ok(render(
        StatusCode::OK,
        &WeekPage {
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            chrome: visitor.chrome("My week"),
            unit: bu.name.clone(),
            zone: zone.name().to_owned(),
            week: week.to_string(),
            prev: shift_week(week, -1).to_string(),
            next: shift_week(week, 1).to_string(),
            published: schedule.is_some(),
            version,
            mine,
            open,
            changes,
            notice,
        },
    ))
}

/// The most versions "what changed" reads back when the agent never marked one as seen (or
/// marked one long ago): a week's history can hold hundreds of batch versions.
const CHANGES_WINDOW: u64 = 200;

/// The changes to `agent`'s shifts after the version they last marked as seen (at most the
/// last [`CHANGES_WINDOW`] versions, never the import), newest first, as sentences.
async fn changes_since(
    state: &PortalState,
    visitor: &Visitor,
    bu: &BusinessUnit,
    schedule: &Schedule,
    seen: Option<ScheduleVersion>,
    agent: AgentId,
) -> Result<Vec<ChangeRow>, PortalError> {
    let floor = schedule
        .version
        .get()
        .saturating_sub(CHANGES_WINDOW)
        .max(ScheduleVersion::FIRST.get());
    let since = ScheduleVersion::new(seen.map_or(floor, |s| s.get().max(floor))).ok();
    let versions = state
        .app
        .store()
        .changes_since(schedule.id, since)
        .await
        .or_page(visitor)?;
    let mine = |o: Option<AgentId>| o == Some(agent);
    let relevant: Vec<_> = versions
        .iter()
        .rev()
        .flat_map(|v| v.changes.iter().map(move |c| (v, c)))
        .filter_map(|(v, c)| c.before.map(|before| (v, c, before)))
        .filter(|(_, c, before)| mine(before.owner) || mine(c.after.owner))
        .collect();
    // Names of the other agents these changes involve, and only theirs.
    let mut names: HashMap<AgentId, String> = HashMap::from([(agent, "you".to_owned())]);
    for (_, c, before) in &relevant {
        for other in [before.owner, c.after.owner].into_iter().flatten() {
            if let std::collections::hash_map::Entry::Vacant(e) = names.entry(other) {
                let found = state.app.store().agent(other).await.or_page(visitor)?;
                e.insert(found.name);
            }
        }
    }
    let zone = &bu.time_zone;
    Ok(relevant
        .into_iter()
        .map(|(v, c, before)| {
            let then = view::window(before.start, before.end, zone);
            let text = match (mine(before.owner), mine(c.after.owner)) {
                (true, false) => {
                    format!(
                        "Your {then} shift went to {}.",
                        name_of(&names, c.after.owner)
                    )
                }
                (false, _) => format!(
                    "The {then} shift is yours now (was {}).",
                    name_of(&names, before.owner)
                ),
                (true, true) => format!(
                    "Your {then} shift moved to {}.",
                    view::window(c.after.start, c.after.end, zone)
                ),
            };
            ChangeRow {
                text,
                by: format!(
                    "{} by {}, {} (version {}, request {})",
                    cause(v.record.cause),
                    v.record.actor,
                    view::when(v.record.created_at, zone),
                    v.record.version.get(),
                    v.record.request_id
                ),
            }
        })
        .collect())
}

/// A version's cause as a person would say it.
pub fn cause(c: rota_core::version::VersionCause) -> &'static str {
    use rota_core::version::VersionCause as C;
    match c {
        C::Import => "imported",
        C::BulkSwap => "swap by the bulk batch",
        C::SelfService => "self-service",
        C::SupervisorEdit => "edit by a supervisor",
        C::Publish => "published",
        C::Requirements => "staffing requirement",
        C::TimeOff => "time off",
    }
}

#[derive(Deserialize)]
struct SeenForm {
    week: String,
    version: u64,
}

async fn mark_seen(posted: Posted<SeenForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        form,
        ..
    } = posted;

    let (_, bu) = whoami(&state, &visitor).await?;
    let week = asked_week(&state, &bu, Some(&form.week));
    if let (Some(schedule), Some(version)) = (
        published(&state, &visitor, &bu, week).await?,
        ScheduleVersion::new(form.version).ok(),
    ) {
        state
            .app
            .mark_seen(visitor.user(), &schedule, version)
            .await
            .or_page(&visitor)?;
    }
    Ok(Redirect::to(&format!("/portal/me?week={week}")).into_response())
}

#[derive(Deserialize)]
struct ShiftForm {
    /// The shift's version the page showed.
    version: u64,
    week: String,
}

pub(super) fn parse_shift(visitor: &Visitor, raw: &str) -> Result<ShiftId, PortalError> {
    raw.parse()
        .map_err(|_| PortalError::not_found(visitor, format!("no shift {raw}")))
}

/// The shift as it is now, or the stale page when it changed after `shown` (what the form's
/// page showed).
pub async fn current_shift(
    state: &PortalState,
    visitor: &Visitor,
    bu: &BusinessUnit,
    id: ShiftId,
    shown: u64,
    back: String,
) -> Result<Shift, PortalError> {
    let shift = state.app.store().shift(id).await.or_page(visitor)?;
    if ScheduleVersion::new(shown).is_ok_and(|v| shift.version <= v) {
        return Ok(shift);
    }
    Err(stale(state, visitor, bu, &shift, shown, back).await)
}

/// The page for a form about `shift` from a page that showed it at `shown`: each version that
/// changed it since (cause, who, when, request id) and how it stands now. Nothing was changed.
pub async fn stale(
    state: &PortalState,
    visitor: &Visitor,
    bu: &BusinessUnit,
    shift: &Shift,
    shown: u64,
    back: String,
) -> PortalError {
    let page = async {
        let since = ScheduleVersion::new(shown).ok();
        let versions = state
            .app
            .store()
            .changes_since(shift.schedule_id, since)
            .await
            .or_page(visitor)?;
        let zone = &bu.time_zone;
        let changes = versions
            .iter()
            .filter(|v| v.changes.iter().any(|c| c.shift_id == shift.id))
            .map(|v| StaleChange {
                version: v.record.version.get(),
                who: v.record.actor.clone(),
                cause: cause(v.record.cause).to_owned(),
                at: view::when(v.record.created_at, zone),
                request_id: v.record.request_id.clone(),
            })
            .collect();
        let names = names(state, bu).await.or_page(visitor)?;
        Ok::<_, PortalError>(StalePage {
            chrome: visitor.chrome("Someone changed this shift first"),
            subject: "This shift changed after your page showed it".into(),
            changes,
            now: format!(
                "Now: {}, {}.",
                view::window(shift.window.start(), shift.window.end(), zone),
                match shift.owner {
                    None => "open".to_owned(),
                    Some(a) => format!("worked by {}", name_of(&names, Some(a))),
                }
            ),
            back,
            request_id: visitor.request_id.to_string(),
        })
    };
    match page.await {
        Ok(page) => PortalError::Stale(Box::new(page)),
        Err(e) => e,
    }
}

async fn pickup(Path(shift): Path<String>, posted: Posted<ShiftForm>) -> PageResult {
    self_service(shift, posted, SelfServiceAction::Pickup, "picked").await
}

async fn release(Path(shift): Path<String>, posted: Posted<ShiftForm>) -> PageResult {
    self_service(shift, posted, SelfServiceAction::Release, "released").await
}

async fn self_service(
    shift: String,
    posted: Posted<ShiftForm>,
    action: SelfServiceAction,
    done: &str,
) -> PageResult {
    let Posted {
        state,
        visitor,
        cmd,
        form,
    } = posted;
    let shift = parse_shift(&visitor, &shift)?;
    // Back to the week the form came from (the week page finds its first day); the command
    // alone reads the store, as the API's does.
    let back = match form.week.parse::<jiff::civil::Date>() {
        Ok(day) => format!("/portal/me?week={day}"),
        Err(_) => "/portal/me?".to_owned(),
    };
    // The version the page showed goes into the command: the check runs under its lock.
    let seen = ScheduleVersion::new(form.version).ok();
    let result = match rota_app::trades::self_service(&cmd, shift, action, seen).await {
        Err(AppError::Conflict { .. }) => {
            let (_, bu) = whoami(&state, &visitor).await?;
            let now = state.app.store().shift(shift).await.or_page(&visitor)?;
            return Err(stale(&state, &visitor, &bu, &now, form.version, back).await);
        }
        other => other.or_page(&visitor)?,
    };
    let outcome = result
        .value
        .outcomes
        .first()
        .map_or(Ok("done"), view::outcome);
    match outcome {
        Ok("held") => Ok(Redirect::to(&format!("{back}&done=held")).into_response()),
        Ok(_) => Ok(Redirect::to(&format!("{back}&done={done}")).into_response()),
        Err(reasons) => Err(PortalError::page(
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            "That breaks a rule",
            reasons.join("; "),
        )),
    }
}
