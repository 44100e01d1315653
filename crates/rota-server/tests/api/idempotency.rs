//! Idempotency keys over HTTP: a replay, a refused other body, a key not held by an invalid request, one key under concurrent requests.

use rota_api::problem::ErrorCode;
use rota_client::{CallOptions, ClientError};

use crate::common::problem_code;
use crate::strict::spawn;

#[tokio::test]
async fn an_idempotency_key_replays_the_first_result_and_refuses_another_body() {
    let app = spawn().await;
    let key = CallOptions::default().header("Idempotency-Key", "batch-1:item-0");
    let first = app
        .client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &key)
        .await
        .unwrap();
    assert!(first.headers.get("idempotent-replayed").is_none());
    let first = first.body.unwrap();
    // The answer was "lost": the same request again is replayed, not applied again.
    let again = app
        .client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &key)
        .await
        .unwrap();
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body.unwrap(), first);
    assert_eq!(app.version().await, 2);
    let other = app
        .client
        .shift_swaps(&app.body(1, &[(2, 2, 3)]), &key)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&other), (422, ErrorCode::IdempotencyKeyReused));
    // A refused (atomic, conflicting) request is replayed as refused, with the same body.
    let stale = CallOptions::default().header("Idempotency-Key", "batch-1:item-1");
    let refused = app
        .client
        .shift_swaps(&app.body(1, &[(1, 1, 3)]), &stale)
        .await
        .unwrap_err();
    assert_eq!(problem_code(&refused), (409, ErrorCode::VersionConflict));
    let replayed = app
        .client
        .shift_swaps(&app.body(1, &[(1, 1, 3)]), &stale)
        .await
        .unwrap_err();
    let ClientError::Problem { problem, headers } = replayed else {
        panic!()
    };
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(problem.items, refused.problem().unwrap().items);
    assert_eq!(app.version().await, 2);
}

#[tokio::test]
async fn an_invalid_request_does_not_hold_its_key_and_a_running_one_is_409() {
    let app = spawn().await;
    let key = CallOptions::default().header("Idempotency-Key", "k-1");
    let mut bad = app.body(1, &[(0, 0, 1)]);
    bad.shift_swaps[0].agent_id = "x".into();
    assert_eq!(
        problem_code(&app.client.shift_swaps(&bad, &key).await.unwrap_err()).0,
        400
    );
    let ahead = app.body(7, &[(0, 0, 1)]);
    assert_eq!(
        problem_code(&app.client.shift_swaps(&ahead, &key).await.unwrap_err()).0,
        422
    );
    app.client
        .shift_swaps(&app.body(1, &[(0, 0, 1)]), &key)
        .await
        .unwrap();
    // Another request with the same body holds "k-2" and is still running.
    use rota_core::store::IdempotencyStore;
    let body = app.body(2, &[(2, 2, 3)]);
    let claim = rota_core::store::IdempotencyClaim {
        client: app.admin_id.clone(),
        key: "k-2".into(),
    };
    let hash = rota_app::idempotency::fingerprint(
        "POST",
        "/api/v2/wfm/schedules/shift-swaps",
        &body,
        &[None],
    );
    let held = app
        .store
        .claim(
            &claim,
            &hash,
            app.world.now,
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(3600),
        )
        .await
        .unwrap();
    assert_eq!(held, rota_core::store::ClaimOutcome::Claimed);
    let k2 = CallOptions::default().header("Idempotency-Key", "k-2");
    let err = app.client.shift_swaps(&body, &k2).await.unwrap_err();
    assert_eq!(problem_code(&err), (409, ErrorCode::IdempotencyInProgress));
    let mut other = body.clone();
    other.mode = Some(rota_core::command::SwapMode::Partial);
    let err = app.client.shift_swaps(&other, &k2).await.unwrap_err();
    assert_eq!(problem_code(&err), (422, ErrorCode::IdempotencyKeyReused));
    assert_eq!(app.version().await, 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_apply_once() {
    let app = spawn().await;
    let body = app.body(1, &[(0, 0, 1)]);
    let key = CallOptions::default().header("Idempotency-Key", "together");
    let calls = (0..6).map(|_| app.client.shift_swaps(&body, &key));
    let (mut ran, mut replayed, mut busy) = (0, 0, 0);
    for reply in futures_util::future::join_all(calls).await {
        match reply {
            Ok(reply) if reply.headers.contains_key("idempotent-replayed") => replayed += 1,
            Ok(_) => ran += 1,
            Err(e) => {
                assert_eq!(problem_code(&e), (409, ErrorCode::IdempotencyInProgress));
                busy += 1;
            }
        }
    }
    assert_eq!(ran, 1, "replayed {replayed}, in progress {busy}");
    assert_eq!(app.version().await, 2);
    let again = app.client.shift_swaps(&body, &key).await.unwrap();
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.version().await, 2);
}
