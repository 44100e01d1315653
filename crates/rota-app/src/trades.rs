//! Agent self-service (pickup, release) and shift trades (offer, match, its check, withdrawal,
//! a supervisor's review), and who may see a trade.

use rota_api::trades::{
    CancelBody, MatchBody, NewTradeBody, ReviewBody, ReviewDecision, ReviewError, ReviewItem,
    ReviewOutcome, ReviewResponse, ReviewResult,
};
use rota_core::auth::Action;
use rota_core::command::CommandError;
use rota_core::command::SwapResult;
use rota_core::engine::SelfServiceAction;
use rota_core::ids::{AgentId, BusinessUnitId, ShiftId, TradeId};
use rota_core::store::{
    DirectoryStore, NewTrade, ScheduleStore, StoreError, TradeReview, TradeStore,
};
use rota_core::trade::{Interval, Trade, TradeCheck, TradeState};
use rota_core::version::{CommitContext, ScheduleVersion};
use rota_store::Store;
use serde::Serialize;

use crate::App;
use crate::caller::Caller;
use crate::command::Command;
use crate::error::{AppError, AppResult, bounded};
use crate::idempotency::{Outcome, Recording};

/// The most acceptable intervals one offer may list (a week in 15-minute pieces is 672).
const MAX_INTERVALS: usize = 100;
/// Most reviews in one request.
const MAX_REVIEWS: usize = 500;

/// `shift`, when it is a shift of business unit `bu`. A shift of another unit answers exactly as
/// a shift that does not exist: nothing about it (its schedule, whether it is open or whose it
/// is) reaches an agent elsewhere.
async fn shift_of_unit(store: &Store, bu: BusinessUnitId, shift: ShiftId) -> AppResult<()> {
    let unknown = || AppError::from(CommandError::ShiftNotFound(shift));
    let found = match store.shift(shift).await {
        Ok(found) => found,
        Err(StoreError::NotFound { .. }) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    if store.schedule(found.schedule_id).await?.business_unit_id != bu {
        return Err(unknown());
    }
    Ok(())
}

/// A pickup or release by the caller. `seen`: the shift's version the caller's page showed
/// (the portal's forms carry it).
pub async fn self_service(
    cmd: &Command,
    shift: ShiftId,
    action: SelfServiceAction,
    seen: Option<ScheduleVersion>,
) -> AppResult<Outcome<SwapResult>> {
    let store = cmd.app.store().clone();
    let agent = store.agent(cmd.caller.me()?).await?;
    cmd.caller.require(
        Action::SelfService,
        agent.business_unit_id,
        ("agent", agent.id),
    )?;
    shift_of_unit(&store, agent.business_unit_id, shift).await?;
    // `seen` is part of what the request means; `None` fingerprints as the bodiless request.
    cmd.once(&seen, Recording::InTransaction, |ctx| async move {
        store
            .self_service(shift, agent.id, action, seen, &ctx)
            .await
    })
    .await
}

/// An offer of one of the caller's shifts in a published schedule.
pub async fn create(cmd: &Command, body: NewTradeBody) -> AppResult<Outcome<Trade>> {
    bounded(
        "acceptableIntervals",
        body.acceptable_intervals.len(),
        MAX_INTERVALS,
    )?;
    let store = cmd.app.store().clone();
    let agent = store.agent(cmd.caller.me()?).await?;
    cmd.caller.require(
        Action::SelfService,
        agent.business_unit_id,
        ("agent", agent.id),
    )?;
    shift_of_unit(&store, agent.business_unit_id, body.shift_id).await?;
    let acceptable_intervals = body
        .acceptable_intervals
        .iter()
        .enumerate()
        .map(|(i, w)| {
            Interval::new(w.start, w.end)
                .map_err(|e| AppError::unprocessable(&format!("acceptableIntervals[{i}]"), e))
        })
        .collect::<AppResult<Vec<_>>>()?;
    let new = NewTrade {
        initiating_agent_id: agent.id,
        shift_id: body.shift_id,
        target_agent_id: body.target_agent_id,
        acceptable_intervals,
        expires_at: body.expires_at,
    };
    cmd.once(&body, Recording::InTransaction, |ctx| async move {
        store.create_trade(&new, &ctx).await
    })
    .await
}

/// Whether the caller may see `trade`: supervisors their unit's; agents theirs, those offered
/// to them, and unmatched ones open to anyone (`NOT_FOUND` otherwise: it does not exist for
/// them).
pub fn may_see(caller: &Caller, trade: &Trade) -> AppResult<()> {
    caller.require(
        Action::ReadTrades,
        trade.business_unit_id,
        ("trade", trade.id),
    )?;
    if !caller.is_agent() {
        return Ok(());
    }
    let me = caller.me()?;
    let party = trade.initiating_agent_id == me
        || trade.receiving_agent_id == Some(me)
        || trade.target_agent_id == Some(me)
        || (trade.target_agent_id.is_none() && trade.state == TradeState::Unmatched);
    if party {
        Ok(())
    } else {
        Err(AppError::NotFound(format!(
            "trade {} does not exist",
            trade.id
        )))
    }
}

/// The trade, if the caller may see it.
pub async fn visible(app: &App, caller: &Caller, id: TradeId) -> AppResult<Trade> {
    let trade = app.store().trade(id).await?;
    may_see(caller, &trade)?;
    Ok(trade)
}

/// A match by the caller. The rule check runs at once: the business unit's settings may
/// approve (applying the swap), deny, or leave the trade Matched for a supervisor.
pub async fn match_trade(cmd: &Command, id: TradeId, body: MatchBody) -> AppResult<Outcome<Trade>> {
    let offered = body.shift_id;
    on_trade(
        cmd,
        id,
        offered,
        body,
        |store, id, me, body, ctx| async move {
            store
                .match_trade(id, body.version, me, body.shift_id, &ctx)
                .await
        },
    )
    .await
}

/// What matching the trade as the caller would find now: the same checks as the match,
/// writing nothing. The match checks again when it commits.
pub async fn match_check(
    app: &App,
    caller: &Caller,
    id: TradeId,
    version: u32,
    shift: Option<ShiftId>,
) -> AppResult<TradeCheck> {
    let agent = caller.me()?;
    let trade = visible(app, caller, id).await?;
    caller.require(
        Action::SelfService,
        trade.business_unit_id,
        ("trade", trade.id),
    )?;
    Ok(app
        .store()
        .preview_match(id, version, agent, shift, app.clock().now())
        .await?)
}

/// The initiator's withdrawal of an Unmatched or Matched trade (its holds are released).
pub async fn cancel(cmd: &Command, id: TradeId, body: CancelBody) -> AppResult<Outcome<Trade>> {
    on_trade(cmd, id, None, body, |store, id, me, body, ctx| async move {
        store.cancel_trade(id, body.version, me, &ctx).await
    })
    .await
}

/// Runs an agent's operation on a trade they may see, in its business unit (and with `shift`,
/// the shift they bring, of that unit too), once per idempotency key; answers the trade as it
/// then stands.
async fn on_trade<B, F, Fut>(
    cmd: &Command,
    id: TradeId,
    shift: Option<ShiftId>,
    body: B,
    operation: F,
) -> AppResult<Outcome<Trade>>
where
    B: Serialize + Clone,
    F: FnOnce(Store, TradeId, AgentId, B, CommitContext) -> Fut,
    Fut: std::future::Future<Output = Result<Trade, StoreError>>,
{
    let agent = cmd.caller.me()?;
    let store = cmd.app.store().clone();
    let trade = visible(&cmd.app, &cmd.caller, id).await?;
    cmd.caller.require(
        Action::SelfService,
        trade.business_unit_id,
        ("trade", trade.id),
    )?;
    if let Some(shift) = shift {
        shift_of_unit(&store, trade.business_unit_id, shift).await?;
    }
    cmd.once(&body, Recording::InTransaction, |ctx| {
        operation(store, id, agent, body.clone(), ctx)
    })
    .await
}

/// A supervisor approves or denies many matched trades; each is its own transaction with its
/// own result. Approval applies the swap through the same path as the bulk swap, rules checked
/// at commit; a trade whose shifts changed after matching is denied, never swapped silently.
pub async fn review(cmd: &Command, body: ReviewBody) -> AppResult<Outcome<ReviewResponse>> {
    if body.reviews.is_empty() {
        return Err(AppError::validation(
            "reviews",
            "at least one review is required",
        ));
    }
    bounded("reviews", body.reviews.len(), MAX_REVIEWS)?;
    if cmd.caller.is_agent() {
        return Err(AppError::Forbidden("agents cannot review trades".into()));
    }
    let store = cmd.app.store().clone();
    let reviewer = cmd.caller.clone();
    let reviews = body.reviews.clone();
    // Each review commits on its own, so the response is recorded under the key after all of
    // them; a retry after a crash in between finds the reviewed trades at a newer version
    // and answers TRADE_VERSION_CONFLICT for them, never applying one twice.
    cmd.once(&body, Recording::Claimed, |ctx| async move {
        let mut results = Vec::with_capacity(reviews.len());
        for item in reviews {
            let outcome = review_one(&store, &reviewer, &item, &ctx).await;
            results.push(match outcome {
                Ok(trade) => ReviewResult {
                    trade_id: item.trade_id,
                    outcome: if trade.state == TradeState::Approved {
                        ReviewOutcome::Approved
                    } else {
                        ReviewOutcome::Denied
                    },
                    trade: Some(trade),
                    error: None,
                },
                Err(e) => ReviewResult {
                    trade_id: item.trade_id,
                    outcome: ReviewOutcome::Failed,
                    trade: None,
                    error: Some(e),
                },
            });
        }
        Ok::<_, StoreError>(ReviewResponse { results })
    })
    .await
}

async fn review_one(
    store: &Store,
    caller: &Caller,
    item: &ReviewItem,
    ctx: &CommitContext,
) -> Result<Trade, ReviewError> {
    let failed = |e: AppError| {
        let code = e.code();
        ReviewError {
            status: code.status(),
            code,
            detail: e.to_string(),
        }
    };
    let trade = store
        .trade(item.trade_id)
        .await
        .map_err(|e| failed(e.into()))?;
    caller
        .require(
            Action::ReviewTrades,
            trade.business_unit_id,
            ("trade", trade.id),
        )
        .map_err(failed)?;
    let review = TradeReview {
        trade_id: item.trade_id,
        expected_version: item.version,
        approve: item.decision == ReviewDecision::Approve,
        reason: item.reason.clone(),
    };
    store
        .review_trade(&review, ctx)
        .await
        .map_err(|e| failed(e.into()))
}
