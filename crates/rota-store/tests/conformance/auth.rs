//! Access tokens against each backend.

use super::*;

pub(crate) async fn expired_tokens_are_purged(store: Store) {
    use rota_core::auth::{ApiClient, Role};
    use rota_core::store::AuthStore;
    let world = setup(&store, 1, 1).await;
    store
        .create_client(&ApiClient {
            client_id: "c".into(),
            secret_hash: "h".into(),
            role: Role::Admin,
            business_unit: None,
            agent: None,
        })
        .await
        .unwrap();
    let hour = |h: i64| {
        world
            .now
            .checked_add(jiff::SignedDuration::from_hours(h))
            .unwrap()
    };
    store.store_token("old", "c", hour(1)).await.unwrap();
    store.store_token("new", "c", hour(3)).await.unwrap();
    assert_eq!(store.purge_tokens(hour(2)).await.unwrap(), 1);
    assert!(store.principal("old", world.now).await.unwrap().is_none());
    assert!(store.principal("new", hour(2)).await.unwrap().is_some());
}

conformance!(expired_tokens_are_purged,);
