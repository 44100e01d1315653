//! Portal batch runs against each backend: the report grows chunk by chunk, the progress and
//! the counts are the last recorded, and a unit lists its runs newest first.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use rota_core::ids::BatchRunId;
use rota_core::store::{PageRequest, StoreError};
use rota_store::Store;
use rota_store::batch_runs::{BatchRun, BatchRunStore};

use super::setup;

pub async fn a_batch_runs_report_grows_chunk_by_chunk(store: Store) {
    let world = setup(&store, 2, 4).await;
    let now = world.now;
    let run = |minutes| BatchRun {
        id: BatchRunId::new(),
        business_unit: world.bu.id,
        schedule: world.schedule.id,
        started_by: "user:sam".into(),
        source: "swaps.csv".into(),
        total: 3,
        done: 0,
        counts: BTreeMap::new(),
        finished: false,
        detail: None,
        created_at: now.checked_add(SignedDuration::from_mins(minutes)).unwrap(),
        updated_at: now.checked_add(SignedDuration::from_mins(minutes)).unwrap(),
    };
    let (first, second) = (run(0), run(1));
    store.create_batch_run(&first).await.unwrap();
    store.create_batch_run(&second).await.unwrap();
    assert_eq!(store.batch_run(first.id).await.unwrap(), first);
    let counts = BTreeMap::from([("applied".to_owned(), 2)]);
    store
        .record_batch_progress(first.id, "{\"index\":0}\n{\"index\":1}\n", 2, &counts, now)
        .await
        .unwrap();
    let counts = BTreeMap::from([("applied".to_owned(), 2), ("stale".to_owned(), 1)]);
    store
        .record_batch_progress(first.id, "{\"index\":2}\n", 3, &counts, now)
        .await
        .unwrap();
    store.finish_batch_run(first.id, None, now).await.unwrap();
    let read = store.batch_run(first.id).await.unwrap();
    assert_eq!((read.done, read.finished, read.counts), (3, true, counts));
    assert_eq!(
        store.batch_report(first.id).await.unwrap(),
        "{\"index\":0}\n{\"index\":1}\n{\"index\":2}\n"
    );
    let listed = store
        .batch_runs(world.bu.id, PageRequest::new(0, 10))
        .await
        .unwrap();
    assert_eq!(listed.total, 2);
    assert_eq!(
        listed.items.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![second.id, first.id]
    );
    assert!(matches!(
        store.batch_run(BatchRunId::new()).await,
        Err(StoreError::NotFound { .. })
    ));
}

conformance!(a_batch_runs_report_grows_chunk_by_chunk,);
