//! The version history of a week, newest first, and each version's diff.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use rota_core::ids::{BusinessUnitId, ScheduleId};
use rota_core::store::{PageRequest, ScheduleStore};
use rota_core::version::ScheduleVersion;
use serde::Deserialize;

use super::agent::{asked_week, cause, name_of, names, shift_week};
use super::supervisor::unit;
use super::view::{self, Chrome};
use super::{OrPage, PageResult, PortalError, Visitor, render};
use crate::PortalState;

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/units/{bu}/history", get(history))
        .route("/portal/units/{bu}/history/{schedule}/{version}", get(diff))
}

/// A version in the history list.
struct VersionRow {
    schedule: ScheduleId,
    version: u64,
    cause: &'static str,
    who: String,
    at: String,
    request_id: String,
    changes: u32,
}

#[derive(Template)]
#[template(path = "portal/history.html")]
struct HistoryPage {
    chrome: Chrome,
    bu: BusinessUnitId,
    week: String,
    prev: String,
    next: String,
    versions: Vec<VersionRow>,
}

#[derive(Deserialize)]
struct HistoryQuery {
    #[serde(default)]
    week: Option<String>,
}

async fn history(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path(bu): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let week = asked_week(&state, &bu, q.week.as_deref());
    let zone = &bu.time_zone;
    let mut versions = Vec::new();
    if let Some(schedule) = state
        .app
        .store()
        .find_schedule(bu.id, week)
        .await
        .or_page(&visitor)?
    {
        let page = state
            .app
            .store()
            .versions(schedule.id, PageRequest::new(0, 200))
            .await
            .or_page(&visitor)?;
        versions = page
            .items
            .into_iter()
            .map(|v| VersionRow {
                schedule: schedule.id,
                version: v.version.get(),
                cause: cause(v.cause),
                who: v.actor,
                at: view::when(v.created_at, zone),
                request_id: v.request_id,
                changes: v.change_count,
            })
            .collect();
    }
    Ok(render(
        StatusCode::OK,
        &HistoryPage {
            chrome: visitor.chrome(format!("History · week of {week}")),
            bu: bu.id,
            week: week.to_string(),
            prev: shift_week(week, -1).to_string(),
            next: shift_week(week, 1).to_string(),
            versions,
        },
    ))
}

/// One shift's change in a version.
struct DiffRow {
    before: String,
    after: String,
}

#[derive(Template)]
#[template(path = "portal/diff.html")]
struct DiffPage {
    chrome: Chrome,
    bu: BusinessUnitId,
    version: u64,
    who: String,
    cause: &'static str,
    at: String,
    request_id: String,
    rows: Vec<DiffRow>,
    /// The schedule as of this version: each agent's shifts.
    as_of: BTreeMap<String, Vec<String>>,
}

async fn diff(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path((bu, schedule, version)): Path<(String, String, u64)>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let not_found = || {
        PortalError::not_found(
            &visitor,
            format!("no version {version} of schedule {schedule}"),
        )
    };
    let id: ScheduleId = schedule.parse().map_err(|_| not_found())?;
    let sched = state
        .app
        .store()
        .schedule(id)
        .await
        .map_err(|_| not_found())?;
    if sched.business_unit_id != bu.id {
        return Err(not_found());
    }
    let v = ScheduleVersion::new(version)
        .ok()
        .filter(|v| *v <= sched.version)
        .ok_or_else(not_found)?;
    let since = ScheduleVersion::new(version - 1).ok();
    let changes = state
        .app
        .store()
        .changes_since(id, since)
        .await
        .or_page(&visitor)?;
    let entry = changes
        .into_iter()
        .find(|c| c.record.version == v)
        .ok_or_else(not_found)?;
    let names = names(&state, &bu).await.or_page(&visitor)?;
    let zone = &bu.time_zone;
    let state_text = |s: &rota_core::version::ShiftState| {
        format!(
            "{}, {}",
            view::window(s.start, s.end, zone),
            name_of(&names, s.owner)
        )
    };
    let rows = entry
        .changes
        .iter()
        .map(|c| DiffRow {
            before: c
                .before
                .as_ref()
                .map_or_else(|| "(new)".to_owned(), state_text),
            after: state_text(&c.after),
        })
        .collect();
    let shifts = state
        .app
        .store()
        .schedule_as_of(id, v)
        .await
        .or_page(&visitor)?;
    let mut as_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for s in &shifts {
        as_of
            .entry(name_of(&names, s.owner))
            .or_default()
            .push(view::window(s.window.start(), s.window.end(), zone));
    }
    Ok(render(
        StatusCode::OK,
        &DiffPage {
            chrome: visitor.chrome(format!("Version {version}")),
            bu: bu.id,
            version,
            who: entry.record.actor.clone(),
            cause: cause(entry.record.cause),
            at: view::when(entry.record.created_at, zone),
            request_id: entry.record.request_id.clone(),
            rows,
            as_of,
        },
    ))
}
