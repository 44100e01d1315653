//! Time off in the portal. Agents: balances, a request form (whole days, or part of a day),
//! their requests with state, waitlist place and the rules that held them, and cancel.
//! Supervisors: the queue of pending and waitlisted requests with each one's rule check,
//! approve, deny, or approve overriding the failed rules with a reason. All through the API's
//! own commands.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use jiff::civil::{Date, Time};
use rota_api::timeoff::{NewTimeOffBody, TimeOffCancelBody, TimeOffDecisionBody};
use rota_core::auth::Action;
use rota_core::directory::BusinessUnit;
use rota_core::ids::{BusinessUnitId, TimeOffId};
use rota_core::store::{PageRequest, TimeOffFilter, TimeOffStore, TradeStore};
use rota_core::timeoff::{Days, TimeOffRequest, TimeOffState};
use serde::Deserialize;

use super::agent::{name_of, names, whoami};
use super::view::{self, Chrome};
use super::{OrPage, PageResult, PortalError, Posted, Visitor, render};
use crate::PortalState;

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/me/time-off", get(mine).post(request))
        .route("/portal/me/time-off/{id}/cancel", post(cancel))
        .route("/portal/units/{bu}/time-off", get(queue))
        .route("/portal/units/{bu}/time-off/{id}/decision", post(decide))
}

/// A request as a row of either page.
struct RequestRow {
    id: TimeOffId,
    version: u32,
    who: String,
    code: String,
    when: String,
    state: &'static str,
    /// Its place among the waitlisted requests of its group that overlap it.
    place: Option<usize>,
    rules: Vec<String>,
    decision: String,
    cancellable: bool,
}

fn when(req: &TimeOffRequest, bu: &BusinessUnit) -> String {
    match req.days {
        Some(d) if d.first == d.last => format!("{} (whole day)", d.first.strftime("%a %-d %b %Y")),
        Some(d) => format!(
            "{} to {} (whole days)",
            d.first.strftime("%a %-d %b"),
            d.last.strftime("%a %-d %b %Y")
        ),
        None => view::window(req.start, req.end, &bu.time_zone),
    }
}

fn rows(
    requests: &[TimeOffRequest],
    waitlist: &[TimeOffRequest],
    bu: &BusinessUnit,
    names: &HashMap<rota_core::ids::AgentId, String>,
) -> Vec<RequestRow> {
    requests
        .iter()
        .map(|r| RequestRow {
            id: r.id,
            version: r.version,
            who: name_of(names, Some(r.agent_id)),
            code: r.code.as_str().to_owned(),
            when: when(r, bu),
            state: r.state.as_str(),
            place: (r.state == TimeOffState::Waitlisted).then(|| {
                1 + waitlist
                    .iter()
                    .filter(|w| {
                        w.group == r.group
                            && w.overlaps(r.start, r.end)
                            && (w.created_at, w.id) < (r.created_at, r.id)
                    })
                    .count()
            }),
            rules: r.violations.iter().map(view::violation).collect(),
            decision: r.decision.as_ref().map_or_else(String::new, |d| {
                let mut text = format!("by {}", d.by);
                if let Some(reason) = &d.reason {
                    text.push_str(&format!(": {reason}"));
                }
                if !d.overridden.is_empty() {
                    let codes: Vec<&str> = d.overridden.iter().map(|c| c.as_str()).collect();
                    text.push_str(&format!(" (overriding {})", codes.join(", ")));
                }
                text
            }),
            cancellable: matches!(
                r.state,
                TimeOffState::Pending | TimeOffState::Waitlisted | TimeOffState::Approved
            ),
        })
        .collect()
}

async fn waitlist(
    state: &PortalState,
    visitor: &Visitor,
    bu: BusinessUnitId,
) -> Result<Vec<TimeOffRequest>, PortalError> {
    Ok(state
        .app
        .store()
        .time_off_requests(
            TimeOffFilter {
                business_unit: Some(bu),
                agent: None,
                state: Some(TimeOffState::Waitlisted),
            },
            PageRequest::new(0, 1000),
        )
        .await
        .or_page(visitor)?
        .items)
}

#[derive(Template)]
#[template(path = "portal/my_time_off.html")]
struct MinePage {
    chrome: Chrome,
    csrf: String,
    key: String,
    zone: String,
    codes: Vec<(String, String)>,
    balances: Vec<(String, String)>,
    requests: Vec<RequestRow>,
    notice: Option<String>,
    problem: Option<String>,
}

#[derive(Deserialize)]
struct MineQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn mine_page(
    state: &PortalState,
    visitor: &Visitor,
    notice: Option<String>,
    problem: Option<String>,
    status: StatusCode,
) -> PageResult {
    let (agent, bu) = whoami(state, visitor).await?;
    let settings = state
        .app
        .store()
        .settings(bu.id)
        .await
        .or_page(visitor)?
        .time_off;
    let balances = state
        .app
        .store()
        .balances(agent.id)
        .await
        .or_page(visitor)?
        .into_iter()
        .map(|b| {
            let sign = if b.minutes < 0 { "-" } else { "" };
            let m = b.minutes.unsigned_abs();
            (
                b.code.as_str().to_owned(),
                format!("{sign}{}:{:02} h", m / 60, m % 60),
            )
        })
        .collect();
    let requests = state
        .app
        .store()
        .time_off_requests(
            TimeOffFilter {
                business_unit: Some(bu.id),
                agent: Some(agent.id),
                state: None,
            },
            PageRequest::new(0, 100),
        )
        .await
        .or_page(visitor)?
        .items;
    let waitlist = waitlist(state, visitor, bu.id).await?;
    let names = HashMap::from([(agent.id, agent.name.clone())]);
    Ok(render(
        status,
        &MinePage {
            chrome: visitor.chrome("My time off"),
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            zone: bu.time_zone.name().to_owned(),
            codes: settings
                .codes
                .iter()
                .map(|c| {
                    let kind = if c.paid { "paid" } else { "unpaid" };
                    let notice = if c.min_notice_hours > 0 {
                        format!(", {} h notice", c.min_notice_hours)
                    } else {
                        String::new()
                    };
                    (
                        c.code.as_str().to_owned(),
                        format!("{} ({kind}{notice})", c.code.as_str()),
                    )
                })
                .collect(),
            balances,
            requests: rows(&requests, &waitlist, &bu, &names),
            notice,
            problem,
        },
    ))
}

async fn mine(
    State(state): State<PortalState>,
    visitor: Visitor,
    Query(q): Query<MineQuery>,
) -> PageResult {
    let notice = q.done.map(|d| match d.as_str() {
        "approved" => "Approved: your schedule already shows it.".to_owned(),
        "waitlisted" => {
            "The day's allowance is full: you are on the waitlist and move up when a place frees."
                .to_owned()
        }
        "pending" => "Sent: a supervisor decides.".to_owned(),
        "denied" => "Denied by the business unit's policy; the reasons are below.".to_owned(),
        "cancelled" => "Cancelled.".to_owned(),
        _ => String::new(),
    });
    mine_page(&state, &visitor, notice, None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct RequestForm {
    code: String,
    /// `days` or `part`.
    kind: String,
    #[serde(default)]
    first: String,
    #[serde(default)]
    last: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
}

fn body_of(form: &RequestForm, bu: &BusinessUnit) -> Result<NewTimeOffBody, String> {
    let date = |field: &str, s: &str| {
        s.trim()
            .parse::<Date>()
            .map_err(|_| format!("{field}: `{s}` is not a date (YYYY-MM-DD)"))
    };
    let time = |field: &str, s: &str| {
        s.trim()
            .parse::<Time>()
            .map_err(|_| format!("{field}: `{s}` is not a time (HH:MM)"))
    };
    let note = Some(form.note.trim().to_owned()).filter(|n| !n.is_empty());
    if form.kind == "part" {
        let day = date("Date", &form.date)?;
        let (from, to) = (time("From", &form.from)?, time("To", &form.to)?);
        if to <= from {
            return Err("To must come after From.".into());
        }
        // Whole minutes of the local day, through the zone's own rules (DST days included).
        let at = |t: Time| {
            let minute = u16::try_from(i32::from(t.hour()) * 60 + i32::from(t.minute()))
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(bu.time_zone.instant(day, minute))
        };
        Ok(NewTimeOffBody {
            agent_id: None,
            code: form.code.clone(),
            days: None,
            start: Some(at(from)?),
            end: Some(at(to)?),
            note,
        })
    } else {
        let first = date("First day", &form.first)?;
        let last = if form.last.trim().is_empty() {
            first
        } else {
            date("Last day", &form.last)?
        };
        Ok(NewTimeOffBody {
            agent_id: None,
            code: form.code.clone(),
            days: Some(Days { first, last }),
            start: None,
            end: None,
            note,
        })
    }
}

async fn request(posted: Posted<RequestForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        cmd,
        form,
    } = posted;
    let (_, bu) = whoami(&state, &visitor).await?;
    let body = match body_of(&form, &bu) {
        Ok(body) => body,
        Err(problem) => {
            return mine_page(
                &state,
                &visitor,
                None,
                Some(problem),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match rota_app::time_off::request(&cmd, body).await {
        Ok(done) => Ok(Redirect::to(&format!(
            "/portal/me/time-off?done={}",
            done.value.state.as_str()
        ))
        .into_response()),
        // A refusal (overlap, notice, an unknown code) is said in the form's page.
        Err(e) if (400..500).contains(&e.code().status()) => {
            let problem = match PortalError::from_app(e, &visitor.request_id) {
                PortalError::Page { detail, .. } => detail,
                _ => "The request was refused.".to_owned(),
            };
            mine_page(
                &state,
                &visitor,
                None,
                Some(problem),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e).or_page(&visitor),
    }
}

#[derive(Deserialize)]
struct VersionForm {
    version: u32,
}

async fn cancel(Path(id): Path<String>, posted: Posted<VersionForm>) -> PageResult {
    let Posted {
        visitor, cmd, form, ..
    } = posted;
    let id = rota_app::parse_id("timeOffId", &id).or_page(&visitor)?;
    rota_app::time_off::cancel(
        &cmd,
        id,
        TimeOffCancelBody {
            expected_version: form.version,
        },
    )
    .await
    .or_page(&visitor)?;
    Ok(Redirect::to("/portal/me/time-off?done=cancelled").into_response())
}

#[derive(Template)]
#[template(path = "portal/time_off_queue.html")]
struct QueuePage {
    chrome: Chrome,
    csrf: String,
    key: String,
    bu: BusinessUnitId,
    requests: Vec<RequestRow>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct QueueQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The business unit of the path, when the visitor may do this page's work there.
async fn unit(
    state: &PortalState,
    visitor: &Visitor,
    raw: &str,
) -> Result<BusinessUnit, PortalError> {
    super::unit(state, visitor, raw, Action::ReviewTimeOff).await
}

async fn queue(
    State(state): State<PortalState>,
    visitor: Visitor,
    Path(bu): Path<String>,
    Query(q): Query<QueueQuery>,
) -> PageResult {
    let bu = unit(&state, &visitor, &bu).await?;
    let pending = state
        .app
        .store()
        .time_off_requests(
            TimeOffFilter {
                business_unit: Some(bu.id),
                agent: None,
                state: Some(TimeOffState::Pending),
            },
            PageRequest::new(0, 500),
        )
        .await
        .or_page(&visitor)?
        .items;
    let waitlist = waitlist(&state, &visitor, bu.id).await?;
    let mut all: Vec<TimeOffRequest> = pending
        .into_iter()
        .chain(waitlist.iter().cloned())
        .collect();
    all.sort_by_key(|r| (r.start, r.created_at));
    let names = names(&state, &bu).await.or_page(&visitor)?;
    Ok(render(
        StatusCode::OK,
        &QueuePage {
            chrome: visitor.chrome("Time-off requests"),
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            bu: bu.id,
            requests: rows(&all, &waitlist, &bu, &names),
            notice: q.done.map(|d| format!("The request is {d}.")),
        },
    ))
}

#[derive(Deserialize)]
struct DecisionForm {
    version: u32,
    /// `approve`, `override` or `deny`.
    decision: String,
    #[serde(default)]
    reason: String,
}

async fn decide(
    Path((bu, id)): Path<(String, String)>,
    posted: Posted<DecisionForm>,
) -> PageResult {
    let Posted {
        state,
        visitor,
        cmd,
        form,
    } = posted;
    let unit = unit(&state, &visitor, &bu).await?;
    let (approve, override_rules) = match form.decision.as_str() {
        "approve" => (true, false),
        "override" => (true, true),
        "deny" => (false, false),
        other => {
            return Err(PortalError::page(
                &visitor,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The form has a mistake",
                format!("unknown decision {other}"),
            ));
        }
    };
    let reason = Some(form.reason.trim().to_owned()).filter(|r| !r.is_empty());
    if override_rules && reason.is_none() {
        return Err(PortalError::page(
            &visitor,
            StatusCode::UNPROCESSABLE_ENTITY,
            "A reason is needed",
            "Say why the failed rules are overridden; the decision records it.",
        ));
    }
    let id = rota_app::parse_id("timeOffId", &id).or_page(&visitor)?;
    let done = rota_app::time_off::decide(
        &cmd,
        id,
        TimeOffDecisionBody {
            expected_version: form.version,
            approve,
            override_rules,
            reason,
        },
    )
    .await
    .or_page(&visitor)?;
    Ok(Redirect::to(&format!(
        "/portal/units/{}/time-off?done={}",
        unit.id,
        done.value.state.as_str()
    ))
    .into_response())
}
