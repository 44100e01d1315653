//! The agent's trades: offers I may take (filtered to my shifts that fit), my offers with
//! withdraw, the trades I took with their rule check; and offering one of my shifts.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use rota_api::trades::{CancelBody, MatchBody, NewTradeBody};
use rota_core::ids::{ShiftId, TradeId};
use rota_core::schedule::Shift;
use rota_core::store::{PageRequest, ScheduleStore, ShiftFilter, TradeFilter, TradeStore};
use rota_core::trade::{Interval, Trade, TradeState};
use serde::Deserialize;

use super::agent::{asked_week, current_shift, name_of, names, parse_shift, whoami};
use super::view::{self, Chrome};
use super::{OrPage, PageResult, PortalError, Posted, Visitor, render};
use crate::PortalState;
use rota_app::trades::{create, match_check, match_trade};

pub fn router() -> Router<PortalState> {
    Router::new()
        .route("/portal/me/trades", get(trades).post(offer))
        .route("/portal/me/trades/{trade}/match", post(take))
        .route("/portal/me/trades/{trade}/check", post(check))
        .route("/portal/me/trades/{trade}/cancel", post(cancel))
}

/// A trade as a row of the agent's trade page.
struct TradeRow {
    id: TradeId,
    version: u32,
    state: &'static str,
    shift: String,
    from: String,
    wants: String,
    /// My shifts that fit what the initiator accepts (none: a give-away).
    options: Vec<(ShiftId, String)>,
    giveaway: bool,
    check: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal/my_trades.html")]
struct TradesPage {
    chrome: Chrome,
    csrf: String,
    key: String,
    mine: Vec<TradeRow>,
    offers: Vec<TradeRow>,
    taken: Vec<TradeRow>,
    notice: Option<String>,
}

#[derive(Deserialize)]
struct TradesQuery {
    #[serde(default)]
    done: Option<String>,
}

async fn trades(
    State(state): State<PortalState>,
    visitor: Visitor,
    Query(q): Query<TradesQuery>,
) -> PageResult {
    let (agent, bu) = whoami(&state, &visitor).await?;
    let zone = &bu.time_zone;
    let listed = state
        .app
        .store()
        .trades(
            TradeFilter {
                business_unit: Some(bu.id),
                state: None,
                visible_to: Some(agent.id),
            },
            PageRequest::new(0, 200),
        )
        .await
        .or_page(&visitor)?;
    let names = names(&state, &bu).await.or_page(&visitor)?;
    let mut shifts: HashMap<ShiftId, Shift> = HashMap::new();
    let mut my_shifts: HashMap<rota_core::ids::ScheduleId, Vec<Shift>> = HashMap::new();
    let (mut mine, mut offers, mut taken) = (Vec::new(), Vec::new(), Vec::new());
    for trade in listed.items {
        let shift = match shifts.get(&trade.initiating_shift_id) {
            Some(s) => s.clone(),
            None => {
                let s = state
                    .app
                    .store()
                    .shift(trade.initiating_shift_id)
                    .await
                    .or_page(&visitor)?;
                shifts.insert(s.id, s.clone());
                s
            }
        };
        let open_offer =
            trade.state == TradeState::Unmatched && trade.initiating_agent_id != agent.id;
        let options = if open_offer && !trade.acceptable_intervals.is_empty() {
            let own = match my_shifts.entry(trade.schedule_id) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let filter = ShiftFilter {
                        agent: Some(agent.id),
                        ..ShiftFilter::default()
                    };
                    let mine = state
                        .app
                        .store()
                        .shifts(trade.schedule_id, filter, PageRequest::all())
                        .await
                        .or_page(&visitor)?;
                    e.insert(mine.items)
                }
            };
            own.iter()
                .filter(|s| {
                    trade
                        .acceptable_intervals
                        .iter()
                        .any(|i| i.contains(s.window.start(), s.window.end()))
                })
                .map(|s| (s.id, view::window(s.window.start(), s.window.end(), zone)))
                .collect()
        } else {
            Vec::new()
        };
        let row = TradeRow {
            id: trade.id,
            version: trade.version,
            state: trade.state.as_str(),
            shift: view::window(shift.window.start(), shift.window.end(), zone),
            from: name_of(&names, Some(trade.initiating_agent_id)),
            wants: wants(&trade, zone),
            giveaway: trade.acceptable_intervals.is_empty(),
            options,
            check: trade
                .check
                .as_ref()
                .map(|c| c.violations.iter().map(view::violation).collect())
                .unwrap_or_default(),
        };
        if trade.initiating_agent_id == agent.id {
            mine.push(row);
        } else if trade.receiving_agent_id == Some(agent.id) {
            taken.push(row);
        } else if open_offer {
            offers.push(row);
        }
    }
    Ok(render(
        StatusCode::OK,
        &TradesPage {
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            chrome: visitor.chrome("Trades"),
            mine,
            offers,
            taken,
            notice: q.done.map(|d| match d.as_str() {
                "matched" => "You took the trade; it waits for a supervisor's review unless the unit approves such trades at once.".to_owned(),
                "canceled" => "Your offer is withdrawn.".to_owned(),
                _ => String::new(),
            }),
        },
    ))
}

pub fn wants(trade: &Trade, zone: &rota_core::directory::Zone) -> String {
    if trade.acceptable_intervals.is_empty() {
        "nothing in return (given away)".to_owned()
    } else {
        trade
            .acceptable_intervals
            .iter()
            .map(|i| format!("a shift within {}", view::window(i.start(), i.end(), zone)))
            .collect::<Vec<_>>()
            .join(" or ")
    }
}

#[derive(Deserialize)]
struct OfferForm {
    shift: String,
    version: u64,
    week: String,
    /// `nothing`, `day` (a shift of the same day) or `week`.
    in_return: String,
}

async fn offer(posted: Posted<OfferForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        cmd,
        form,
    } = posted;
    let (_, bu) = whoami(&state, &visitor).await?;
    let shift_id = parse_shift(&visitor, &form.shift)?;
    let week = asked_week(&state, &bu, Some(&form.week));
    let back = format!("/portal/me?week={week}");
    let shift = current_shift(&state, &visitor, &bu, shift_id, form.version, back.clone()).await?;
    let zone = &bu.time_zone;
    let local_day = shift
        .window
        .start()
        .to_zoned_datetime(zone.tz().clone())
        .date();
    let (from, days) = match form.in_return.as_str() {
        "day" => (local_day, 1),
        "week" => (week, 7),
        _ => (local_day, 0),
    };
    let acceptable_intervals = if days == 0 {
        Vec::new()
    } else {
        let start = zone.instant(from, 0);
        let end = zone.instant(
            from.checked_add(jiff::Span::new().days(days))
                .unwrap_or(from),
            0,
        );
        vec![Interval::new(start, end).map_err(|e| {
            PortalError::page(
                &visitor,
                StatusCode::UNPROCESSABLE_ENTITY,
                "The form has a mistake",
                e,
            )
        })?]
    };
    let body = NewTradeBody {
        shift_id,
        target_agent_id: None,
        acceptable_intervals: acceptable_intervals.into_iter().map(Into::into).collect(),
        // An offer lapses when its shift starts.
        expires_at: shift.window.start(),
    };
    create(&cmd, body).await.or_page(&visitor)?;
    Ok(Redirect::to(&format!("{back}&done=offered")).into_response())
}

#[derive(Deserialize)]
struct TakeForm {
    version: u32,
    #[serde(default)]
    shift: Option<String>,
}

async fn take(Path(trade): Path<String>, posted: Posted<TakeForm>) -> PageResult {
    let Posted {
        visitor, cmd, form, ..
    } = posted;
    let id = parse_trade(&visitor, &trade)?;
    let shift_id = form
        .shift
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_shift(&visitor, s))
        .transpose()?;
    let body = MatchBody {
        version: form.version,
        shift_id,
    };
    match_trade(&cmd, id, body).await.or_page(&visitor)?;
    Ok(Redirect::to("/portal/me/trades?done=matched").into_response())
}

#[derive(Template)]
#[template(path = "portal/trade_check.html")]
struct CheckPage {
    chrome: Chrome,
    csrf: String,
    key: String,
    id: TradeId,
    version: u32,
    shift: String,
    offer: String,
    verdict: &'static str,
    violations: Vec<String>,
}

/// The rule check a match would have now, before the agent commits to it; the confirm
/// button matches (and the match checks again as it commits).
async fn check(Path(trade): Path<String>, posted: Posted<TakeForm>) -> PageResult {
    let Posted {
        state,
        visitor,
        form,
        ..
    } = posted;
    let id = parse_trade(&visitor, &trade)?;
    let shift_id = form
        .shift
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| parse_shift(&visitor, s))
        .transpose()?;

    let found = match_check(&state.app, &visitor.caller, id, form.version, shift_id)
        .await
        .or_page(&visitor)?;
    let (_, bu) = whoami(&state, &visitor).await?;
    let zone = &bu.time_zone;
    let trade = state.app.store().trade(id).await.or_page(&visitor)?;
    let offered = state
        .app
        .store()
        .shift(trade.initiating_shift_id)
        .await
        .or_page(&visitor)?;
    let mine = match shift_id {
        Some(s) => {
            let s = state.app.store().shift(s).await.or_page(&visitor)?;
            format!(
                "your {}",
                view::window(s.window.start(), s.window.end(), zone)
            )
        }
        None => "nothing".to_owned(),
    };
    Ok(render(
        StatusCode::OK,
        &CheckPage {
            chrome: visitor.chrome("Before you take it"),
            csrf: visitor.session.csrf_token.clone(),
            key: view::form_key(),
            id,
            version: form.version,
            shift: shift_id.map(|s| s.to_string()).unwrap_or_default(),
            offer: format!(
                "{} for {mine}",
                view::window(offered.window.start(), offered.window.end(), zone)
            ),
            verdict: match found.verdict {
                rota_core::trade::Verdict::Approve => "Taking it would be approved at once.",
                rota_core::trade::Verdict::Supervisor => {
                    "Taking it would wait for a supervisor's review."
                }
                rota_core::trade::Verdict::Deny => {
                    "Taking it would be denied: it breaks a rule the business unit does not allow."
                }
            },
            violations: found.violations.iter().map(view::violation).collect(),
        },
    ))
}

#[derive(Deserialize)]
struct CancelForm {
    version: u32,
}

async fn cancel(Path(trade): Path<String>, posted: Posted<CancelForm>) -> PageResult {
    let Posted {
        visitor, cmd, form, ..
    } = posted;
    let id = parse_trade(&visitor, &trade)?;
    rota_app::trades::cancel(
        &cmd,
        id,
        CancelBody {
            version: form.version,
        },
    )
    .await
    .or_page(&visitor)?;
    Ok(Redirect::to("/portal/me/trades?done=canceled").into_response())
}

fn parse_trade(visitor: &Visitor, raw: &str) -> Result<TradeId, PortalError> {
    raw.parse()
        .map_err(|_| PortalError::not_found(visitor, format!("no trade {raw}")))
}
