//! The agent's availability: weekly windows per day and dated exceptions, edited as text
//! ("08:00-12:00, 13:00-17:00"; "2026-12-24: 08:00-12:00" or "2026-12-25: off"), saved through
//! the API's own command. Mistakes come back in the form with what was typed; overlapping
//! windows are merged, and the page says so.

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use rota_core::directory::{
    Availability, AvailabilityDoc, BusinessUnit, DatedExceptionDoc, DayOfWeek, WeeklyWindowDoc,
    WindowDoc,
};
use serde::Deserialize;

use super::agent::whoami;
use super::view::{self, Chrome};
use super::{OrPage, PageResult, Posted, Visitor, render};
use crate::PortalState;
use rota_app::directory::set_availability;

pub fn router() -> Router<PortalState> {
    Router::new().route("/portal/me/availability", get(page).post(save))
}

const DAYS: [(DayOfWeek, &str); 7] = [
    (DayOfWeek::Monday, "Monday"),
    (DayOfWeek::Tuesday, "Tuesday"),
    (DayOfWeek::Wednesday, "Wednesday"),
    (DayOfWeek::Thursday, "Thursday"),
    (DayOfWeek::Friday, "Friday"),
    (DayOfWeek::Saturday, "Saturday"),
    (DayOfWeek::Sunday, "Sunday"),
];

/// A day's row of the form.
struct DayRow {
    field: String,
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "portal/availability.html")]
struct AvailabilityPage {
    chrome: Chrome,
    csrf: String,
    key: String,
    zone: String,
    days: Vec<DayRow>,
    exceptions: String,
    problem: Option<String>,
    notice: Option<String>,
}

fn windows_text(windows: impl Iterator<Item = (String, String)>) -> String {
    windows
        .map(|(s, e)| format!("{s}-{e}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The form's text for a stored availability.
fn texts(doc: &AvailabilityDoc) -> ([String; 7], String) {
    let days = DAYS.map(|(day, _)| {
        windows_text(
            doc.weekly
                .iter()
                .filter(|w| w.day == day)
                .map(|w| (w.start.clone(), w.end.clone())),
        )
    });
    let exceptions = doc
        .exceptions
        .iter()
        .map(|e| {
            let w = windows_text(e.windows.iter().map(|w| (w.start.clone(), w.end.clone())));
            format!(
                "{}: {}",
                e.date,
                if w.is_empty() { "off".into() } else { w }
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    (days, exceptions)
}

fn form_page(
    visitor: &Visitor,
    bu: &BusinessUnit,
    days: [String; 7],
    exceptions: String,
    problem: Option<String>,
    notice: Option<String>,
) -> AvailabilityPage {
    AvailabilityPage {
        chrome: visitor.chrome("My availability"),
        csrf: visitor.session.csrf_token.clone(),
        key: view::form_key(),
        zone: bu.time_zone.name().to_owned(),
        days: DAYS
            .iter()
            .zip(days)
            .map(|((day, label), value)| DayRow {
                field: format!("{day:?}").to_lowercase(),
                label,
                value,
            })
            .collect(),
        exceptions,
        problem,
        notice,
    }
}

#[derive(Deserialize)]
struct PageQuery {
    #[serde(default)]
    saved: Option<String>,
}

async fn page(
    State(state): State<PortalState>,
    visitor: Visitor,
    Query(q): Query<PageQuery>,
) -> PageResult {
    let (agent, bu) = whoami(&state, &visitor).await?;
    let (days, exceptions) = texts(&AvailabilityDoc::from(&agent.availability));
    let notice = q.saved.map(|merged| {
        if merged == "merged" {
            "Saved. Overlapping or touching windows were merged into one.".to_owned()
        } else {
            "Saved.".to_owned()
        }
    });
    Ok(render(
        StatusCode::OK,
        &form_page(&visitor, &bu, days, exceptions, None, notice),
    ))
}

/// `"08:00-12:00, 13:00-17:00"` as windows; empty is none.
fn parse_windows(text: &str) -> Result<Vec<WindowDoc>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            let (start, end) = w
                .split_once('-')
                .ok_or_else(|| format!("`{w}` is not a window: write it as 08:00-12:00"))?;
            Ok(WindowDoc {
                start: start.trim().to_owned(),
                end: end.trim().to_owned(),
            })
        })
        .collect()
}

fn parse(days: &[String; 7], exceptions: &str) -> Result<AvailabilityDoc, String> {
    let mut weekly = Vec::new();
    for ((day, label), text) in DAYS.iter().zip(days) {
        for w in parse_windows(text).map_err(|e| format!("{label}: {e}"))? {
            weekly.push(WeeklyWindowDoc {
                day: *day,
                start: w.start,
                end: w.end,
            });
        }
    }
    let mut dated = Vec::new();
    for line in exceptions.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (date, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("`{line}`: write a date, a colon, then windows or off"))?;
        let date = date
            .trim()
            .parse()
            .map_err(|_| format!("`{line}`: `{}` is not a date (YYYY-MM-DD)", date.trim()))?;
        let rest = rest.trim();
        let windows = if rest.eq_ignore_ascii_case("off") {
            Vec::new()
        } else {
            parse_windows(rest).map_err(|e| format!("{date}: {e}"))?
        };
        dated.push(DatedExceptionDoc { date, windows });
    }
    Ok(AvailabilityDoc {
        weekly,
        exceptions: dated,
    })
}

#[derive(Deserialize)]
struct AvailabilityForm {
    #[serde(default)]
    monday: String,
    #[serde(default)]
    tuesday: String,
    #[serde(default)]
    wednesday: String,
    #[serde(default)]
    thursday: String,
    #[serde(default)]
    friday: String,
    #[serde(default)]
    saturday: String,
    #[serde(default)]
    sunday: String,
    #[serde(default)]
    exceptions: String,
}

async fn save(posted: Posted<AvailabilityForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        cmd,
        form,
    } = posted;
    let (agent, bu) = whoami(&state, &visitor).await?;
    let days = [
        form.monday,
        form.tuesday,
        form.wednesday,
        form.thursday,
        form.friday,
        form.saturday,
        form.sunday,
    ];
    let again = |days: [String; 7], exceptions: String, problem: String| {
        Ok(render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(&visitor, &bu, days, exceptions, Some(problem), None),
        ))
    };
    let doc = match parse(&days, &form.exceptions) {
        Ok(doc) => doc,
        Err(problem) => return again(days, form.exceptions, problem),
    };
    // The same check the command makes, so that an inverted window is named in the form.
    if let Err(e) = Availability::try_from(doc.clone()) {
        return again(days, form.exceptions, e.to_string());
    }
    let typed = doc.weekly.len()
        + doc
            .exceptions
            .iter()
            .map(|e| e.windows.len())
            .sum::<usize>();
    let saved = set_availability(&cmd, agent.id, doc)
        .await
        .or_page(&visitor)?;
    let stored = AvailabilityDoc::from(&saved.value.availability);
    let kept = stored.weekly.len()
        + stored
            .exceptions
            .iter()
            .map(|e| e.windows.len())
            .sum::<usize>();
    let saved = if kept < typed { "merged" } else { "yes" };
    Ok(Redirect::to(&format!("/portal/me/availability?saved={saved}")).into_response())
}
