//! Portal users against each backend: one-time links, sessions found from any connection and
//! ended by a password change, the lockout counted under concurrent failures, and what a user
//! last saw moving only forward.

use jiff::{SignedDuration, Timestamp};
use rota_core::auth::{Lockout, Role, User};
use rota_core::store::{ScheduleStore, StoreError, UserStore};
use rota_core::testkit::ctx;
use rota_core::version::ScheduleVersion;
use rota_store::Store;

use super::setup;

fn later(t: Timestamp, minutes: i64) -> Timestamp {
    t.checked_add(SignedDuration::from_mins(minutes)).unwrap()
}

pub async fn a_sign_in_link_works_once_and_a_session_ends_with_a_new_password(store: Store) {
    let world = setup(&store, 2, 4).await;
    let now = world.now;
    let ana = User::new(
        "Ana",
        "Ana López",
        Role::Agent,
        Some(world.bu.id),
        Some(world.agents[0].id),
    )
    .unwrap();
    store.create_user(&ana).await.unwrap();
    let again = User::new("ana", "", Role::Admin, None, None).unwrap();
    assert!(matches!(
        store.create_user(&again).await,
        Err(StoreError::AlreadyExists(what)) if what == "user ana"
    ));
    assert_eq!(
        store.user_by_name(" ANA ").await.unwrap(),
        Some(ana.clone())
    );

    store
        .create_sign_in_link("link", ana.id, later(now, 60))
        .await
        .unwrap();
    store
        .create_sign_in_link("stale", ana.id, later(now, 1))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        store.redeem_sign_in_link("link", now),
        store.redeem_sign_in_link("link", now)
    );
    let redeemed: Vec<User> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(redeemed, vec![ana.clone()], "one of two redeems wins");
    assert_eq!(
        store
            .redeem_sign_in_link("stale", later(now, 2))
            .await
            .unwrap(),
        None
    );

    store
        .create_session("s1", ana.id, "csrf1", later(now, 60))
        .await
        .unwrap();
    let session = store.session("s1", now).await.unwrap().unwrap();
    assert_eq!(session.user, ana);
    assert_eq!(session.csrf_token, "csrf1");
    assert_eq!(store.session("s1", later(now, 60)).await.unwrap(), None);
    store.set_password(ana.id, "$argon2id$…").await.unwrap();
    assert_eq!(store.session("s1", now).await.unwrap(), None);
    assert_eq!(
        store.user(ana.id).await.unwrap().password_hash.as_deref(),
        Some("$argon2id$…")
    );

    store
        .create_session("s2", ana.id, "csrf2", later(now, 60))
        .await
        .unwrap();
    store.end_session("s2").await.unwrap();
    assert_eq!(store.session("s2", now).await.unwrap(), None);
    store
        .create_session("s3", ana.id, "csrf3", later(now, 5))
        .await
        .unwrap();
    assert_eq!(store.purge_sessions(later(now, 10)).await.unwrap(), 2);
}

pub async fn concurrent_failures_all_count_and_the_lock_is_bounded(store: Store) {
    let world = setup(&store, 1, 2).await;
    let now = world.now;
    let sam = User::new("sam", "Sam", Role::Supervisor, Some(world.bu.id), None).unwrap();
    store.create_user(&sam).await.unwrap();
    let failures =
        futures_util::future::join_all((0..8).map(|_| store.record_sign_in_failure(sam.id, now)))
            .await;
    let mut counts: Vec<u32> = failures.into_iter().map(|f| f.unwrap().failures).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<_>>());
    let state = store.sign_in_failures(sam.id).await.unwrap();
    assert_eq!(state.failures, 8);
    let until = state.locked_until.unwrap();
    assert!(until > now && until <= now.checked_add(Lockout::LONGEST).unwrap());
    store.clear_sign_in_failures(sam.id).await.unwrap();
    assert_eq!(
        store.sign_in_failures(sam.id).await.unwrap(),
        rota_core::store::SignInFailures::default()
    );
}

pub async fn what_a_user_saw_only_moves_forward(store: Store) {
    let world = setup(&store, 2, 4).await;
    let sam = User::new("sam", "Sam", Role::Supervisor, Some(world.bu.id), None).unwrap();
    store.create_user(&sam).await.unwrap();
    let schedule = world.schedule.id;
    store
        .publish(schedule, &ctx(world.now, "publish"))
        .await
        .unwrap();
    assert_eq!(store.seen_version(sam.id, schedule).await.unwrap(), None);
    let v = |n| ScheduleVersion::new(n).unwrap();
    store.mark_seen(sam.id, schedule, v(2)).await.unwrap();
    store.mark_seen(sam.id, schedule, v(1)).await.unwrap();
    assert_eq!(
        store.seen_version(sam.id, schedule).await.unwrap(),
        Some(v(2))
    );
}

conformance!(
    a_sign_in_link_works_once_and_a_session_ends_with_a_new_password,
    concurrent_failures_all_count_and_the_lock_is_bounded,
    what_a_user_saw_only_moves_forward,
);
