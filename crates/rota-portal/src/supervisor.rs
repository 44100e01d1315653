//! The supervisor's pages: the week as a grid (agents × days, open shifts on top), publishing,
//! and the trade review queue (single and bulk).

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use rota_api::trades::{ReviewBody, ReviewDecision, ReviewItem, ReviewOutcome};
use rota_core::auth::Action;
use rota_core::directory::BusinessUnit;
use rota_core::ids::{BusinessUnitId, ScheduleId, TradeId};
use rota_core::schedule::ScheduleState;
use rota_core::store::{
    CoverageStore, DirectoryStore, PageRequest, ScheduleStore, ShiftFilter, TradeFilter, TradeStore,
};
use rota_core::trade::TradeState;
use serde::Deserialize;

use super::agent::{asked_week, name_of, names, shift_week};
use super::trades::wants;
use super::view::{self, Chrome};
use super::{OrPage, PageResult, PortalError, Posted, Visitor, render};
use crate::PortalState;

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/units", get(units))
        .route("/portal/units/{bu}/week", get(grid))
        .route(
            "/portal/units/{bu}/schedules/{schedule}/publish",
            post(publish),
        )
        .route("/portal/units/{bu}/trades", get(queue).post(review))
}

/// The business unit of the path, when the visitor may do this page's work there.
pub(super) async fn unit(
    state: &PortalState,
    visitor: &Visitor,
    raw: &str,
) -> Result<BusinessUnit, PortalError> {
    super::unit(state, visitor, raw, Action::ReviewTrades).await
}

#[derive(Template)]
#[template(path = "portal/units.html")]
struct UnitsPage {
    chrome: Chrome,
    units: Vec<(BusinessUnitId, String, String)>,
}

async fn units(State(state): State<PortalState>, visitor: Visitor) -> PageResult {
    let all = state
        .app
        .store()
        .business_units(PageRequest::all())
        .await
        .or_page(&visitor)?;
    let units = all
        .items
        .into_iter()
        .filter(|bu| visitor.caller.0.may(Action::ReviewTrades, bu.id))
        .map(|bu| (bu.id, bu.name, bu.time_zone.name().to_owned()))
        .collect();
    Ok(render(
        StatusCode::OK,
        &UnitsPage {
            chrome: visitor.chrome("Business units"),
            units,
        },
    ))
}

#[derive(Deserialize)]
struct GridQuery {
    #[serde(default)]
    week: Option<String>,
    #[serde(default)]
    skill: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// One agent's row of the grid: a cell per day, each the day's shifts.
struct GridRow {
    name: String,
    skills: String,
    cells: Vec<Vec<String>>,
}

#[derive(Template)]
#[template(path = "portal/grid.html")]
struct GridPage {
    chrome: Chrome,
    csrf: String,
    key: String,
    bu: BusinessUnitId,
    unit: String,
    zone: String,
    week: String,
    prev: String,
    next: String,
    days: Vec<String>,
    schedule: Option<(ScheduleId, &'static str, u64)>,
    open: Vec<Vec<String>>,
    rows: Vec<GridRow>,
    coverage: Vec<super::coverage::StripRow>,
    skills: Vec<String>,
    skill: String,
    agent: String,
    notice: Option<String>,
}

async fn grid(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path(bu): Path<String>,
    Query(q): Query<GridQuery>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let week = asked_week(&state, &bu, q.week.as_deref());
    let zone = &bu.time_zone;
    let days: Vec<jiff::civil::Date> = (0..7)
        .filter_map(|d| week.checked_add(jiff::Span::new().days(d)).ok())
        .collect();
    let day_index = |t: jiff::Timestamp| {
        let date = t.to_zoned_datetime(zone.tz().clone()).date();
        days.iter().position(|d| *d == date)
    };
    // Independent reads run side by side: the roster with the week's schedule, then the
    // week's shifts with its coverage.
    let (agents, schedule) = tokio::join!(
        state.app.store().roster(bu.id),
        state.app.store().find_schedule(bu.id, week)
    );
    let (agents, schedule) = (agents.or_page(&visitor)?, schedule.or_page(&visitor)?);
    let mut skills: Vec<String> = agents
        .iter()
        .flat_map(|a| a.skills.iter().map(|s| s.as_str().to_owned()))
        .collect();
    skills.sort();
    skills.dedup();
    let skill = q.skill.unwrap_or_default();
    let wanted = q.agent.unwrap_or_default();
    let mut coverage = Vec::new();
    let mut open = vec![Vec::new(); 7];
    let mut by_agent: HashMap<rota_core::ids::AgentId, Vec<Vec<String>>> = HashMap::new();
    if let Some(schedule) = &schedule {
        let (report, shifts) = tokio::join!(
            state.app.store().coverage(schedule.id, None),
            state
                .app
                .store()
                .shift_slots(schedule.id, ShiftFilter::default())
        );
        coverage = super::coverage::strip(&report.or_page(&visitor)?, zone, &days);
        for shift in &shifts.or_page(&visitor)? {
            let Some(day) = day_index(shift.window.start()) else {
                continue;
            };
            let text = view::times(shift.window.start(), shift.window.end(), zone);
            match shift.owner {
                None => open[day].push(match &shift.required_skill {
                    Some(s) => format!("{text} ({})", s.as_str()),
                    None => text,
                }),
                Some(a) => by_agent.entry(a).or_insert_with(|| vec![Vec::new(); 7])[day].push(text),
            }
        }
    }
    let needle = wanted.to_lowercase();
    let rows = agents
        .iter()
        .filter(|a| skill.is_empty() || a.skills.iter().any(|s| s.as_str() == skill))
        .filter(|a| needle.is_empty() || a.name.to_lowercase().contains(&needle))
        .map(|a| GridRow {
            name: a.name.clone(),
            skills: a
                .skills
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            cells: by_agent
                .remove(&a.id)
                .unwrap_or_else(|| vec![Vec::new(); 7]),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &GridPage {
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            chrome: visitor.chrome(format!("{} · week of {week}", bu.name)),
            bu: bu.id,
            unit: bu.name.clone(),
            zone: zone.name().to_owned(),
            week: week.to_string(),
            prev: shift_week(week, -1).to_string(),
            next: shift_week(week, 1).to_string(),
            days: days
                .iter()
                .map(|d| d.strftime("%a %-d %b").to_string())
                .collect(),
            schedule: schedule.as_ref().map(|s| {
                (
                    s.id,
                    if s.state == ScheduleState::Published {
                        "published"
                    } else {
                        "draft"
                    },
                    s.version.get(),
                )
            }),
            open,
            rows,
            coverage,
            skills,
            skill,
            agent: wanted,
            notice: q
                .done
                .filter(|d| d == "published")
                .map(|_| "Published: agents see this week now.".to_owned()),
        },
    ))
}

#[derive(Deserialize)]
struct PublishForm {
    week: String,
}

async fn publish(
    Path((bu, schedule)): Path<(String, String)>,
    posted: Posted<PublishForm>,
) -> PageResult {
    let Posted {
        state,
        visitor,
        cmd,
        form,
    } = posted;
    let unit = unit(&state, &visitor, &bu).await?;
    let id: ScheduleId = schedule
        .parse()
        .map_err(|_| PortalError::not_found(&visitor, format!("no schedule {schedule}")))?;
    rota_app::schedules::publish(&cmd, id)
        .await
        .or_page(&visitor)?;
    Ok(Redirect::to(&format!(
        "/portal/units/{}/week?week={}&done=published",
        unit.id,
        view::encode_query(&form.week)
    ))
    .into_response())
}

/// A matched trade in the queue.
struct QueueRow {
    id: TradeId,
    version: u32,
    from: String,
    shift: String,
    to: String,
    back: String,
    wants: String,
    check: Vec<String>,
    verdict: String,
}

/// What the last review did, trade by trade.
struct ReviewLine {
    ok: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "portal/queue.html")]
struct QueuePage {
    chrome: Chrome,
    csrf: String,
    key: String,
    bu: BusinessUnitId,
    rows: Vec<QueueRow>,
    results: Vec<ReviewLine>,
}

async fn queue(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path(bu): Path<String>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    queue_page(&state, &visitor, &bu, Vec::new()).await
}

async fn queue_page(
    state: &PortalState,
    visitor: &Visitor,
    bu: &BusinessUnit,
    results: Vec<ReviewLine>,
) -> PageResult {
    let zone = &bu.time_zone;
    let matched = state
        .app
        .store()
        .trades(
            TradeFilter {
                business_unit: Some(bu.id),
                state: Some(TradeState::Matched),
                visible_to: None,
            },
            PageRequest::new(0, 500),
        )
        .await
        .or_page(visitor)?;
    let names = names(state, bu).await.or_page(visitor)?;
    let mut rows = Vec::new();
    for trade in matched.items {
        let shift = state
            .app
            .store()
            .shift(trade.initiating_shift_id)
            .await
            .or_page(visitor)?;
        let back = match trade.receiving_shift_id {
            Some(id) => {
                let s = state.app.store().shift(id).await.or_page(visitor)?;
                view::window(s.window.start(), s.window.end(), zone)
            }
            None => "nothing".to_owned(),
        };
        rows.push(QueueRow {
            id: trade.id,
            version: trade.version,
            from: name_of(&names, Some(trade.initiating_agent_id)),
            shift: view::window(shift.window.start(), shift.window.end(), zone),
            to: name_of(&names, trade.receiving_agent_id),
            back,
            wants: wants(&trade, zone),
            check: trade
                .check
                .as_ref()
                .map(|c| c.violations.iter().map(view::violation).collect())
                .unwrap_or_default(),
            verdict: trade
                .check
                .as_ref()
                .map(|c| format!("{:?}", c.verdict))
                .unwrap_or_default(),
        });
    }
    Ok(render(
        StatusCode::OK,
        &QueuePage {
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            chrome: visitor.chrome("Trade queue"),
            bu: bu.id,
            rows,
            results,
        },
    ))
}

#[derive(Deserialize)]
struct ReviewForm {
    /// Checked trades, each `id:version`.
    #[serde(default)]
    trade: Vec<String>,
    /// The bulk decision for the checked trades.
    #[serde(default)]
    decision: Option<String>,
    /// One trade's own button: `approve:id:version` or `deny:id:version`.
    #[serde(default)]
    one: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

async fn review(Path(bu): Path<String>, posted: Posted<ReviewForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        cmd,
        form,
    } = posted;
    let unit = unit(&state, &visitor, &bu).await?;
    let bad = |detail: String| {
        PortalError::page(
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            "The form has a mistake",
            detail,
        )
    };
    let decision = |d: &str| match d {
        "approve" => Ok(ReviewDecision::Approve),
        "deny" => Ok(ReviewDecision::Deny),
        other => Err(bad(format!("unknown decision {other}"))),
    };
    let item = |raw: &str, d: ReviewDecision| {
        let (id, version) = raw
            .split_once(':')
            .ok_or_else(|| bad(format!("unreadable trade {raw}")))?;
        Ok::<_, PortalError>(ReviewItem {
            trade_id: id.parse().map_err(|_| bad(format!("no trade {id}")))?,
            version: version
                .parse()
                .map_err(|_| bad(format!("no version {version}")))?,
            decision: d,
            reason: form.reason.clone().filter(|r| !r.trim().is_empty()),
        })
    };
    let reviews = match &form.one {
        Some(one) => {
            let (d, rest) = one
                .split_once(':')
                .ok_or_else(|| bad(format!("unreadable {one}")))?;
            vec![item(rest, decision(d)?)?]
        }
        None => {
            let d = decision(form.decision.as_deref().unwrap_or_default())?;
            if form.trade.is_empty() {
                return Err(bad("Tick at least one trade.".into()));
            }
            form.trade
                .iter()
                .map(|t| item(t, d))
                .collect::<Result<_, _>>()?
        }
    };
    let done = rota_app::trades::review(&cmd, ReviewBody { reviews })
        .await
        .or_page(&visitor)?;
    let results = done
        .value
        .results
        .iter()
        .map(|r| match (&r.outcome, &r.error) {
            (ReviewOutcome::Approved, _) => ReviewLine {
                ok: true,
                text: format!("Trade {} approved: the shifts changed hands.", r.trade_id),
            },
            (ReviewOutcome::Denied, _) => ReviewLine {
                ok: true,
                text: format!("Trade {} denied.", r.trade_id),
            },
            (_, Some(e)) => ReviewLine {
                ok: false,
                text: format!("Trade {}: {} ({})", r.trade_id, e.detail, e.code.as_str()),
            },
            _ => ReviewLine {
                ok: false,
                text: format!("Trade {} failed.", r.trade_id),
            },
        })
        .collect();
    queue_page(&state, &visitor, &unit, results).await
}
