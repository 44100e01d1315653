//! Shift trades against each backend: holds, and approval through the engine.

use super::*;

fn whole_week(world: &World) -> Vec<rota_core::trade::Interval> {
    let start = world.schedule.shifts[0].window.start();
    let end = start
        .checked_add(jiff::SignedDuration::from_hours(24 * 7))
        .unwrap();
    vec![rota_core::trade::Interval::new(start, end).unwrap()]
}

fn offer(world: &World, agent: usize, shift: usize) -> rota_core::store::NewTrade {
    rota_core::store::NewTrade {
        initiating_agent_id: world.agents[agent].id,
        shift_id: world.schedule.shifts[shift].id,
        target_agent_id: None,
        acceptable_intervals: whole_week(world),
        expires_at: world
            .now
            .checked_add(jiff::SignedDuration::from_hours(48))
            .unwrap(),
    }
}

pub(crate) async fn a_matched_trade_holds_its_shifts_and_applies_through_the_engine(store: Store) {
    use rota_core::store::{TradeReview, TradeStore};
    use rota_core::trade::{TradeError, TradeState};
    let world = setup(&store, 4, 10).await;
    let c = ctx(world.now, "t");
    store.publish(world.schedule.id, &c).await.unwrap();
    let mut settings = rota_core::trade::BusinessUnitSettings::default();
    settings.trades.auto_review = false;
    store.set_settings(world.bu.id, &settings).await.unwrap();
    assert_eq!(store.settings(world.bu.id).await.unwrap(), settings);

    let trade = store.create_trade(&offer(&world, 0, 0), &c).await.unwrap();
    let matched = store
        .match_trade(
            trade.id,
            1,
            world.agents[1].id,
            Some(world.schedule.shifts[1].id),
            &c,
        )
        .await
        .unwrap();
    assert_eq!(matched.state, TradeState::Matched);
    assert_eq!(
        matched.matched_version,
        Some(ScheduleVersion::new(2).unwrap())
    );
    // Held: a second trade cannot take shift 1, a bulk swap touching it is refused.
    let other = store.create_trade(&offer(&world, 2, 2), &c).await.unwrap();
    let held = store
        .match_trade(
            other.id,
            1,
            world.agents[1].id,
            Some(world.schedule.shifts[1].id),
            &c,
        )
        .await;
    assert!(
        matches!(
            held,
            Err(StoreError::Trade(TradeError::ShiftInTrade { .. }))
        ),
        "{held:?}"
    );
    let bulk = swap_of(
        &world,
        ScheduleVersion::new(2).unwrap(),
        vec![(1, 1, 3)],
        SwapMode::Atomic,
    );
    let result = store.apply_swaps(&bulk, &c).await.unwrap();
    match &result.outcomes[0] {
        ItemOutcome::Rejected { violations } => {
            assert_eq!(
                violations[0].code,
                rota_core::command::ViolationCode::ShiftInTrade
            )
        }
        other => panic!("{other:?}"),
    }
    // A stale review changes nothing; a current one applies the swap as version 3.
    let stale = TradeReview {
        trade_id: trade.id,
        expected_version: 1,
        approve: true,
        reason: None,
    };
    assert!(matches!(
        store.review_trade(&stale, &c).await,
        Err(StoreError::Trade(TradeError::VersionConflict { .. }))
    ));
    let review = TradeReview {
        expected_version: matched.version,
        ..stale
    };
    let approved = store.review_trade(&review, &c).await.unwrap();
    assert_eq!(approved.state, TradeState::Approved);
    assert_eq!(approved.applied_version_id.unwrap().version().get(), 3);
    let shifts = all_shifts(&store, world.schedule.id).await;
    let owner = |k: usize| {
        shifts
            .iter()
            .find(|s| s.id == world.schedule.shifts[k].id)
            .unwrap()
            .owner
    };
    assert_eq!(owner(0), Some(world.agents[1].id));
    assert_eq!(owner(1), Some(world.agents[0].id));
    assert_replays(&store, world.schedule.id).await;
    // Expiry closes open trades once and only them.
    let later = world
        .now
        .checked_add(jiff::SignedDuration::from_hours(49))
        .unwrap();
    let expired = store.expire_trades(later).await.unwrap();
    assert_eq!(
        expired.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![other.id]
    );
    assert_eq!(
        store.trade(trade.id).await.unwrap().state,
        TradeState::Approved
    );
}

conformance!(a_matched_trade_holds_its_shifts_and_applies_through_the_engine,);
