//! Bulk swap batches started from the portal: their run's record (progress and report, in the
//! database so that any node shows it). The swaps themselves go through the API like
//! `rota batch`'s, as the person who started the batch.

use std::collections::BTreeMap;

use rota_core::auth::Action;
use rota_core::ids::{BatchRunId, BusinessUnitId, ScheduleId};
use rota_core::store::{Page, PageRequest, ScheduleStore};
pub use rota_store::batch_runs::BatchRun;
use rota_store::batch_runs::BatchRunStore;

use crate::App;
use crate::caller::Caller;
use crate::error::{AppError, AppResult};

/// Records a new run of `total` swaps on `schedule`, for a caller who may run bulk swaps in
/// its business unit.
pub async fn start(
    app: &App,
    caller: &Caller,
    schedule: ScheduleId,
    source: &str,
    total: usize,
) -> AppResult<BatchRun> {
    let found = app.store().schedule(schedule).await?;
    caller.require(
        Action::BulkSwap,
        found.business_unit_id,
        ("schedule", schedule),
    )?;
    let now = app.clock().now();
    let run = BatchRun {
        id: BatchRunId::new(),
        business_unit: found.business_unit_id,
        schedule,
        started_by: caller.0.client_id.clone(),
        source: source.to_owned(),
        total: u32::try_from(total)
            .map_err(|_| AppError::validation("swaps", "too many swaps for one batch"))?,
        done: 0,
        counts: BTreeMap::new(),
        finished: false,
        detail: None,
        created_at: now,
        updated_at: now,
    };
    app.store().create_batch_run(&run).await?;
    Ok(run)
}

/// Appends a chunk's report lines (JSON Lines) and sets the progress.
pub async fn record_progress(
    app: &App,
    id: BatchRunId,
    lines: &str,
    done: u32,
    counts: &BTreeMap<String, u32>,
) -> AppResult<()> {
    Ok(app
        .store()
        .record_batch_progress(id, lines, done, counts, app.clock().now())
        .await?)
}

/// Marks the run finished, with why it stopped early if it did.
pub async fn finish(app: &App, id: BatchRunId, detail: Option<&str>) -> AppResult<()> {
    Ok(app
        .store()
        .finish_batch_run(id, detail, app.clock().now())
        .await?)
}

/// The unit's runs, newest first.
pub async fn list(app: &App, bu: BusinessUnitId, page: PageRequest) -> AppResult<Page<BatchRun>> {
    Ok(app.store().batch_runs(bu, page).await?)
}

/// The run, when it is one of `bu`'s.
pub async fn find(app: &App, bu: BusinessUnitId, id: BatchRunId) -> AppResult<BatchRun> {
    let run = app.store().batch_run(id).await?;
    if run.business_unit != bu {
        return Err(AppError::NotFound(format!("no batch {id}")));
    }
    Ok(run)
}

/// The run's per-swap report (JSON Lines).
pub async fn report(app: &App, id: BatchRunId) -> AppResult<String> {
    Ok(app.store().batch_report(id).await?)
}
