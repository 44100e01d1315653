//! Idempotency keys against each backend: claimed, replayed, refused, lapsed.

use super::*;

use rota_core::store::{ClaimOutcome, IdempotencyClaim, IdempotencyRecord, IdempotencyStore};

async fn keys_replay_refuse_and_lapse(store: Store) {
    let world = setup(&store, 3, 6).await;
    let claim = IdempotencyClaim {
        client: "c1".into(),
        key: "k".into(),
    };
    let lease = Duration::from_secs(30);
    let keep = Duration::from_secs(3600);
    let now = world.now;
    let later = |s: i64| now.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
    let record = |claim: &IdempotencyClaim, hash: &str| IdempotencyRecord {
        claim: claim.clone(),
        request_hash: hash.into(),
        expires_at: later(3600),
    };
    // A versioned command records its key with its result in its own transaction.
    assert_eq!(
        store.lookup(&claim, "h1", now).await.unwrap(),
        ClaimOutcome::Claimed
    );
    let mut context = ctx(now, "idem");
    context.idempotency = Some(record(&claim, "h1"));
    let req = swap_of(
        &world,
        ScheduleVersion::FIRST,
        vec![(0, 0, 1)],
        SwapMode::Atomic,
    );
    let result = store.apply_swaps(&req, &context).await.unwrap();
    for found in [
        store.lookup(&claim, "h1", now).await.unwrap(),
        store.claim(&claim, "h1", now, lease, keep).await.unwrap(),
    ] {
        match found {
            ClaimOutcome::Replay(json) => {
                assert_eq!(serde_json::from_str::<SwapResult>(&json).unwrap(), result)
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        store.lookup(&claim, "h2", now).await.unwrap(),
        ClaimOutcome::Mismatch
    );
    // The same key cannot be recorded twice: the second command rolls back whole.
    let again = swap_of(
        &world,
        ScheduleVersion::new(2).unwrap(),
        vec![(2, 2, 3)],
        SwapMode::Atomic,
    );
    assert!(matches!(
        store.apply_swaps(&again, &context).await,
        Err(StoreError::KeyTaken)
    ));
    assert_eq!(
        store
            .schedule(world.schedule.id)
            .await
            .unwrap()
            .version
            .get(),
        2
    );
    // Commands made of several transactions claim first and complete after; the claim is
    // in progress meanwhile, and a command recording the same key backs off.
    let other = IdempotencyClaim {
        client: "c1".into(),
        key: "multi".into(),
    };
    assert_eq!(
        store.claim(&other, "h", now, lease, keep).await.unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(
        store.claim(&other, "h", now, lease, keep).await.unwrap(),
        ClaimOutcome::InProgress
    );
    assert_eq!(
        store.lookup(&other, "h", now).await.unwrap(),
        ClaimOutcome::InProgress
    );
    let mut held = ctx(now, "held");
    held.idempotency = Some(record(&other, "h"));
    assert!(matches!(
        store.apply_swaps(&again, &held).await,
        Err(StoreError::KeyTaken)
    ));
    // A claim whose request died lapses after its lease, and a command may then record it.
    assert_eq!(
        store.lookup(&other, "h", later(31)).await.unwrap(),
        ClaimOutcome::Claimed
    );
    let mut late = ctx(later(31), "late");
    late.idempotency = Some(record(&other, "h"));
    assert!(
        store
            .apply_swaps(&again, &late)
            .await
            .unwrap()
            .committed
            .is_some()
    );
    // A key is forgotten after `keep`.
    assert_eq!(
        store
            .claim(&claim, "h9", later(3601), lease, keep)
            .await
            .unwrap(),
        ClaimOutcome::Claimed
    );
    // Keys are per client.
    let c2 = IdempotencyClaim {
        client: "c2".into(),
        key: "k".into(),
    };
    assert_eq!(
        store.claim(&c2, "h1", now, lease, keep).await.unwrap(),
        ClaimOutcome::Claimed
    );
    store.release(&c2).await.unwrap();
    assert_eq!(
        store.claim(&c2, "h2", now, lease, keep).await.unwrap(),
        ClaimOutcome::Claimed
    );
    store.complete(&c2, "{}").await.unwrap();
    assert_eq!(
        store.lookup(&c2, "h2", now).await.unwrap(),
        ClaimOutcome::Replay("{}".into())
    );
    assert!(store.purge_idempotency(later(100_000)).await.unwrap() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    keys_replay_refuse_and_lapse(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    if let Some((store, _)) = postgres().await {
        keys_replay_refuse_and_lapse(store).await;
    }
}
