//! SQLite's group commit: each command whole, whatever its neighbours do.

use super::*;

/// One SQLite store, many concurrent commands: they share group transactions (a savepoint
/// each, one commit per group). Commands that fail after writing (their idempotency key is
/// taken) and commands cancelled at any point must leave nothing behind, while the rest of
/// their group commits: the history replays to the current state, versions are contiguous,
/// and every command that answered Ok is in the history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_group_commits_keep_each_command_whole() {
    use rota_core::store::IdempotencyStore;
    let store = sqlite().await;
    let world = Arc::new(setup(&store, 8, 64).await);
    let taken = held_key(&store, world.now).await;
    let mut tasks = Vec::new();
    for writer in 0..8usize {
        let store = store.clone();
        let world = Arc::clone(&world);
        let taken = taken.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut cancelled) = (Vec::new(), 0usize);
            for step in 0..30usize {
                // Each writer swaps its own two shifts back and forth: 8 * w and 8 * w + 1
                // are owned by agents w % 9 and (w + 1) % 9 (the World's pattern).
                let shifts = world.schedule.id;
                let current = all_shifts(&store, shifts).await;
                let (a, b) = (8 * writer, 8 * writer + 1);
                let owner = |i: usize| {
                    current
                        .iter()
                        .find(|s| s.id == world.schedule.shifts[i].id)
                        .unwrap()
                        .owner
                };
                let Some(giver) = owner(a) else { continue };
                let base = store.schedule(shifts).await.unwrap().version_id();
                let req = SwapRequest {
                    base,
                    items: vec![SwapItem {
                        agent_id: giver,
                        original_shift_id: world.schedule.shifts[a].id,
                        new_shift_id: world.schedule.shifts[b].id,
                        reason_code: ReasonCode::Preference,
                        counterpart_agent_id: None,
                    }],
                    effective_date: None,
                    mode: SwapMode::Atomic,
                    scope: ConflictScope::Shifts,
                };
                let mut context = ctx(world.now, &format!("w{writer}-{step}"));
                if step % 5 == 4 {
                    context.idempotency = Some(taken.clone());
                }
                let run = store.apply_swaps(&req, &context);
                let outcome = if step % 7 == 6 {
                    tokio::time::timeout(Duration::from_micros(200 * (writer as u64 + 1)), run)
                        .await
                } else {
                    Ok(run.await)
                };
                match outcome {
                    Ok(Ok(result)) => {
                        if let Some(record) = result.committed {
                            ok.push(record.version);
                        }
                    }
                    Ok(Err(StoreError::KeyTaken)) => assert_eq!(step % 5, 4),
                    Ok(Err(other)) => panic!("writer {writer} step {step}: {other:?}"),
                    Err(_) => cancelled += 1,
                }
            }
            (ok, cancelled)
        }));
    }
    let (mut ok, mut cancelled) = (Vec::new(), 0);
    for task in tasks {
        let (versions, c) = task.await.unwrap();
        ok.extend(versions);
        cancelled += c;
    }
    // A cancelled command may still be committing (SQLite's writer finishes what it took; a
    // PostgreSQL COMMIT already sent completes). A command that takes the schedule's write
    // lock and then commits nothing (an edit against a version the shift never had) queues
    // behind all of them: once it answers, every one has landed or rolled back.
    let barrier = ShiftEdit {
        shift_id: world.schedule.shifts[0].id,
        expected_version: ScheduleVersion::new(u64::from(u32::MAX)).unwrap(),
        change: EditChange::Open,
    };
    let refused = store.edit_shift(&barrier, &ctx(world.now, "barrier")).await;
    assert!(
        matches!(refused, Err(StoreError::Command(_))),
        "{refused:?}"
    );
    let history = assert_replays(&store, world.schedule.id).await;
    let versions: Vec<u64> = history.iter().map(|v| v.record.version.get()).collect();
    assert_eq!(
        versions,
        (1..=versions.len() as u64).collect::<Vec<_>>(),
        "versions are contiguous"
    );
    for v in &ok {
        assert!(
            history.iter().any(|h| h.record.version == *v),
            "version {v:?} answered Ok but is missing"
        );
    }
    let swaps = versions.len() - 1;
    assert!(
        swaps >= ok.len() && swaps <= ok.len() + cancelled,
        "{swaps} swaps, {} ok, {cancelled} cancelled",
        ok.len()
    );
    assert!(ok.len() > 100, "too few swaps applied: {}", ok.len());
    // The key nobody could take is still the claim's, untouched by the failed commands.
    assert_eq!(
        store.lookup(&taken.claim, "h", world.now).await.unwrap(),
        rota_core::store::ClaimOutcome::InProgress
    );
}
